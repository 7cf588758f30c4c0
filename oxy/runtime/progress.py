"""Loader counters: :class:`LoaderStats` (since start) and :class:`LoadProgress` (since a mark).

Thread rules: both are written only by the loader's owning hub. ``loader.stats``
fields may be read from any thread (plain integers/floats, possibly one update
behind; ``loader.stats()`` copies them as a dict the same way);
``loader.progress()`` returns a consistent snapshot taken on the owning hub.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["LoadProgress", "LoaderStats", "ProgressCounter"]


@dataclass
class LoaderStats:
    """Counters since start (owning hub). ``requests``: obtain calls (requests and
    dependency loads); ``decodes``: loads actually run; ``joined``: requests that
    joined an in-flight load; ``cache_hits``: served from the cache; ``failures``:
    requests that failed (with or without a fallback); ``retries``: transient read
    errors retried; ``fallbacks``: placeholders handed out; ``cancelled``: requests
    cancelled by their requester; ``reloads``: objects swapped by hot reload;
    ``reload_errors``: mounts that failed to re-read; ``bytes_read``: descriptor,
    table-entry and payload bytes read; ``decode_seconds``: CPU-pool time spent
    decoding. Calling it (``loader.stats()``) returns a snapshot dict."""

    requests: int = 0
    decodes: int = 0
    joined: int = 0
    cache_hits: int = 0
    failures: int = 0
    retries: int = 0
    fallbacks: int = 0
    cancelled: int = 0
    reloads: int = 0
    reload_errors: int = 0
    bytes_read: int = 0
    decode_seconds: float = 0.0

    def __call__(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoadProgress:
    """Top-level requests since the last :meth:`AssetLoader.mark_progress` (for a
    loading screen): ``total`` requested, ``loaded`` completed, ``failed``
    (including fallbacks), ``cancelled``, ``in_flight`` still running."""

    total: int
    loaded: int
    failed: int
    cancelled: int
    in_flight: int

    @property
    def fraction(self) -> float:
        """Finished / total (1.0 when nothing was requested)."""
        return 1.0 if not self.total else (self.total - self.in_flight) / self.total

    @property
    def done(self) -> bool:
        return self.in_flight == 0


class ProgressCounter:
    """The owning hub's request counters behind :class:`LoadProgress`."""

    __slots__ = ("epoch", "total", "loaded", "failed", "cancelled")

    def __init__(self) -> None:
        self.epoch = 0
        self.total = self.loaded = self.failed = self.cancelled = 0

    def mark(self) -> None:
        """Start counting afresh (requests already in flight are not counted)."""
        self.epoch += 1
        self.total = self.loaded = self.failed = self.cancelled = 0

    def started(self) -> int:
        """Count a new request; returns the epoch to pass to :meth:`finished`."""
        self.total += 1
        return self.epoch

    def finished(self, status: str, epoch: int) -> None:
        if epoch != self.epoch:
            return
        if status == "completed":
            self.loaded += 1
        elif status == "cancelled":
            self.cancelled += 1
        else:
            self.failed += 1

    def snapshot(self) -> LoadProgress:
        done = self.loaded + self.failed + self.cancelled
        return LoadProgress(self.total, self.loaded, self.failed, self.cancelled, max(0, self.total - done))
