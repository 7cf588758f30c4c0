"""Per-asset settings from sidecar and folder files (like Unity's and Bevy's ``.meta``).

Two kinds of file, both TOML (read with :mod:`tomllib`):

- **Sidecar** ``NAME.EXT.oxy.toml`` beside the source (``brick.png.oxy.toml`` for
  ``brick.png``): every top-level key is a setting (``preset = "normal"``,
  ``quality = "high"``, ``mips = false``, ...). Tables are settings too (a model's
  ``[roles]``); they are returned as nested dicts for the caller to interpret.
  ``root`` and ``rules`` are refused in a sidecar (they belong in ``oxy.toml``).
- **Folder file** ``oxy.toml`` in the source's folder and in each ancestor folder, up
  to the file-system root or up to (and including) the first folder whose
  ``oxy.toml`` says ``root = true``. Only two top-level keys: ``root`` (a bool) and
  ``rules`` (``[[rules]]`` tables). A rule has a string ``glob``; its other keys are
  settings. A folder-wide setting is a rule with ``glob = "**"``.

**Precedence** (lowest first): the command line's values are the caller's base; then
folder files, farthest ancestor first and nearer ones over it; inside one file a later
matching rule over an earlier one; the sidecar over all folder rules. So the files
override the command line: they describe the asset, the command line the run.
Tables (``roles``) merge key by key; a table and a non-table replace each other whole.

**Globs** (:func:`glob_to_regex`; case-sensitive, not :mod:`fnmatch`, whose ``*``
crosses ``/``):

- no ``/`` in the pattern: matched against the file name (``*_normal.png``);
- with ``/``: matched against the path relative to that ``oxy.toml``'s folder, written
  with ``/`` (``ui/**``, ``textures/*.png``); a leading ``/`` is allowed and changes
  nothing (such patterns are always anchored to the folder);
- ``*`` any run of characters except ``/``; ``?`` one character except ``/``;
  ``[abc]``, ``[a-z]``, ``[!a-z]`` (or ``[^a-z]``) one character of (not of) a class,
  never ``/``; a ``[`` without its ``]`` is literal; ``\\`` makes the next character
  literal;
- ``**`` as a whole segment: ``**/`` zero or more folders (``**/*.png`` matches
  ``a.png`` and ``x/y/a.png``), a trailing ``/**`` everything below the folder, ``**``
  alone every path; ``**`` inside a segment (``a**b``) is the same as ``*``;
- a glob ending in ``/`` is refused (it would match no file: write ``ui/**``).

**What is read**: only the sidecar and the ``oxy.toml`` of each folder on the walk.
Paths are made absolute with :func:`os.path.abspath` (symlinks of sources are not
resolved). :attr:`SettingsLookup.consulted` lists every candidate looked at, present or
not, in search order: the sidecar, then ``oxy.toml`` from the source's folder upwards
to where the walk stopped. A caller that records their ``stat`` notices a file being
created, edited or deleted.

Origins (for ``oxy why``): ``/abs/oxy.toml:rules[2]`` (the 0-based index in the
``[[rules]]`` array) or ``/abs/brick.png.oxy.toml``; keys inside a table also appear
dotted (``roles.normal``).

Thread rules: plain blocking code; a :class:`SettingsFileCache` belongs to one thread.
Failure modes: :class:`SettingsFileError` for an unreadable or malformed file (names
the file, and line/column for TOML syntax errors); a missing file is no error.
"""
from __future__ import annotations

import copy
import difflib
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from oxy.errors import OxyError

FOLDER_FILE_NAME = "oxy.toml"
SIDECAR_SUFFIX = ".oxy.toml"
MAX_SETTINGS_FILE_BYTES = 1 << 20  # a settings file larger than this is refused, not parsed

_STRUCTURAL_TOP = ("root", "rules")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(eq=False)
class SettingsFileError(OxyError):
    """A settings file cannot be read or breaks the format. Printed as
    ``path:line:column: message`` (line and column when known)."""

    message: str
    path: str
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SettingsLookup:
    """The merged settings for one source (see the module docstring)."""

    settings: dict[str, Any]
    origins: dict[str, str]
    consulted: tuple[str, ...]


# ---------------------------------------------------------------- globs

def glob_to_regex(pattern: str) -> str:
    """The regular expression (for ``re.fullmatch``) of a glob; rules in the module docstring."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole_segment = j - i == 2 and (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if whole_segment and j == n:
                out.append(".*")
            elif whole_segment:
                out.append("(?:[^/]*/)*")
                j += 1  # the "/" after "**" is part of "zero or more folders"
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            cls, i = _glob_class(pattern, i)
            out.append(cls)
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _glob_class(pattern: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``start`` -> (regex, index after it); a literal ``[`` if unclosed."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    first = i
    while i < len(pattern) and (pattern[i] != "]" or i == first):
        i += 1
    if i >= len(pattern):
        return re.escape("["), start + 1
    body = pattern[first:i]
    parts = []
    for k, ch in enumerate(body):
        parts.append("-" if ch == "-" and 0 < k < len(body) - 1 else re.escape(ch))
    return f"(?![/])[{'^' if negate else ''}{''.join(parts)}]", i + 1


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The compiled :func:`glob_to_regex` of ``pattern`` (memoised)."""
    return re.compile(glob_to_regex(pattern.lstrip("/")), re.DOTALL)


def glob_matches(pattern: str, relpath: str) -> bool:
    """Whether a rule's ``pattern`` matches a source at ``relpath`` (``/``-separated,
    relative to the rule file's folder): the file name when the pattern has no ``/``."""
    subject = relpath if "/" in pattern else relpath.rsplit("/", 1)[-1]
    return compile_glob(pattern).fullmatch(subject) is not None


# ---------------------------------------------------------------- parsing

@dataclass(frozen=True)
class _Rule:
    glob: str
    index: int
    settings: dict[str, Any]


@dataclass(frozen=True)
class _FolderFile:
    path: str
    root: bool
    rules: tuple[_Rule, ...]


def _read_toml(path: str) -> dict[str, Any] | None:
    """The parsed file, or None when there is no file at ``path``."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SETTINGS_FILE_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise SettingsFileError(f"cannot read: {exc.strerror or exc}", path) from exc
    if len(data) > MAX_SETTINGS_FILE_BYTES:
        raise SettingsFileError(f"larger than {MAX_SETTINGS_FILE_BYTES} bytes", path)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SettingsFileError(f"not UTF-8 text (byte {exc.start})", path) from exc
    except tomllib.TOMLDecodeError as exc:
        line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        text = str(getattr(exc, "msg", None) or exc)
        found = _TOML_POSITION.search(text)
        if found:
            line, column = int(found.group(1)), int(found.group(2))
            text = text[:found.start()].rstrip()
        raise SettingsFileError(f"TOML syntax error: {text}", path, line, column) from exc


def _parse_folder_file(path: str) -> _FolderFile | None:
    doc = _read_toml(path)
    if doc is None:
        return None
    for key in doc:
        if key not in _STRUCTURAL_TOP:
            raise SettingsFileError(f"unknown top-level key {key!r}: {FOLDER_FILE_NAME} holds only 'root' and "
                                    f"[[rules]] (a folder-wide setting is a rule with glob = \"**\")", path)
    root = doc.get("root", False)
    if not isinstance(root, bool):
        raise SettingsFileError(f"'root' must be true or false, not {type(root).__name__}", path)
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise SettingsFileError("'rules' must be an array of tables ([[rules]])", path)
    rules = []
    for index, item in enumerate(raw_rules):
        if not isinstance(item, dict):
            raise SettingsFileError(f"rules[{index}] is a {type(item).__name__}, not a table ([[rules]])", path)
        glob = item.get("glob")
        if not isinstance(glob, str) or not glob.strip("/"):
            problem = "has no 'glob'" if glob is None else "has a 'glob' that is not a non-empty string"
            raise SettingsFileError(f"rules[{index}] {problem}", path)
        if glob.endswith("/"):
            raise SettingsFileError(f"rules[{index}] glob {glob!r} ends with '/' and would match no file; "
                                    f"write {glob + '**'!r}", path)
        rules.append(_Rule(glob, index, {k: v for k, v in item.items() if k != "glob"}))
    return _FolderFile(path, root, tuple(rules))


def _parse_sidecar(path: str) -> dict[str, Any] | None:
    doc = _read_toml(path)
    if doc is None:
        return None
    for key in _STRUCTURAL_TOP:
        if key in doc:
            raise SettingsFileError(f"{key!r} belongs in a folder's {FOLDER_FILE_NAME}, not in a sidecar", path)
    return doc


def _check_allowed(path: str, keys: Any, allowed: frozenset[str], where: str = "") -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known settings: {', '.join(sorted(allowed))}"
            raise SettingsFileError(f"unknown setting {key!r}{where}{hint}", path)


# ---------------------------------------------------------------- the cache and the walk

@dataclass
class SettingsFileCache:
    """A per-run memo: each ``oxy.toml`` parsed once, each folder walked once. A plain
    dict, for one thread; drop it when the run ends (it never notices edits)."""

    files: dict[str, _FolderFile | None] = field(default_factory=dict)
    chains: dict[str, tuple[tuple[str, ...], tuple[_FolderFile, ...]]] = field(default_factory=dict)
    checked: set[tuple[str, frozenset[str]]] = field(default_factory=set)

    def folder_file(self, path: str) -> _FolderFile | None:
        if path not in self.files:
            self.files[path] = _parse_folder_file(path)
        return self.files[path]

    def chain(self, folder: str) -> tuple[tuple[str, ...], tuple[_FolderFile, ...]]:
        """(candidates nearest first, present files nearest first) for ``folder``'s walk."""
        pending: list[str] = []
        tail: tuple[tuple[str, ...], tuple[_FolderFile, ...]] = ((), ())
        d = folder
        while True:
            if d in self.chains:
                tail = self.chains[d]
                break
            pending.append(d)
            here = self.folder_file(os.path.join(d, FOLDER_FILE_NAME))
            parent = os.path.dirname(d)
            if (here is not None and here.root) or parent == d:
                break
            d = parent
        for d in reversed(pending):
            candidate = os.path.join(d, FOLDER_FILE_NAME)
            here = self.folder_file(candidate)
            tail = ((candidate,) + tail[0], ((here,) if here is not None else ()) + tail[1])
            self.chains[d] = tail
        return tail

    def check(self, folder_file: _FolderFile, allowed: frozenset[str]) -> None:
        key = (folder_file.path, allowed)
        if key not in self.checked:
            for rule in folder_file.rules:
                _check_allowed(folder_file.path, rule.settings, allowed, f" in rules[{rule.index}]")
            self.checked.add(key)


# ---------------------------------------------------------------- merging

def _merge(into: dict[str, Any], origins: dict[str, str], values: dict[str, Any], origin: str,
           prefix: str = "") -> None:
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            origins[name] = origin
            _merge(into[key], origins, value, origin, name + ".")
            continue
        for stale in [k for k in origins if k.startswith(name + ".")]:
            del origins[stale]
        origins[name] = origin
        if isinstance(value, dict):
            into[key] = {}
            _merge(into[key], origins, value, origin, name + ".")
        else:
            into[key] = copy.deepcopy(value)


def settings_for_source(path: str, *, allowed: frozenset[str] | None = None,
                        cache: SettingsFileCache | None = None) -> SettingsLookup:
    """The settings the files give ``path`` (see the module docstring for the rules).

    ``allowed``: when given, a setting key outside it (in the sidecar or in any rule of
    any folder file on the walk, matching or not) raises :class:`SettingsFileError`
    with the closest allowed key. Only top-level setting names are checked; the keys
    of a table such as ``roles`` are the caller's to check.
    """
    cache = cache if cache is not None else SettingsFileCache()
    source = os.path.abspath(path)
    sidecar_path = source + SIDECAR_SUFFIX
    candidates, present = cache.chain(os.path.dirname(source))
    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for folder_file in reversed(present):  # farthest first: nearer files override
        if allowed is not None:
            cache.check(folder_file, allowed)
        relpath = os.path.relpath(source, os.path.dirname(folder_file.path)).replace(os.sep, "/")
        for rule in folder_file.rules:
            if glob_matches(rule.glob, relpath):
                _merge(settings, origins, rule.settings, f"{folder_file.path}:rules[{rule.index}]")
    sidecar = _parse_sidecar(sidecar_path)
    if sidecar is not None:
        if allowed is not None:
            _check_allowed(sidecar_path, sidecar, allowed)
        _merge(settings, origins, sidecar, sidecar_path)
    return SettingsLookup(settings, origins, (sidecar_path,) + candidates)
