"""The cook cache's remote tier: entries in any fsspec file system, shared by machines.

Same layout and entry format as the local tier (``<url>/v1/<key[:2]>/<key>``), so a
shared folder can be served as a plain directory too. ``s3://`` needs ``s3fs``
(``pip install oxy[s3]``); the S3 endpoint of an S3-compatible server (MinIO, moto)
comes from ``storage_options`` (``{"endpoint_url": ...}`` or ``{"client_kwargs":
{"endpoint_url": ...}}``) or from the environment: ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` (read by botocore when the client is made), or
``FSSPEC_S3_ENDPOINT_URL`` (read by fsspec when it is first imported). Credentials
come the usual AWS ways (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles).

Writes: object stores put an object atomically, so entries are written in place;
a shared folder (``file://``) gets oxy's atomic write (temporary, rename); any other
file system gets a temporary name then ``mv``.

Availability: the first failure of a read or write (network, timeout, a missing
bucket) pauses the tier for :data:`PAUSE_SECONDS`, during which calls are skipped
(without it a dead endpoint costs seconds of retries per call); a refused write
(``PermissionError``: read-only credentials) stops writes for this process and
keeps reads. :meth:`RemoteTier.usable` says whether to try.

Thread rules: safe from any thread (fsspec's S3 client runs its requests on fsspec's
own event-loop thread; oxy starts none). Methods raise what the file system raises;
the cache catches, logs and counts.
"""
from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from oxy.build.cache_local import KEY_RE, LAYOUT
from oxy.rootfs import ATOMIC_TEMP_MARKER, write_file_atomically

__all__ = ["PAUSE_SECONDS", "RemoteTier"]

#: How long the tier is skipped after a failure.
PAUSE_SECONDS = 60.0
#: Protocols whose put of one object is atomic (a reader sees the old object or the new).
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory", "oss"})
_LOCAL = frozenset({"file", "local"})


class RemoteTier:
    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        from fsspec.core import url_to_fs

        self.url = url
        # Own instance: fsspec's instance cache would hand back a client made earlier in
        # the process with another endpoint or credentials from the environment.
        self.fs, root = url_to_fs(url, **{"skip_instance_cache": True, **(storage_options or {})})
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.is_local = bool(_LOCAL.intersection(protocols))
        self.atomic_put = bool(_ATOMIC_PUT.intersection(protocols))
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.read_only = False

    def path_for(self, key: str) -> str:
        return f"{self.root}/{LAYOUT}/{key[:2]}/{key}"

    def usable(self, writing: bool = False) -> bool:
        with self._lock:
            return not (writing and self.read_only) and time.monotonic() >= self._paused_until

    def failed(self, exc: BaseException, writing: bool) -> str:
        """Note a failure; returns what happens next, for the log line."""
        with self._lock:
            if writing and isinstance(exc, PermissionError):
                self.read_only = True
                return "remote writes are off for this process (permission denied); reads go on"
            self._paused_until = time.monotonic() + PAUSE_SECONDS
            return f"the remote tier is skipped for {PAUSE_SECONDS:.0f} s"

    def read(self, key: str) -> bytes | None:
        """The entry's bytes, or None when the remote has no such entry."""
        try:
            return bytes(self.fs.cat_file(self.path_for(key)))
        except FileNotFoundError:
            return None

    def write(self, key: str, blob: bytes) -> None:
        path = self.path_for(key)
        if self.is_local:
            try:
                write_file_atomically(path, blob, durable=False)
            except FileNotFoundError:
                self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                write_file_atomically(path, blob, durable=False)
        elif self.atomic_put:
            self.fs.pipe_file(path, blob)
        else:
            tmp = f"{path}{ATOMIC_TEMP_MARKER}{secrets.token_hex(8)}"
            self.fs.pipe_file(tmp, blob)
            try:
                self.fs.mv(tmp, path)
            except BaseException:
                self.fs.rm_file(tmp)
                raise

    def discard(self, key: str) -> None:
        """Remove one entry; best effort (a corrupt object that cannot be removed stays a miss)."""
        try:
            self.fs.rm_file(self.path_for(key))
        except Exception:  # any store's error: the entry stays, and stays a miss
            pass

    def clear(self) -> int:
        """Remove every entry under ``<url>/v1/``; returns how many."""
        try:
            found = self.fs.find(f"{self.root}/{LAYOUT}")
        except FileNotFoundError:
            return 0
        paths = [p for p in found if KEY_RE.fullmatch(p.rsplit("/", 1)[-1])]
        if paths:
            self.fs.rm(paths)
        return len(paths)
