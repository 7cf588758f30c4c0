"""The loader's content cache: entries, reference counts, dependency edges, LRU eviction.

Every cached entry has ``refs`` = holds by callers (one per successful load) plus
one per *referenced* dependent that lists it as a dependency. When ``refs`` drops
to 0 the entry becomes unreferenced: it releases its own dependencies at once
(cascading) and joins the LRU list, where it stays usable until the cache's total
size exceeds the memory budget. Then the least recently used unreferenced
entries are evicted. A load that hits an unreferenced entry revives it, re-taking
its dependencies, provided they are all still cached; otherwise the entry is
dropped and loaded again. Referenced entries are never evicted. An entry whose key
left its mount (:meth:`ContentCache.retire`, hot reload) is evicted as soon as it is
unreferenced instead of joining the LRU list.

Thread rules: owned by the loader's hub; call every method on that hub's thread
only. Nothing here blocks or switches greenlets, so each call is atomic.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable

__all__ = ["ContentCache", "Entry"]


@dataclass(slots=True)
class Entry:
    key: Hashable
    value: Any
    size: int
    deps: tuple[Hashable, ...]
    refs: int = 0
    holds_deps: bool = True  # whether this entry's edges currently count in its deps' refs
    retired: bool = False    # its key left its mount: evicted as soon as nothing holds it


@dataclass
class CacheStats:
    hits: int = 0
    revived: int = 0
    evictions: int = 0


class ContentCache:
    """See the module docstring."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: dict[Hashable, Entry] = {}
        self._lru: OrderedDict[Hashable, None] = OrderedDict()
        self.total_bytes = 0
        self.stats = CacheStats()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: Hashable) -> Any | None:
        """The cached value without taking a reference (refreshes its LRU position)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if key in self._lru:
            self._lru.move_to_end(key)
        return entry.value

    def refs(self, key: Hashable) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.refs

    def dependencies(self, key: Hashable) -> tuple[Hashable, ...]:
        entry = self._entries.get(key)
        return () if entry is None else entry.deps

    def dependents(self, key: Hashable) -> tuple[Hashable, ...]:
        return tuple(e.key for e in self._entries.values() if key in e.deps)

    def publish(self, key: Hashable, value: Any, size: int, deps: Iterable[Hashable], refs: int) -> None:
        """Insert a freshly loaded entry. Its dependencies' references for the edges
        must already be taken (the loader takes them while loading them)."""
        entry = Entry(key, value, size, tuple(deps), refs)
        self._entries[key] = entry
        self.total_bytes += size
        if refs == 0:
            self._unreference(entry)
        self.trim()

    def acquire(self, key: Hashable) -> Any | None:
        """Take one reference and return the value; None on a miss (also when an
        unreferenced entry can no longer be revived: it is dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.refs == 0 and not self._revivable(entry):
            self._evict(entry)
            return None
        self._incref(entry)
        self.stats.hits += 1
        return entry.value

    def release(self, key: Hashable) -> bool:
        """Drop one reference; False when the key holds none."""
        entry = self._entries.get(key)
        if entry is None or entry.refs == 0:
            return False
        self._decref(entry)
        self.trim()
        return True

    def keys(self) -> list[Hashable]:
        return list(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def replace(self, key: Hashable, value: Any, size: int, deps: Iterable[Hashable]) -> Any:
        """Swap the value of a *referenced* entry in place (hot reload): its callers'
        references carry over, the new dependencies' references for the edges must
        already be taken (as for :meth:`publish`), and the old edges are released
        (cascading). Returns the old value."""
        entry = self._entries[key]
        if not entry.refs:
            raise ValueError(f"replace() of unreferenced entry {key!r}: drop it instead")
        old_value, old_deps = entry.value, entry.deps
        entry.value, entry.deps = value, tuple(deps)
        self.total_bytes += size - entry.size
        entry.size = size
        for dep in old_deps:
            d = self._entries.get(dep)
            if d is not None and d.refs:
                self._decref(d)
        self.trim()
        return old_value

    def drop(self, key: Hashable) -> bool:
        """Evict an *unreferenced* entry now (its content went stale); False when it
        is referenced or absent."""
        entry = self._entries.get(key)
        if entry is None or entry.refs:
            return False
        self._evict(entry)
        return True

    def retire(self, key: Hashable) -> bool:
        """The key left its mount (hot reload): evict its entry now if nothing holds
        it (True), else once the last reference is released, instead of keeping it
        in the LRU list. Its holders keep a valid object meanwhile (and a new load
        of the key, while it is still held, gets that object)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry.refs == 0:
            self._evict(entry)
            return True
        entry.retired = True
        return False

    def release_all(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry.refs:
                self._decref(entry)
        self.trim()

    def trim(self) -> None:
        """Evict unreferenced entries, least recently used first, until within budget."""
        while self.total_bytes > self.budget and self._lru:
            key, _ = self._lru.popitem(last=False)
            self._evict(self._entries[key])

    def evict_unreferenced(self) -> tuple[int, int]:
        """Evict every unreferenced entry now, whatever the budget: (entries, bytes) freed."""
        count, before = 0, self.total_bytes
        while self._lru:
            key, _ = self._lru.popitem(last=False)
            self._evict(self._entries[key])
            count += 1
        return count, before - self.total_bytes

    def clear(self) -> None:
        self._entries.clear()
        self._lru.clear()
        self.total_bytes = 0

    # -- internals -------------------------------------------------------------------
    def _revivable(self, entry: Entry, seen: set | None = None) -> bool:
        if entry.holds_deps:
            return True
        seen = set() if seen is None else seen
        seen.add(entry.key)
        for dep in entry.deps:
            d = self._entries.get(dep)
            if d is None or (d.refs == 0 and dep not in seen and not self._revivable(d, seen)):
                return False
        return True

    def _incref(self, entry: Entry) -> None:
        if entry.refs == 0:
            self._lru.pop(entry.key, None)
            if not entry.holds_deps:
                entry.holds_deps = True
                for dep in entry.deps:
                    self._incref(self._entries[dep])
        entry.refs += 1

    def _decref(self, entry: Entry) -> None:
        entry.refs -= 1
        if entry.refs == 0:
            self._unreference(entry)

    def _unreference(self, entry: Entry) -> None:
        if not entry.retired:
            self._lru[entry.key] = None
        if entry.holds_deps:
            entry.holds_deps = False
            for dep in entry.deps:
                d = self._entries.get(dep)
                if d is not None and d.refs:
                    self._decref(d)
        if entry.retired and self._entries.get(entry.key) is entry:
            self._evict(entry)

    def _evict(self, entry: Entry) -> None:
        self._lru.pop(entry.key, None)
        del self._entries[entry.key]
        self.total_bytes -= entry.size
        self.stats.evictions += 1
