"""What ``oxy inspect`` shows a person: an overview that fits a terminal, a summary, or
every decoded field of chosen assets. Works on the model of :func:`oxy.cli.describe.describe_path`
(the same one ``--json`` prints), so the text and the JSON never disagree.

* :func:`select` narrows the model to ``--asset KEY|VPATH`` and ``--type T`` (asset types
  and the ``texture`` / ``buffer`` tables); an asset asked for that is not there is
  a :class:`SelectionError`.
* :func:`summary` counts and sizes: per asset type, per texture format, buffers.
* :func:`overview_lines` is the default text: one line per asset, texture and buffer,
  each cut to the terminal's width (names and paths are shortened in the middle with ``...``).
* :func:`tree_lines` is the everything-decoded text (``--full``, ``--asset``).

Pure functions; no I/O.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

ASSET_TYPES = ("material", "geometry", "scene")
TABLES = ("texture", "buffer")
TYPES = ASSET_TYPES + TABLES


class SelectionError(LookupError):
    """``--asset`` named something the container does not hold (the message says what)."""


def select(model: dict[str, Any], assets: Sequence[str] = (), types: Sequence[str] = ()) -> dict[str, Any]:
    """A copy of ``model`` holding only the assets (by key, virtual path or name; case of hex
    digits ignored in keys) and types asked for. Tables are kept whole unless ``types``
    names tables without naming them all."""
    out = dict(model)
    wanted_types = set(types)
    chosen = list(model["assets"])
    if assets:
        picked: list[dict[str, Any]] = []
        for ask in assets:
            found = [a for a in chosen if _matches(a, ask)]
            if not found:
                raise SelectionError(f"no asset {ask!r} in {model['path']} (give a key, a virtual path or a name; "
                                     f"oxy inspect {model['path']} lists them)")
            picked += [a for a in found if a not in picked]
        chosen = picked
    if wanted_types:
        chosen = [a for a in chosen if a["type"] in wanted_types]
        for table in TABLES:
            if table not in wanted_types:
                out[table + "s"] = []
    out["assets"] = chosen
    return out


def _matches(asset: dict[str, Any], ask: str) -> bool:
    key = str(asset.get("key", "")).lower()
    text = ask.strip()
    plain = text.lower().replace("-", "")
    return (len(plain) == 32 and key.replace("-", "") == plain) or text == asset.get("virtual_path") \
        or text == asset.get("name")


def summary(model: dict[str, Any]) -> dict[str, Any]:
    """Counts and byte totals: ``assets`` per type (count, descriptor bytes), ``textures``
    per format (count, bytes), ``buffers`` (count, bytes), and the container's size."""
    assets: dict[str, dict[str, int]] = {}
    for a in model["assets"]:
        row = assets.setdefault(a["type"], {"count": 0, "bytes": 0})
        row["count"] += 1
        row["bytes"] += int(a.get("desc_size") or 0)
    formats: dict[str, dict[str, int]] = {}
    for t in model["textures"]:
        row = formats.setdefault(str(t.get("format_name", t.get("format"))), {"count": 0, "bytes": 0})
        row["count"] += 1
        row["bytes"] += int(t.get("size_bytes") or 0)
    buffers = {"count": len(model["buffers"]), "bytes": sum(int(b.get("size_bytes") or 0) for b in model["buffers"])}
    return {"kind": model["kind"], "path": model["path"], "size": model.get("size"),
            "assets": dict(sorted(assets.items())), "asset_count": len(model["assets"]),
            "textures": dict(sorted(formats.items())), "texture_count": len(model["textures"]),
            "texture_bytes": sum(r["bytes"] for r in formats.values()), "buffers": buffers}


def summary_lines(s: dict[str, Any]) -> Iterator[str]:
    size = f", {size_text(s['size'])}" if s.get("size") is not None else ""
    yield f"{s['kind']}: {s['path']}{size}"
    yield f"assets: {s['asset_count']}" + "".join(f"  {t} {r['count']}" for t, r in s["assets"].items())
    yield f"textures: {s['texture_count']} ({size_text(s['texture_bytes'])})"
    for fmt, r in s["textures"].items():
        yield f"  {fmt:<22} {r['count']:>6}  {size_text(r['bytes']):>10}"
    yield f"buffers: {s['buffers']['count']} ({size_text(s['buffers']['bytes'])})"


def overview_lines(model: dict[str, Any], width: int = 100) -> Iterator[str]:
    """The default text: a heading, then one line per asset, texture and buffer."""
    width = max(60, width)
    header = model.get("header") or {}
    bits = [f"{len(model['assets'])} assets", f"{len(model['textures'])} textures", f"{len(model['buffers'])} buffers"]
    if model.get("size") is not None:
        bits.append(size_text(model["size"]))
    if "content_version" in header:
        bits.append(f"content_version {header['content_version']}")
    rest = ": " + ", ".join(bits)
    lead = f"{model['kind']}: "
    yield lead + middle_cut(str(model["path"]), width - len(lead) - len(rest)) + rest
    if model["assets"]:
        yield f"assets ({len(model['assets'])}):"
        name_w = min(24, max(4, *(len(str(a.get('name') or '')) for a in model["assets"])))
        for a in sorted(model["assets"], key=lambda a: (a["type"], str(a.get("virtual_path") or a.get("name")))):
            key = str(a.get("key", ""))[:8]
            lead = f"  {a['type']:<8} {key}  {middle_cut(str(a.get('name') or '-'), name_w):<{name_w}}  "
            yield lead + middle_cut(str(a.get("virtual_path") or "-"), width - len(lead))
    if model["textures"]:
        yield f"textures ({len(model['textures'])}):"
        for n, t in enumerate(model["textures"]):
            dims = f"{t.get('width')}x{t.get('height')}" + (f"x{t['depth']}" if (t.get("depth") or 1) > 1 else "")
            layers = t.get("array_layers") or 1
            extra = f" {layers} layers" if layers > 1 else ""
            mips = t.get("mip_levels") or 1
            kind = str(t.get("texture_type_name", ""))
            yield (f"  #{n:<4} {dims:>11}  {str(t.get('format_name', t.get('format'))):<18} "
                   f"{mips:>2} mip{'s' if mips != 1 else ' '}{extra}  {size_text(int(t.get('size_bytes') or 0)):>10}"
                   f"{'  ' + kind if kind and kind != 'TEXTURE_2D' else ''}")[:width]
    if model["buffers"]:
        yield f"buffers ({len(model['buffers'])}):"
        for n, b in enumerate(model["buffers"]):
            yield (f"  #{n:<4} {size_text(int(b.get('size_bytes') or 0)):>10}  stride {b.get('element_stride')}  "
                   f"{b.get('element_format_name', b.get('element_format'))}  usage 0x{int(b.get('usage_flags') or 0):x}"
                   )[:width]


def tree_lines(value: Any, depth: int = 0, name: str = "", hash_fields: Iterable[str] = ()) -> Iterator[str]:
    """Every field, indented (the ``--full`` text)."""
    hashes = frozenset(hash_fields)
    pad = "  " * depth
    if isinstance(value, dict):
        if name:
            yield f"{pad}{name}:"
            depth += 1
        for key, item in value.items():
            yield from tree_lines(item, depth, str(key), hashes)
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        yield f"{pad}{name}: ({len(value)})"
        for n, item in enumerate(value):
            yield from tree_lines(item, depth + 1, f"[{n}]", hashes)
    else:
        text = "[" + ", ".join(_scalar(v) for v in value) + "]" if isinstance(value, list) else \
            _scalar(value, name in hashes)
        yield f"{pad}{name}: {text}"


def _scalar(value: Any, is_hash: bool = False) -> str:
    if is_hash and isinstance(value, str):
        return "0x" + value  # hashes read as hex numbers in the text output
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def middle_cut(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters by an ellipsis in the middle."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    left = (width - 3) // 2
    return text[:left] + "..." + text[len(text) - (width - 3 - left):]


def size_text(n: int | None) -> str:
    """``768 B``, ``32.3 KiB``, ``1.5 MiB``..."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"

