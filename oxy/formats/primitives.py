"""Primitive encodings shared by every Oxygen cooked format (FORMATS.md section 2).

Holds the 16-byte :class:`AssetKey`, the truncated content hash, the PAK CRC rule,
the unorm16 and IEEE half encodings, fixed-size NUL-padded names, and alignment
helpers, plus the small construct adapters that the struct declarations use.

Pure functions and immutable values: safe from any thread. Never imports gevent.
"""
from __future__ import annotations

import hashlib
import math
import uuid
import zlib
from functools import total_ordering

import construct as c
import numpy as np

ASSET_KEY_SIZE = 16
MAX_NAME_SIZE = 64  # char[64]: at most 63 UTF-8 bytes plus the terminating NUL
VIRTUAL_MOUNT_ROOT = "/.cooked"


# --------------------------------------------------------------------------- keys
@total_ordering
class AssetKey:
    """A 16-byte asset key, compared and sorted lexicographically by byte.

    Text form: lowercase hex 8-4-4-4-12 in raw byte order. The importer's default
    policy derives a key from a virtual path: the first 16 bytes of SHA-256 of its
    UTF-8 encoding (:meth:`from_virtual_path`).
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        raw = bytes(raw)
        if len(raw) != ASSET_KEY_SIZE:
            raise ValueError(f"AssetKey needs {ASSET_KEY_SIZE} bytes, got {len(raw)}")
        self._raw = raw

    @classmethod
    def from_virtual_path(cls, virtual_path: str) -> "AssetKey":
        """Deterministic key (AssetKeyPolicy 0): SHA-256(UTF-8 path)[:16]."""
        return cls(hashlib.sha256(virtual_path.encode("utf-8")).digest()[:ASSET_KEY_SIZE])

    @classmethod
    def random(cls) -> "AssetKey":
        """A random UUID v4 key (AssetKeyPolicy 1)."""
        return cls(uuid.uuid4().bytes)

    @classmethod
    def parse(cls, text: str) -> "AssetKey":
        """Parse the text form; dashes are optional. Raises ValueError when malformed."""
        digits = text.strip().replace("-", "")
        if len(digits) != 2 * ASSET_KEY_SIZE:
            raise ValueError(f"asset key {text!r}: expected 32 hex digits")
        try:
            return cls(bytes.fromhex(digits))
        except ValueError as exc:
            raise ValueError(f"asset key {text!r}: not hexadecimal") from exc

    @property
    def raw(self) -> bytes:
        return self._raw

    def is_zero(self) -> bool:
        return not any(self._raw)

    def __str__(self) -> str:
        h = self._raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def __repr__(self) -> str:
        return f"AssetKey('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetKey) and self._raw == other._raw

    def __lt__(self, other: "AssetKey") -> bool:
        if not isinstance(other, AssetKey):
            return NotImplemented
        return self._raw < other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __bytes__(self) -> bytes:
        return self._raw


# -------------------------------------------------------------------- hashing
def content_hash(data: bytes | bytearray | memoryview) -> int:
    """Truncated content hash (util::ComputeContentHash): first 8 bytes of SHA-256, LE."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def sha256(data: bytes | bytearray | memoryview) -> bytes:
    """Full 32-byte SHA-256 digest (loose index ``descriptor_sha256``)."""
    return hashlib.sha256(data).digest()


PAK_CRC_FIELD_FROM_END = 256 - 244  # pak_crc32 sits at footer offset 244


def pak_crc32(data: bytes | bytearray | memoryview) -> int:
    """IEEE CRC-32 over a whole PAK, skipping (not zeroing) the 4-byte ``pak_crc32`` field."""
    view = memoryview(data)
    at = len(view) - PAK_CRC_FIELD_FROM_END
    if at < 0:
        raise ValueError("a PAK is at least 256 bytes long")
    crc = zlib.crc32(view[:at])
    return zlib.crc32(view[at + 4 :], crc) & 0xFFFFFFFF


# ----------------------------------------------------------------- numbers
def unorm16_encode(x: float) -> int:
    """``floor(clamp01(x) * 65535 + 0.5)``; NaN encodes as 0."""
    if math.isnan(x):
        return 0
    return int(math.floor(min(1.0, max(0.0, x)) * 65535.0 + 0.5))


def unorm16_decode(u: int) -> float:
    return u / 65535.0


def half_encode(x: float) -> int:
    """IEEE binary16 bits of ``x`` with the engine's rules (FORMATS.md section 2).

    ``x`` is first rounded to float32 (the engine's input type), then to half with
    round-to-nearest-even; float32 subnormals become signed zero and overflow becomes
    signed infinity (as numpy does); NaN becomes ``0x7C00 | payload | 0x0200``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.float32(x)
        bits = int(f.view(np.uint32))
        if (bits >> 23) & 0xFF == 0xFF and bits & 0x7FFFFF:
            return ((bits >> 16) & 0x8000) | 0x7C00 | ((bits & 0x7FFFFF) >> 13) | 0x0200
        return int(f.astype(np.float16).view(np.uint16))


def half_decode(h: int) -> float:
    return float(np.array([h & 0xFFFF], dtype=np.uint16).view(np.float16)[0])


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment`` (alignment >= 1)."""
    if alignment <= 1:
        return value
    return (value + alignment - 1) // alignment * alignment


# ------------------------------------------------------------ construct glue
class _AssetKeyAdapter(c.Adapter):
    def _decode(self, obj: bytes, context: object, path: str) -> AssetKey:
        return AssetKey(obj)

    def _encode(self, obj: AssetKey | bytes, context: object, path: str) -> bytes:
        return bytes(obj)


class _CNameAdapter(c.Adapter):
    """``char[N]``: UTF-8, NUL-terminated and NUL-padded. Parsed up to the first NUL.

    Invalid UTF-8 survives a round trip through ``surrogateescape``. Building a name
    longer than N-1 bytes is an error (the importer truncates before it builds).
    """

    def _decode(self, obj: bytes, context: object, path: str) -> str:
        end = obj.find(b"\0")
        return (obj if end < 0 else obj[:end]).decode("utf-8", "surrogateescape")

    def _encode(self, obj: str, context: object, path: str) -> bytes:
        raw = obj.encode("utf-8", "surrogateescape")
        size = self.subcon.sizeof()
        if len(raw) >= size:
            raise c.ValidationError(
                f"name {obj!r} is {len(raw)} bytes; char[{size}] holds at most {size - 1}",
                path=path,
            )
        return raw.ljust(size, b"\0")


class _Unorm16Adapter(c.Adapter):
    def _decode(self, obj: int, context: object, path: str) -> float:
        return unorm16_decode(obj)

    def _encode(self, obj: float, context: object, path: str) -> int:
        return unorm16_encode(obj)


class _HalfAdapter(c.Adapter):
    def _decode(self, obj: int, context: object, path: str) -> float:
        return half_decode(obj)

    def _encode(self, obj: float, context: object, path: str) -> int:
        return half_encode(obj)


KeyField = _AssetKeyAdapter(c.Bytes(ASSET_KEY_SIZE))
Unorm16 = _Unorm16Adapter(c.Int16ul)
Half = _HalfAdapter(c.Int16ul)
Vec3 = c.Array(3, c.Float32l)
Vec4 = c.Array(4, c.Float32l)


def CName(size: int = MAX_NAME_SIZE) -> c.Construct:
    """A ``char[size]`` name field."""
    return _CNameAdapter(c.Bytes(size))


def Reserved(size: int) -> c.Construct:
    """Reserved bytes: kept verbatim on parse (so files round-trip), zeros by default."""
    return c.Default(c.Bytes(size), bytes(size))


def Magic(value: bytes) -> c.Construct:
    """A fixed magic value; a mismatch is a ConstructError naming the field."""
    return c.Const(value)
