"""MaterialReadinessTracker: which materials can be emitted once their textures are in.

Each material waits for a set of texture source ids. :meth:`mark_texture_ready`
records a texture's index (0 for a failed or missing one) and returns the materials
that became ready with it, in their original order, each exactly once. Materials
that need no texture are ready from the start (:meth:`take_ready`).

Thread rules: plain state, no locking: use from one greenlet/thread (the import
job). Failure modes: ValueError for a texture id no material waits for, or one
marked twice.
"""
from __future__ import annotations

from typing import Generic, Hashable, Iterable, Mapping, TypeVar

M = TypeVar("M", bound=Hashable)


class MaterialReadinessTracker(Generic[M]):
    """See the module docstring. ``M`` is whatever identifies a material (an index)."""

    def __init__(self, needs: Mapping[M, Iterable[str]]) -> None:
        self._order = {m: i for i, m in enumerate(needs)}
        self._waiting = {m: set(ids) for m, ids in needs.items()}
        self._users: dict[str, list[M]] = {}
        for material, ids in self._waiting.items():
            for texture in ids:
                self._users.setdefault(texture, []).append(material)
        self._indices: dict[str, int] = {}
        self._ready: list[M] = [m for m, ids in self._waiting.items() if not ids]
        self._done: set[M] = set()

    @property
    def texture_ids(self) -> list[str]:
        return list(self._users)

    def mark_texture_ready(self, texture_id: str, index: int) -> list[M]:
        """Record ``texture_id`` -> ``index``; the materials that are now complete."""
        if texture_id not in self._users:
            raise ValueError(f"no material waits for texture {texture_id!r}")
        if texture_id in self._indices:
            raise ValueError(f"texture {texture_id!r} was already marked ready")
        self._indices[texture_id] = index
        for material in self._users[texture_id]:
            waiting = self._waiting[material]
            waiting.discard(texture_id)
            if not waiting:
                self._ready.append(material)
        return self.take_ready()

    def take_ready(self) -> list[M]:
        """Materials ready and not yet handed out (original order)."""
        ready = sorted((m for m in self._ready if m not in self._done), key=self._order.__getitem__)
        self._done.update(ready)
        self._ready = []
        return ready

    def index_of(self, texture_id: str) -> int:
        return self._indices.get(texture_id, 0)

    def pending(self) -> list[M]:
        """Materials not handed out yet."""
        return [m for m in self._order if m not in self._done]
