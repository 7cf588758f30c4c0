"""glibc's heap controls the daemon uses in production (the measurements behind them:
docs/benchmarks.md, "Cook daemon"). Plain functions, any thread; each returns False
where glibc is not the allocator (another libc), doing nothing."""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

__all__ = ["M_MMAP_THRESHOLD", "libc", "malloc_trim", "set_mmap_threshold"]


def libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def malloc_trim() -> bool:
    """glibc's ``malloc_trim(0)``: give free heap pages back to the system. False without glibc."""
    c = libc()
    fn = getattr(c, "malloc_trim", None) if c is not None else None
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_size_t]
    return bool(fn(0))


M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def set_mmap_threshold(size: int) -> bool:
    """glibc's ``mallopt(M_MMAP_THRESHOLD, size)``: blocks of ``size`` bytes and more get
    their own mapping, returned to the system when freed. A fixed threshold also stops
    glibc from raising it after each large free (its default), which left the daemon's
    commit-sized buffers, a little larger each job, in the heap to fragment it
    (docs/benchmarks.md, cook daemon). Affects allocations made after the call. False
    without glibc or for a size glibc refuses (above 32 MiB on 64-bit)."""
    c = libc()
    fn = getattr(c, "mallopt", None) if c is not None else None
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(fn(M_MMAP_THRESHOLD, int(size)))
