"""A safe binary encoding of cook results for the cook cache (never pickle).

A cache entry may come from another machine (a shared folder, S3), so decoding
must not run code: values are plain JSON plus raw blobs, and the only classes
rebuilt are the ones registered with :func:`register` (dataclasses and enums of
oxy's cook results). Everything else is refused with :class:`UnitCodecError`.

Encoded form: ``b"OXYUNIT1"``, u32 JSON length, the JSON tree, then the blobs
(bytes and numpy arrays, each referenced from the tree by index with its offset
and length). Supported values: None, bool, int, float (NaN and infinities too),
str, bytes, tuple, list, dict (any keys that are themselves supported),
numpy arrays and scalars, registered dataclasses and enums.

Pure functions: safe from any thread.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import struct
from typing import Any

import numpy as np

from oxy.errors import OxyError

MAGIC = b"OXYUNIT1"
_HEAD = struct.Struct("<8sI")
_registry: dict[str, type] = {}


class UnitCodecError(OxyError):
    """Bytes that are not an encoded unit result, or a value that cannot be encoded."""


def register(*classes: type) -> None:
    """Allow these dataclasses / enums to be encoded and rebuilt (by qualified name)."""
    for cls in classes:
        if not (dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum)):
            raise TypeError(f"{cls!r} is neither a dataclass nor an enum")
        _registry[_name(cls)] = cls


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(value: Any) -> bytes:
    blobs: list[bytes] = []
    tree = _pack(value, blobs)
    offsets, at = [], 0
    for blob in blobs:
        offsets.append([at, len(blob)])
        at += len(blob)
    text = json.dumps({"v": tree, "blobs": offsets}, separators=(",", ":"), allow_nan=True).encode()
    return _HEAD.pack(MAGIC, len(text)) + text + b"".join(blobs)


def decode(data: bytes) -> Any:
    if len(data) < _HEAD.size:
        raise UnitCodecError(f"{len(data)} bytes: too short for a unit result")
    magic, length = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise UnitCodecError(f"bad magic {magic!r}")
    start = _HEAD.size + length
    if start > len(data):
        raise UnitCodecError(f"JSON of {length} bytes runs past the end ({len(data)} bytes)")
    try:
        head = json.loads(data[_HEAD.size:start])
        blobs = []
        for offset, size in head["blobs"]:
            if offset < 0 or size < 0 or start + offset + size > len(data):
                raise UnitCodecError(f"blob at {offset}+{size} runs past the end")
            blobs.append(memoryview(data)[start + offset:start + offset + size])
        return _unpack(head["v"], blobs)
    except UnitCodecError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise UnitCodecError(f"malformed unit result: {type(exc).__name__}: {exc}") from None


def _pack(value: Any, blobs: list[bytes]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, enum.Enum):
        name = _name(type(value))
        if name not in _registry:
            if isinstance(value, int):  # IntEnum / IntFlag: stored as the plain number
                return int(value)
            raise UnitCodecError(f"enum {name} is not registered")
        return {"$e": name, "v": value.value}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        blobs.append(bytes(value))
        return {"$b": len(blobs) - 1}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.ascontiguousarray(value)
        if array.dtype.hasobject:
            raise UnitCodecError("object arrays cannot be encoded")
        blobs.append(array.tobytes())
        return {"$a": len(blobs) - 1, "dtype": array.dtype.str, "shape": list(array.shape),
                "scalar": isinstance(value, np.generic)}
    if isinstance(value, tuple):
        return {"$t": [_pack(v, blobs) for v in value]}
    if isinstance(value, list):
        return [_pack(v, blobs) for v in value]
    if isinstance(value, dict) or (hasattr(value, "items") and hasattr(value, "keys")):
        return {"$d": [[_pack(k, blobs), _pack(v, blobs)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = _name(type(value))
        if name not in _registry:
            raise UnitCodecError(f"class {name} is not registered")
        return {"$c": name, "f": {f.name: _pack(getattr(value, f.name), blobs)
                                  for f in dataclasses.fields(value)}}
    raise UnitCodecError(f"cannot encode a {type(value).__name__}")


def _unpack(node: Any, blobs: list[memoryview]) -> Any:
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_unpack(v, blobs) for v in node]
    if not isinstance(node, dict):
        raise UnitCodecError(f"unexpected JSON value {type(node).__name__}")
    if "$b" in node:
        return bytes(blobs[node["$b"]])
    if "$a" in node:
        dtype = np.dtype(node["dtype"])
        if dtype.hasobject:
            raise UnitCodecError("object arrays are refused")
        array = np.frombuffer(blobs[node["$a"]], dtype=dtype).reshape(node["shape"]).copy()
        return array[()] if node.get("scalar") else array
    if "$t" in node:
        return tuple(_unpack(v, blobs) for v in node["$t"])
    if "$d" in node:
        return {_hashable(_unpack(k, blobs)): _unpack(v, blobs) for k, v in node["$d"]}
    if "$e" in node:
        return _lookup(node["$e"])(node["v"])
    if "$c" in node:
        cls = _lookup(node["$c"])
        return cls(**{k: _unpack(v, blobs) for k, v in node["f"].items()})
    raise UnitCodecError(f"unexpected object with keys {sorted(node)[:4]}")


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    return key


def _lookup(name: str) -> Any:
    cls = _registry.get(name)
    if cls is None:
        raise UnitCodecError(f"class {name} is not registered (refused)")
    return cls
