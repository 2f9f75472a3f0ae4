"""common.memory: freed heap memory goes back to the system (what lets a training's later steps
peak without its earlier steps' pools)."""

import os

import numpy as np

from common.memory import release_freed_memory


def resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_freed_small_arrays_go_back_to_the_system():
    # 20,000 arrays of 16 kB (a candidate pool's size) come from the heap, and one allocation made
    # after them keeps the heap's top, so freeing them alone returns nothing.
    pools = [np.ones(4096, np.float32) for _ in range(20_000)]
    pin = np.ones(4096, np.float32)
    held = resident_mb()
    del pools
    assert resident_mb() > held - 100  # still the process's
    assert release_freed_memory()
    assert resident_mb() < held - 200  # about 310 MB of it back
    del pin
