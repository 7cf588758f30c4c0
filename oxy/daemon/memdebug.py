"""Memory diagnostics for a long-running process (the cook daemon), switched on by the environment only.

``OXY_MEMDEBUG=DIR`` and :func:`install`: ``tracemalloc`` starts (``OXY_MEMDEBUG_FRAMES``
frames per allocation, default 1) and each SIGUSR2 writes ``DIR/memdebug-PID-N.json``
with :func:`report`: the process's memory from ``/proc/self/smaps_rollup`` (anonymous
vs file-backed), glibc's heap (``mallinfo2``: bytes in use vs free inside the heap, so
fragmentation shows as free bytes the heap keeps), the Python objects the collector
tracks counted by type, and the ``tracemalloc`` top lines, each also as the
difference to the previous dump. Without ``OXY_MEMDEBUG`` :func:`install` does nothing.

``OXY_MEMDEBUG_TRIM=1`` (an experiment, independent of the reports): after every
daemon job, glibc's ``malloc_trim(0)`` (:func:`trim_after_jobs` wraps
``JobTable._finish``), to measure what giving free heap pages back changes before
the daemon does it itself.

The two glibc knobs the daemon calls in production, :func:`malloc_trim` and
:func:`set_mmap_threshold`, live in :mod:`oxy.daemon.heap` (re-exported here).

``python -m oxy.daemon.memdebug ARGS...`` is ``python -m oxy ARGS...`` with
:func:`install` done first (``tools/soak_daemon.py --memdebug`` starts the daemon
this way), so nothing in the daemon's own modules knows about it.

Thread rules: :func:`install` runs on the main thread before any hub exists (Python
signal handlers run there; gevent's loop polls for them). A dump runs inside the
signal handler and blocks that thread for as long as the snapshot takes (with a
few hundred thousand traced blocks, about a second). Failure modes: a dump that
cannot be written is reported on stderr and the process goes on; the rest never raises.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

from oxy.daemon.heap import libc, malloc_trim, set_mmap_threshold  # noqa: F401 - re-exported

ENV_DIR, ENV_FRAMES, ENV_TRIM = "OXY_MEMDEBUG", "OXY_MEMDEBUG_FRAMES", "OXY_MEMDEBUG_TRIM"
TOP = 40


_MALLINFO_FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                    "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO_FIELDS]



def smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` as bytes per field (empty where /proc has no such file)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, value = line.partition(":")
                parts = value.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[key.strip()] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


def mallinfo() -> dict[str, int]:
    """glibc's ``mallinfo2()`` (main arena and the others summed): ``arena`` bytes the heap
    holds from the system (sbrk and arena mmaps), ``hblkhd`` in large mmapped blocks,
    ``uordblks`` in use, ``fordblks`` free inside the heap. Empty without glibc 2.33+."""
    c = libc()
    fn = getattr(c, "mallinfo2", None) if c is not None else None
    if fn is None:
        return {}
    fn.restype = _MallInfo2
    info = fn()
    return {name: int(getattr(info, name)) for name in _MALLINFO_FIELDS}


def pymalloc_stats() -> dict[str, int]:
    """CPython's small-object allocator (``sys._debugmallocstats``): arenas it holds now, its
    high-water mark, bytes in live blocks and in free blocks and pools inside those arenas.
    The statistics go to fd 2, so stderr is pointed at a temporary file meanwhile: a line
    another thread logs in that moment lands there and is lost. Empty while tracemalloc
    traces (CPython prints no pymalloc statistics then)."""
    import tempfile

    keys = {"# arenas allocated current": "arenas", "# arenas highwater mark": "arenas_highwater",
            "# arenas reclaimed": "arenas_reclaimed", "# bytes in allocated blocks": "allocated",
            "# bytes in available blocks": "available"}
    out: dict[str, int] = {}
    with tempfile.TemporaryFile("w+") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        for line in tmp:
            key, _, value = line.partition("=")
            if key.strip() in keys:
                out[keys[key.strip()]] = int(value.strip().replace(",", ""))
            elif "unused pools *" in key:
                out["unused_pools_bytes"] = int(value.strip().replace(",", ""))
    return out


def object_counts() -> Counter[str]:
    """Objects the cyclic collector tracks, by type name (after a full collection)."""
    gc.collect()
    return Counter(type(o).__qualname__ for o in gc.get_objects())


class _State:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.n = 0
        self.snapshot: tracemalloc.Snapshot | None = None
        self.counts: Counter[str] = Counter()


_state: _State | None = None


def report(previous_counts: Counter[str] | None = None,
           previous: tracemalloc.Snapshot | None = None) -> tuple[dict[str, Any], Counter[str], Any]:
    """(the report document, the object counts, the tracemalloc snapshot or None)."""
    counts = object_counts()
    doc: dict[str, Any] = {"time": time.time(), "pid": os.getpid(), "smaps_rollup": smaps_rollup(),
                           "mallinfo2": mallinfo(), "pymalloc": pymalloc_stats(), "trims": dict(TRIMS), "gc_objects": sum(counts.values()),
                           "gc_top": counts.most_common(TOP)}
    if previous_counts is not None:
        delta = Counter(counts)
        delta.subtract(previous_counts)
        doc["gc_delta"] = [(k, v) for k, v in sorted(delta.items(), key=lambda kv: -abs(kv[1]))[:TOP] if v]
    snapshot = None
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),))
        current, peak = tracemalloc.get_traced_memory()
        doc["tracemalloc"] = {"current": current, "peak": peak,
                              "top": [(str(s.traceback), s.size, s.count)
                                      for s in snapshot.statistics("traceback")[:TOP]]}
        if previous is not None:
            doc["tracemalloc"]["diff"] = [(str(s.traceback), s.size_diff, s.count_diff)
                                          for s in snapshot.compare_to(previous, "traceback")[:TOP]]
    return doc, counts, snapshot


def dump() -> str | None:
    """Write the next report into the folder given by ``OXY_MEMDEBUG``; its path (None when off)."""
    state = _state
    if state is None:
        return None
    doc, state.counts, snapshot = report(state.counts if state.n else None, state.snapshot)
    state.snapshot = snapshot
    state.n += 1
    path = os.path.join(state.folder, f"memdebug-{os.getpid()}-{state.n:04d}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(path + ".tmp", path)  # a reader never sees half a report
    return path


def _on_signal(_signum: int, _frame: Any) -> None:
    try:
        dump()
    except Exception as exc:  # noqa: BLE001 - diagnostics never end the process
        print(f"oxy memdebug: cannot write a report: {type(exc).__name__}: {exc}", file=sys.stderr)


TRIMS = {"count": 0, "seconds": 0.0}


def trim_after_jobs() -> bool:
    """Wrap ``oxy.daemon.jobs.JobTable._finish`` so that :func:`malloc_trim` runs after every
    job (counted with its time in :data:`TRIMS`). False when that method is not there."""
    from oxy.daemon import jobs

    finish = getattr(jobs.JobTable, "_finish", None)
    if finish is None:
        print("oxy memdebug: JobTable._finish not found: no trim after jobs", file=sys.stderr)
        return False

    def _finish_and_trim(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return finish(self, *args, **kwargs)
        finally:
            t0 = time.perf_counter()
            malloc_trim()
            TRIMS["count"] += 1
            TRIMS["seconds"] += time.perf_counter() - t0

    jobs.JobTable._finish = _finish_and_trim  # type: ignore[method-assign]
    return True


def install() -> bool:
    """Start tracing and hook SIGUSR2 when ``OXY_MEMDEBUG`` names a folder; trim after every
    daemon job when ``OXY_MEMDEBUG_TRIM=1``. True if it did anything."""
    global _state
    trimming = os.environ.get(ENV_TRIM) == "1" and trim_after_jobs()
    folder = os.environ.get(ENV_DIR)
    if not folder or _state is not None:
        return trimming or _state is not None
    os.makedirs(folder, exist_ok=True)
    frames = int(os.environ.get(ENV_FRAMES, "1") or 1)
    if frames > 0:
        tracemalloc.start(frames)
    _state = _State(folder)
    signal.signal(signal.SIGUSR2, _on_signal)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m oxy.daemon.memdebug ARGS``: :func:`install`, then ``oxy ARGS``."""
    from oxy.cli.main import main as oxy_main

    install()
    return oxy_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
