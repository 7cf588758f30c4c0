"""Scene descriptors (FORMATS.md 5.3), version 2.

Offsets inside a scene descriptor are relative to its start. The importer layout:
the 256-byte desc, ``NodeRecord[]`` at 256, the string table (starting with NUL),
the component directory (``SceneComponentTableDesc[]``), the component tables,
then the environment block at ``payload_end`` with no trailing bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import construct as c

from oxy.errors import FormatError
from oxy.formats.enums import ENVIRONMENT_RECORD_SIZES, ComponentType
from oxy.formats.material import AssetHeaderStruct
from oxy.formats.primitives import KeyField, Reserved, Vec3, Vec4
from oxy.formats.views import StructView

SCENE_DESC_SIZE = 256
SCENE_VERSION = 2
NODE_RECORD_SIZE = 68
COMPONENT_DIR_ENTRY_SIZE = 20
ENVIRONMENT_HEADER_SIZE = 16

SceneAssetDescStruct = c.Struct(
    "header" / AssetHeaderStruct,
    "nodes" / c.Struct("offset" / c.Int64ul, "count" / c.Int32ul, "entry_size" / c.Int32ul),
    "scene_strings" / c.Struct("offset" / c.Int32ul, "size" / c.Int32ul),
    "component_table_directory_offset" / c.Int64ul,
    "component_table_count" / c.Int32ul,
    "reserved" / Reserved(125),
)

NodeRecordStruct = c.Struct(
    "node_id" / KeyField,
    "scene_name_offset" / c.Int32ul,   # into the scene string table; 0 = empty name
    "parent_index" / c.Int32ul,        # == own index: no parent
    "node_flags" / c.Int32ul,          # NodeFlags
    "translation" / Vec3,
    "rotation" / Vec4,                 # quaternion x, y, z, w
    "scale" / Vec3,
)

SceneComponentTableDescStruct = c.Struct(
    "component_type" / c.Int32ul,      # ComponentType FourCC
    "offset" / c.Int64ul,
    "count" / c.Int32ul,
    "entry_size" / c.Int32ul,
)

RenderableRecordStruct = c.Struct(
    "node_index" / c.Int32ul, "geometry_key" / KeyField, "visible" / c.Int32ul,
    "reserved" / Reserved(12),
)
PerspectiveCameraRecordStruct = c.Struct(
    "node_index" / c.Int32ul, "fov_y" / c.Float32l, "aspect_ratio" / c.Float32l,
    "near_plane" / c.Float32l, "far_plane" / c.Float32l, "reserved" / Reserved(12),
)
OrthographicCameraRecordStruct = c.Struct(
    "node_index" / c.Int32ul, "left" / c.Float32l, "right" / c.Float32l,
    "bottom" / c.Float32l, "top" / c.Float32l, "near_plane" / c.Float32l,
    "far_plane" / c.Float32l, "reserved" / Reserved(12),
)
LightShadowSettingsRecordStruct = c.Struct(
    "bias" / c.Float32l, "normal_bias" / c.Float32l, "contact_shadows" / c.Int32ul,
    "resolution_hint" / c.Int8ul, "reserved" / Reserved(3),
)
LightCommonRecordStruct = c.Struct(
    "affects_world" / c.Int32ul, "color_rgb" / Vec3, "intensity" / c.Float32l,
    "mobility" / c.Int8ul, "casts_shadows" / c.Int8ul, "reserved0" / Reserved(2),
    "shadow" / LightShadowSettingsRecordStruct, "exposure_compensation_ev" / c.Float32l,
    "reserved1" / Reserved(4),
)
DirectionalLightRecordStruct = c.Struct(
    "node_index" / c.Int32ul, "common" / LightCommonRecordStruct,
    "angular_size_radians" / c.Float32l, "environment_contribution" / c.Int32ul,
    "is_sun_light" / c.Int32ul, "cascade_count" / c.Int32ul,
    "cascade_distances" / c.Array(4, c.Float32l), "distribution_exponent" / c.Float32l,
    "reserved" / Reserved(8),
)
PointLightRecordStruct = c.Struct(
    "node_index" / c.Int32ul, "common" / LightCommonRecordStruct, "range" / c.Float32l,
    "attenuation_model" / c.Int8ul, "reserved0" / Reserved(3), "decay_exponent" / c.Float32l,
    "source_radius" / c.Float32l, "reserved1" / Reserved(12),
)
SpotLightRecordStruct = c.Struct(
    "node_index" / c.Int32ul, "common" / LightCommonRecordStruct, "range" / c.Float32l,
    "attenuation_model" / c.Int8ul, "reserved0" / Reserved(3), "decay_exponent" / c.Float32l,
    "inner_cone_angle_radians" / c.Float32l, "outer_cone_angle_radians" / c.Float32l,
    "source_radius" / c.Float32l, "reserved1" / Reserved(12),
)
EnvironmentHeaderStruct = c.Struct(
    "byte_size" / c.Int32ul,           # including this header
    "systems_count" / c.Int32ul,
    "reserved" / Reserved(8),
)
EnvironmentRecordHeaderStruct = c.Struct("system_type" / c.Int32ul, "record_size" / c.Int32ul)

class SceneAssetDesc(StructView, struct=SceneAssetDescStruct):
    "The fixed 256-byte part of a scene descriptor."
class NodeRecord(StructView, struct=NodeRecordStruct):
    "A 68-byte scene node."
class SceneComponentTableDesc(StructView, struct=SceneComponentTableDescStruct):
    "A 20-byte entry of the component directory."
class RenderableRecord(StructView, struct=RenderableRecordStruct):
    "View of the RenderableRecord struct."
class PerspectiveCameraRecord(StructView, struct=PerspectiveCameraRecordStruct):
    "View of the PerspectiveCameraRecord struct."
class OrthographicCameraRecord(StructView, struct=OrthographicCameraRecordStruct):
    "View of the OrthographicCameraRecord struct."
class LightShadowSettingsRecord(StructView, struct=LightShadowSettingsRecordStruct):
    "View of the LightShadowSettingsRecord struct."
class LightCommonRecord(StructView, struct=LightCommonRecordStruct):
    "View of the LightCommonRecord struct."
class DirectionalLightRecord(StructView, struct=DirectionalLightRecordStruct):
    "View of the DirectionalLightRecord struct."
class PointLightRecord(StructView, struct=PointLightRecordStruct):
    "View of the PointLightRecord struct."
class SpotLightRecord(StructView, struct=SpotLightRecordStruct):
    "View of the SpotLightRecord struct."
class EnvironmentHeader(StructView, struct=EnvironmentHeaderStruct):
    "View of the EnvironmentHeader struct."
class EnvironmentRecordHeader(StructView, struct=EnvironmentRecordHeaderStruct):
    "View of the EnvironmentRecordHeader struct."

#: Component tables in the importer's write order, with their record views.
COMPONENT_RECORDS: dict[int, type[StructView]] = {
    ComponentType.RENDERABLE: RenderableRecord,
    ComponentType.PERSPECTIVE_CAMERA: PerspectiveCameraRecord,
    ComponentType.ORTHOGRAPHIC_CAMERA: OrthographicCameraRecord,
    ComponentType.DIRECTIONAL_LIGHT: DirectionalLightRecord,
    ComponentType.POINT_LIGHT: PointLightRecord,
    ComponentType.SPOT_LIGHT: SpotLightRecord,
}


@dataclass(frozen=True)
class ComponentTable:
    component_type: int
    records: tuple[StructView, ...] = ()
    raw: bytes = b""  # records of an unknown component type, kept verbatim
    entry_size: int = 0


@dataclass(frozen=True)
class EnvironmentSystemRecord:
    system_type: int
    body: bytes  # the record after its 8-byte {system_type, record_size} header


@dataclass(frozen=True)
class SceneDescriptor:
    """A whole scene descriptor in importer layout (see the module docstring)."""

    desc: SceneAssetDesc
    nodes: tuple[NodeRecord, ...]
    strings: bytes = b"\0"
    components: tuple[ComponentTable, ...] = ()
    environment: tuple[EnvironmentSystemRecord, ...] = field(default=())

    def string_at(self, offset: int) -> str:
        end = self.strings.find(b"\0", offset)
        return self.strings[offset:end if end >= 0 else None].decode("utf-8", "replace")

    def build(self) -> bytes:
        """Lay out in importer order, recomputing every offset and count in the desc."""
        nodes = b"".join(n.build() for n in self.nodes)
        strings_at = SCENE_DESC_SIZE + len(nodes)
        dir_at = strings_at + len(self.strings)
        tables_at = dir_at + COMPONENT_DIR_ENTRY_SIZE * len(self.components)
        directory, tables = [], []
        cursor = tables_at
        for table in self.components:
            body = b"".join(r.build() for r in table.records) if table.records else table.raw
            size = _entry_size(table)
            count = len(table.records) if table.records else (len(table.raw) // size if size else 0)
            directory.append(SceneComponentTableDesc(component_type=table.component_type,
                                                     offset=cursor, count=count, entry_size=size).build())
            tables.append(body)
            cursor += len(body)
        env_records = b"".join(
            EnvironmentRecordHeader(system_type=r.system_type, record_size=8 + len(r.body)).build() + r.body
            for r in self.environment)
        env = EnvironmentHeader(byte_size=ENVIRONMENT_HEADER_SIZE + len(env_records),
                                systems_count=len(self.environment)).build() + env_records
        d = self.desc
        desc = d.replace(
            nodes=d.nodes.replace(offset=SCENE_DESC_SIZE, count=len(self.nodes),
                                  entry_size=NODE_RECORD_SIZE),
            scene_strings=d.scene_strings.replace(offset=strings_at, size=len(self.strings)),
            component_table_directory_offset=dir_at if self.components else 0,
            component_table_count=len(self.components),
        )
        return desc.build() + nodes + self.strings + b"".join(directory) + b"".join(tables) + env


def _entry_size(table: ComponentTable) -> int:
    view = COMPONENT_RECORDS.get(table.component_type)
    return view.SIZE if view is not None else table.entry_size


def parse_scene(data: bytes | memoryview, *, path: str = "<bytes>",
                base_offset: int = 0) -> SceneDescriptor:
    """Parse a scene descriptor with the loader's checks (ranges, entry sizes, parents,
    environment at payload_end with no trailing bytes). Raises FormatError."""
    def fail(msg: str, at: int, fld: str) -> FormatError:
        return FormatError(msg, path, base_offset + at, fld)

    desc = SceneAssetDesc.parse(data, 0, path=path, field="scene")
    size = len(data)
    ends = [SCENE_DESC_SIZE]

    def check_range(offset: int, length: int, at: int, fld: str) -> None:
        if offset < SCENE_DESC_SIZE and length:
            raise fail(f"range starts at {offset}, inside the 256-byte desc", at, fld)
        if offset + length > size:
            raise fail(f"range {offset}+{length} ends past the descriptor ({size} bytes)", at, fld)
        ends.append(offset + length)

    n = desc.nodes
    if n.count and n.entry_size != NODE_RECORD_SIZE:
        raise fail(f"entry_size {n.entry_size}, expected {NODE_RECORD_SIZE}", 107, "scene.nodes.entry_size")
    check_range(n.offset, n.count * NODE_RECORD_SIZE, 95, "scene.nodes")
    nodes = tuple(NodeRecord.parse(data, n.offset + i * NODE_RECORD_SIZE, path=path,
                                   field=f"scene.nodes[{i}]") for i in range(n.count))
    for i, node in enumerate(nodes):
        if node.parent_index >= n.count:
            raise fail(f"parent_index {node.parent_index} >= node count {n.count}",
                       n.offset + i * NODE_RECORD_SIZE + 20, f"scene.nodes[{i}].parent_index")
    s = desc.scene_strings
    check_range(s.offset, s.size, 111, "scene.scene_strings")
    strings = bytes(data[s.offset:s.offset + s.size])
    components = []
    dir_at, dir_count = desc.component_table_directory_offset, desc.component_table_count
    if dir_count:
        check_range(dir_at, dir_count * COMPONENT_DIR_ENTRY_SIZE, 119, "scene.component_table_directory")
    for i in range(dir_count):
        entry = SceneComponentTableDesc.parse(data, dir_at + i * COMPONENT_DIR_ENTRY_SIZE, path=path,
                                              field=f"scene.components[{i}]")
        fld = f"scene.components[{i}]"
        view = COMPONENT_RECORDS.get(entry.component_type)
        if view is not None and entry.entry_size != view.SIZE:
            raise fail(f"entry_size {entry.entry_size}, expected {view.SIZE} for "
                       f"{ComponentType(entry.component_type).name}",
                       dir_at + i * COMPONENT_DIR_ENTRY_SIZE + 16, fld + ".entry_size")
        check_range(entry.offset, entry.count * entry.entry_size,
                    dir_at + i * COMPONENT_DIR_ENTRY_SIZE + 4, fld + ".offset")
        if view is not None:
            records = tuple(view.parse(data, entry.offset + k * view.SIZE, path=path,
                                       field=f"{fld}.records[{k}]") for k in range(entry.count))
            components.append(ComponentTable(entry.component_type, records))
        else:
            raw = bytes(data[entry.offset:entry.offset + entry.count * entry.entry_size])
            components.append(ComponentTable(entry.component_type, (), raw, entry.entry_size))
    env_at = max(ends)
    environment = _parse_environment(data, env_at, fail)
    return SceneDescriptor(desc, nodes, strings, tuple(components), environment)


def _parse_environment(data: bytes | memoryview, at: int, fail) -> tuple[EnvironmentSystemRecord, ...]:
    if at + ENVIRONMENT_HEADER_SIZE > len(data):
        raise fail("the environment block is missing at payload_end", at, "scene.environment")
    head = EnvironmentHeader.parse(data, at)
    if at + head.byte_size != len(data):
        raise fail(f"environment byte_size {head.byte_size} does not end the descriptor "
                   f"({len(data) - at} bytes from payload_end)", at, "scene.environment.byte_size")
    records, pos = [], at + ENVIRONMENT_HEADER_SIZE
    for i in range(head.systems_count):
        if pos + 8 > len(data):
            raise fail("record header past the end", pos, f"scene.environment.systems[{i}]")
        rec = EnvironmentRecordHeader.parse(data, pos)
        expected = ENVIRONMENT_RECORD_SIZES.get(rec.system_type)
        if expected is not None and rec.record_size != expected:
            raise fail(f"record_size {rec.record_size}, expected {expected}", pos + 4,
                       f"scene.environment.systems[{i}].record_size")
        if rec.record_size < 8 or pos + rec.record_size > len(data):
            raise fail(f"record_size {rec.record_size} out of range", pos + 4,
                       f"scene.environment.systems[{i}].record_size")
        records.append(EnvironmentSystemRecord(rec.system_type, bytes(data[pos + 8:pos + rec.record_size])))
        pos += rec.record_size
    if pos != len(data):
        raise fail(f"{len(data) - pos} trailing bytes after the environment records", pos,
                   "scene.environment")
    return tuple(records)
