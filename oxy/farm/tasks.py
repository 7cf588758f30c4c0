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
from typing import Any, Callable, Mapping, Sequence

from oxy.farm.errors import RemoteFailure

__all__ = ["cook_texture_task", "pack_geometry_task", "parse_scene_task", "run_units", "worker_versions"]

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


def run_units(fn: Callable[..., bytes], calls: Sequence[tuple[Any, ...]]) -> list[tuple[bool, Any]]:
    """One Dask task for several units of the same step (:mod:`oxy.farm.batching`):
    ``fn(*args)`` for each, in order, as ``(True, bytes)``, or ``(False, error)`` when
    that unit raised (a cook error already travels as RemoteFailure; anything else as
    itself), so one bad input fails only its unit and the others still return."""
    out: list[tuple[bool, Any]] = []
    for args in calls:
        try:
            out.append((True, fn(*args)))
        except Exception as exc:  # noqa: BLE001 - the unit's own outcome
            out.append((False, exc))
    return out


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
