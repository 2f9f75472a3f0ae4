"""Giving freed memory back to the operating system."""

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def release_freed_memory() -> bool:
    """Collect garbage, then ask glibc's allocator to hand its free pages back (``malloc_trim``).
    Arrays of a few kilobytes to a few megabytes (a training's tens of thousands of candidate pools)
    come from the heap, not their own mappings, and once freed their pages stay with the process:
    a later step's peak then counts them again. False where the C library has no malloc_trim (not glibc)."""
    gc.collect()
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return False
    trim(0)
    return True
