"""Thumbnails of cooked textures for the status page: decoded by oxy's own runtime
reader, downscaled and encoded as PNG with Pillow, kept in a bounded LRU cache.

A thumbnail names a texture by its index in the root's texture table (``/ui/thumb/N.png``).
Reading goes through the runtime's mount (:func:`oxy.runtime.sources.open_loose_root`:
the index's path rules and :mod:`oxy.rootfs` keep every read inside the root), the
rule-book checks of :func:`oxy.runtime.decoders.decode_texture`, and
:meth:`oxy.runtime.types.TextureResource.to_rgba8` (RGBA8 copied; BC7, BC1, BC4, BC5
with Z rebuilt, and BC6H clamped into [0, 1] decoded by oxy's own kernels). The mip decoded is the smallest one still at least :data:`THUMB_SIZE` pixels
on its longer side, so a 4096 px texture never decodes its full-size level.

The cache is keyed by content (the table entry's ``content_hash`` with its size and
format; the payload's SHA-256 when the cooker wrote no hash), never by index: a
re-cook commits a new entry and gets a new thumbnail, and a compaction that renumbers
the table cannot serve one texture's thumbnail for another. It holds at most
:data:`CACHE_BYTES` of PNG bytes (least recently used first out).

:func:`cooked_textures` lists what a committed job cooked, from the build records.

Thread rules: everything here is blocking (file reads, SQLite, BC decode, PNG encode):
the daemon calls it through the main hub's thread pool, never on the hub. A
:class:`Thumbnails` is safe from any thread: one lock serialises mounting, decoding
and the cache (thumbnails are small and cached; they never compete with a cook for
more than one pool thread).

Failure modes: :class:`ThumbnailError` with an HTTP status, a stable code and a message
naming the texture and the file: 404 ``texture_not_found`` (no index yet, index out of
range), 422 ``thumbnail_failed`` (a format ``to_rgba8`` cannot decode, or a payload the
decoder's checks reject), 503 ``root_unavailable`` (the root does not mount, e.g. it is
being repaired).
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

#: Longest side of a thumbnail, in pixels (smaller textures are not enlarged).
THUMB_SIZE = 128
#: PNG bytes the cache keeps at most.
CACHE_BYTES = 16 << 20
#: Textures listed per job (the job object travels in every event).
MAX_JOB_TEXTURES = 32


class ThumbnailError(Exception):
    """A thumbnail that cannot be made: ``status`` (HTTP), ``code``, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Thumbnail:
    png: bytes
    width: int
    height: int
    etag: str        # the content key, hex
    cached: bool     # served from the cache


class Thumbnails:
    """Thumbnails of one root's textures. See the module docstring for thread rules."""

    def __init__(self, root: str, size: int = THUMB_SIZE, max_bytes: int = CACHE_BYTES) -> None:
        self.root = root
        self.size = size
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[bytes, int, int]] = OrderedDict()
        self._bytes = 0
        self._source: Any = None
        self._identity: tuple[int, ...] | None = None
        self.hits = 0
        self.misses = 0

    def render(self, index: int) -> Thumbnail:
        """The PNG thumbnail of texture ``index`` of the current index. Blocking."""
        with self._lock:
            src = self._mounted()
            from oxy.runtime.keys import ResourceKind

            table = src.tables.get(ResourceKind.TEXTURE)
            count = 0 if table is None else len(table)
            if not 0 <= index < count:
                raise ThumbnailError(404, "texture_not_found",
                                     f"{self.root}: no texture {index} (the texture table has {count})")
            key = self._content_key(table[index], src, index)
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return Thumbnail(hit[0], hit[1], hit[2], key, True)
            self.misses += 1
            png, w, h = self._make(src, index)
            self._put(key, (png, w, h))
            return Thumbnail(png, w, h, key, False)

    def close(self) -> None:
        """Unmount (the next :meth:`render` mounts again)."""
        with self._lock:
            self._unmount()

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    # -- internals (called with the lock held) ------------------------------------------------
    def _mounted(self) -> Any:
        """The mounted root, mounted again when its index file is another one (every commit
        renames a new index into place)."""
        from oxy.formats.loose import INDEX_FILE_NAME
        from oxy.runtime.errors import MountError
        from oxy.runtime.sources import open_loose_root

        try:
            st = os.stat(os.path.join(self.root, INDEX_FILE_NAME))
        except FileNotFoundError:
            self._unmount()
            raise ThumbnailError(404, "texture_not_found", f"{self.root}: the root has no index yet") from None
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if self._source is None or identity != self._identity:
            self._unmount()
            try:
                self._source = open_loose_root(self.root)
            except MountError as exc:
                raise ThumbnailError(503, "root_unavailable", str(exc)) from None
            self._identity = identity
        return self._source

    def _unmount(self) -> None:
        src, self._source, self._identity = self._source, None, None
        if src is not None:
            src.close()

    def _content_key(self, row: Any, src: Any, index: int) -> str:
        content_hash = int(row["content_hash"])
        if content_hash:
            return (f"{content_hash:016x}-{int(row['width'])}x{int(row['height'])}-"
                    f"f{int(row['format'])}-m{int(row['mip_levels'])}")
        _entry, _ew, payload, _pw = self._read(src, index)  # the cooker wrote no hash: hash the payload
        return hashlib.sha256(payload).hexdigest()

    def _read(self, src: Any, index: int) -> tuple[bytes, Any, bytes, Any]:
        from oxy.runtime.errors import SourceReadError
        from oxy.runtime.keys import ResourceKind

        try:
            return src.read_resource(ResourceKind.TEXTURE, index)
        except SourceReadError as exc:  # the files changed under the mount: mount again next time
            self._unmount()
            raise ThumbnailError(503, "root_unavailable", str(exc)) from None

    def _make(self, src: Any, index: int) -> tuple[bytes, int, int]:
        from PIL import Image

        from oxy.errors import FormatError
        from oxy.runtime.decoders import decode_texture
        from oxy.runtime.keys import ResourceKey, ResourceKind

        entry, entry_where, payload, payload_where = self._read(src, index)
        try:
            texture = decode_texture(ResourceKey(src.id, ResourceKind.TEXTURE, index), entry, payload,
                                     entry_where=entry_where, payload_where=payload_where, verify=False)
            # BC5 normal maps are shown with their Z rebuilt (blue), as the engine sees them
            rgba = texture.to_rgba8(0, pick_mip(texture.width, texture.height, texture.mip_levels, self.size),
                                    reconstruct_z=True)
        except (FormatError, ValueError) as exc:
            raise ThumbnailError(422, "thumbnail_failed", f"{self.root}: texture {index}: {exc}") from None
        image = Image.fromarray(rgba, "RGBA")
        if max(image.size) > self.size:
            image.thumbnail((self.size, self.size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue(), image.width, image.height

    def _put(self, key: str, value: tuple[bytes, int, int]) -> None:
        self._cache[key] = value
        self._bytes += len(value[0])
        while self._bytes > self.max_bytes and len(self._cache) > 1:
            _old, (png, _w, _h) = self._cache.popitem(last=False)
            self._bytes -= len(png)


def pick_mip(width: int, height: int, mip_levels: int, size: int) -> int:
    """The smallest mip whose longer side is still at least ``size`` (0 for small textures)."""
    mip = 0
    while mip + 1 < mip_levels and max(width >> (mip + 1), height >> (mip + 1)) >= size:
        mip += 1
    return mip


def cooked_textures(root: str, sources: list[str], since: float, limit: int = MAX_JOB_TEXTURES) -> list[dict[str, Any]]:
    """The textures that ``sources`` (a job's planned sources) were cooked to at or
    after ``since`` (the job's start), from the build records of the root's current
    index: ``[{"source", "name", "index"}]``, at most ``limit``. Sources found up to
    date (recorded earlier) and the fallback texture 0 are left out. Blocking."""
    from oxy.daemon.plan import load_records

    records = load_records(root)
    out: list[dict[str, Any]] = []
    for path in sources:
        record = records.sources.get(path)
        if record is None or record.cooked_at < since:
            continue
        for o in record.outputs:
            if o.kind == "texture" and o.index:
                out.append({"source": path, "name": o.name, "index": int(o.index)})
                if len(out) >= limit:
                    return out
    return out
