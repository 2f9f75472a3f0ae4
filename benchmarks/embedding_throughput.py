"""Embedding throughput: the bare model forward pass against the full path through a real worker.

    python benchmarks/embedding_throughput.py [--images 1024] [--folder ../shared/data/hm]

Uses a database (storefront_bench) and a Redis of its own, so a running demo is not disturbed.

1. Bare model: photos decoded and preprocessed in memory beforehand (not timed); only the
   encoder's forward passes are timed, in each worker layout (processes x torch threads).
2. Full path: a real `celery worker` reads, decodes, preprocesses, runs the model and writes
   vectors to pgvector; timed from queueing the slice until the last vector is stored. The
   worker is warmed up on a few photos first, so the model load is not counted.

Prints both rates and their ratio and writes them to benchmarks/results/embedding_throughput.json.
"""

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("STOREFRONT_DATA_DIR", ROOT / ".data"))
WARMUP = 32


def configure_environment() -> None:
    """Point Django at the bench database and Redis before it is imported."""
    import psycopg

    from storefront import embedded

    admin = embedded.postgres_start(DATA)  # stopped at exit, unless another process still uses it
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS storefront_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE storefront_bench")
    os.environ["DATABASE_URL"] = admin.replace("/storefront?", "/storefront_bench?")
    os.environ["REDIS_URL"] = embedded.redis_start(DATA / "bench")
    os.environ["MEDIA_ROOT"] = str(DATA / "bench" / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")


def bare_rate(pixels, threads: int, jit: bool, seconds: float, queue) -> None:
    """Forward passes only, in one process with ``threads`` torch threads (run in a child)."""
    os.environ["EMBEDDING_TORCH_THREADS"] = str(threads)
    os.environ["EMBEDDING_JIT"] = "1" if jit else "0"
    import django

    django.setup()
    from django.conf import settings

    from recommendations.encoders import get_encoder

    encoder = get_encoder()
    batch = settings.EMBEDDING_FORWARD_BATCH
    batches = [pixels[i : i + batch] for i in range(0, len(pixels) - batch + 1, batch)]
    for chunk in batches[:3]:
        encoder.embed(chunk)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for chunk in batches:
            encoder.embed(chunk)
            done += len(chunk)
    queue.put(done / (time.perf_counter() - started))


def measure_bare(pixels, processes: int, threads: int, seconds: float, jit: bool = True) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    share = len(pixels) // processes
    children = [
        context.Process(target=bare_rate, args=(pixels[i * share : (i + 1) * share], threads, jit, seconds, queue))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    rates = [queue.get() for _ in children]
    for child in children:
        child.join()
    return sum(rates)


def measure_full_path(product_ids: list[int], processes: int, threads: int) -> float:
    from django.db import transaction

    from recommendations.models import EmbeddingStatus, ProductEmbedding
    from recommendations.services import embedding_request
    from workers import celery_app

    env = {**os.environ, "EMBEDDING_TORCH_THREADS": str(threads)}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "workers", "worker", "-Q", "search,embeddings,default",
         "--concurrency", str(processes), "--loglevel", "WARNING", "-n", "bench@%h"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        while not celery_app.control.ping(timeout=0.5):
            time.sleep(0.2)
        done = ProductEmbedding.objects.filter(status=EmbeddingStatus.DONE)
        warm, timed = product_ids[: WARMUP * processes], product_ids[WARMUP * processes :]
        # Warm every pool process: small tasks, so each child loads the model once.
        with transaction.atomic():
            for chunk in range(0, len(warm), WARMUP // 2):
                embedding_request(product_ids=warm[chunk : chunk + WARMUP // 2])
        while done.count() < len(warm):
            time.sleep(0.1)
        started = time.perf_counter()
        with transaction.atomic():
            embedding_request(product_ids=timed)
        while done.count() < len(product_ids):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        failed = ProductEmbedding.objects.filter(status=EmbeddingStatus.FAILED).count()
        if failed:
            raise RuntimeError(f"{failed} photos failed to embed; see the worker's messages.")
        return len(timed) / elapsed
    finally:
        worker.terminate()
        worker.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "data" / "hm")
    parser.add_argument("--seconds", type=float, default=15, help="duration of each bare-model run")
    args = parser.parse_args()

    configure_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from catalog.images import image_decode
    from catalog.importers import read_hm
    from catalog.importing import catalog_import
    from catalog.models import Product, ProductImage
    from recommendations.encoders import encoder_class
    from workers import celery_app

    call_command("migrate", verbosity=0)
    print(f"Importing the first {args.images} H&M articles of {args.folder} ...")
    catalog_import(rows=islice(read_hm(args.folder), args.images))
    celery_app.control.purge()  # the import queued them; the benchmark queues them itself
    product_ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))

    encoder = encoder_class()(threads=1)
    pixels = [encoder.preprocess(image_decode(image.image.path)) for image in ProductImage.objects.order_by("pk")]
    layouts = [(1, os.cpu_count() or 1), (os.cpu_count() or 1, 1)] if (os.cpu_count() or 1) > 1 else [(1, 1)]
    results = {"encoder": encoder.model_key(), "images": len(product_ids), "cpus": os.cpu_count(),
               "forward_batch": settings.EMBEDDING_FORWARD_BATCH, "task_batch": settings.EMBEDDING_TASK_BATCH,
               "jit": settings.EMBEDDING_JIT, "bare": {}, "full": {}}  # fmt: skip
    for processes, threads in layouts:
        rate = measure_bare(pixels, processes, threads, args.seconds)
        results["bare"][f"{processes}x{threads}"] = round(rate, 1)
        print(f"bare model   {processes} process(es) x {threads} thread(s): {rate:6.1f} images/s")
    best_layout = max(results["bare"], key=results["bare"].get)
    processes, threads = map(int, best_layout.split("x"))
    eager = measure_bare(pixels, processes, threads, args.seconds, jit=False)
    results["bare_eager"] = {best_layout: round(eager, 1)}
    print(f"bare model   {processes} process(es) x {threads} thread(s), eager PyTorch: {eager:6.1f} images/s")
    rate = measure_full_path(product_ids, processes, threads)
    results["full"][best_layout] = round(rate, 1)
    ratio = rate / results["bare"][best_layout]
    results["full_over_bare"] = round(ratio, 3)
    print(f"full path    {processes} worker process(es) x {threads} thread(s): {rate:6.1f} images/s "
          "(read, decode, preprocess, forward, write to pgvector)")  # fmt: skip
    print(f"full path / bare model, same layout: {ratio:.0%}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "embedding_throughput.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
