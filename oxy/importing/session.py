"""ImportSession: one job's view of a cooked root, from open to finalize.

It owns the lazily created emitters, collects diagnostics, and commits through the
journaled protocol of :mod:`oxy.build.commit`: payloads wait in stage files, tables
and descriptors in temporary files, and ``finalize()`` appends, renames and installs
the new ``container.index.bin`` last, with a journal that lets whoever opens the
root next undo (or finish) a commit that a crash interrupted. A data file grows only
inside the commit, so another process can mount the root during the whole cook.

``open()`` takes the root lock, recovers an unfinished commit of a crashed session
and removes stale temporaries (:func:`oxy.build.journal.recover_root_locked`), then
reads the index. ``abort()`` (cancel or failure) removes this session's stage and
temporary files; the committed root is never touched. A session with nothing to
commit writes nothing (a fresh root gets no index).

Thread rules: use a session from one thread (a greenlet on the import hub with
:class:`HubSessionIO`, or any one thread with :class:`DirectSessionIO`).
"""
from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from dataclasses import dataclass
from typing import Callable

from oxy.build.commit import CommitError, CommitPlan, DataAppend, FileReplace, execute_commit
from oxy.build.journal import STAGE_MARKER, JournalError, recover_root_locked
from oxy.build.records import BuildRecords, DamagedRecordsError, RecordSet, RecordsError, SourceRecord
from oxy.errors import OxyError
from oxy.formats import FileKind, IndexAsset, IndexFile, LooseIndex, build_index
from oxy.importing.emitters import TEMP_SUFFIX, AssetEmitter, BufferEmitter, EmitError, TextureEmitter
from oxy.importing.root_state import RootState, RootStateError, check_data_sizes, load_root_state
from oxy.importing.session_io import DirectSessionIO, SessionIO, SessionIOError
from oxy.importing.types import ImportDiagnostic, ImportReport, ImportRequest, Severity
from oxy.rootfs import RootEscapeError, resolve_inside

_session_ids = itertools.count(1)


@dataclass(frozen=True)
class Savepoint:
    """A position in a session (:meth:`ImportSession.savepoint`)."""

    diagnostics: int
    emitted: int
    record_changes: dict
    record_refreshes: dict
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
        self.records = RecordSet(0, "")
        self.isolated_diagnostics: list[ImportDiagnostic] = []  # of work undone by roll_back_to
        self._record_changes: dict[str, SourceRecord | None] = {}
        self._record_refreshes: dict[str, SourceRecord] = {}

    # -- lifecycle ----------------------------------------------------------------------
    def open(self) -> "ImportSession":
        """Lock the root, recover a crashed session's unfinished commit, read the index
        and tables. Raises RootStateError or SessionIOError (nothing committed is lost)."""
        self._unlock = self._io.lock_root(self.root)
        try:
            try:
                recovery = self._io.blocking(recover_root_locked, self.root)
            except (JournalError, RootEscapeError) as exc:
                raise RootStateError(f"cannot recover the root's unfinished commit: {exc}") from None
            for action in recovery.actions:
                self.diagnose(Severity.INFO, "session.recovered", action)
            self._state = load_root_state(self._io, self.root)
            check_data_sizes(self._io, self._state)
            self.records = self._load_records(self._state)
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
    def io(self) -> SessionIO:
        """The I/O this session does its file work through."""
        return self._io

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
            self._textures = TextureEmitter(self._io, self._stage_path(FileKind.TEXTURES_DATA), s.texture_table,
                                            s.sizes[FileKind.TEXTURES_DATA], self._write_failed)
        return self._textures

    @property
    def buffers(self) -> BufferEmitter:
        if self._buffers is None:
            s = self.state
            self._buffers = BufferEmitter(self._io, self._stage_path(FileKind.BUFFERS_DATA), s.buffer_table,
                                          s.sizes[FileKind.BUFFERS_DATA], self._write_failed)
        return self._buffers

    @property
    def assets(self) -> AssetEmitter:
        if self._assets is None:
            committed = {a.key: (a.asset_type, a.descriptor_relpath, a.descriptor_sha256) for a in self.state.assets}
            self._assets = AssetEmitter(self._io, self.root, self._tag, committed)
        return self._assets

    # -- savepoints (one model of a batch fails alone) ------------------------------------------
    def savepoint(self) -> "Savepoint":
        """Where the session is now: :meth:`roll_back_to` undoes what came after."""
        emitted = self._assets.emitted_count if self._assets is not None else 0
        return Savepoint(len(self.diagnostics), emitted, dict(self._record_changes), dict(self._record_refreshes))

    def roll_back_to(self, point: "Savepoint") -> None:
        """Forget the descriptors emitted and the records set since ``point`` (their
        temporary files are removed), and set its diagnostics apart in
        :attr:`isolated_diagnostics` so they no longer stop the commit. Table entries
        appended since then stay: payloads no descriptor or record names (dropped by
        ``oxy pack`` and ``oxy compact``). An I/O failure is not undone: it still fails
        the session."""
        self.isolated_diagnostics += self.diagnostics[point.diagnostics:]
        del self.diagnostics[point.diagnostics:]
        if self._assets is not None:
            for temp in self._assets.forget_after(point.emitted):
                try:
                    self._io.remove(temp)
                except SessionIOError:
                    pass  # a stale temporary: the next session removes it
        self._record_changes = dict(point.record_changes)
        self._record_refreshes = dict(point.record_refreshes)

    # -- build records ------------------------------------------------------------------------
    def _load_records(self, state: RootState) -> RecordSet:
        try:
            return self._io.blocking(BuildRecords(self.root).load, state.index_sha256)
        except RecordsError as exc:
            self.diagnose(Severity.WARNING, "records.unreadable", f"{exc}; every source is checked from scratch")
            return RecordSet(0, state.index_sha256)

    def record_source(self, path: str, record: SourceRecord | None) -> None:
        """Set what the build records will say of ``path`` once this session commits
        (None: forget it). Written in the same commit as the index (:meth:`finalize`)."""
        self._record_changes[path] = record
        self._record_refreshes.pop(path, None)

    def refresh_source(self, record: SourceRecord) -> None:
        """A source found unchanged whose stat signatures moved (same hashes): its
        record is rewritten with the new signatures (nothing cooked changes)."""
        if record.path not in self._record_changes:
            self._record_refreshes[record.path] = record

    # -- diagnostics ----------------------------------------------------------------------
    def diagnose(self, severity: Severity, code: str, message: str, field_path: str = "") -> None:
        self.diagnostics.append(ImportDiagnostic(severity, code, message, self.source_path, field_path))
        if self._diagnose_hook is not None:
            self._diagnose_hook(severity, code, message, field_path)

    @property
    def has_errors(self) -> bool:
        return self._io_errors > 0 or any(d.severity is Severity.ERROR for d in self.diagnostics)

    def _write_failed(self, message: str) -> None:
        if self._finished:
            return  # a write that abort() cancelled: its file is removed anyway
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
            if self._assets is not None:
                self._assets.write_pending()  # every descriptor in one crossing to the I/O pool
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
        except (SessionIOError, EmitError, RootStateError, CommitError, RootEscapeError) as exc:
            self.diagnose(Severity.ERROR, "session.finalize_failed", str(exc))
            self.abort()
            return False
        self._finished = True
        self._remove_temporaries()
        self._release()
        return True

    def _commit(self) -> None:
        state = self.state
        if self._assets is not None and self._assets.count and self._textures is None and not state.texture_table:
            self.textures.ensure_fallback()  # materials may name texture 0: it must exist
            self._io.flush()
        data = self._data_emitters()
        if not data and not self._emitted():
            # nothing cooked to commit: not one byte of the root is written (a fresh root
            # gets no index); only records that changed are written, for the same index
            self._write_records_only(state)
            return
        replaces, files = self._stage_tables(state, data)
        replaces += [FileReplace(f"{a.relpath}{TEMP_SUFFIX}{self._tag}", a.relpath) for a in self._emitted()]
        appends = []
        for emitter, _table_kind, data_kind in data:
            stage_size = self._io.size(emitter.stage_path) or 0
            if emitter.base_size + stage_size != emitter.data_file_size:
                raise SessionIOError(emitter.stage_path, f"{stage_size} bytes staged, "
                                     f"{emitter.data_file_size - emitter.base_size} expected")
            appends.append(DataAppend(state.relpaths[data_kind], self._stage_relpath(data_kind), emitter.base_size))
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
        plan = CommitPlan(self.root, self._tag, tuple(appends), tuple(replaces), blob)
        # The records generation for the new index is staged first. Whatever happens to
        # the commit, readers take the generation matching the index on disk, and the
        # next stage (or a recovery) drops the one that no longer matches: no second
        # records transaction here.
        self._stage_records(hashlib.sha256(blob).hexdigest())
        self._io.blocking(execute_commit, plan)

    def _stage_records(self, index_sha256: str) -> int:
        """Stage the records generation of the index about to be committed (before the
        index is renamed into place: see :mod:`oxy.build.records`). 0 when there are no
        records to keep. A records failure is a warning: the cook itself stands."""
        changes = {**self._record_refreshes, **self._record_changes}
        if not changes and not self.records.gen:
            return 0
        records = BuildRecords(self.root)
        try:
            try:
                return self._io.blocking(records.stage, index_sha256, self.records, changes)
            except DamagedRecordsError as exc:
                moved = self._io.blocking(records.set_aside)
                self.diagnose(Severity.WARNING, "records.set_aside",
                              f"{exc}; moved to {moved}, new records start with this cook")
                return self._io.blocking(records.stage, index_sha256, RecordSet(0, self.records.index_sha256),
                                         changes)
        except (RecordsError, RootEscapeError, OSError) as exc:
            self.diagnose(Severity.WARNING, "records.write_failed", f"{exc}; the next cook checks every source")
            return 0

    def _write_records_only(self, state: RootState) -> None:
        if state.index is None:
            return  # a root without an index gets no records either
        if self._record_changes:
            self._stage_records(state.index_sha256)
        elif self._record_refreshes and self.records.gen:
            try:
                self._io.blocking(BuildRecords(self.root).refresh, self.records.gen,
                                  list(self._record_refreshes.values()))
            except (RecordsError, RootEscapeError, OSError) as exc:
                self.diagnose(Severity.WARNING, "records.write_failed", str(exc))

    def _stage_relpath(self, data_kind: int) -> str:
        """Where this session stages a data file's payloads (one name, for the
        emitter's writes and for the commit's append)."""
        return f"{self.state.relpaths[data_kind]}{STAGE_MARKER}{self._tag}"

    def _stage_path(self, data_kind: int) -> str:
        return self._io.blocking(resolve_inside, self.root, self._stage_relpath(data_kind))

    def _emitted(self) -> list:
        return self._assets.assets() if self._assets is not None else []

    def _data_emitters(self) -> list[tuple[TextureEmitter | BufferEmitter, int, int]]:
        pairs: tuple[tuple[TextureEmitter | BufferEmitter | None, int, int], ...] = (
            (self._textures, FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA),
            (self._buffers, FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA))
        return [(e, t, d) for e, t, d in pairs if e is not None and e.new_count]

    def _stage_tables(self, state: RootState, data: list[tuple[TextureEmitter | BufferEmitter, int, int]]
                      ) -> tuple[list[FileReplace], list[IndexFile]]:
        """Write each changed table whole, to a temporary name; the file records the
        new index will hold (every table and data file with its committed size)."""
        replaces = []
        by_kind = {f.kind: f for f in (state.index.files if state.index else ())}
        for emitter, table_kind, data_kind in data:
            table = emitter.table_bytes()
            relpath = state.relpaths[table_kind]
            temp = f"{relpath}{TEMP_SUFFIX}{self._tag}"
            self._io.write_file(self._io.blocking(resolve_inside, self.root, temp), table)
            replaces.append(FileReplace(temp, relpath))
            by_kind[table_kind] = IndexFile(table_kind, relpath, len(table))
            by_kind[data_kind] = IndexFile(data_kind, state.relpaths[data_kind], emitter.data_file_size)
        return replaces, sorted(by_kind.values(), key=lambda f: f.kind)

    def abort(self) -> None:
        """Drop everything this session staged; the committed root stays as it was. Idempotent."""
        if self._finished:
            return
        self._finished = True
        try:
            self._io.cancel_all()
            try:
                self._io.flush()
            except SessionIOError:
                pass  # failures of cancelled writes do not matter: their files are removed below
            self._remove_temporaries()
        finally:
            self._release()

    def _remove_temporaries(self) -> None:
        """Remove this session's stage files and temporary tables and descriptors (a
        failure here is harmless: the next session removes stale temporaries)."""
        if self._state is None:
            return
        paths = [e.stage_path for e in (self._textures, self._buffers) if e is not None]
        paths += [e.temp_path for e in self._emitted()]
        paths += [f"{self._state.path(kind)}{TEMP_SUFFIX}{self._tag}"
                  for kind in (FileKind.TEXTURES_TABLE, FileKind.BUFFERS_TABLE)]
        for path in paths:
            try:
                self._io.remove(path)
            except SessionIOError:
                pass

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
    except (RootStateError, SessionIOError, OxyError) as exc:
        report.diagnostics.append(ImportDiagnostic(Severity.ERROR, "session.open_failed", str(exc),
                                                   request.source_path))
        return None
