"""What a cooked root already holds, read at the start of an import session.

Log-structured re-import keeps every existing table entry (old descriptors still
reference them) and appends after the data that the current index records. Data
files grow only inside a journaled commit (:mod:`oxy.build.commit`), which recovery
undoes after a crash; a data file longer than its index (an older oxy's crash, or a
copy made mid-commit) is truncated back by recovery so the index stays true, and a
shorter one is refused (:func:`check_data_sizes`). An existing index
that does not parse is an error: the session refuses to touch that root.

Call only from the session's thread (the import hub or the sync facade's caller).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from oxy.build.records import NO_INDEX
from oxy.errors import FormatError, OxyError
from oxy.formats import FileKind, IndexAsset, LooseIndex, parse_index
from oxy.formats.loose import DEFAULT_RELPATHS, INDEX_FILE_NAME
from oxy.formats.resources import BUFFER_DESC_SIZE, TEXTURE_DESC_SIZE
from oxy.importing.session_io import SessionIO
from oxy.rootfs import RootEscapeError, resolve_inside



class RootStateError(OxyError):
    """The existing root cannot be appended to (names the file and the reason)."""


@dataclass
class RootState:
    root: str
    index: LooseIndex | None
    relpaths: dict[int, str]
    sizes: dict[int, int]                      # recorded (valid) sizes per FileKind
    texture_table: bytes = b""                 # the existing entries, raw (kept, never re-parsed)
    buffer_table: bytes = b""
    resolved: dict[int, str] = field(default_factory=dict)  # per FileKind, checked inside the root
    index_sha256: str = NO_INDEX                # SHA-256 of the index bytes (names the build-records generation)

    @property
    def assets(self) -> tuple[IndexAsset, ...]:
        return self.index.assets if self.index else ()

    def path(self, kind: int) -> str:
        """The absolute path of a file kind (resolved, and found inside the root, once
        by :func:`load_root_state`: no file-system call here)."""
        return self.resolved[kind]


def _resolve_all(root: str, relpaths: dict[int, str]) -> dict[int, str]:
    """Every file kind's resolved path; RootEscapeError when one leads out of the root."""
    return {kind: resolve_inside(root, rel) for kind, rel in relpaths.items()}


def load_root_state(io: SessionIO, root: str) -> RootState:
    """Read the index and tables of ``root`` (empty state when there is no index).
    Raises RootStateError for an unreadable index or tables, or any of the root's
    files resolving outside it (a symlinked ``textures.data`` or ``Resources/``)."""
    try:
        return _load_root_state(io, root)
    except RootEscapeError as exc:
        raise RootStateError(f"refusing to cook into this root: {exc}") from None


def _load_root_state(io: SessionIO, root: str) -> RootState:
    index_path = io.blocking(resolve_inside, root, INDEX_FILE_NAME)  # path resolution: file-system calls
    raw = io.read(index_path)
    if raw is None:
        relpaths = dict(DEFAULT_RELPATHS)
        return RootState(root, None, relpaths, {k: 0 for k in DEFAULT_RELPATHS},
                         resolved=io.blocking(_resolve_all, root, relpaths))
    try:
        index = parse_index(raw, path=index_path)
    except FormatError as exc:
        raise RootStateError(f"existing index is invalid, refusing to append: {exc}") from None
    relpaths, sizes = dict(DEFAULT_RELPATHS), {k: 0 for k in DEFAULT_RELPATHS}
    for record in index.files:
        relpaths[record.kind], sizes[record.kind] = record.relpath, record.size
    # every file the session may touch must stay inside the root
    state = RootState(root, index, relpaths, sizes, resolved=io.blocking(_resolve_all, root, relpaths),
                      index_sha256=hashlib.sha256(raw).hexdigest())
    for kind, size, attr in ((FileKind.TEXTURES_TABLE, TEXTURE_DESC_SIZE, "texture_table"),
                             (FileKind.BUFFERS_TABLE, BUFFER_DESC_SIZE, "buffer_table")):
        if not sizes[kind]:
            continue
        table = io.read(state.path(kind))
        if table is None or len(table) < sizes[kind] or sizes[kind] % size:
            raise RootStateError(f"{state.path(kind)}: the index records {sizes[kind]} bytes, the file has "
                                 f"{'none' if table is None else len(table)}; refusing to append")
        setattr(state, attr, table[:sizes[kind]])
    return state


def check_data_sizes(io: SessionIO, state: RootState) -> None:
    """Refuse a root whose data file is shorter than its index records (the committed
    payloads are gone; appending would bury the damage). Longer files were already
    truncated by recovery (:func:`oxy.build.journal.truncate_tails`)."""
    for kind in (FileKind.TEXTURES_DATA, FileKind.BUFFERS_DATA):
        path = state.path(kind)
        actual = io.size(path)
        if actual is not None and actual < state.sizes[kind]:
            raise RootStateError(f"{path}: the index records {state.sizes[kind]} bytes, the file has {actual}; "
                                 "refusing to append")
