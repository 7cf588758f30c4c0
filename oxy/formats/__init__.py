"""The Oxygen Engine's cooked formats (PAK v4, loose cooked v1), declared once with
``construct``. Emitters, the pack tool, validators and the loader all use these
declarations. Never imports gevent; every function here is safe from any thread.

Modules: ``primitives`` (keys, hashes, unorm16/half, names), ``enums``,
``resources`` (texture/buffer descriptors, texture payload header), ``material``
(asset header, material, shader references), ``geometry``, ``scene``, ``pak``,
``loose`` (container.index.bin), ``views`` (dataclass views and numpy dtypes derived
from the declarations).
"""
from __future__ import annotations

from typing import Callable

from oxy.formats.enums import (AssetType, BufferUsage, ComponentType, FileKind, Format,
                               MaterialDomain, MaterialFlags, MeshType, NodeFlags,
                               PackingPolicy, ShaderType, TextureType, enum_name,
                               format_block_info)
from oxy.formats.geometry import (GeometryAssetDesc, GeometryDescriptor, Mesh, MeshDesc,
                                  MeshViewDesc, ProceduralMeshInfo, SkinnedMeshInfo,
                                  StandardMeshInfo, SubMesh, SubMeshDesc, mesh_info,
                                  parse_geometry)
from oxy.formats.loose import (AssetEntry, FileRecord, IndexAsset, IndexFile, IndexHeader,
                               LooseIndex, build_index, parse_index, relpath_problem,
                               virtual_path_problem)
from oxy.formats.material import (AssetHeader, MaterialAssetDesc, MaterialDescriptor,
                                  ShaderReferenceDesc, parse_material)
from oxy.formats.pak import (AssetDirectoryEntry, PakBrowseIndexEntry, PakBrowseIndexHeader,
                             PakFile, PakFooter, PakHeader, ResourceRegion, ResourceTable,
                             build_pak, parse_pak)
from oxy.formats.primitives import (AssetKey, align_up, content_hash, half_decode,
                                    half_encode, pak_crc32, sha256, unorm16_decode,
                                    unorm16_encode)
from oxy.formats.resources import (BufferResourceDesc, SubresourceLayout, TexturePayloadHeader,
                                   TextureResourceDesc, AudioResourceDesc)
from oxy.formats.scene import (NodeRecord, SceneAssetDesc, SceneDescriptor, parse_scene)


def parse_descriptor(asset_type: int, data: bytes | memoryview, *, path: str = "<bytes>",
                     base_offset: int = 0) -> MaterialDescriptor | GeometryDescriptor | SceneDescriptor:
    """Parse an asset descriptor of the given AssetType; FormatError for unknown types."""
    from oxy.errors import FormatError

    parsers: dict[int, Callable[..., MaterialDescriptor | GeometryDescriptor | SceneDescriptor]] = {
        AssetType.MATERIAL: parse_material, AssetType.GEOMETRY: parse_geometry, AssetType.SCENE: parse_scene}
    parser = parsers.get(asset_type)
    if parser is None:
        raise FormatError(f"unknown asset type {asset_type}", path, base_offset, "header.asset_type")
    return parser(data, path=path, base_offset=base_offset)


__all__ = [name for name in dir() if not name.startswith("_")]
