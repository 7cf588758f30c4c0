"""Bundles: many loads as one (:class:`BundleHandle`, :class:`Bundle`), and glob expansion.

``loader.load_bundle(items)`` takes asset keys (or their text form) and virtual-path
globs (text starting with ``/``; ``*``, ``?`` and ``[...]`` as in :mod:`fnmatch`),
expands the globs against the mounted virtual paths on the owning hub, and starts
one load per distinct key. The :class:`BundleHandle` completes when every member
completed or failed; its result is a :class:`Bundle` with the values that loaded
(each holding one reference, as any load: release them with
``loader.release_all(bundle.values)``) and the failures by key (a glob matching
nothing is a failure under the glob's text). With ``fallback`` a failed member's
placeholder is in ``values`` *and* its error in ``failures``.

Thread rules: a BundleHandle is a :class:`~oxy.hub.CrossFuture` (any thread);
``progress``/``status`` read member handles racily (any thread); member completion
is counted under a lock (members complete on the owning hub, or in the thread that
cancels them).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterable

from oxy.formats import AssetKey
from oxy.hub import CrossFuture, allocate_lock
from oxy.runtime.errors import AssetNotFound
from oxy.runtime.handles import COMPLETED, FAILED, LOADING, QUEUED, LoadHandle
from oxy.runtime.kinds import as_asset_key
from oxy.runtime.mounts import MountTable

__all__ = ["Bundle", "BundleHandle", "expand"]


@dataclass
class Bundle:
    """What a bundle load gave: ``values`` (key -> object) and ``failures`` (key or
    unmatched glob -> error)."""

    values: dict[Any, Any] = field(default_factory=dict)
    failures: dict[Any, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def is_glob(item: Any) -> bool:
    return isinstance(item, str) and item.startswith("/")


def expand(items: Iterable[Any], mounts: MountTable) -> tuple[list[AssetKey], dict[str, BaseException]]:
    """Keys in request order (each once) and the globs that matched nothing.
    Owning hub (reads the mount table)."""
    keys: dict[AssetKey, None] = {}
    unmatched: dict[str, BaseException] = {}
    paths: list[tuple[str, AssetKey]] | None = None
    for item in items:
        if not is_glob(item):
            keys.setdefault(as_asset_key(item), None)
            continue
        if paths is None:
            paths = sorted({vp: k for s in reversed(mounts.sources) for vp, k in s.virtual_paths.items()}.items())
        hits = [k for vp, k in paths if fnmatch.fnmatchcase(vp, item)]
        if not hits:
            unmatched[item] = AssetNotFound(f"no mounted virtual path matches {item!r}")
        for key in hits:
            keys.setdefault(key, None)
    return list(keys), unmatched


class BundleHandle(CrossFuture[Bundle]):
    """The handle of a bundle load. See the module docstring."""

    __slots__ = ("members", "_bundle", "_left", "_count_lock", "_cancel_requested")

    def __init__(self) -> None:
        super().__init__()
        self.members: dict[Any, LoadHandle] = {}
        self._bundle = Bundle()
        self._left = 0
        self._count_lock = allocate_lock()
        self._cancel_requested = False

    def _start(self, members: dict[Any, LoadHandle], unmatched: dict[str, BaseException]) -> None:
        """Called once, on the owning hub, with the member handles already requested."""
        self._bundle.failures.update(unmatched)
        self.members = dict(members)
        self._left = len(members)
        if not members:
            self.set_result(self._bundle)
            return
        for handle in members.values():
            handle.add_done_callback(self._member_done)
        if self._cancel_requested:
            self.cancel()

    def _member_done(self, future: CrossFuture[Any]) -> None:
        assert isinstance(future, LoadHandle)
        with self._count_lock:
            error = future.error
            if error is None or future.fallback:
                self._bundle.values[future.key] = future.result(0)
            if error is not None:
                self._bundle.failures[future.key] = error
            self._left -= 1
            finished = self._left == 0
        if finished:
            self.set_result(self._bundle)

    @property
    def progress(self) -> float:
        """Mean progress of the members (1.0 once done)."""
        if self.done() or not self.members:
            return 1.0 if self.done() else 0.0
        return sum(h.progress for h in self.members.values()) / len(self.members)

    @property
    def status(self) -> str:
        """``completed`` (every member loaded), ``failed`` (done, some failed),
        ``cancelled``, or while running ``loading``/``queued``."""
        if self.done():
            return COMPLETED if self._bundle.ok else FAILED
        return LOADING if any(h.status != QUEUED for h in self.members.values()) else QUEUED

    def cancel(self) -> bool:
        """Cancel every member still running (they become failures); the bundle
        then completes with what had loaded. False if already done. Any thread."""
        if self.done():
            return False
        self._cancel_requested = True
        for handle in list(self.members.values()):
            handle.cancel()
        return True
