"""Frozen dataclass views and numpy dtypes derived from construct declarations.

Each fixed-size struct of the formats is declared exactly once, as a
``construct.Struct``. :func:`struct_view` turns that declaration into a frozen
dataclass (field names, order and nesting taken from the struct) with ``parse``,
``build`` and ``to_dict``; :func:`numpy_dtype` turns it into a packed numpy
structured dtype so that tables of 100,000 entries parse in one call.

Magic (``Const``) fields are checked on parse and written on build but are not
view fields. Views are immutable: safe to share between threads.
"""
from __future__ import annotations

import dataclasses
import struct as _struct
import types
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import construct as c
import numpy as np

from oxy.errors import FormatError
from oxy.formats.primitives import AssetKey

_VIEW_OF_STRUCT: dict[int, type["StructView"]] = {}


def _unwrap(con: c.Construct) -> c.Construct:
    """Strip naming/default wrappers down to the construct that defines the bytes."""
    while isinstance(con, (c.Renamed, c.Default, c.Transformed)) or type(con) is c.Subconstruct:
        con = con.subcon
    return con


def _is_const(con: c.Construct) -> bool:
    while isinstance(con, c.Renamed):
        con = con.subcon
    return isinstance(con, c.Const)


class StructView:
    """Base of the views. ``class V(StructView, struct=S)`` makes ``V`` a frozen,
    keyword-only dataclass with the fields of the construct struct ``S``, in order:
    the layout is declared once, in ``S``.

    Static checkers see the fields only as ``Any`` (they exist at run time).
    """

    STRUCT: ClassVar[c.Struct]
    SIZE: ClassVar[int]

    if TYPE_CHECKING:
        def __init__(self, **fields: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

    def __init_subclass__(cls, struct: c.Struct | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if struct is not None:
            _make_view(cls, struct)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, offset: int = 0, *,
              path: str = "<bytes>", field: str = "") -> Any:
        """Parse one struct at ``offset`` of ``data``.

        Raises :class:`FormatError` naming ``path``, the absolute offset and the field
        path when the bytes are short or a magic value does not match.
        """
        end = offset + cls.SIZE
        if offset < 0 or end > len(data):
            raise FormatError(
                f"{cls.__name__} needs {cls.SIZE} bytes at offset {offset}, "
                f"the data holds {max(0, len(data) - offset)}",
                path, offset, field or cls.__name__,
            )
        fast = cls._FAST
        if fast is not None:
            value = fast.unpack(data, offset)
            if value is not None:
                return value
        try:
            container = cls.STRUCT.parse(bytes(data[offset:end]))
        except c.ConstructError as exc:
            raise FormatError(_construct_reason(exc), path, offset,
                              _join(field or cls.__name__, _construct_path(exc))) from None
        return cls.from_container(container)

    @classmethod
    def from_container(cls, container: Any) -> Any:
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            values[f.name] = _to_view_value(cls._SUBVIEWS.get(f.name), container[f.name])
        return cls(**values)

    def __post_init__(self) -> None:
        # Nested struct fields may be given as dicts (or lists of dicts); store views.
        for fname, view in self._SUBVIEWS.items():
            value = getattr(self, fname)
            if isinstance(value, dict):
                object.__setattr__(self, fname, view(**value))
            elif isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value):
                object.__setattr__(self, fname, tuple(view(**v) if isinstance(v, dict) else v for v in value))

    def build(self) -> bytes:
        """Serialise to exactly ``SIZE`` bytes (through the struct-module fast path when
        the declaration allows one; anything it does not accept, such as an out-of-range
        value or a name too long, is built by construct, which names the field)."""
        fast = self._FAST_BUILD
        if fast is not None:
            try:
                return fast.pack(self)
            except Exception:  # noqa: BLE001 - construct below reports it precisely
                pass
        try:
            return self.STRUCT.build(self._to_build_dict())
        except c.ConstructError as exc:
            raise FormatError(_construct_reason(exc), "<build>", None,
                              _join(type(self).__name__, _construct_path(exc))) from None

    def _to_build_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _to_build_value(getattr(self, f.name))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: keys as text, bytes as hex, nested views as dicts."""
        return {f.name: _jsonable(getattr(self, f.name))
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    _SUBVIEWS: ClassVar[dict[str, type["StructView"]]] = {}
    _FAST: ClassVar["_FastCodec | None"] = None
    _FAST_BUILD: ClassVar["_FastBuilder | None"] = None


def struct_view(name: str, struct: c.Struct, doc: str = "") -> type[StructView]:
    """A view class for ``struct`` made at run time (for nested anonymous structs);
    named views are declared as ``class Name(StructView, struct=...)``."""
    def body(ns: dict[str, Any]) -> None:
        ns["__doc__"] = doc or f"View of the {struct.sizeof()}-byte {name} struct."
        ns["__module__"] = "oxy.formats"
    return types.new_class(name, (StructView,), {"struct": struct}, body)


def _make_view(cls: type[StructView], struct: c.Struct) -> None:
    """Turn ``cls`` into a frozen keyword-only dataclass with the fields of ``struct``."""
    annotations: dict[str, Any] = {}
    subviews: dict[str, type[StructView]] = {}
    for sub in struct.subcons:
        if not sub.name or _is_const(sub):
            continue
        inner = _unwrap(sub)
        element = _unwrap(inner.subcon) if isinstance(inner, c.Array) else inner
        view = _VIEW_OF_STRUCT.get(id(element))
        if view is None and isinstance(element, c.Struct):
            view = struct_view(f"{cls.__name__}_{sub.name}", element, f"The {sub.name} part of {cls.__name__}.")
        if view is not None:
            subviews[sub.name] = view
        default = _default_of(sub)
        annotations[sub.name] = Any
        setattr(cls, sub.name, dataclasses.field(kw_only=True) if default is _NO
                else dataclasses.field(default=default, kw_only=True))
    cls.__annotations__ = annotations
    dataclasses.dataclass(frozen=True)(cls)
    cls.STRUCT = struct
    cls.SIZE = struct.sizeof()
    cls._SUBVIEWS = subviews
    if not cls.__doc__:
        cls.__doc__ = f"View of the {struct.sizeof()}-byte {cls.__name__} struct."
    _VIEW_OF_STRUCT[id(struct)] = cls
    cls._FAST = _FastCodec.for_struct(struct, cls)
    cls._FAST_BUILD = _FastBuilder.for_struct(struct) if cls._FAST is not None else None


_NO = object()


def _default_of(sub: c.Construct) -> Any:
    con = sub
    while isinstance(con, c.Renamed):
        con = con.subcon
    return con.value if isinstance(con, c.Default) else _NO


def _to_view_value(view: type[StructView] | None, value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_to_view_value(view, v) for v in value)
    if view is not None and isinstance(value, dict):
        return view.from_container(value)
    return value


def _to_build_value(value: Any) -> Any:
    if isinstance(value, StructView):
        return value._to_build_dict()
    if isinstance(value, tuple):
        return [_to_build_value(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, StructView):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, AssetKey):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _construct_path(exc: c.ConstructError) -> str:
    path = getattr(exc, "path", None) or ""
    parts = [p.strip() for p in path.replace("(parsing)", "").replace("(building)", "").split("->")]
    return ".".join(p for p in parts if p)


def _construct_reason(exc: c.ConstructError) -> str:
    text = str(exc)
    return text.split("\n", 1)[1].strip() if "\n" in text else text


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a and b else a or b


# ------------------------------------------------------------------ numpy dtypes
_FORMAT_CODES = {"B": "u1", "b": "i1", "H": "<u2", "h": "<i2", "I": "<u4", "L": "<u4",
                 "i": "<i4", "l": "<i4", "Q": "<u8", "q": "<i8", "e": "<f2", "f": "<f4",
                 "d": "<f8"}


def numpy_dtype(struct: c.Struct) -> np.dtype:
    """A packed numpy structured dtype with the same fields and offsets as ``struct``.

    Names and ``char[N]`` fields become raw byte fields (``V`` or ``u1`` arrays); magic
    fields are included under their names so they can be checked vectorised.
    """
    names, formats, offsets = [], [], []
    offset = 0
    for sub in struct.subcons:
        size = sub.sizeof()
        if sub.name:
            names.append(sub.name)
            formats.append(_numpy_field(sub))
            offsets.append(offset)
        offset += size
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": offset})


def _numpy_field(sub: c.Construct) -> Any:
    con = sub
    while isinstance(con, (c.Renamed, c.Default, c.Adapter, c.Const)):
        con = con.subcon
    if isinstance(con, c.FormatField):
        return _FORMAT_CODES[con.fmtstr.lstrip("<>=!")]
    if isinstance(con, c.Array):
        return (_numpy_field(con.subcon), (con.count,))
    if isinstance(con, c.Struct):
        return numpy_dtype(con)
    return ("u1", (sub.sizeof(),))


# ------------------------------------------------------------- fast parse path
class _Unsupported(Exception):
    pass


class _FastCodec:
    """A ``struct.Struct`` plus a generated function that builds the view, both derived
    from a construct declaration.

    It parses the same bytes to the same view several times faster than construct's
    interpreter. A magic mismatch makes :meth:`unpack` return None so that the caller
    re-parses with construct and reports the precise error.
    """

    __slots__ = ("_struct", "_build")

    def __init__(self, fmt: str, build: Any) -> None:
        self._struct = _struct.Struct("<" + fmt)
        self._build = build

    @classmethod
    def for_struct(cls, struct: c.Struct, view: type[StructView]) -> "_FastCodec | None":
        namespace: dict[str, Any] = {}
        try:
            fmt, guards, expr, _width = _gen_struct(struct, view, 0, namespace)
        except _Unsupported:
            return None
        lines = ["def build(it):"] + [f"    if {g}: return None" for g in guards] + [f"    return {expr}"]
        exec(compile("\n".join(lines), f"<fast parser of {view.__name__}>", "exec"), namespace)
        return cls(fmt, namespace["build"])

    def unpack(self, data: bytes | bytearray | memoryview, offset: int) -> Any:
        return self._build(self._struct.unpack_from(data, offset))


def _gen_struct(struct: c.Struct, view: type[StructView] | None, at: int,
                ns: dict[str, Any]) -> tuple[str, list[str], str, int]:
    """Format string, magic guards, constructor expression and item count for ``struct``."""
    if view is None:
        raise _Unsupported("nested struct without a view")
    fmt, guards, args, start = [], [], [], at
    for sub in struct.subcons:
        code, sub_guards, expr, width = _gen_field(sub, at, ns)
        fmt.append(code)
        guards += sub_guards
        if sub.name and not _is_const(sub):
            args.append(f"{sub.name!r}: {expr}")
        at += width
    ns_name = f"_V{len(ns)}"
    ns[ns_name] = view
    ns["_new"] = _new_view
    return "".join(fmt), guards, f"_new({ns_name}, {{{', '.join(args)}}})", at - start


def _gen_field(con: c.Construct, at: int, ns: dict[str, Any]) -> tuple[str, list[str], str, int]:
    from oxy.formats import primitives as p

    while isinstance(con, (c.Renamed, c.Default)):
        con = con.subcon
    if isinstance(con, c.Const):
        code, guards, expr, width = _gen_field(con.subcon, at, ns)
        name = f"_C{len(ns)}"
        ns[name] = con.value
        return code, guards + [f"{expr} != {name}"], expr, width
    if isinstance(con, c.FormatField):
        return con.fmtstr.lstrip("<>=!"), [], f"it[{at}]", 1
    if type(con) is c.Bytes:
        return f"{con.sizeof()}s", [], f"it[{at}]", 1
    if isinstance(con, p._CNameAdapter):
        ns["_name"] = _decode_name
        return f"{con.sizeof()}s", [], f"_name(it[{at}])", 1
    if isinstance(con, p._AssetKeyAdapter):
        ns["_Key"] = p.AssetKey
        return f"{con.sizeof()}s", [], f"_Key(it[{at}])", 1
    if isinstance(con, p._Unorm16Adapter):
        return "H", [], f"it[{at}] / 65535.0", 1
    if isinstance(con, p._HalfAdapter):
        return "e", [], f"it[{at}]", 1
    if isinstance(con, c.Array) and isinstance(con.count, int):
        code, guards, _expr, width = _gen_field(con.subcon, at, ns)
        if guards:
            raise _Unsupported("array of magic values")
        exprs = [_gen_field(con.subcon, at + i * width, ns)[2] for i in range(con.count)]
        return code * con.count, [], "(" + ", ".join(exprs) + ",)", width * con.count
    if isinstance(con, c.Struct):
        return _gen_struct(con, _VIEW_OF_STRUCT.get(id(con)), at, ns)
    raise _Unsupported(type(con).__name__)


# ------------------------------------------------------------- fast build path
_Flatten = Callable[[Any, list], None]


class _FastBuilder:
    """The inverse of :class:`_FastCodec`: flattens a view's values in declaration order
    (adapters encode through their own ``_encode``; constants are their value) and packs
    them with one ``struct.Struct``. Raises (struct.error, ValueError, TypeError,
    construct errors) for anything construct must judge; the caller then builds with
    construct."""

    __slots__ = ("_struct", "_flatten")

    def __init__(self, fmt: str, flatten: _Flatten) -> None:
        self._struct = _struct.Struct("<" + fmt)
        self._flatten = flatten

    @classmethod
    def for_struct(cls, struct: c.Struct) -> "_FastBuilder | None":
        try:
            fmt, flatten = _pack_struct(struct)
        except _Unsupported:
            return None
        return cls(fmt, flatten)

    def pack(self, view: Any) -> bytes:
        values: list = []
        self._flatten(view, values)
        return self._struct.pack(*values)


def _pack_struct(struct: c.Struct) -> tuple[str, _Flatten]:
    parts = []
    for sub in struct.subcons:
        code, field_flatten = _pack_field(sub)
        if sub.name and not _is_const(sub):
            parts.append((code, _from_attr(sub.name, field_flatten)))
        else:
            parts.append((code, field_flatten))
    fmt = "".join(code for code, _ in parts)
    flatteners = [f for _, f in parts]

    def flatten(value: Any, out: list) -> None:
        for f in flatteners:
            f(value, out)
    return fmt, flatten


def _from_attr(name: str, flatten: _Flatten) -> _Flatten:
    def get(view: Any, out: list) -> None:
        flatten(view[name] if isinstance(view, dict) else getattr(view, name), out)
    return get


def _pack_field(con: c.Construct) -> tuple[str, _Flatten]:
    from oxy.formats import primitives as p

    while isinstance(con, (c.Renamed, c.Default)):
        con = con.subcon
    if isinstance(con, c.Const):
        code, flatten = _pack_field(con.subcon)
        constant = con.value
        return code, lambda _value, out: flatten(constant, out)
    if isinstance(con, c.FormatField):
        return con.fmtstr.lstrip("<>=!"), _append
    if type(con) is c.Bytes:
        size = con.sizeof()
        return f"{size}s", lambda value, out: out.append(_exact_bytes(value, size))
    if isinstance(con, (p._CNameAdapter, p._AssetKeyAdapter, p._Unorm16Adapter, p._HalfAdapter)):
        code, flatten = _pack_field(con.subcon)
        adapter = con
        return code, lambda value, out: flatten(adapter._encode(value, None, ""), out)
    if isinstance(con, c.Array) and isinstance(con.count, int):
        code, item_flatten = _pack_field(con.subcon)
        count = con.count

        def each(value: Any, out: list) -> None:
            if len(value) != count:
                raise ValueError(f"{len(value)} items for an array of {count}")
            for item in value:
                item_flatten(item, out)
        return code * count, each
    if isinstance(con, c.Struct):
        return _pack_struct(con)
    raise _Unsupported(type(con).__name__)


def _append(value: Any, out: list) -> None:
    out.append(value)


def _exact_bytes(value: Any, size: int) -> bytes:
    data = bytes(value)
    if len(data) != size:  # struct would pad or cut silently; construct refuses
        raise ValueError(f"{len(data)} bytes for a field of {size}")
    return data


def _new_view(view: type[StructView], values: dict[str, Any]) -> StructView:
    """Make a view from final field values without running the dataclass __init__
    (the fast parser's values are already views, tuples and numbers)."""
    obj = object.__new__(view)
    obj.__dict__.update(values)
    return obj


def _decode_name(raw: bytes) -> str:
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")
