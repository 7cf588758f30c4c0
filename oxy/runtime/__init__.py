"""The runtime side of oxy: mount cooked content (PAK files, loose cooked roots) and
load it asynchronously on an import hub. See docs/runtime.md.

``oxy.runtime`` imports only ``oxy.formats``, ``oxy.validate`` and ``oxy.hub`` (and
``oxy.cook.bc7`` lazily, in :meth:`TextureResource.to_rgba8`; ``watchfiles`` lazily,
in the hot-reload watcher thread); never the importers.
"""
from __future__ import annotations

from oxy.errors import OperationCancelled
from oxy.runtime.bundles import Bundle, BundleHandle
from oxy.runtime.config import LoaderConfig
from oxy.runtime.errors import (AssetNotFound, LoaderNotRunning, MountError, ResourceNotFound,
                                SourceReadError, WrongAssetKind)
from oxy.runtime.handles import LoadHandle
from oxy.runtime.keys import ResourceKey, ResourceKind, SourceId
from oxy.runtime.listing import AssetInfo
from oxy.runtime.loader import AssetLoader
from oxy.runtime.reload import ReloadReport
from oxy.runtime.progress import LoaderStats, LoadProgress
from oxy.runtime.retry import RetryPolicy
from oxy.runtime.scheduling import Priority
from oxy.runtime.types import (BufferResource, GeometryAsset, MaterialAsset, MeshAsset, SceneAsset,
                               SceneNode, SubMeshAsset, TextureResource)

__all__ = ["AssetInfo", "AssetLoader", "AssetNotFound", "BufferResource", "Bundle", "BundleHandle", "GeometryAsset", "LoaderConfig",
           "LoaderNotRunning", "LoaderStats", "LoadHandle", "LoadProgress", "MaterialAsset", "MeshAsset", "MountError",
           "OperationCancelled", "Priority", "ResourceKey", "ResourceKind", "ResourceNotFound", "ReloadReport", "RetryPolicy",
           "SceneAsset", "SceneNode", "SourceId", "SourceReadError", "SubMeshAsset",
           "TextureResource", "WrongAssetKind"]
