"""The store as separate hosts (deploy/multihost.py): network namespaces, a streaming replica, two web
hosts behind nginx, a worker host, and the faults of issue 19. Slow (a few minutes; `-m 'not slow'`
leaves it out); needs root, iproute2, runuser and nginx (`apt-get install nginx`), else it is skipped."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nginx") or not shutil.which("runuser"),
        reason="needs root, ip (iproute2), runuser and nginx",
    ),
]


def test_every_fault_keeps_the_stores_promises():
    run = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "multihost.py"), "--products", "24", "--shoppers", "3"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    lines = run.stdout.splitlines()
    faults = ["worker SIGKILL", "web host killed", "replica replay paused", "primary stopped", "redis stopped"]
    for fault in faults:
        line = next((line for line in lines if line.startswith(fault)), None)
        assert line is not None, (fault, run.stdout)
        assert "violations=0" in line, line
        assert all(value == "0" for value in re.findall(r"\blost=(\d+)", line)), line
        assert all(value == "0" for value in re.findall(r"\bdoubled=(\d+)", line)), line
    replica = next(line for line in lines if line.startswith("replica replay paused"))
    changed, shoppers = re.search(r"changed after a view (\d+)/(\d+)", replica).groups()
    assert changed == shoppers and "behind the primary=True" in replica
    primary = next(line for line in lines if line.startswith("primary stopped"))
    assert "503 without Retry-After: 0" in primary
