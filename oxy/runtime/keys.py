"""Keys of the runtime loader: opaque source ids, resource kinds and resource keys.

An asset is addressed by its :class:`~oxy.formats.AssetKey` (global over all
mounts). A resource (texture or buffer) is addressed by a :class:`ResourceKey`:
the source that holds it, its kind and its index in that source's table. Source
ids are opaque tokens: compare and hash them, never build or interpret them.
Immutable values; safe from any thread.
"""
from __future__ import annotations

from typing import Any

import enum
import itertools
from dataclasses import dataclass, field

__all__ = ["ResourceKind", "ResourceKey", "SourceId", "BUFFER_SOURCE"]

_serials = itertools.count(1)


class SourceId:
    """An opaque token naming one mount (or the in-memory buffer source)."""

    __slots__ = ("_serial", "_label", "_keys")

    def __init__(self, label: str) -> None:
        self._serial = next(_serials)
        self._label = label
        self._keys: dict[tuple[ResourceKind, int], ResourceKey] = {}

    def key(self, kind: "ResourceKind", index: int) -> "ResourceKey":
        """The one :class:`ResourceKey` of this source for (kind, index): decoders
        share it instead of building a new key per reference (1,200 materials over
        16 textures hold 16 key objects, not 2,400). Any thread (a dict lookup)."""
        found = self._keys.get((kind, index))
        if found is None:
            found = self._keys.setdefault((kind, index), ResourceKey(self, kind, index))
        return found

    def __repr__(self) -> str:
        return f"<SourceId #{self._serial} {self._label}>"

    def __reduce__(self) -> str | tuple[Any, ...]:  # tokens are process-local
        raise TypeError("SourceId tokens cannot be pickled")


#: The source of resources decoded from caller-provided buffers.
BUFFER_SOURCE = SourceId("<buffers>")


class ResourceKind(enum.Enum):
    TEXTURE = "texture"
    BUFFER = "buffer"


@dataclass(frozen=True, slots=True)
class ResourceKey:
    """Which source, which table, which entry. Its hash is computed once (keys are
    hashed on every cache and in-flight lookup of the owning hub)."""

    source: SourceId
    kind: ResourceKind
    index: int
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.source, self.kind, self.index)))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"{self.kind.value}[{self.index}]@{self.source!r}"
