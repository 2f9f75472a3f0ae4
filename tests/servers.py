"""gunicorn servers for tests that need real server processes: on the test database and Redis."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import database_url_for_children


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn(settings, port: int, log, **environ: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "storefront.settings.test",
           "DATABASE_URL": database_url_for_children(), "REDIS_URL": settings.REDIS_URL, **environ}  # fmt: skip
    command = [str(Path(sys.executable).parent / "gunicorn"), "storefront.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--threads", "2"]  # fmt: skip
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_up(url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.get(f"{url}/healthz", timeout=30)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    log.seek(0)
    pytest.fail(f"gunicorn did not start:\n{log.read()[-3000:]}")


def stop(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
        server.wait(timeout=30)
