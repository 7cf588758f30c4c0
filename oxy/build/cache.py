"""The cook cache: cooked results stored by cook key, so unchanged work is never cooked twice.

A cook key is the SHA-256 of a unit of work's recipe (64 lower-case hex digits); the
value is opaque bytes that the caller serialised. ``get`` returns a :class:`CacheHit`
or None, ``put`` stores. Two tiers:

- **local** (always): files under ``<dir>/v1/<key[:2]>/<key>``
  (:mod:`oxy.build.cache_local`); ``dir`` is ``$OXY_CACHE_DIR`` or the user cache
  folder. Bounded (``size_limit``, default 10 GiB or ``$OXY_CACHE_SIZE``) and LRU: a
  hit sets the entry's mtime; after puts, when the running total passes the limit,
  the oldest entries go until 90% of it remains. The total is counted once (first
  put), then kept by adding entry sizes, and recounted every :data:`RESCAN_EVERY`
  puts (other processes write too).
- **remote** (optional): any fsspec URL (``s3://bucket/prefix``, a shared folder),
  behind the local tier (:mod:`oxy.build.cache_remote`). Read-through: a local miss
  asks the remote, verifies, stores locally, returns origin ``"remote"``.
  Write-back: ``put`` writes locally, then uploads before it returns. After a remote
  failure the tier is skipped for a minute (``remote_skipped``). The remote is never
  trimmed (use the store's expiry rules, e.g. an S3 lifecycle rule).

Entries (local and remote) are an 84-byte header (magic ``OXYCACHE``, format
version, the key, the data's SHA-256 and length; :mod:`oxy.build.cache_local`)
then the data. Every read checks all of it: a short, altered or misplaced entry
(another key's header) is a miss, logged with its path and reason, counted as
``corrupt`` and removed (best effort; from the remote too), never returned. An
entry of another format version is a miss and is left for the oxy that wrote it.

Thread rules: a :class:`CookCache` is safe from any number of threads (CPU-pool
threads call it), and any number of processes may share one folder or URL. Plain
blocking code: no gevent, no threads of its own (fsspec's S3 client runs its requests
on fsspec's own event-loop thread). Writes are atomic (temporary and
rename: readers never see a part); concurrent writers of one key write the same
bytes, the last rename wins; files vanishing under a reader (another process trims)
are misses.

Failure modes: ``get`` and ``put`` never raise for I/O trouble (local or remote):
they log on ``oxy.build.cache`` and count (``read_failures``, ``write_failures``),
and the cook carries on without the cache. A key that is not 64 lower-case hex
digits raises ValueError (it would become a path). ``stats``, ``trim`` and ``clear``
raise OSError when the local folder cannot be read; ``clear_remote`` raises what the
remote store raises.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlsplit

from oxy.build.cache_local import (FORMAT_VERSION, HEADER_SIZE, KEY_RE, MAGIC, CorruptEntry, LocalTier,
                                   decode_entry, encode_entry)
from oxy.build.cache_remote import RemoteTier

__all__ = ["CacheHit", "CacheStats", "CacheCounters", "CookCache", "CorruptEntry", "TrimResult",
           "DEFAULT_SIZE_LIMIT", "MAGIC", "FORMAT_VERSION", "HEADER_SIZE", "check_key", "decode_entry",
           "default_cache_dir", "encode_entry", "open_cache", "parse_size"]

log = logging.getLogger("oxy.build.cache")

DEFAULT_SIZE_LIMIT = 10 << 30
#: An over-limit local tier is trimmed down to this fraction of the limit.
TRIM_TO = 0.9
#: Puts between two recounts of the local tier's size.
RESCAN_EVERY = 256
ENV_DIR = "OXY_CACHE_DIR"
ENV_SIZE = "OXY_CACHE_SIZE"


@dataclass(frozen=True)
class CacheHit:
    data: bytes
    origin: str  # "local" or "remote"


@dataclass(frozen=True)
class TrimResult:
    removed: int        # entries removed
    removed_bytes: int
    entries: int        # entries left
    bytes: int          # bytes left
    max_bytes: int      # the bound trimmed to
    stale_temps: int    # abandoned temporaries removed


@dataclass(frozen=True)
class CacheStats:
    location: str            # the local tier's folder
    remote: str | None       # the remote tier's URL
    entries: int             # local entries
    bytes: int               # local entry file sizes, headers included
    size_limit: int
    counters: dict[str, int]  # this process's counts (CacheCounters)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(eq=False)
class CacheCounters:
    """This process's counts. ``add`` is thread-safe; reading one count is a plain read.

    ``writes`` counts local entries written (puts and fills from the remote),
    ``remote_writes`` remote ones; ``write_failures`` and ``read_failures`` count I/O
    failures of either tier (a missing entry is a miss, not a failure);
    ``remote_skipped`` the calls that skipped a paused or read-only remote."""

    hits_local: int = 0
    hits_remote: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0
    remote_writes: int = 0
    write_failures: int = 0
    read_failures: int = 0
    remote_skipped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise ValueError(f"not a cook key (64 lower-case hex digits): {key!r}")
    return key


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class CookCache:
    """Thread-safe; safe with many processes sharing the same directory/URL. Make one
    with :func:`open_cache`."""

    def __init__(self, local_dir: str, *, size_limit: int = DEFAULT_SIZE_LIMIT,
                 remote: RemoteTier | None = None) -> None:
        if size_limit < 0:
            raise ValueError(f"size_limit must be >= 0, not {size_limit}")
        self.local = LocalTier(local_dir)
        self.remote = remote
        self.size_limit = size_limit
        self.counters = CacheCounters()
        self._lock = threading.Lock()  # guards _approx_bytes and _puts
        self._trimming = threading.Lock()  # one automatic trim per process at a time
        self._approx_bytes: int | None = None
        self._puts = 0

    @property
    def location(self) -> str:
        return self.local.directory

    @property
    def remote_url(self) -> str | None:
        return self.remote.url if self.remote is not None else None

    def __repr__(self) -> str:
        remote = f", remote={self.remote_url!r}" if self.remote else ""
        return f"CookCache({self.location!r}{remote}, size_limit={self.size_limit})"

    # -- get / put -------------------------------------------------------------------

    def get(self, key: str) -> CacheHit | None:
        check_key(key)
        data = self._get_local(key)
        if data is not None:
            self.counters.add("hits_local")
            return CacheHit(data, "local")
        if self.remote is not None:
            data = self._get_remote(key, self.remote)
            if data is not None:
                self.counters.add("hits_remote")
                return CacheHit(data, "remote")
        self.counters.add("misses")
        return None

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        check_key(key)
        blob = encode_entry(key, data)
        self._store_local(key, blob)
        remote = self.remote
        if remote is None:
            return
        if not remote.usable(writing=True):
            self.counters.add("remote_skipped")
            return
        try:
            remote.write(key, blob)
        except Exception as exc:  # the store's own errors (botocore, aiohttp) are not all OSError
            self.counters.add("write_failures")
            log.warning("cook cache: cannot write %s: %s; %s", remote.path_for(key), _describe(exc),
                        remote.failed(exc, writing=True))
        else:
            self.counters.add("remote_writes")

    def _get_local(self, key: str) -> bytes | None:
        path = self.local.path_for(key)
        try:
            found = self.local.read(key)
        except OSError as exc:
            self.counters.add("read_failures")
            log.warning("cook cache: cannot read %s: %s", path, _describe(exc))
            return None
        if found is None:
            return None
        blob, file_id = found
        try:
            data = decode_entry(key, blob)
        except CorruptEntry as exc:
            self._corrupt(path, exc)
            if not exc.foreign:
                self.local.discard(key, file_id)
            return None
        self.local.touch(key)
        return data

    def _get_remote(self, key: str, remote: RemoteTier) -> bytes | None:
        if not remote.usable():
            self.counters.add("remote_skipped")
            return None
        path = remote.path_for(key)
        try:
            blob = remote.read(key)
        except Exception as exc:
            self.counters.add("read_failures")
            log.warning("cook cache: cannot read %s: %s; %s", path, _describe(exc), remote.failed(exc, writing=False))
            return None
        if blob is None:
            return None
        try:
            data = decode_entry(key, blob)
        except CorruptEntry as exc:
            self._corrupt(path, exc)
            if not exc.foreign:
                remote.discard(key)
            return None
        self._store_local(key, blob)
        return data

    def _corrupt(self, path: str, exc: CorruptEntry) -> None:
        if exc.foreign:
            log.info("cook cache: %s: %s; a miss, left in place", path, exc)
            return
        self.counters.add("corrupt")
        log.warning("cook cache: %s: corrupt entry (%s); removed, counted as a miss", path, exc)

    def _store_local(self, key: str, blob: bytes) -> None:
        if len(blob) > self.size_limit:
            log.debug("cook cache: %s: %d bytes, over the size limit; not stored locally", key, len(blob))
            return
        try:
            self.local.write(key, blob)
        except OSError as exc:
            self.counters.add("write_failures")
            log.warning("cook cache: cannot write %s: %s", self.local.path_for(key), _describe(exc))
            return
        self.counters.add("writes")
        with self._lock:
            self._puts += 1
            if self._approx_bytes is not None:
                self._approx_bytes += len(blob)
            due = (self._approx_bytes is None or self._approx_bytes > self.size_limit
                   or self._puts % RESCAN_EVERY == 0)
        if due:
            self._auto_trim()

    def _auto_trim(self) -> None:
        """Recount the local tier and trim it to TRIM_TO of the limit when over; skipped
        while another thread of this process or another process is trimming."""
        if not self._trimming.acquire(blocking=False):
            return
        try:
            with self.local.exclusive(wait=False) as held:
                if not held:
                    return
                sweep = self.local.sweep(int(self.size_limit * TRIM_TO), only_above=self.size_limit)
            with self._lock:
                self._approx_bytes = sweep.bytes
            if sweep.removed:
                log.info("cook cache: %s over %d bytes: removed %d least recently used entries (%d bytes)",
                         self.location, self.size_limit, sweep.removed, sweep.removed_bytes)
        except OSError as exc:
            log.warning("cook cache: cannot trim %s: %s", self.location, _describe(exc))
        finally:
            self._trimming.release()

    # -- maintenance -------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """Counts the local tier (a scan of its folder); the remote is not listed."""
        entries, _temps = self.local.scan()
        total = sum(size for _, size, _ in entries)
        with self._lock:
            self._approx_bytes = total
        return CacheStats(self.location, self.remote_url, len(entries), total, self.size_limit,
                          self.counters.snapshot())

    def trim(self, max_bytes: int | None = None) -> TrimResult:
        """Remove least-recently-used local entries until at most ``max_bytes`` remain
        (default: the size limit), and temporaries older than an hour. Waits for a
        trim of another process to finish first."""
        bound = self.size_limit if max_bytes is None else max_bytes
        if bound < 0:
            raise ValueError(f"max_bytes must be >= 0, not {bound}")
        if not os.path.isdir(self.local.root):
            return TrimResult(0, 0, 0, 0, bound, 0)
        with self.local.exclusive(wait=True):
            sweep = self.local.sweep(bound)
        with self._lock:
            self._approx_bytes = sweep.bytes
        return TrimResult(sweep.removed, sweep.removed_bytes, sweep.entries, sweep.bytes, bound, sweep.stale_temps)

    def clear(self, *, remote: bool = False) -> int:
        """Remove every local entry (and temporaries older than an hour); with
        ``remote=True`` also every remote entry, which other machines share, so it is
        never the default. Returns the number of entries removed."""
        removed = 0
        if os.path.isdir(self.local.root):
            with self.local.exclusive(wait=True):
                removed = self.local.sweep(None).removed
        with self._lock:
            self._approx_bytes = 0
        if remote:
            removed += self.clear_remote()
        return removed

    def clear_remote(self) -> int:
        """Remove every remote entry (0 without a remote tier); raises the store's errors."""
        return self.remote.clear() if self.remote is not None else 0


# -- opening ------------------------------------------------------------------------------

def default_cache_dir() -> str:
    """``$OXY_CACHE_DIR`` if set, else the user cache folder (``~/.cache/oxy`` on Linux)."""
    env = os.environ.get(ENV_DIR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return platformdirs.user_cache_dir("oxy", appauthor=False)


_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1}
for _i, _p in enumerate("kmgt", start=1):
    _UNITS.update({_p: 1024 ** _i, _p + "i": 1024 ** _i, _p + "ib": 1024 ** _i, _p + "b": 1000 ** _i})


def parse_size(text: str) -> int:
    """Bytes from ``"123456"``, ``"500M"``, ``"2G"``, ``"1.5GiB"``, ``"800MB"``.

    K, M, G, T (and KiB, MiB, GiB, TiB) are powers of 1024; KB, MB, GB, TB powers
    of 1000; case does not matter. Raises ValueError naming the text."""
    match = _SIZE_RE.fullmatch(text) if isinstance(text, str) else None
    unit = _UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"not a size: {text!r} (expected a number of bytes with an optional unit, "
                         "e.g. 123456, 500M, 2G, 1.5GiB, 800MB)")
    number = match.group(1)
    if unit == 1 and "." in number:
        raise ValueError(f"not a size: {text!r} (a byte count is a whole number)")
    return int(float(number) * unit) if "." in number else int(number) * unit


def _default_size_limit() -> int:
    env = os.environ.get(ENV_SIZE)
    if not env:
        return DEFAULT_SIZE_LIMIT
    try:
        return parse_size(env)
    except ValueError as exc:
        raise ValueError(f"${ENV_SIZE}: {exc}") from None


def _local_folder(url: str) -> str | None:
    """The folder a plain path or ``file://`` URL names; None for any other URL."""
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"a file:// URL names a folder on this machine: {url!r}")
        return unquote(parts.path)
    if "://" in url:
        return None
    return os.path.expanduser(url)


def _same_folder(a: str, b: str) -> bool:
    return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))


def open_cache(url: str | None = None, *, size_limit: int | None = None, local_dir: str | None = None,
               storage_options: dict[str, Any] | None = None) -> CookCache:
    """Open (never create: folders appear with the first put) a cook cache.

    - ``url=None``: the local tier alone, in ``local_dir`` or :func:`default_cache_dir`.
    - a plain path or ``file://`` URL: that folder as the local tier; but when
      ``local_dir`` names another folder, the URL's folder is a *shared* remote tier
      (e.g. on a network mount) behind the local one.
    - any other fsspec URL (``s3://bucket/prefix``, ``memory://x``): a remote tier behind
      the local tier (``local_dir`` or the default folder). ``storage_options`` go to
      fsspec (for S3: ``endpoint_url``, ``key``, ``secret``, ``client_kwargs``,
      ``config_kwargs``...).

    ``size_limit`` (bytes) bounds the local tier: default ``$OXY_CACHE_SIZE`` or 10 GiB.
    Raises ValueError for a bad size or URL, ImportError when the URL's file system
    needs a package that is missing (``s3fs`` for ``s3://``)."""
    limit = _default_size_limit() if size_limit is None else size_limit
    folder = _local_folder(url) if url is not None else None
    remote = None
    if url is None:
        local = local_dir or default_cache_dir()
    elif folder is not None and (local_dir is None or _same_folder(folder, local_dir)):
        local = folder
    else:
        remote = RemoteTier(url, storage_options)
        local = local_dir or default_cache_dir()
    return CookCache(local, size_limit=limit, remote=remote)
