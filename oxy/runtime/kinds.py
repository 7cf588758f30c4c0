"""What a caller may name as a kind, and how keys are normalised (pure; any thread)."""
from __future__ import annotations

from typing import Any

from oxy.formats import AssetKey, AssetType
from oxy.runtime.errors import WrongAssetKind
from oxy.runtime.keys import ResourceKey, ResourceKind
from oxy.runtime.types import BufferResource, GeometryAsset, MaterialAsset, SceneAsset, TextureResource

ASSET_TYPES: dict[Any, int] = {MaterialAsset: AssetType.MATERIAL, GeometryAsset: AssetType.GEOMETRY,
                               SceneAsset: AssetType.SCENE}
ASSET_CLASSES = {v: k for k, v in ASSET_TYPES.items()}
RESOURCE_KINDS: dict[Any, ResourceKind] = {TextureResource: ResourceKind.TEXTURE,
                                           BufferResource: ResourceKind.BUFFER}


def as_asset_key(key: AssetKey | str) -> AssetKey:
    if isinstance(key, AssetKey):
        return key
    if isinstance(key, str):
        return AssetKey.parse(key)
    raise TypeError(f"asset key must be an AssetKey or its text form, not {type(key).__name__}")


def asset_type(kind: Any) -> int | None:
    if kind is None:
        return None
    if kind in ASSET_TYPES:
        return ASSET_TYPES[kind]
    if isinstance(kind, int) and kind in ASSET_CLASSES:
        return int(kind)
    raise TypeError(f"asset kind must be MaterialAsset, GeometryAsset, SceneAsset or an AssetType, not {kind!r}")


def resource_kind(kind: Any) -> ResourceKind:
    if isinstance(kind, ResourceKind):
        return kind
    if kind in RESOURCE_KINDS:
        return RESOURCE_KINDS[kind]
    raise TypeError(f"resource kind must be TextureResource, BufferResource or a ResourceKind, not {kind!r}")


def check_resource_kind(key: ResourceKey, kind: Any) -> None:
    if not isinstance(key, ResourceKey):
        raise TypeError(f"resource key must be a ResourceKey, not {type(key).__name__}")
    if kind is not None and resource_kind(kind) is not key.kind:
        raise WrongAssetKind(f"{key} is a {key.kind.value}, not a {resource_kind(kind).value}")


def dep_type(parent_type: int, dep: AssetKey | ResourceKey) -> int | None:
    """What an asset dependency must be: geometries use materials, scenes geometries."""
    if isinstance(dep, ResourceKey):
        return None
    needs: dict[int, int] = {AssetType.GEOMETRY: AssetType.MATERIAL, AssetType.SCENE: AssetType.GEOMETRY}
    return needs.get(parent_type)
