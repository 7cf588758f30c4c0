"""Read a cooked root back from disk for the scene tests (oxy.formats declarations only)."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import numpy as np

from oxy.formats import AssetType, parse_geometry, parse_index, parse_material, parse_scene, mesh_info
from oxy.formats.resources import BUFFER_DESC_DTYPE


@dataclass
class CookedRoot:
    root: pathlib.Path
    materials: dict = field(default_factory=dict)   # name -> MaterialDescriptor
    geometries: dict = field(default_factory=dict)  # name -> GeometryDescriptor
    scenes: dict = field(default_factory=dict)      # name -> SceneDescriptor
    keys: dict = field(default_factory=dict)        # AssetKey -> (type, name)
    raw: dict = field(default_factory=dict)         # name -> descriptor bytes

    def buffers(self) -> np.ndarray:
        return np.frombuffer((self.root / "Resources" / "buffers.table").read_bytes(), BUFFER_DESC_DTYPE)

    def buffer_bytes(self, index: int) -> bytes:
        entry = self.buffers()[index]
        data = (self.root / "Resources" / "buffers.data").read_bytes()
        return data[int(entry["data_offset"]):int(entry["data_offset"]) + int(entry["size_bytes"])]

    def vertices(self, geometry) -> np.ndarray:
        info = mesh_info(geometry.meshes[0].desc)
        return np.frombuffer(self.buffer_bytes(info.vertex_buffer), "<f4").reshape(-1, 18)

    def indices(self, geometry) -> np.ndarray:
        info = mesh_info(geometry.meshes[0].desc)
        return np.frombuffer(self.buffer_bytes(info.index_buffer), "<u4")


def read_root(root: pathlib.Path) -> CookedRoot:
    index = parse_index((root / "container.index.bin").read_bytes())
    out = CookedRoot(root)
    parsers = {AssetType.MATERIAL: (parse_material, out.materials), AssetType.GEOMETRY: (parse_geometry, out.geometries),
               AssetType.SCENE: (parse_scene, out.scenes)}
    for asset in index.assets:
        data = (root / asset.descriptor_relpath).read_bytes()
        parse, bucket = parsers[asset.asset_type]
        name = pathlib.PurePosixPath(asset.descriptor_relpath).stem
        bucket[name] = parse(data, path=asset.descriptor_relpath)
        out.keys[asset.key] = (asset.asset_type, name)
        out.raw[name] = data
    return out
