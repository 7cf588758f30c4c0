"""ImportSession: one job's view of a cooked root, from open to finalize.

It owns the lazily created emitters, collects diagnostics, and commits:
``finalize()`` waits for every pending write, writes the tables, registers the
data/table files with their on-disk sizes and the descriptors with size and SHA-256,
then writes ``container.index.bin`` **last** (temporary file, fsync, atomic rename).

Until that rename the previous index stays the root's truth: descriptors and tables
go to temporary names, data is appended past the recorded ends, and ``abort()`` (on
cancel or failure) truncates the data files back and removes the temporaries. Only
the few renames just before the index rename touch files the old index names.

Thread rules: use a session from one thread (a greenlet on the import hub with
:class:`HubSessionIO`, or any one thread with :class:`DirectSessionIO`).
"""
from __future__ import annotations

import itertools
import os
import uuid
from typing import Callable

from oxy.formats import FileKind, IndexAsset, IndexFile, LooseIndex, build_index
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.importing.emitters import TEMP_SUFFIX, AssetEmitter, BufferEmitter, EmitError, TextureEmitter
from oxy.importing.root_state import RootState, RootStateError, load_root_state, repair_tails
from oxy.importing.session_io import DirectSessionIO, SessionIO, SessionIOError
from oxy.importing.types import ImportDiagnostic, ImportReport, ImportRequest, Severity

_session_ids = itertools.count(1)
Diagnose = Callable[[Severity, str, str, str], object]


class ImportSession:
    """A job's writes into one cooked root. Call :meth:`open` first, then emit, then
    :meth:`finalize` (or :meth:`abort`). Usable as a context manager: leaving it
    without a successful finalize aborts."""

    def __init__(self, root: str, io: SessionIO, *, source_path: str = "",
                 diagnose: Diagnose | None = None, source_key: bytes | None = None) -> None:
        self.root = os.path.abspath(root)
        self.source_path = source_path
        self.diagnostics: list[ImportDiagnostic] = []
        self._io = io
        self._diagnose_hook = diagnose
        self._source_key = source_key
        self._tag = f"{os.getpid()}-{next(_session_ids)}"
        self._state: RootState | None = None
        self._unlock: Callable[[], None] | None = None
        self._textures: TextureEmitter | None = None
        self._buffers: BufferEmitter | None = None
        self._assets: AssetEmitter | None = None
        self._io_errors = 0
        self._finished = False
        self._backups: list[tuple[str, bytes | None]] = []

    # -- lifecycle ----------------------------------------------------------------------
    def open(self) -> "ImportSession":
        """Lock the root, read its index and tables, repair a crashed session's tail.
        Raises RootStateError or SessionIOError (the root is left untouched)."""
        self._unlock = self._io.lock_root(self.root)
        try:
            self._state = load_root_state(self._io, self.root)
            for note in repair_tails(self._io, self._state):
                self.diagnose(Severity.INFO, "session.repaired_tail", note)
        except BaseException:
            self._release()
            raise
        return self

    def __enter__(self) -> "ImportSession":
        return self.open() if self._state is None else self

    def __exit__(self, *exc: object) -> None:
        if not self._finished:
            self.abort()

    @property
    def state(self) -> RootState:
        if self._state is None:
            raise RuntimeError("ImportSession.open() was not called")
        return self._state

    # -- emitters (created on first use) -----------------------------------------------
    @property
    def textures(self) -> TextureEmitter:
        if self._textures is None:
            s = self.state
            self._textures = TextureEmitter(self._io, s.path(FileKind.TEXTURES_DATA), s.texture_table,
                                            s.sizes[FileKind.TEXTURES_DATA], self._write_failed)
        return self._textures

    @property
    def buffers(self) -> BufferEmitter:
        if self._buffers is None:
            s = self.state
            self._buffers = BufferEmitter(self._io, s.path(FileKind.BUFFERS_DATA), s.buffer_table,
                                          s.sizes[FileKind.BUFFERS_DATA], self._write_failed)
        return self._buffers

    @property
    def assets(self) -> AssetEmitter:
        if self._assets is None:
            self._assets = AssetEmitter(self._io, self.root, self._tag)
        return self._assets

    # -- diagnostics ----------------------------------------------------------------------
    def diagnose(self, severity: Severity, code: str, message: str, field_path: str = "") -> None:
        self.diagnostics.append(ImportDiagnostic(severity, code, message, self.source_path, field_path))
        if self._diagnose_hook is not None:
            self._diagnose_hook(severity, code, message, field_path)

    @property
    def has_errors(self) -> bool:
        return self._io_errors > 0 or any(d.severity is Severity.ERROR for d in self.diagnostics)

    def _write_failed(self, message: str) -> None:
        self._io_errors += 1
        self.diagnose(Severity.ERROR, "session.write_failed", message)

    # -- commit -------------------------------------------------------------------------
    def finalize(self) -> bool:
        """Commit everything; True on success. On any error the root is rolled back to
        its previous index and False is returned (the reason is a diagnostic)."""
        if self._finished:
            raise RuntimeError("session already finished")
        try:
            self._io.flush()
        except SessionIOError as exc:
            self.diagnose(Severity.ERROR, "session.write_failed", str(exc))
        if self.has_errors:
            self.abort()
            return False
        # The point of no return: once committing starts, a cancel waits for the commit
        # to end (it would otherwise leave renames half done); the cancel then arrives
        # after a successful commit, and the root holds the new, valid index.
        committed = self._io.shielded(self._commit_or_roll_back)
        return committed

    def _commit_or_roll_back(self) -> bool:
        try:
            self._commit()
        except (SessionIOError, EmitError, RootStateError) as exc:
            self.diagnose(Severity.ERROR, "session.finalize_failed", str(exc))
            self.abort()
            return False
        self._finished = True
        self._release()
        return True

    def _commit(self) -> None:
        state = self.state
        if self._assets is not None and self._assets.count and self._textures is None and not state.texture_table:
            self.textures.ensure_fallback()  # materials may name texture 0: it must exist
            self._io.flush()
        staged = self._stage_tables(state)
        staged += [(a.temp_path, os.path.join(self.root, a.relpath)) for a in self._emitted()]
        # Keep what each rename replaces, so abort() can put the previous root back.
        self._backups = [(final, self._io.read(final)) for _temp, final in staged]
        for temp, final in staged:
            self._io.rename(temp, final)
        files = self._register_files(state)
        assets = {a.key: a for a in state.assets}
        for emitted in self._emitted():
            assets[emitted.key] = IndexAsset(emitted.key, emitted.asset_type, emitted.relpath,
                                             emitted.virtual_path, emitted.size, emitted.sha256)
        guid = self._source_key or (state.index.guid if state.index else uuid.uuid4().bytes)
        if not any(guid):
            guid = b"\x01" + bytes(guid[1:])
        index = LooseIndex(guid, state.index.content_version if state.index else 0,
                           tuple(assets.values()), tuple(files))
        blob = self._io.compute(build_index, index)  # CPU work: off the hub thread in the hub form
        self._io.write_file(os.path.join(self.root, INDEX_FILE_NAME), blob, atomic=True)
        self._backups = []

    def _emitted(self) -> list:
        return self._assets.assets() if self._assets is not None else []

    def _data_emitters(self) -> list[tuple[TextureEmitter | BufferEmitter, int, int]]:
        pairs: tuple[tuple[TextureEmitter | BufferEmitter | None, int, int], ...] = (
            (self._textures, FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA),
            (self._buffers, FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA))
        return [(e, t, d) for e, t, d in pairs if e is not None and e.new_count]

    def _stage_tables(self, state: RootState) -> list[tuple[str, str]]:
        """Write each changed table whole, to a temporary name."""
        staged = []
        for emitter, table_kind, _data_kind in self._data_emitters():
            table_path = state.path(table_kind)
            temp = f"{table_path}{TEMP_SUFFIX}{self._tag}"
            self._io.write_file(temp, emitter.table_bytes())
            staged.append((temp, table_path))
        return staged

    def _register_files(self, state: RootState) -> list[IndexFile]:
        """Every table and data file with its on-disk size (read back, not assumed)."""
        by_kind = {f.kind: f for f in (state.index.files if state.index else ())}
        for emitter, table_kind, data_kind in self._data_emitters():
            for kind in (table_kind, data_kind):
                size = self._io.size(state.path(kind))
                if size is None:
                    raise SessionIOError(state.path(kind), "missing after writing")
                by_kind[kind] = IndexFile(kind, state.relpaths[kind], size)
            if by_kind[data_kind].size != emitter.data_file_size:
                raise SessionIOError(emitter.data_path, f"{by_kind[data_kind].size} bytes on disk, "
                                     f"{emitter.data_file_size} expected")
        return sorted(by_kind.values(), key=lambda f: f.kind)

    def abort(self) -> None:
        """Undo everything this session wrote; the previous index stays valid. Idempotent."""
        if self._finished:
            return
        self._finished = True
        try:
            self._io.cancel_all()
            try:
                self._io.flush()
            except SessionIOError:
                pass  # failures of cancelled writes do not matter: the tail is truncated below
            if self._state is not None:
                for emitter, kind in ((self._textures, FileKind.TEXTURES_DATA), (self._buffers, FileKind.BUFFERS_DATA)):
                    if emitter is not None:
                        self._io.truncate(emitter.data_path, self._state.sizes[kind])
                for final, previous in self._backups:  # undo renames of an interrupted commit
                    if previous is None:
                        self._io.remove(final)
                    else:
                        self._io.write_file(final, previous)
                for emitted in self._emitted():
                    self._io.remove(emitted.temp_path)
                for _emitter, table_kind, _data_kind in self._data_emitters():
                    self._io.remove(f"{self._state.path(table_kind)}{TEMP_SUFFIX}{self._tag}")
        finally:
            self._release()

    def _release(self) -> None:
        unlock, self._unlock = self._unlock, None
        if unlock is not None:
            unlock()


def open_direct_session(request: ImportRequest, report: ImportReport) -> ImportSession | None:
    """For the synchronous paths: an opened session on ``request.cooked_root`` doing its
    I/O in the calling thread, or None after adding a ``session.open_failed``
    diagnostic to ``report`` (the root is left untouched)."""
    session = ImportSession(request.cooked_root, DirectSessionIO(), source_path=request.source_path,
                            source_key=request.options.get("source_key"))
    try:
        return session.open()
    except (RootStateError, SessionIOError) as exc:
        report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "session.open_failed", str(exc),
                                                   request.source_path))
        return None
