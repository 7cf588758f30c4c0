"""Emitters on disk: alignment per buffer kind, de-duplication, table entries, padding."""
from __future__ import annotations

import numpy as np
import pytest

from oxy.cook.payload import TextureShape, pack_texture_payload
from oxy.formats import AssetType, BufferUsage, Format
from oxy.formats.primitives import content_hash
from oxy.formats.resources import BUFFER_DESC_DTYPE
from oxy.formats.resources import buffer_alignment
from oxy.importing.emitters import EmitError
from oxy.importing.session import ImportSession
from oxy.importing.session_io import DirectSessionIO
from oxy.samples import cube_buffers
from oxy.validate import validate_loose_root

from cooking import read_table

VERTEX = BufferUsage.VERTEX | BufferUsage.STATIC
INDEX = BufferUsage.INDEX | BufferUsage.STATIC


def test_buffer_alignment_rules():
    assert buffer_alignment(VERTEX, 72) == 72
    assert buffer_alignment(INDEX, 0) == 4
    assert buffer_alignment(BufferUsage.STORAGE, 64) == 16


def test_buffers_on_disk(tmp_path):
    vb, ib, _lo, _hi = cube_buffers()
    odd = bytes(range(7)) * 3  # 21 bytes: pushes the next buffer off alignment
    matrices = np.arange(32, dtype="<f4").tobytes()  # two mat4, structured, stride 64
    with ImportSession(str(tmp_path), DirectSessionIO()) as session:
        b = session.buffers
        i_odd = b.emit(odd, usage=BufferUsage.STORAGE, stride=1)
        i_vb = b.emit(vb, usage=VERTEX, stride=72)
        i_ib = b.emit(ib, usage=INDEX, element_format=Format.R32_UINT)
        i_mat = b.emit(matrices, usage=BufferUsage.STORAGE, stride=64)
        assert b.emit(vb, usage=VERTEX, stride=72) == i_vb  # same content: same index, no write
        assert b.count == 4 and b.pending_count == 0
        with pytest.raises(EmitError):
            b.emit(b"\0" * 10, usage=VERTEX, stride=72)  # not a multiple of the stride
        assert session.finalize()
    table = np.frombuffer((tmp_path / "Resources" / "buffers.table").read_bytes(), BUFFER_DESC_DTYPE)
    data = (tmp_path / "Resources" / "buffers.data").read_bytes()
    assert len(table) == 4
    expected = {i_odd: (odd, 1, 0, 1), i_vb: (vb, 72, 0, 72), i_ib: (ib, 0, Format.R32_UINT, 4),
                i_mat: (matrices, 64, 0, 16)}
    end = 0
    for index in sorted(expected, key=lambda i: int(table[i]["data_offset"])):
        blob, stride, fmt, align = expected[index]
        e = table[index]
        offset = int(e["data_offset"])
        assert offset % align == 0 and offset >= end
        assert not any(data[end:offset])
        assert data[offset:offset + len(blob)] == blob and int(e["size_bytes"]) == len(blob)
        assert int(e["element_stride"]) == stride and int(e["element_format"]) == fmt
        assert int(e["content_hash"]) == content_hash(blob)
        assert not any(e["reserved"])
        end = offset + len(blob)
    assert end == len(data)
    assert int(table[i_vb]["usage_flags"]) == 0x101 and int(table[i_ib]["usage_flags"]) == 0x102
    assert validate_loose_root(tmp_path, verify_hashes=True).ok


def test_texture_dedup_and_materials_get_a_fallback(tmp_path):
    shape = TextureShape(width=4, height=4, format=Format.RGBA8_UNORM)
    tex = pack_texture_payload(shape, [bytes(range(64))])
    with ImportSession(str(tmp_path), DirectSessionIO()) as session:
        first = session.textures.emit(tex)
        assert session.textures.emit(tex) == first == 1  # index 0 is the fallback
        size = session.textures.data_file_size
        assert session.textures.emit(tex) == 1 and session.textures.data_file_size == size
        assert session.finalize()
    assert len(read_table(tmp_path)) == 2
    # A root with only a material still gets texture 0, the fallback it may name.
    other = tmp_path / "other"
    from oxy.cook.descriptors import build_material

    with ImportSession(str(other), DirectSessionIO()) as session:
        session.assets.emit(AssetType.MATERIAL, "Plain", build_material("Plain"))
        assert session.finalize()
    table = read_table(other)
    assert len(table) == 1 and (int(table[0]["width"]), int(table[0]["format"])) == (1, Format.RGBA8_UNORM)
    assert validate_loose_root(other, verify_hashes=True).ok


def test_a_later_session_reuses_committed_textures_and_buffers(tmp_path):
    """An identical texture or buffer emitted in a second session answers with the committed
    index (found through the sorted hashes of the existing table) and appends nothing."""
    shapes = [TextureShape(width=4, height=4, format=Format.RGBA8_UNORM) for _ in range(3)]
    textures = [pack_texture_payload(s, [bytes([n]) * 64]) for n, s in enumerate(shapes)]
    vertices = bytes(range(72)) * 4
    with ImportSession(str(tmp_path), DirectSessionIO()) as session:
        indices = [session.textures.emit(t) for t in textures]
        vb = session.buffers.emit(vertices, usage=BufferUsage.VERTEX, stride=72)
        assert session.finalize()
    sizes = {name: (tmp_path / "Resources" / name).stat().st_size
             for name in ("textures.data", "textures.table", "buffers.data", "buffers.table")}
    with ImportSession(str(tmp_path), DirectSessionIO()) as session:
        assert [session.textures.emit(t) for t in reversed(textures)] == indices[::-1]
        assert session.buffers.emit(vertices, usage=BufferUsage.VERTEX, stride=72) == vb
        assert session.textures.reused_count == 3 and session.buffers.reused_count == 1
        changed = pack_texture_payload(shapes[0], [bytes([9]) * 64])
        assert session.textures.emit(changed) == len(textures) + 1  # new content: appended
        assert session.finalize()
    assert (tmp_path / "Resources" / "buffers.data").stat().st_size == sizes["buffers.data"]
    assert len(read_table(tmp_path)) == len(textures) + 2
    assert validate_loose_root(tmp_path, verify_hashes=True).ok


@pytest.mark.parametrize("name,relpath", [("Wood", "Materials/Wood.omat"), ("a/b\\c:d", "Materials/a_b_c_d.omat"),
                                          ("..", "Materials/unnamed.omat"), ("", "Materials/unnamed.omat")])
def test_asset_names_become_safe_paths(tmp_path, name, relpath):
    from oxy.cook.descriptors import build_material
    from oxy.formats import parse_index

    with ImportSession(str(tmp_path), DirectSessionIO()) as session:
        session.assets.emit(AssetType.MATERIAL, name, build_material("M"))
        with pytest.raises(EmitError, match="already emitted"):
            session.assets.emit(AssetType.MATERIAL, name, build_material("M"))
        assert session.finalize()
    index = parse_index((tmp_path / "container.index.bin").read_bytes())
    assert [a.descriptor_relpath for a in index.assets] == [relpath]
    assert (tmp_path / relpath).is_file()
    assert not list(tmp_path.rglob("*.oxy-tmp-*"))  # temporaries renamed into place
