"""Configuration of :class:`~oxy.runtime.AssetLoader`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from oxy.runtime.retry import RetryPolicy

if TYPE_CHECKING:
    from oxy.hub import ImportLoop

DEFAULT_MEMORY_BUDGET = 256 << 20


@dataclass(frozen=True)
class LoaderConfig:
    """How an :class:`AssetLoader` runs.

    ``loop``: the :class:`~oxy.hub.ImportLoop` whose hub thread owns the loader (its
    CPU pool decodes, its I/O pool reads). When None, :meth:`AssetLoader.start`
    creates a loop of its own with ``cpu_threads``/``io_threads`` and ``stop``
    closes it; a given loop is left running.

    ``verify_content_hashes``: at mount, compare the PAK CRC-32 and each loose
    descriptor's SHA-256; at load, compare every truncated content hash
    (descriptor header, texture payload, buffer data). Off by default, as in the
    engine.

    ``memory_budget``: bytes the cache may hold; beyond it the least recently used
    *unreferenced* entries (released, or dependencies nothing holds) are evicted.
    Referenced entries are never evicted, whatever the budget.

    ``strict``: treat every warning of the rule book (:mod:`oxy.validate.rules`:
    what the engine tolerates, such as a dangling buffer index or a missing submesh
    material) as an error: the load fails instead of publishing the object with the
    warning attached. Off by default, as in the engine.

    ``decode_slots``: how many loads may be in their read + decode stage at once
    (default: 4 x the CPU pool size, enough to keep both pools busy while the hub
    turns results around); the others wait and are admitted by priority.

    ``retry``: how transient read errors (EIO, EAGAIN, a file missing or short while a
    cook swaps it) are retried, with exponential backoff (:class:`RetryPolicy`;
    ``RetryPolicy(max_attempts=1)`` never retries). Format errors fail at once.

    ``fallback``: the default of ``load_*(..., fallback=)``: a load that still fails
    after its retries completes with a placeholder (checker texture, ``ERROR``
    cube, default material) and carries the error (:mod:`oxy.runtime.placeholders`).

    ``gc_freeze``: after each mount, run one full garbage collection and
    ``gc.freeze()`` (:func:`oxy.runtime.loader.freeze_heap`). This changes the
    *process's* garbage collector, so it is off by default and only for an
    application that wants it: what is alive at mount time (modules, the
    application's and the loader's long-lived objects) is no longer scanned by
    later full collections, which then pause every thread for the objects made since
    only (docs/bench_loader.md measures both). The mount itself pays one full
    collection. ``gc.unfreeze()`` undoes it; the loader never calls that.

    ``watch``: watch every mounted loose root (its ``container.index.bin``) and PAK
    file and hot-reload what changed (:mod:`oxy.runtime.reload`), ``reload_debounce``
    seconds after the last change (default 0.3).
    """

    loop: "ImportLoop | None" = None
    cpu_threads: int | None = None
    io_threads: int = 2
    verify_content_hashes: bool = False
    strict: bool = False
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    decode_slots: int | None = None
    name: str = "oxy-asset-loader"
    retry: RetryPolicy = RetryPolicy()
    fallback: bool = False
    watch: bool = False
    reload_debounce: float = 0.3
    gc_freeze: bool = False

    def __post_init__(self) -> None:
        if self.memory_budget < 0:
            raise ValueError(f"memory_budget must be >= 0, got {self.memory_budget}")
        if self.decode_slots is not None and self.decode_slots < 1:
            raise ValueError(f"decode_slots must be >= 1, got {self.decode_slots}")
        if self.reload_debounce < 0:
            raise ValueError(f"reload_debounce must be >= 0, got {self.reload_debounce}")
