"""Deterministic mutation recipes and their application.

A recipe is a JSON-able dict made by :func:`make_recipe` from (campaign seed, input
number) alone, so any input can be re-made with ``--replay N --seed S``. It names
the seed and a list of operations on that seed's files:

``write``    overwrite bytes at an offset (extreme u8..u64 values, special floats,
             keys, names and magics aimed at a field of the layout, or random bytes)
``flip``     flip one bit
``truncate`` cut a file to a length
``insert``   insert bytes (a duplicated record, padding before the PAK footer, a tail)
``delete`` / ``mkdir`` / ``symlink_out``   loose roots only: a missing file, a directory
             where a file should be, a symlink to the pristine file outside the root
``fix_hashes``  recompute the PAK CRC-32, descriptor header hashes, texture and buffer
             content hashes and the loose ``descriptor_sha256`` where they were set
             (so that hash-verifying runs get past the hash checks)
"""
from __future__ import annotations

import os
import random
import struct
from typing import Any

from fuzzlib.layout import Field, FileLayout, _member_offset
from fuzzlib.seeds import PAK_FILE, Seed

Recipe = dict[str, Any]
Op = dict[str, Any]

INDEX = "container.index.bin"
SPECIAL_FLOATS = (float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 3.4e38, -3.4e38, 1e-45, 1e30, -1.0)


# ------------------------------------------------------------------ generation
def make_recipe(seeds: list[Seed], campaign_seed: int, n: int, verify_fraction: float = 0.25) -> Recipe:
    rng = random.Random(f"oxy-fuzz:{campaign_seed}:{n}")
    seed = seeds[rng.randrange(len(seeds))]
    verify = rng.random() < verify_fraction
    count = 1 if rng.random() < 0.75 else rng.randint(2, 4)
    ops: list[Op] = []
    for _ in range(count):
        ops += _one_mutation(rng, seed)
    if verify and rng.random() < 0.5:
        ops.append({"op": "fix_hashes"})
    return {"n": n, "seed": seed.name, "kind": seed.kind, "verify": verify, "ops": ops}


def _pick_file(rng: random.Random, seed: Seed) -> str:
    if seed.kind == "pak":
        return PAK_FILE
    groups: dict[str, list[str]] = {"index": [], "table": [], "descriptor": [], "data": []}
    for rel in seed.files:
        if rel == INDEX:
            groups["index"].append(rel)
        elif rel.endswith(".table"):
            groups["table"].append(rel)
        elif rel.endswith(".data"):
            groups["data"].append(rel)
        else:
            groups["descriptor"].append(rel)
    weights = {"index": 0.3, "table": 0.2, "descriptor": 0.3, "data": 0.2}
    names = [g for g in groups if groups[g]]
    group = rng.choices(names, [weights[g] for g in names])[0]
    return rng.choice(groups[group])


def _one_mutation(rng: random.Random, seed: Seed) -> list[Op]:
    rel = _pick_file(rng, seed)
    data = seed.files[rel]
    layout = seed.layouts.get(rel) or FileLayout()
    loose = seed.kind == "loose"
    table = [("field", 0.40), ("flip", 0.14), ("bytes", 0.10), ("truncate", 0.08), ("dup", 0.10),
             ("extend", 0.05)]
    if loose:
        table += [("fs", 0.07), ("resize_fix", 0.06), ("path", 0.06)]
    op = rng.choices([t for t, _ in table], [w for _, w in table])[0]
    if op == "path":
        return [_path_op(rng, seed)]
    if op == "field" and layout.fields:
        return [_field_op(rng, seed, rel, rng.choice(layout.fields), layout)]
    if op == "flip" or (op == "field" and not layout.fields):
        out = []
        for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
            at = _offset(rng, data, layout)
            out.append({"op": "flip", "file": rel, "at": at, "bit": rng.randrange(8)})
        return out
    if op == "bytes":
        at = _offset(rng, data, layout)
        length = rng.choice((1, 2, 4, 8, rng.randint(1, 16)))
        fill = rng.choice(("random", "zero", "ff"))
        blob = (rng.randbytes(length) if fill == "random" else bytes(length) if fill == "zero"
                else b"\xff" * length)
        return [{"op": "write", "file": rel, "at": at, "data": blob.hex(), "what": f"{length} {fill} bytes"}]
    if op == "truncate":
        return [{"op": "truncate", "file": rel, "length": _cut(rng, data, layout)}]
    if op == "dup":
        return [_dup_op(rng, rel, data, layout)]
    if op == "extend":
        length = rng.choice((1, 16, 256, rng.randint(1, 600)))
        blob = bytes(length) if rng.random() < 0.5 else rng.randbytes(length)
        at = len(data)
        if rel == PAK_FILE and rng.random() < 0.5:
            at = max(0, len(data) - 256)  # before the footer: the footer stays the last 256 bytes
        return [{"op": "insert", "file": rel, "at": at, "data": blob.hex(), "what": f"{length} bytes"}]
    if op == "fs":
        kind = rng.choices(("delete", "truncate0", "mkdir", "symlink_out", "truncate", "symlink_dir_out"),
                           (0.3, 0.15, 0.15, 0.15, 0.15, 0.1))[0]
        if kind == "truncate0":
            return [{"op": "truncate", "file": rel, "length": 0}]
        if kind == "truncate":
            return [{"op": "truncate", "file": rel, "length": rng.randrange(max(len(data), 1))}]
        return [{"op": kind, "file": rel}]
    # resize_fix: change a file's size and the size the index records for it
    target = rng.choice([r for r in seed.files if r != INDEX])
    tdata = seed.files[target]
    size_field = _index_size_field(seed, target)
    if rng.random() < 0.5:
        new = _cut(rng, tdata, seed.layouts.get(target) or FileLayout())
        ops: list[Op] = [{"op": "truncate", "file": target, "length": new}]
    else:
        extra = rng.choice((1, 4, 40, 32, 256, rng.randint(1, 1000)))
        new = len(tdata) + extra
        ops = [{"op": "insert", "file": target, "at": len(tdata), "data": bytes(extra).hex(),
                "what": f"{extra} zero bytes"}]
    if size_field is not None:
        ops.append({"op": "write", "file": INDEX, "at": size_field.offset,
                    "data": new.to_bytes(size_field.size, "little").hex(), "what": f"{size_field.path}={new}"})
    return ops


#: Replacements for a path in the loose index string table (padded with NUL to the old length).
PATH_ATTACKS = ("../", "../../../../../../etc/passwd", "/etc/passwd", "Resources/../container.index.bin",
                "container.index.bin", "Resources", "Resources/", "./x", "a//b", "a\\b", "c:x", "\udcff\udcfe",
                "/.cooked/Materials/x.omat", "/", "")


def _path_op(rng: random.Random, seed: Seed) -> Op:
    """Overwrite one string of the index string table with a hostile or confusing path."""
    data = seed.files[INDEX]
    table = next(ch for ch in seed.layouts[INDEX].chunks if ch.label == "index.strings")
    strings, at = [], table.offset + 1
    for text in data[table.offset + 1:table.offset + table.size].split(b"\0")[:-1]:
        strings.append((at, text))
        at += len(text) + 1
    at, old = rng.choice(strings)
    other = [t for _a, t in strings if t != old]
    choice = rng.choice(PATH_ATTACKS + ("<other>",))
    new = rng.choice(other) if choice == "<other>" and other else choice.encode("utf-8", "surrogateescape")
    blob = new[:len(old)].ljust(len(old), b"\0")
    return {"op": "write", "file": INDEX, "at": at, "data": blob.hex(),
            "what": f"string {old.decode(errors='replace')!r} -> {blob.rstrip(bytes(1)).decode(errors='replace')!r}"}


def _index_size_field(seed: Seed, rel: str) -> Field | None:
    """The index field recording ``rel``'s size (a file record's size or an asset's descriptor_size)."""
    from oxy.formats.loose import parse_index

    index = parse_index(seed.files[INDEX])
    fields = {f.path: f for f in seed.layouts[INDEX].fields}
    for i, f in enumerate(index.files):
        if f.relpath == rel:
            return fields.get(f"index.files[{i}].size")
    for i, a in enumerate(index.assets):
        if a.descriptor_relpath == rel:
            return fields.get(f"index.assets[{i}].descriptor_size")
    return None


def _offset(rng: random.Random, data: bytes, layout: FileLayout) -> int:
    """Half the time inside a field of the layout, otherwise anywhere in the file."""
    if layout.fields and rng.random() < 0.6:
        f = rng.choice(layout.fields)
        return f.offset + rng.randrange(f.size)
    return rng.randrange(max(len(data), 1))


def _cut(rng: random.Random, data: bytes, layout: FileLayout) -> int:
    size = len(data)
    choices = [0, max(size - 1, 0), max(size - 256, 0), rng.randrange(max(size, 1))]
    if layout.chunks:
        ch = rng.choice(layout.chunks)
        choices += [ch.offset, ch.offset + ch.size // 2, min(size, ch.offset + ch.size)]
    return min(rng.choice(choices), size)


def _dup_op(rng: random.Random, rel: str, data: bytes, layout: FileLayout) -> Op:
    chunks = [ch for ch in layout.chunks if 0 < ch.size <= 8192 and ch.offset + ch.size <= len(data)]
    if not chunks:
        at = rng.randrange(max(len(data), 1))
        length = min(rng.randint(1, 64), len(data) - at)
        return {"op": "insert", "file": rel, "at": at + length, "src": at, "len": length,
                "what": f"duplicate of {length} bytes at {at}"}
    src = rng.choice(chunks)
    family = src.label.split("[")[0]
    peers = [ch for ch in chunks if ch.label.split("[")[0] == family and ch.size == src.size and ch != src]
    if peers and rng.random() < 0.6:
        dst = rng.choice(peers)
        return {"op": "copy", "file": rel, "src": src.offset, "len": src.size, "at": dst.offset,
                "what": f"{src.label} copied over {dst.label}"}
    return {"op": "insert", "file": rel, "at": src.offset + src.size, "src": src.offset, "len": src.size,
            "what": f"{src.label} duplicated in place"}


def _int_values(rng: random.Random, f: Field, orig: int, file_size: int, layout: FileLayout) -> list[int]:
    bits = 8 * f.size
    top = (1 << bits) - 1
    vals = [0, 1, 2, top, top - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, orig + 1, orig - 1, orig * 2,
            orig + 256, orig ^ (1 << rng.randrange(bits)), rng.randrange(top + 1), file_size, file_size - 1,
            file_size + 1, file_size - 256, 0xFFFFFFFF, 1 << 32, 1 << 31, 1 << 16, 40, 32, 64, 76, 256, 3]
    if layout.chunks:
        vals.append(rng.choice(layout.chunks).offset)  # points at another record
    return [v for v in vals if 0 <= v <= top]


def _field_op(rng: random.Random, seed: Seed, rel: str, f: Field, layout: FileLayout) -> Op:
    data = seed.files[rel]
    raw = data[f.offset:f.offset + f.size]
    if f.kind in ("u", "i"):
        orig = int.from_bytes(raw, "little")
        value = rng.choice(_int_values(rng, f, orig, len(data), layout))
        blob, what = value.to_bytes(f.size, "little"), f"{f.path}={value}"
    elif f.kind == "f":
        x = rng.choice(SPECIAL_FLOATS)
        blob, what = struct.pack("<f", x), f"{f.path}={x!r}"
    elif f.kind == "magic":
        i = rng.randrange(f.size)
        blob = raw[:i] + bytes([raw[i] ^ (1 << rng.randrange(8))]) + raw[i + 1:]
        what = f"{f.path} byte {i} flipped"
    elif f.kind == "key":
        keys = [g for g in layout.fields if g.kind == "key" and g.offset != f.offset]
        mode = rng.choice(("zero", "random", "copy") if keys else ("zero", "random"))
        if mode == "copy":
            g = rng.choice(keys)
            blob, what = data[g.offset:g.offset + g.size], f"{f.path}=copy of {g.path}"
        else:
            blob = bytes(f.size) if mode == "zero" else rng.randbytes(f.size)
            what = f"{f.path}={mode} key"
    elif f.kind == "name":
        mode = rng.choice(("no_nul", "bad_utf8", "empty", "slash"))
        blob = {"no_nul": b"A" * f.size, "bad_utf8": b"\xff\xfe" + raw[2:], "empty": bytes(f.size),
                "slash": (b"../" * f.size)[:f.size - 1] + b"\0"}[mode]
        what = f"{f.path}={mode}"
    else:  # reserved / bytes
        blob = rng.randbytes(f.size) if rng.random() < 0.5 else b"\xff" * f.size
        what = f"{f.path}=garbage"
    return {"op": "write", "file": rel, "at": f.offset, "data": blob.hex(), "what": what}


# ------------------------------------------------------------------ application
def apply_ops(seed: Seed, ops: list[Op]) -> dict[str, bytearray | str]:
    """The mutated files: bytes, or "deleted" / "dir" / "symlink_out" markers."""
    files: dict[str, bytearray | str] = {rel: bytearray(d) for rel, d in seed.files.items()}
    for op in ops:
        kind = op["op"]
        if kind == "fix_hashes":
            _fix_hashes(seed, files)
            continue
        rel = op["file"]
        buf = files.get(rel)
        if kind in ("delete", "mkdir", "symlink_out"):
            files[rel] = {"delete": "deleted", "mkdir": "dir", "symlink_out": "symlink_out"}[kind]
            continue
        if kind == "symlink_dir_out":
            files[rel] = "symlink_dir_out"  # materialize links the file's folder to the pristine seed's
            continue
        if not isinstance(buf, bytearray):
            continue
        if kind == "write":
            blob = bytes.fromhex(op["data"])
            at = op["at"]
            if at < len(buf):
                buf[at:at + len(blob)] = blob[:max(0, len(buf) - at)]
        elif kind == "flip":
            if op["at"] < len(buf):
                buf[op["at"]] ^= 1 << op["bit"]
        elif kind == "truncate":
            del buf[op["length"]:]
        elif kind == "insert":
            blob = bytes.fromhex(op["data"]) if "data" in op else bytes(buf[op["src"]:op["src"] + op["len"]])
            at = min(op["at"], len(buf))
            buf[at:at] = blob
        elif kind == "copy":
            blob = bytes(buf[op["src"]:op["src"] + op["len"]])
            at = op["at"]
            if at < len(buf):
                buf[at:at + len(blob)] = blob[:max(0, len(buf) - at)]
    return files


def materialize(seed: Seed, recipe: Recipe, dest: str) -> str:
    """Write the mutated input under ``dest`` (emptied first); returns the path to check."""
    import shutil

    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    files = apply_ops(seed, recipe["ops"])
    if seed.kind == "pak":
        path = os.path.join(dest, PAK_FILE)
        with open(path, "wb") as fh:
            fh.write(files[PAK_FILE])  # type: ignore[arg-type]
        return path
    root = os.path.join(dest, "root")
    linked = set()
    for rel, content in files.items():
        if content == "symlink_dir_out" and "/" in rel:
            folder = rel.split("/")[0]
            os.makedirs(root, exist_ok=True)
            os.symlink(os.path.join(seed.path, folder), os.path.join(root, folder))
            linked.add(folder)
    for rel, content in files.items():
        if rel.split("/")[0] in linked:
            continue
        full = os.path.join(root, *rel.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if content == "deleted":
            continue
        if content == "dir":
            os.makedirs(full)
        elif content in ("symlink_out", "symlink_dir_out"):
            os.symlink(os.path.join(seed.path, *rel.split("/")), full)
        else:
            with open(full, "wb") as fh:
                fh.write(content)  # type: ignore[arg-type]
    return root


# ------------------------------------------------------------------ hash repair
def _put(buf: bytearray, at: int, value: int, size: int) -> None:
    if 0 <= at and at + size <= len(buf):
        buf[at:at + size] = value.to_bytes(size, "little")


def _fix_descriptor_hash(buf: bytearray, start: int, end: int) -> None:
    from oxy.formats.material import HEADER_CONTENT_HASH_OFFSET as AT
    from oxy.formats.primitives import content_hash

    blob = bytes(buf[start:end])
    if len(blob) >= AT + 8 and int.from_bytes(blob[AT:AT + 8], "little"):
        _put(buf, start + AT, content_hash(blob[:AT] + bytes(8) + blob[AT + 8:]), 8)


def _fix_resource_hashes(table: bytearray, table_at: int, count: int, data: bytearray, texture: bool) -> None:
    import numpy as np

    from oxy.formats.primitives import content_hash
    from oxy.formats.resources import (BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE, BufferResourceDescStruct,
                                       TexturePayloadHeaderStruct, TextureResourceDescStruct)

    dtype = TEXTURE_DESC_DTYPE if texture else BUFFER_DESC_DTYPE
    struct_ = TextureResourceDescStruct if texture else BufferResourceDescStruct
    hash_at = _member_offset(struct_, "content_hash")
    if table_at < 0 or table_at + count * dtype.itemsize > len(table):
        return
    rows = np.frombuffer(bytes(table), dtype, count, table_at)
    for i, row in enumerate(rows):
        off, size = int(row["data_offset"]), int(row["size_bytes"])
        if off + size > len(data):
            continue
        entry_at = table_at + i * dtype.itemsize + hash_at
        if texture:
            p_at = off + _member_offset(TexturePayloadHeaderStruct, "content_hash")
            if size >= TexturePayloadHeaderStruct.sizeof():
                payload = bytes(data[off:off + size])
                rel = p_at - off
                zeroed = content_hash(payload[:rel] + bytes(8) + payload[rel + 8:])
                if int.from_bytes(payload[rel:rel + 8], "little"):
                    _put(data, p_at, zeroed, 8)
                if int(row["content_hash"]):
                    _put(table, entry_at, zeroed, 8)
        elif int(row["content_hash"]):
            _put(table, entry_at, content_hash(bytes(data[off:off + size])), 8)


def _fix_hashes(seed: Seed, files: dict[str, bytearray | str]) -> None:
    """Best effort: recompute every hash that is set, from the mutated bytes."""
    try:
        if seed.kind == "pak":
            _fix_pak(files[PAK_FILE])  # type: ignore[arg-type]
        else:
            _fix_loose(files)
    except Exception:  # noqa: BLE001 - a mutation may leave nothing parseable; then nothing is fixed
        pass


def _fix_pak(buf: bytearray) -> None:
    from oxy.formats.pak import (DIRECTORY_ENTRY_SIZE, PAK_CRC_OFFSET_IN_FOOTER, PAK_FOOTER_SIZE,
                                 AssetDirectoryEntry, PakFooter)
    from oxy.formats.primitives import pak_crc32

    foot_at = len(buf) - PAK_FOOTER_SIZE
    footer = PakFooter.parse(buf, foot_at)
    for i in range(min(footer.asset_count, 4096)):
        at = footer.directory_offset + i * DIRECTORY_ENTRY_SIZE
        if at + DIRECTORY_ENTRY_SIZE > len(buf):
            break
        e = AssetDirectoryEntry.parse(buf, at)
        _fix_descriptor_hash(buf, e.desc_offset, min(len(buf), e.desc_offset + e.desc_size))
    for kind, texture in (("texture", True), ("buffer", False)):
        t = getattr(footer, f"{kind}_table")
        _fix_resource_hashes(buf, t.offset, min(t.count, 1 << 16), buf, texture)
    if footer.pak_crc32:
        _put(buf, foot_at + PAK_CRC_OFFSET_IN_FOOTER, pak_crc32(buf), 4)


def _fix_loose(files: dict[str, bytearray | str]) -> None:
    from oxy.formats.enums import FileKind
    from oxy.formats.loose import ASSET_ENTRY_SIZE, AssetEntryStruct, parse_index
    from oxy.formats.primitives import sha256
    from oxy.formats.resources import BUFFER_DESC_SIZE, TEXTURE_DESC_SIZE

    index_buf = files.get(INDEX)
    if not isinstance(index_buf, bytearray):
        return
    index = parse_index(bytes(index_buf))
    by_kind = {f.kind: f.relpath for f in index.files}
    for table_kind, data_kind, texture in ((FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA, True),
                                           (FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA, False)):
        t, d = files.get(by_kind.get(table_kind, "")), files.get(by_kind.get(data_kind, ""))
        if isinstance(t, bytearray) and isinstance(d, bytearray):
            size = TEXTURE_DESC_SIZE if texture else BUFFER_DESC_SIZE
            _fix_resource_hashes(t, 0, len(t) // size, d, texture)
    h = index.header
    assert h is not None
    sha_at = _member_offset(AssetEntryStruct, "descriptor_sha256")
    for i, a in enumerate(index.assets):
        blob = files.get(a.descriptor_relpath)
        if not isinstance(blob, bytearray):
            continue
        _fix_descriptor_hash(blob, 0, len(blob))
        if any(a.descriptor_sha256):
            at = h.asset_entries_offset + i * ASSET_ENTRY_SIZE + sha_at
            index_buf[at:at + 32] = sha256(bytes(blob))
