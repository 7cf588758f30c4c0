"""The functions a farm worker runs: pure cook steps, bytes and settings in, bytes out.

Each task is a top-level function (Dask ships it by reference: the worker imports
this module, so workers need the same oxy as the client: :func:`worker_versions`
is what the connect check runs on every worker). Each calls the **same** pure
function the local path calls (``oxy.cook.texture.cook_texture_files``, the assimp
backend's ``parse``, ``oxy.importing.scene.emit.pack_checked``), so a farm cook is
byte-identical to a local one, and returns the result encoded with
:mod:`oxy.build.unit_codec` (the cook cache's safe encoding), so the client decodes
exactly what a cache hit would give it.

Shared cache: with ``cache_url`` (the client's shared cook cache: an fsspec URL or
a folder every worker can reach), the worker stores its result under ``key``
before returning, so a re-run after a crash, or a colleague's run, finds it even
if this client never receives it. Cache trouble is logged, never raised
(:class:`~oxy.build.cache.CookCache`).

Cancelling units of a running batch: the client broadcasts ``{task key: [unit
indices]}`` to every worker (:func:`cancel_units`, run by ``client.run``);
:func:`run_units` looks before each unit and skips a marked one (counted:
:func:`unit_counts`). A unit already running finishes.

Failure modes: a cook error on bad input (``ImageDecodeError``,
``TextureCookError``, ``SceneParseError``) is raised as
:class:`~oxy.farm.errors.RemoteFailure` (picklable) and rebuilt on the client;
anything else propagates as Dask ships it.

Thread rules: Dask may run several tasks of one worker process in threads; every
function here is safe for that (the cache is thread-safe, the parse uses a private
temporary folder). The imports of the importing layer are lazy: workers pay for
them on first use, and ``oxy.farm`` stays below ``oxy.importing``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping, Sequence

from oxy.farm.errors import RemoteFailure

__all__ = ["TaskResult", "cancel_units", "cook_texture_task", "pack_geometry_task", "parse_scene_task", "run_units",
           "unit_counts", "worker_versions"]

_caches: dict[str, Any] = {}
_caches_lock = threading.Lock()


def worker_versions() -> dict[str, Any]:
    """What must match between client and workers: oxy's version, the cook-stage
    versions and the format version (:mod:`oxy.build.recipe`)."""
    import oxy
    from oxy.build.recipe import FORMAT_VERSION, STAGE_VERSIONS

    return {"oxy": oxy.__version__, "stages": dict(STAGE_VERSIONS), "format": FORMAT_VERSION}


def _codec() -> Any:
    import oxy.importing.units  # noqa: F401 - registers the cook results with the codec
    from oxy.build import unit_codec

    return unit_codec


def _shared_cache(url: str) -> Any:
    with _caches_lock:
        cache = _caches.get(url)
        if cache is None:
            from oxy.build.cache import open_cache

            cache = _caches[url] = open_cache(url)
        return cache


def _finish(value: Any, key: str, cache_url: str | None) -> bytes:
    data = _codec().encode(value)
    if cache_url:
        _shared_cache(cache_url).put(key, data)
    return data


def _carry(fn: Callable[[], Any]) -> Any:
    """Run ``fn``; re-raise a cook error as a picklable RemoteFailure."""
    from oxy.cook.image_decode import ImageDecodeError
    from oxy.cook.texture import TextureCookError
    from oxy.importing.scene.backend import SceneParseError

    try:
        return fn()
    except ImageDecodeError as exc:
        raise RemoteFailure("ImageDecodeError", (exc.source, exc.reason)) from None
    except SceneParseError as exc:
        raise RemoteFailure("SceneParseError", (exc.path, exc.reason)) from None
    except TextureCookError as exc:
        raise RemoteFailure("TextureCookError", (str(exc),)) from None


#: Units of a running batch the client cancelled, by task key (set by :func:`cancel_units`,
#: broadcast to every worker; read by :func:`run_units` between units). Bounded: the
#: oldest keys go first (a cancel that arrives after its task ended is never read).
_cancelled: OrderedDict[str, set[int]] = OrderedDict()
_cancelled_lock = threading.Lock()
_CANCELLED_KEYS = 4096
#: What this worker process did with the units it was given (:func:`unit_counts`).
_counts = {"cooked": 0, "skipped": 0}

#: The result of one batch task: the outcomes in order, then for the farm's per-phase
#: trace (:mod:`oxy.farm.trace`) the task's start (wall clock), its seconds on the
#: worker and each unit's seconds.
TaskResult = tuple[list[tuple[bool, Any]], float, float, list[float]]


def cancel_units(cancels: Mapping[str, Sequence[int]]) -> None:
    """Mark units of running (or queued) batch tasks as cancelled on this worker:
    ``{task key: [unit indices]}``. The client broadcasts it (``client.run``, on the
    worker's event loop: short and thread-safe); :func:`run_units` skips those units."""
    with _cancelled_lock:
        for key, indices in cancels.items():
            _cancelled.setdefault(key, set()).update(int(i) for i in indices)
            _cancelled.move_to_end(key)
        while len(_cancelled) > _CANCELLED_KEYS:
            _cancelled.popitem(last=False)


def unit_counts() -> dict[str, int]:
    """Units this worker process cooked (ran) and skipped (cancelled) so far."""
    with _cancelled_lock:
        return dict(_counts)


def is_cancelled(key: str | None, index: int) -> bool:
    """Whether the client told this worker to skip unit ``index`` of task ``key``."""
    if key is None:
        return False
    with _cancelled_lock:
        marked = _cancelled.get(key)
        return marked is not None and index in marked


def run_units(fn: Callable[..., bytes], calls: Sequence[tuple[Any, ...]], key: str | None = None) -> TaskResult:
    """One Dask task for one or more units of the same step (:mod:`oxy.farm.batching`):
    ``fn(*args)`` for each, in order, as ``(True, bytes)``, or ``(False, error)`` when
    that unit raised (a cook error already travels as RemoteFailure; anything else as
    itself), so one bad input fails only its unit and the others still return.

    ``key`` is this task's key: before each unit the task looks whether the client
    cancelled that unit (:func:`cancel_units`) and skips it (its outcome is a
    ``RemoteFailure("Cancelled")`` the client never reads). A unit already running
    finishes. Returns :data:`TaskResult` (outcomes plus the worker-side times)."""
    wall, start = time.time(), time.perf_counter()
    out: list[tuple[bool, Any]] = []
    seconds: list[float] = []
    for index, args in enumerate(calls):
        unit_start = time.perf_counter()
        if is_cancelled(key, index):
            with _cancelled_lock:
                _counts["skipped"] += 1
            out.append((False, RemoteFailure("Cancelled", ())))
            seconds.append(0.0)
            continue
        with _cancelled_lock:
            _counts["cooked"] += 1
        try:
            out.append((True, fn(*args)))
        except Exception as exc:  # noqa: BLE001 - the unit's own outcome
            out.append((False, exc))
        seconds.append(time.perf_counter() - unit_start)
    if key is not None:
        with _cancelled_lock:
            _cancelled.pop(key, None)
    return out, wall, time.perf_counter() - start, seconds


def cook_texture_task(sources: Sequence[tuple[str, bytes]], settings: Any, kind: str, key: str,
                      cache_url: str | None) -> bytes:
    """Cook one texture (``cook_texture_files``); the encoded ``CookedTexture``."""
    from oxy.cook.texture import cook_texture_files

    texture = _carry(lambda: cook_texture_files(list(sources), settings, kind=kind))
    return _finish(texture, key, cache_url)


def parse_scene_task(path: str, model: bytes, deps: Mapping[str, bytes | None], key: str,
                     cache_url: str | None) -> bytes:
    """Parse a model with the assimp backend; the encoded ``ParsedScene``.

    The worker cannot see the client's files: the model and every file its parse
    reads (``deps``, by absolute path) are written into a private temporary folder
    at the same absolute paths below it, so relative references resolve as they do
    on the client. The result's ``source_path`` and any error name the client's
    path, never the temporary one."""
    from oxy.importing.scene.backend import SceneParseError
    from oxy.importing.scene.backend_assimp import AssimpBackend

    base = tempfile.mkdtemp(prefix="oxy-farm-parse-")
    try:
        def mirrored(p: str) -> str:
            return os.path.join(base, os.path.abspath(p).lstrip(os.sep))

        for name, data in [(path, model), *deps.items()]:
            if data is None:
                continue
            target = mirrored(name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        local = mirrored(path)

        def parse() -> Any:
            try:
                parsed = AssimpBackend().parse(local)
            except SceneParseError as exc:
                raise SceneParseError(path, exc.reason.replace(base, "")) from None
            parsed.source_path = path
            return parsed

        return _finish(_carry(parse), key, cache_url)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def pack_geometry_task(pack: Callable[[], Any], key: str, cache_url: str | None) -> bytes:
    """Run a geometry packing (``pack()`` returns ``(PackedGeometry | None, notes)``;
    the client ships ``pack_checked`` bound to just the meshes it packs). Only a
    successful packing is stored in the shared cache, as locally."""
    result = pack()
    data = _codec().encode(result)
    if cache_url and isinstance(result, tuple) and result and result[0] is not None:
        _shared_cache(cache_url).put(key, data)
    return data
