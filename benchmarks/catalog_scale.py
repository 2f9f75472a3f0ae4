"""The catalog at a large shop's size: a synthetic catalog of --products products (1,000,000 by
default) built from the real H&M embeddings, then the HNSW index's build, filtered similar-item
queries against exact search, and the homepage on that catalog.

    python benchmarks/catalog_scale.py --products 1000000        (make bench-scale)

* The catalog: product i copies the gender, article type, stock and price of real product
  i mod 24,717 (so their spread is the demo's) and gets that product's embedding plus noise of a
  fixed length, chosen so that a copy lies from its original at about half the median distance
  between a real product and its nearest real neighbour: each neighbourhood of the real catalog
  becomes a denser one, as a bigger catalog of the same shop would be.
* It is written with COPY (binary halfvec through pgvector-python) into its own data folder
  (.data/scale-<N>, embedded PostgreSQL) with the HNSW indexes dropped, then the indexes (one per
  gender, recommendations.vector_index) are built as pgvector advises (maintenance_work_mem large
  enough for the graph, parallel workers) and timed. The folder gets --shared-buffers (6GB) from
  its next start on. A later run reuses the folder (--rebuild to start again).
* Filtered top-12 similar-item queries, through the store's own selector (iterative scans): at
  about 14% and about 3% selectivity (a gender whose eligible share is nearest to each), p50/p95
  over --queries queries after a warm-up; recall@10 against exact search (index scans off) on 30;
  once with query vectors of products of that gender (the store's "Looks similar") and once with
  vectors of products drawn from the whole catalog.
* The homepage, one client (Django's test client, in process): a visitor with 4 views, trending
  refreshed, computed on every request (page cache off) and from the page cache.

Peak memory and disk are printed with the figures; the JSON goes to benchmarks/results/.
"""

import argparse
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 10_000
sys.path.insert(0, str(ROOT))

EXPORT = """
import numpy as np
from django.db import connection
from recommendations.encoders import encoder_class
rows = []
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT p.gender, p.article_type, p.stock_quantity, p.price, e.vector::text FROM catalog_product p "
        "JOIN recommendations_productembedding e ON e.product_id = p.id "
        "WHERE e.status = 'done' AND e.model = %s ORDER BY p.id", [encoder_class().model_key()])
    rows = cursor.fetchall()
np.savez(OUT, gender=np.array([r[0] for r in rows]), article_type=np.array([r[1] for r in rows]),
         stock=np.array([r[2] for r in rows]), price=np.array([float(r[3]) for r in rows]),
         vectors=np.array([np.array(r[4][1:-1].split(","), dtype=np.float32) for r in rows], dtype=np.float16))
print(f"exported {len(rows)} embeddings")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--source", default=str(ROOT / ".data" / "hm-week"), help="a data folder with embeddings")
    parser.add_argument("--data", help="the synthetic catalog's own data folder (default .data/scale-<N>)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--shared-buffers",
        default="6GB",
        help="PostgreSQL's buffer cache for this folder (ALTER SYSTEM; read when the server starts)",
    )
    args = parser.parse_args()
    data = Path(args.data or ROOT / ".data" / f"scale-{args.products}").resolve()
    data.mkdir(parents=True, exist_ok=True)
    source = data / "source.npz"
    if not source.exists():
        print(f"Exporting the real embeddings of {args.source} ...", flush=True)
        env = {**os.environ, "STOREFRONT_DATA_DIR": str(Path(args.source).resolve()),
               "DJANGO_SETTINGS_MODULE": "storefront.settings.local"}  # fmt: skip
        code = EXPORT.replace("OUT", repr(str(source)))
        subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)

    os.environ["STOREFRONT_DATA_DIR"] = str(data)
    os.environ["DJANGO_SETTINGS_MODULE"] = "storefront.settings.local"
    import django

    django.setup()
    from storefront.embedded import start_configured

    start_configured()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = {"products": args.products, "shared_buffers": _shared_buffers(args.shared_buffers)}
    with np.load(source) as stored:  # an NpzFile reads the array again at every access
        real = {name: stored[name] for name in stored.files}
    results["build"] = _build(real, args.products, rebuild=args.rebuild)
    results["queries"] = _queries(args.queries)
    results["homepage"] = _homepage()
    results["peak_rss_mb"] = _peak_rss_mb()
    _print(results)
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / f"catalog-scale-{args.products}-{time.strftime('%Y%m%d-%H%M%S')}{args.label}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"Figures: {out.relative_to(ROOT)}")


def _noise_length(vectors: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """(the median cosine distance from a real product to its nearest real neighbour, the noise
    length that puts a copy at half that distance from its original)."""
    unit = vectors.astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    sample = rng.choice(len(unit), size=min(500, len(unit)), replace=False)
    similarity = unit[sample] @ unit.T
    similarity[np.arange(len(sample)), sample] = -1
    nearest = float(np.median(1 - similarity.max(axis=1)))
    # A unit vector plus noise of length r orthogonal to it is at cosine distance 1 - 1/sqrt(1 + r^2).
    target = nearest / 2
    return nearest, float(np.sqrt(1 / (1 - target) ** 2 - 1))


def _build(real, count: int, *, rebuild: bool) -> dict:
    from django.db import connection
    from tqdm import tqdm

    from catalog.models import Product
    from recommendations.encoders import encoder_class

    have = Product.objects.count()
    built = Path(os.environ["STOREFRONT_DATA_DIR"]) / "build.json"
    if have >= count and not rebuild:
        print(f"Reusing the {have:,} products in this folder (--rebuild to start again).", flush=True)
        figures = json.loads(built.read_text()) if built.exists() else {}
        missing = _missing_indexes()
        if missing:  # a run stopped between dropping the indexes and building them
            figures["hnsw_build_s"] = _build_indexes(missing)
            built.write_text(json.dumps(figures))
        return {**figures, **_index_figures()}
    rng = np.random.default_rng(17)
    nearest, noise = _noise_length(real["vectors"], rng)
    print(f"Real catalog: {len(real['vectors']):,} embeddings; median distance to the nearest neighbour "
          f"{nearest:.4f}; noise length {noise:.3f}.", flush=True)  # fmt: skip
    encoder = encoder_class()
    key = encoder.model_key()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product CASCADE")
        for index_name in _expected_indexes():
            cursor.execute(f"DROP INDEX IF EXISTS {index_name}")
    n = len(real["vectors"])
    started = time.perf_counter()
    raw = connection.connection
    with raw.cursor() as cursor:
        with cursor.copy(
            "COPY catalog_product (external_id, name, description, gender, category, subcategory, article_type, "
            "colour, product_group, department, price, stock_quantity, is_active, edited_by_staff, created_at, "
            "updated_at, photo_version) FROM STDIN"
        ) as copy:
            for start in tqdm(range(0, count, CHUNK), desc="products (x10k)", mininterval=2):
                lines = []
                for i in range(start, min(start + CHUNK, count)):
                    j = i % n
                    lines.append(f"s{i:07d}\tSynthetic {i}\t\t{real['gender'][j]}\tApparel\t\t"
                                 f"{real['article_type'][j]}\t\t\t\t{real['price'][j]:.2f}\t{real['stock'][j]}"
                                 "\tt\tf\tnow\tnow\t0\n")  # fmt: skip
                copy.write("".join(lines))
        cursor.execute("SELECT id FROM catalog_product ORDER BY id")
        ids = np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)
        # Binary COPY built with numpy: pgvector's halfvec wire format is (dim int16, unused int16,
        # dim float16), all big-endian; writing row by row through Python cost 1.7 ms a row.
        model = key.encode()
        dim = real["vectors"].shape[1]
        row_type = np.dtype([
            ("fields", ">i2"), ("l_pid", ">i4"), ("pid", ">i8"), ("l_vec", ">i4"), ("dim", ">i2"), ("unused", ">i2"),
            ("vec", ">f2", (dim,)), ("l_model", ">i4"), ("model", f"S{len(model)}"), ("l_status", ">i4"),
            ("status", "S4"), ("l_error", ">i4"), ("l_version", ">i4"), ("version", ">i4"), ("l_at", ">i4"),
            ("at", ">i8"),
        ])  # fmt: skip
        since_2000 = int((datetime.now(UTC) - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)
        with cursor.copy(
            "COPY recommendations_productembedding (product_id, vector, model, status, error, photo_version, "
            "embedded_at) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            for start in tqdm(range(0, count, CHUNK), desc="embeddings (x10k)", mininterval=2):
                rows = np.arange(start, min(start + CHUNK, count))
                base = real["vectors"][rows % n].astype(np.float32)
                base /= np.linalg.norm(base, axis=1, keepdims=True)
                jitter = rng.standard_normal(base.shape).astype(np.float32)
                jitter *= noise / np.linalg.norm(jitter, axis=1, keepdims=True)
                synthetic = base + jitter
                synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
                block = np.zeros(len(rows), dtype=row_type)
                block["fields"], block["l_pid"], block["pid"] = 7, 8, ids[rows]
                block["l_vec"], block["dim"], block["vec"] = 4 + 2 * dim, dim, synthetic
                block["l_model"], block["model"], block["l_status"], block["status"] = len(model), model, 4, b"done"
                block["l_error"], block["l_version"], block["version"], block["l_at"] = 0, 4, 0, 8
                block["at"] = since_2000
                copy.write(block.tobytes())
            copy.write(struct.pack(">h", -1))
    raw.commit()
    loaded = time.perf_counter() - started
    print(f"Loaded {count:,} products and embeddings in {loaded:.0f} s; building the HNSW indexes ...", flush=True)
    figures = {"hnsw_build_s": _build_indexes(_expected_indexes())}
    figures.update(_index_figures())
    figures.update(load_s=round(loaded, 1), noise_length=noise, real_nn_distance=nearest)
    built.write_text(json.dumps(figures))  # for a later run
    return figures


def _shared_buffers(wanted: str) -> str:
    """The buffer cache this run has. The embedded server starts with PostgreSQL's 128 MB, a tenth of
    one gender's index at a million products, so each walk read its pages from the OS again: the
    folder is given ``wanted`` as an operator would give a real server, from the next start on."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        current = cursor.fetchone()[0]
        if current.lower() != wanted.lower():
            cursor.execute(f"ALTER SYSTEM SET shared_buffers = '{wanted}'")
            print(f"shared_buffers is {current}; set to {wanted} for this folder from the next run on.", flush=True)
    return current


def _expected_indexes() -> dict[str, str]:
    """The current encoder's HNSW indexes, one per gender, as its migration creates them."""
    from recommendations.encoders import encoder_class
    from recommendations.vector_index import hnsw_index_names

    encoder = encoder_class()
    return {
        name: f"CREATE INDEX {name} ON recommendations_productembedding USING hnsw "
        f"((vector::halfvec({encoder.dim})) halfvec_cosine_ops) WHERE model = '{encoder.model_key()}' "
        f"AND gender = '{gender}'"
        for gender, name in hnsw_index_names(encoder).items()
    }


def _missing_indexes() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'recommendations_productembedding'")
        present = {row[0] for row in cursor.fetchall()}
    return {name: sql for name, sql in _expected_indexes().items() if name not in present}


def _build_indexes(statements: dict[str, str]) -> float:
    """Builds the indexes as pgvector advises (the graph in memory, parallel workers); seconds taken."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '8GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")  # two cores: the leader and one worker
        started = time.perf_counter()
        for name, statement in statements.items():
            began = time.perf_counter()
            cursor.execute(statement)
            print(f"  {name}: {time.perf_counter() - began:.0f} s", flush=True)
        built = time.perf_counter() - started
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("ANALYZE recommendations_productembedding")
        cursor.execute("RESET maintenance_work_mem")
    return round(built, 1)


def _index_figures() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, pg_relation_size(indexname::regclass) FROM pg_indexes "
            "WHERE tablename = 'recommendations_productembedding' AND indexdef LIKE '%%hnsw%%'"
        )
        sizes = {name: size for name, size in cursor.fetchall()}
        cursor.execute("SELECT pg_total_relation_size('recommendations_productembedding')")
        table = cursor.fetchone()[0]
    return {"hnsw_index_mb": round(sum(sizes.values()) / 2**20), "embeddings_table_mb": round(table / 2**20)}


def _queries(count: int) -> dict:
    from django.db import connection, transaction

    from catalog.gender import compatible_genders
    from catalog.models import Product
    from recommendations.encoders import encoder_class
    from recommendations.selectors.similar import products_similar_to_vector
    from recommendations.vectors import vector_literal

    encoder = encoder_class()
    total = Product.objects.count()
    shares = {}
    for gender in Product.objects.order_by().values_list("gender", flat=True).distinct():  # no ordering: one row each
        allowed = compatible_genders(gender)
        shares[gender] = (
            Product.objects.filter(gender__in=allowed, is_active=True, stock_quantity__gt=0).count() / total
        )
    rng = random.Random(3)
    step = max(1, total // 5000)
    everyone = list(Product.objects.values_list("pk", flat=True))[::step]
    out = {}
    # Two kinds of query vector: a product of the filter's own gender ("Looks similar" of a men's
    # product asks for men's and unisex ones: the store's case), and a product drawn from the whole
    # catalog (mostly women's products searched among men's: a harder, rarer case).
    for label, wanted, own in (("about 14%", 0.14, True), ("about 3%", 0.03, True),
                               ("about 14%, any product's vector", 0.14, False),
                               ("about 3%, any product's vector", 0.03, False)):  # fmt: skip
        gender = min(shares, key=lambda g: abs(shares[g] - wanted))
        genders = compatible_genders(gender)
        ids = list(Product.objects.filter(gender=gender).values_list("pk", flat=True)) if own else everyone
        picks = rng.sample(ids, min(len(ids), count + 20))
        vectors = dict(
            Product.objects.filter(pk__in=picks).values_list("pk", "embedding__vector")
        )  # fmt: skip
        timings, found = [], {}
        for index, pid in enumerate(picks):
            started = time.perf_counter()
            result = products_similar_to_vector(vector=vectors[pid], genders=genders, exclude_ids=(pid,), k=12,
                                                ids_only=True)  # fmt: skip
            elapsed = time.perf_counter() - started
            if index >= 20:  # the first 20 warm the cache
                timings.append(elapsed * 1000)
                found[pid] = [p for p, _ in result]
        recalls = []
        for pid in list(found)[:30]:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute("SET LOCAL enable_bitmapscan = off")
                cursor.execute(
                    f"SELECT e.product_id FROM recommendations_productembedding e JOIN catalog_product p "
                    f"ON p.id = e.product_id WHERE e.model = %s AND e.status = 'done' AND p.is_active "
                    f"AND p.stock_quantity > 0 AND p.gender = ANY(%s) AND e.product_id <> %s "
                    f"ORDER BY e.vector::halfvec({encoder.dim}) <=> %s::halfvec({encoder.dim}) LIMIT 10",
                    [encoder.model_key(), list(genders), pid, vector_literal(vectors[pid].to_numpy())],
                )
                exact = {row[0] for row in cursor.fetchall()}
            recalls.append(len(exact & set(found[pid][:10])) / max(1, len(exact)))
        timings.sort()
        out[label] = {
            "gender": gender, "selectivity": round(shares[gender], 4), "queries": len(timings),
            "p50_ms": round(statistics.median(timings), 2), "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2),
            "recall_at_10": round(statistics.mean(recalls), 4), "recall_queries": len(recalls),
        }  # fmt: skip
        print(f"similar, {label} ({gender}, {shares[gender]:.1%} eligible): {out[label]}", flush=True)
    return out


def _homepage() -> dict:
    from django.test import Client
    from django.test.utils import override_settings
    from django.utils import timezone

    from catalog.models import Product
    from recommendations.models import Interaction, Visitor
    from recommendations.services.trending import trending_refresh
    from recommendations.services.visitors import visitor_token

    visitor = Visitor.objects.create()
    products = list(Product.objects.order_by("?").values_list("pk", flat=True)[:4])
    Interaction.objects.bulk_create(
        Interaction(visitor=visitor, product_id=pid, kind="view", created_at=timezone.now()) for pid in products
    )
    trending_refresh()
    client = Client()
    client.cookies["visitor_id"] = visitor_token(visitor)
    out = {}
    try:
        for label, cache_s in (("computed every time", 0), ("from the page cache", 300)):
            with override_settings(HOME_PAGE_CACHE_S=cache_s):
                timings = []
                for index in range(60):
                    started = time.perf_counter()
                    assert client.get("/").status_code == 200
                    if index >= 10:
                        timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            out[label] = {"p50_ms": round(statistics.median(timings), 1), "p95_ms": round(timings[int(0.95 * 49)], 1)}
            print(f"homepage, a visitor with 4 views, {label}: {out[label]}", flush=True)
    finally:
        Interaction.objects.filter(visitor=visitor).delete()
        visitor.delete()
    return out


def _peak_rss_mb() -> int:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _print(results: dict) -> None:
    build, queries, home = results["build"], results["queries"], results["homepage"]
    print()
    print(f"| {results['products']:,} products (shared_buffers {results['shared_buffers']}) | |")
    print("|---|---|")
    if "hnsw_build_s" in build:
        print(f"| load (COPY) | {build['load_s']:.0f} s |")
        print(f"| HNSW build | {build['hnsw_build_s']:.0f} s |")
    print(f"| HNSW index / embeddings table | {build['hnsw_index_mb']:,} MB / {build['embeddings_table_mb']:,} MB |")
    for label, figures in queries.items():
        print(f"| filtered top-12, {label} ({figures['selectivity']:.1%}) | p50 {figures['p50_ms']} ms, "
              f"p95 {figures['p95_ms']} ms, recall@10 {figures['recall_at_10']:.3f} |")  # fmt: skip
    for label, figures in home.items():
        print(f"| homepage, {label} | p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms |")
    print(f"| this process's peak memory | {results['peak_rss_mb']:,} MB |")


if __name__ == "__main__":
    main()
