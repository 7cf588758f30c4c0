"""Hashes in JSON: lowercase hex strings of fixed width without ``0x`` (the rule of
every ``oxy`` command's ``--json`` document, docs/cli-json.md). Here, below the layers
that write JSON (``oxy.cli``, ``oxy.pack``'s diff), so none reaches up for it. Pure."""
from __future__ import annotations

from typing import Any

#: Fields that hold a hash stored as an integer by the formats, and their width in bits.
HASH_FIELDS: dict[str, int] = {"content_hash": 64, "shader_hash": 64, "pak_crc32": 32}


def hex_int(value: int, bits: int) -> str:
    """``value`` as lowercase hex, zero-padded to ``bits // 4`` digits, no ``0x``."""
    return f"{value:0{bits // 4}x}"


def hexify_hashes(value: Any, name: str = "") -> Any:
    """``value`` with every integer under a key of :data:`HASH_FIELDS` written as
    :func:`hex_int` (nested dicts and lists walked; other values unchanged). ``name``:
    the key ``value`` itself sits under."""
    bits = HASH_FIELDS.get(name)
    if bits is not None and isinstance(value, int) and not isinstance(value, bool):
        return hex_int(value, bits)
    if isinstance(value, dict):
        return {k: hexify_hashes(v, k if isinstance(k, str) else "") for k, v in value.items()}
    if isinstance(value, list):
        return [hexify_hashes(v) for v in value]
    return value
