"""How long the demo takes to open the store from an empty data folder, and its peak memory.

    python benchmarks/demo_startup.py [--folder ../shared/data/hm] [--port 8765] [--after 60]

Runs `manage.py demo` on a fresh STOREFRONT_DATA_DIR (so it imports and embeds from scratch),
times it until the store answers on its port, keeps it running --after seconds more (background
embedding, a few page loads), then stops it with SIGTERM. Memory is the sum of the proportional
set size (PSS: shared pages counted once) of every process: the demo, its Celery worker, beat and
gunicorn processes, and the embedded PostgreSQL and Redis.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def demo_processes(demo: psutil.Process, data_dir: str) -> list[psutil.Process]:
    processes = [demo, *demo.children(recursive=True)]
    for process in psutil.process_iter(["cmdline"]):
        if any(data_dir in part for part in process.info["cmdline"] or []) and process not in processes:
            processes.append(process)  # the daemonised PostgreSQL and Redis
    return processes


def memory_mb(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 1024 / 1024


def store_is_open(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=str(ROOT.parent / "shared" / "data" / "hm"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--after", type=float, default=60, help="seconds to keep serving after the store opens")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="demo-startup-")
    env = {**os.environ, "STOREFRONT_DATA_DIR": data_dir}
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", args.folder, "--port", str(args.port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    handle = psutil.Process(demo.pid)
    peak, opened_after = 0.0, None
    while demo.poll() is None:
        peak = max(peak, memory_mb(demo_processes(handle, data_dir)))
        if opened_after is None and store_is_open(args.port):
            opened_after = time.monotonic() - started
            print(f"store open after {opened_after:.0f} s (peak so far {peak:.0f} MB)", flush=True)
        if opened_after is not None and time.monotonic() - started > opened_after + args.after:
            break
        time.sleep(0.5)
    demo.send_signal(signal.SIGTERM)
    demo.wait(60)
    if opened_after is None:
        sys.exit("The demo stopped before the store opened.")
    print(f"peak memory of all demo processes (PSS): {peak:.0f} MB")
    print(f"data folder left for inspection: {data_dir}")


if __name__ == "__main__":
    main()
