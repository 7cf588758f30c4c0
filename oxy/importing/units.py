"""Units of cook work with keys: texture cooks, scene parses and geometry packing.

Each function here runs on a CPU-pool thread (inside ONE ``run_blocking`` call),
computes its unit's :class:`~oxy.build.recipe.Recipe` from the bytes it reads (so
the key always matches the bytes cooked), and then looks for a finished result
before doing the work:

1. the root itself (:attr:`UnitStore.root_textures`: a texture the root already
   holds under this key, from its build records: nothing is cooked or written);
2. the cook cache (:class:`~oxy.build.cache.CookCache`: local, then remote);
3. otherwise it cooks, and stores the result in the cache. When the hub has a cook
   farm (:attr:`oxy.hub.pools.Pools.farm`, set by ``AsyncImportService(farm=)``),
   the cook step itself (``cook_texture_files``, the assimp parse, the geometry
   packing: the same pure functions) runs there as a Dask task
   (:mod:`oxy.farm`) while this pool thread waits; the worker stores the result in
   the shared cache, and the result is byte-identical to a local cook.

Cached results are encoded with :mod:`oxy.build.unit_codec` (never pickle); an
entry that does not decode to the expected type is logged and cooked again.

Thread rules: the functions are pure apart from the cache and the files they
read; :class:`UnitStore` is safe from many threads (read-only mappings and the
cache's own locking). Failure modes: the cook's own errors propagate
(ImageDecodeError, TextureCookError, SceneParseError; also from a farm worker);
cache trouble never does; farm trouble does (:class:`oxy.farm.FarmError`,
OperationCancelled when the job is cancelled while its task runs on the farm).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

from oxy.build import unit_codec
from oxy.build.recipe import Recipe, sha256_hex
from oxy.cook.materials import MaterialSource
from oxy.cook.notes import CookNote
from oxy.cook.payload import CookedTexture, TextureShape
from oxy.cook.scene_build import CameraData, LightData, NodeData
from oxy.cook.texture import TextureSettings, cook_texture_files
from oxy.cook.vertices import MeshData, PackedGeometry, PackedSubmesh
from oxy.hub.pools import current_pools, current_task
from oxy.importing.in_flight import cook_once
from oxy.importing.scene.backend import EmbeddedTexture, ParsedScene, SceneBackend
from oxy.importing.scene.plan import PlanDiagnostic
from oxy.importing.types import Severity

log = logging.getLogger("oxy.importing.units")
T = TypeVar("T")

unit_codec.register(CookedTexture, TextureShape, CookNote, ParsedScene, MeshData, MaterialSource, NodeData,
                    CameraData, LightData, EmbeddedTexture, PackedGeometry, PackedSubmesh, PlanDiagnostic,
                    Severity)

COOKED, ROOT, UNCHANGED = "cooked", "root", "unchanged"


@dataclass(frozen=True)
class UnitOutcome:
    """How a unit's result was obtained: ``origin`` is "cooked", "cache:local",
    "cache:remote" or "root" (the root already held it)."""

    recipe: Recipe
    origin: str

    @property
    def key(self) -> str:
        return self.recipe.key

    @property
    def stage(self) -> str:
        return self.recipe.stage


class UnitStore:
    """Where finished unit results are looked for (see the module docstring).
    ``cache`` may be None (``--no-cache``); ``root_textures`` maps texture keys to
    the root's texture indices (from its build records)."""

    def __init__(self, cache: Any = None, root_textures: Mapping[str, int] | None = None, *,
                 force: bool = False) -> None:
        """``force``: cook every unit (results are still stored in the cache)."""
        self.cache = cache
        self.force = force
        self.root_textures = {} if force else dict(root_textures or {})

    def fetch(self, key: str, expected: type[T], what: str) -> tuple[T | None, str]:
        if self.cache is None or self.force:
            return None, COOKED
        hit = self.cache.get(key)
        if hit is None:
            return None, COOKED
        try:
            value = unit_codec.decode(hit.data)
        except unit_codec.UnitCodecError as exc:
            log.warning("cook cache entry %s (%s) does not decode: %s; cooking again", key, what, exc)
            return None, COOKED
        if not isinstance(value, expected):
            log.warning("cook cache entry %s (%s) holds a %s, not a %s; cooking again", key, what,
                        type(value).__name__, expected.__name__)
            return None, COOKED
        return value, f"cache:{hit.origin}"

    @property
    def farm(self) -> Any:
        """The cook farm of the hub whose CPU pool runs this unit (None: cook here)."""
        task = current_task()
        return task.pools.farm if task is not None else None

    def farm_cache_url(self) -> str | None:
        """Where farm workers store results: the cache's shared (remote) tier, else
        its folder (shared by workers on this machine or a network mount); None
        without a cache."""
        if self.cache is None:
            return None
        return getattr(self.cache, "remote_url", None) or getattr(self.cache, "location", None)

    def store_farmed(self, key: str, value: Any) -> None:
        """After a farm cook: the worker already stored the result in the shared tier;
        a cache without a remote tier is also filled here (a worker on another machine
        cannot reach this machine's folder), unless the entry is already in its folder
        (the worker wrote it there: a ``local:N`` farm, the client's own thread, or a
        folder the workers mount): no second write of the same bytes."""
        cache = self.cache
        if cache is None or getattr(cache, "remote_url", None) is not None or _holds(cache, key):
            return
        self.store(key, value)

    def store(self, key: str, value: Any) -> None:
        """Put a result in the cache; a result that cannot be encoded is logged, never raised."""
        if self.cache is None:
            return
        try:
            data = unit_codec.encode(value)
        except unit_codec.UnitCodecError as exc:
            log.warning("cook result %s not cached: %s", key, exc)
            return
        self.cache.put(key, data)


def _holds(cache: Any, key: str) -> bool:
    """Whether ``cache``'s local folder has an entry file for ``key`` (a stat, no read)."""
    path_for = getattr(getattr(cache, "local", None), "path_for", None)
    if path_for is None:
        return False
    try:
        return os.path.exists(path_for(key))
    except (OSError, ValueError):
        return False


def _settings_json(settings: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


# -- textures ---------------------------------------------------------------------------------------

def texture_recipe(sources: Sequence[tuple[str, bytes]], settings: TextureSettings, kind: str) -> Recipe:
    return Recipe("texture", tuple((name, sha256_hex(data)) for name, data in sources),
                  {**_settings_json(settings), "kind": kind})


def cook_texture_unit(sources: Sequence[tuple[str, bytes]], settings: TextureSettings, kind: str,
                      store: UnitStore, progress: Callable[[int, int], None] | None = None,
                      ) -> tuple[CookedTexture | None, int | None, UnitOutcome]:
    """(texture, None, outcome) from the cache or a cook, or (None, index, outcome)
    when the root already holds this exact texture at ``index``. ``progress(done, total)``
    is called between strips of a local cook (what it raises ends the cook: a cancel).
    A local cook of a key another pool thread is cooking right now waits for that cook
    (:func:`oxy.importing.in_flight.cook_once`) and takes its result: from the cache
    when there is one (outcome "cache:local"), else the same object (outcome "cooked")."""
    texture, reused, outcome = texture_lookup(sources, settings, kind, store)
    if texture is not None or reused is not None:
        return texture, reused, outcome
    key = outcome.recipe.key
    farm = store.farm
    if farm is not None:
        texture = farm.cook_texture(sources, settings, kind, key, store.farm_cache_url())
        store.store_farmed(key, texture)
    else:
        def cook() -> CookedTexture:
            cooked = cook_texture_files(sources, settings, kind=kind, progress=progress)
            store.store(key, cooked)
            return cooked

        texture, cooked_here = cook_once(key, cook)
        if not cooked_here and store.cache is not None:
            # cooked meanwhile by another unit of this key: now a cache hit, as if
            # the other unit had finished first (a fresh copy, the cache's origin)
            again, reused, second = texture_lookup(sources, settings, kind, store)
            if again is not None or reused is not None:
                return again, reused, second
    return texture, None, outcome


def texture_lookup(sources: Sequence[tuple[str, bytes]], settings: TextureSettings, kind: str,
                   store: UnitStore) -> tuple[CookedTexture | None, int | None, UnitOutcome]:
    """The cheap half of :func:`cook_texture_unit` (hash the sources, look in the root,
    then the cache): (None, index, outcome) when the root holds it, (texture, None,
    outcome) from the cache, (None, None, outcome) when it must be cooked (the
    outcome's recipe has the key). Any thread; reads the cache (I/O)."""
    recipe = texture_recipe(sources, settings, kind)
    key = recipe.key
    if key in store.root_textures:
        return None, store.root_textures[key], UnitOutcome(recipe, ROOT)
    texture, origin = store.fetch(key, CookedTexture, f"texture {sources[0][0] if sources else ''}")
    return texture, None, UnitOutcome(recipe, origin)


def finish_farmed_texture(farm: Any, data: bytes, key: str, store: UnitStore) -> CookedTexture:
    """After a farm cook waited for on a greenlet (:meth:`oxy.farm.Farm.wait`): decode
    the result's bytes and fill the local cache as :meth:`UnitStore.store_farmed`
    does. Runs on a pool thread (decoding and cache writes are CPU and I/O work)."""
    texture: CookedTexture = finish_farmed(farm, data, key, store, CookedTexture)
    return texture


# -- scene parse ------------------------------------------------------------------------------------

def parse_recipe(path: str, model: bytes, deps: Mapping[str, bytes | None], backend: SceneBackend) -> Recipe:
    inputs = [(path, sha256_hex(model))] + [(p, sha256_hex(b) if b is not None else "") for p, b in sorted(deps.items())]
    return Recipe("scene_parse", tuple(inputs), {"backend": backend.name})


def _read_parse_inputs(backend: SceneBackend, path: str, deps: Sequence[str], store: UnitStore,
                       cacheable: bool) -> tuple[bytes, dict[str, bytes | None], Recipe, ParsedScene | None, str]:
    """Read the model and ``deps``, make the recipe, look in the cache (when
    ``cacheable``): (model, dep bytes, recipe, cached parse or None, origin)."""
    with open(path, "rb") as f:
        model = f.read()
    dep_bytes: dict[str, bytes | None] = {}
    for dep in deps:
        try:
            with open(dep, "rb") as f:
                dep_bytes[dep] = f.read()
        except OSError:
            dep_bytes[dep] = None
    recipe = parse_recipe(path, model, dep_bytes, backend)
    parsed: ParsedScene | None = None
    origin = COOKED
    if cacheable:
        parsed, origin = store.fetch(recipe.key, ParsedScene, f"scene {path}")
        if parsed is not None:
            parsed.source_path = path  # the cached parse may come from another folder or machine
    return model, dep_bytes, recipe, parsed, origin


def parse_unit(backend: SceneBackend, path: str, deps: Sequence[str], store: UnitStore,
               cacheable: bool) -> tuple[ParsedScene, UnitOutcome, dict[str, str]]:
    """Parse ``path`` (or take the parse from the cache). Returns the scene, the
    outcome and the SHA-256 of every file hashed (the model and ``deps``; "" for a
    dependency that could not be read). On a pool thread; with a farm it waits for
    the farm there (:func:`parse_unit_on_hub` does not hold the thread)."""
    model, dep_bytes, recipe, parsed, origin = _read_parse_inputs(backend, path, deps, store, cacheable)
    hashes = dict(recipe.inputs)
    if parsed is not None:
        return parsed, UnitOutcome(recipe, origin), hashes
    farm = store.farm if cacheable else None  # only the assimp backend's pure parse goes to the farm
    if farm is not None:
        parsed = farm.parse_scene(path, model, dep_bytes, recipe.key, store.farm_cache_url())
        store.store_farmed(recipe.key, parsed)
        return parsed, UnitOutcome(recipe, COOKED), hashes
    parsed = backend.parse(path)
    if cacheable:
        store.store(recipe.key, parsed)
    return parsed, UnitOutcome(recipe, COOKED), hashes


def _hub_farm() -> Any:
    """The cook farm of the import hub running this greenlet, or None."""
    pools = current_pools()
    return getattr(pools, "farm", None) if pools is not None else None


def finish_farmed(farm: Any, data: bytes, key: str, store: UnitStore, expected: type) -> Any:
    """After a farm unit waited for on a greenlet: decode its bytes (a ``expected``, else
    TypeError) and fill the local cache as :meth:`UnitStore.store_farmed` does (a
    geometry only when it packed). On a pool thread (decoding and cache writes are CPU
    and I/O work)."""
    value = farm.decode(data)
    if not isinstance(value, expected):
        raise TypeError(f"the farm returned a {type(value).__name__} for unit {key}, not a {expected.__name__}")
    if not isinstance(value, tuple) or _packed(value):
        store.store_farmed(key, value)
    return value


def parse_unit_on_hub(ctx: Any, backend: SceneBackend, path: str, deps: Sequence[str], store: UnitStore,
                      cacheable: bool) -> tuple[ParsedScene, UnitOutcome, dict[str, str]]:
    """:func:`parse_unit` from a job's greenlet (``ctx``: its ImportContext, for
    ``run_blocking`` with the job's cancel check and its ``token``), same results. With
    a farm (and ``cacheable``) no CPU-pool thread is held while the cluster parses: the
    reads, hashes and cache lookup on the pool, the farm task started and waited for on
    this greenlet (:meth:`oxy.farm.Farm.wait`), the decode on the pool. Without a farm,
    ``parse_unit`` on the pool. Errors as ``parse_unit`` (a worker's SceneParseError
    comes back as itself); a cancelled job's token drops the unit on the farm."""
    farm = _hub_farm() if cacheable else None
    if farm is None:
        return ctx.run_blocking(parse_unit, backend, path, deps, store, cacheable)
    model, dep_bytes, recipe, parsed, origin = ctx.run_blocking(_read_parse_inputs, backend, path, deps, store,
                                                                cacheable)
    hashes = dict(recipe.inputs)
    if parsed is not None:
        return parsed, UnitOutcome(recipe, origin), hashes
    call = farm.start_parse(path, model, dep_bytes, recipe.key, store.farm_cache_url())
    data = farm.wait(call, ctx.token)
    parsed = ctx.run_blocking(finish_farmed, farm, data, recipe.key, store, ParsedScene)
    return parsed, UnitOutcome(recipe, COOKED), hashes


# -- geometry ---------------------------------------------------------------------------------------

def pack_unit(source_name: str, parse_key: str, mesh_indices: Sequence[int], store: UnitStore,
              pack: Callable[[], T]) -> tuple[T, UnitOutcome]:
    """``pack()`` (the caller's checked packing, returning ``(packed | None, notes)``),
    or its cached result. The geometry's input is the parse it packs from: a parse is
    a pure function of its key, so (parse key, mesh indices) names the meshes exactly,
    without hashing their arrays. Only successful packings are cached."""
    cached, outcome = _pack_lookup(source_name, parse_key, mesh_indices, store)
    if cached is not None:
        return cached, outcome
    farm = store.farm
    if farm is not None:
        result = farm.pack_geometry(pack, outcome.key, store.farm_cache_url(), source_name)
        if _packed(result):
            store.store_farmed(outcome.key, result)
        return result, outcome
    result = pack()
    if _packed(result):
        store.store(outcome.key, result)
    return result, outcome


def _packed(result: object) -> bool:
    """Whether a packing result is worth caching: ``(packed, notes)`` with a geometry."""
    return isinstance(result, tuple) and bool(result) and result[0] is not None


def _pack_lookup(source_name: str, parse_key: str, mesh_indices: Sequence[int],
                 store: UnitStore) -> tuple[Any, UnitOutcome]:
    """The geometry unit's recipe and its cached result: (result or None, outcome)."""
    recipe = Recipe("geometry", ((source_name, parse_key),), {"meshes": [int(i) for i in mesh_indices]})
    cached, origin = store.fetch(recipe.key, tuple, f"geometry of {source_name}")
    if cached is not None and len(cached) == 2 and (cached[0] is None or isinstance(cached[0], PackedGeometry)):
        return cached, UnitOutcome(recipe, origin)
    return None, UnitOutcome(recipe, COOKED)


def pack_unit_on_hub(ctx: Any, source_name: str, parse_key: str, mesh_indices: Sequence[int], store: UnitStore,
                     pack: Callable[[], T]) -> tuple[T, UnitOutcome]:
    """:func:`pack_unit` from a job's greenlet (``ctx`` as in :func:`parse_unit_on_hub`),
    same results. With a farm no CPU-pool thread is held while the cluster packs: the
    cache lookup on the pool, the farm task started and waited for on this greenlet,
    the decode on the pool. Without a farm, ``pack_unit`` on the pool."""
    farm = _hub_farm()
    if farm is None:
        return ctx.run_blocking(pack_unit, source_name, parse_key, mesh_indices, store, pack)
    cached, outcome = ctx.run_blocking(_pack_lookup, source_name, parse_key, mesh_indices, store)
    if cached is not None:
        return cached, outcome
    call = farm.start_geometry(pack, outcome.key, store.farm_cache_url(), source_name)
    data = farm.wait(call, ctx.token)
    return ctx.run_blocking(finish_farmed, farm, data, outcome.key, store, tuple), outcome
