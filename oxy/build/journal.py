"""The commit journal of a loose cooked root, and crash recovery from it.

A commit (:mod:`oxy.build.commit`) writes ``<root>/.oxy-journal`` before it touches
any file that the current index names. The journal says what the commit will do:
which data files it appends to (with their committed sizes and mtimes), which
files it replaces (with the hard-link backup of each previous version), and the
SHA-256 of the index it is about to install. It is removed once the commit is
complete, so a journal on disk always means an unfinished commit.

Whoever opens the root next (an import session, ``oxy validate --repair``,
``AssetLoader.repair_root``) calls :func:`recover_root` (or
:func:`recover_root_locked` when it already holds the root lock), which:

* **rolls forward** when the root's index is already the journal's new index and
  the root passes the engine's mount rules (the crash came after the commit point:
  only the cleanup was missing);
* otherwise **rolls back**: restores every backup, removes files the commit
  created, truncates data files to their committed sizes (restoring their mtimes),
  and removes the commit's temporaries;
* then truncates data files longer than the committed index records, and removes
  stale temporaries (``*.oxy-tmp-*``, ``*.oxy-stage-*``, ``*.oxy-bak-*``) that crashed
  sessions left behind.

Every step is idempotent, so a crash during recovery is recovered by the next
recovery. Every path read from a journal is checked against the relative-path rules
and confined to the root (:mod:`oxy.rootfs`): a hostile journal cannot make recovery
touch a file outside the root. A journal that does not parse is not trusted: the
root is rolled back from the backups found by name instead (the index still records
the committed data sizes).

Thread rules: plain blocking functions, safe from any thread; callers on a gevent
hub run them on their I/O pool. Failure modes: :class:`RootBusyError` when another
process holds the root lock, :class:`JournalError` for a journal naming bad paths,
OSError for file-system failures (the journal then stays for the next attempt).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Callable

from oxy.errors import OxyError
from oxy.formats.loose import INDEX_FILE_NAME, JOURNAL_FILE_NAME, relpath_problem
from oxy.rootfs import (ATOMIC_TEMP_MARKER, RootEscapeError, cached_resolution, fsync_dir, resolve_inside,
                        write_file_atomically)

JOURNAL_VERSION = 1
TEMP_MARKER = ATOMIC_TEMP_MARKER  # tables, descriptors and the index before their rename
STAGE_MARKER = ".oxy-stage-"    # payloads staged until the commit appends them
BACKUP_MARKER = ".oxy-bak-"     # previous versions of replaced files, until the commit ends
TEMPORARY_MARKERS = (TEMP_MARKER, STAGE_MARKER, BACKUP_MARKER)
#: Called with each recovery step's name after the step (crash injection in tests); None normally.
RECOVERY_HOOK: Callable[[str], None] | None = None


def _step(name: str) -> None:
    hook = RECOVERY_HOOK
    if hook is not None:
        hook(name)


class JournalError(OxyError):
    """A journal names a path that breaks the rules (names the journal and the field)."""


class UnreadableJournalError(JournalError):
    """A journal that does not parse (or has another version): its content is not
    trusted, and recovery rolls back from the backups found by name instead."""


class RootBusyError(OxyError):
    """Another process holds the root lock (a cook is running): recovery would race it."""


@dataclass(frozen=True)
class JournalAppend:
    """A data file that grows: ``stage`` (all of it) is appended at ``base_size``."""

    file: str
    stage: str
    base_size: int
    existed: bool
    mtime_ns: int | None


@dataclass(frozen=True)
class JournalReplace:
    """``temp`` is renamed over ``final``; ``backup`` holds the previous ``final``
    (None when there was none, so rolling back removes ``final``)."""

    final: str
    temp: str
    backup: str | None


@dataclass(frozen=True)
class Journal:
    tag: str
    new_index_sha256: str
    appends: tuple[JournalAppend, ...] = ()
    replaces: tuple[JournalReplace, ...] = ()   # the index is the last one
    version: int = JOURNAL_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, path: str) -> "Journal":
        try:
            raw = json.loads(data)
            if raw.get("version") != JOURNAL_VERSION:
                raise UnreadableJournalError(f"{path}: journal version {raw.get('version')!r}, "
                                             f"oxy reads {JOURNAL_VERSION}")
            journal = cls(str(raw["tag"]), str(raw["new_index_sha256"]),
                          tuple(JournalAppend(str(a["file"]), str(a["stage"]), int(a["base_size"]),
                                              bool(a["existed"]),
                                              None if a["mtime_ns"] is None else int(a["mtime_ns"]))
                                for a in raw["appends"]),
                          tuple(JournalReplace(str(r["final"]), str(r["temp"]),
                                               None if r["backup"] is None else str(r["backup"]))
                                for r in raw["replaces"]))
        except JournalError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UnreadableJournalError(f"{path}: not a readable journal ({type(exc).__name__}: {exc})") from None
        for name, rel in journal.relpaths():
            problem = relpath_problem(rel)
            if problem:
                raise JournalError(f"{path}: {name} {rel!r} {problem}")
        return journal

    def relpaths(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, a in enumerate(self.appends):
            out += [(f"appends[{i}].file", a.file), (f"appends[{i}].stage", a.stage)]
        for i, r in enumerate(self.replaces):
            out += [(f"replaces[{i}].final", r.final), (f"replaces[{i}].temp", r.temp)]
            if r.backup is not None:
                out.append((f"replaces[{i}].backup", r.backup))
        return out


@dataclass
class RecoveryReport:
    """What recovery did (each action one line, for an info diagnostic or the CLI)."""

    root: str
    rolled_back: bool = False
    rolled_forward: bool = False
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


# ----------------------------------------------------------------- small file helpers
def remove_if_present(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


def file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


# -------------------------------------------------------------------- journal I/O
def journal_path(root: str) -> str:
    return resolve_inside(root, JOURNAL_FILE_NAME)


def write_journal(root: str, journal: Journal) -> None:
    write_file_atomically(journal_path(root), journal.to_json())


def read_journal(root: str) -> Journal | None:
    """The root's journal, None when there is none. Raises JournalError when it is
    unreadable or names bad paths."""
    path = journal_path(root)
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 24)
    except FileNotFoundError:
        return None
    return Journal.from_json(data, path)


def remove_journal(root: str) -> None:
    if remove_if_present(journal_path(root)):
        fsync_dir(os.path.realpath(root))


# ----------------------------------------------------------------------- recovery
def roll_back(root: str, journal: Journal, report: RecoveryReport) -> None:
    """Put the root back to the index it had before the journal's commit. Idempotent."""
    folders: set[str] = set()
    restored = removed = 0
    # The index first: once a rollback has begun, the root no longer holds the new
    # index, so a crash mid-rollback is rolled back again by the next recovery (never
    # mistaken for a finished commit whose other files merely have the same sizes).
    for r in sorted(journal.replaces, key=lambda r: r.final != INDEX_FILE_NAME):
        final = resolve_inside(root, r.final)
        folders.add(os.path.dirname(final))
        if r.backup is not None:
            backup = resolve_inside(root, r.backup)
            if os.path.lexists(backup):
                os.replace(backup, final)
                restored += 1
                _step(f"restore:{r.final}")
        elif remove_if_present(final):
            removed += 1
            _step(f"remove:{r.final}")
    truncated = []
    for a in journal.appends:
        data = resolve_inside(root, a.file)
        folders.add(os.path.dirname(data))
        try:
            size = os.stat(data).st_size
        except FileNotFoundError:
            continue
        if not a.existed:
            os.remove(data)
            truncated.append(f"{a.file} removed")
        elif size > a.base_size:
            os.truncate(data, a.base_size)
            if a.mtime_ns is not None:
                os.utime(data, ns=(a.mtime_ns, a.mtime_ns))
            truncated.append(f"{a.file} truncated to {a.base_size} bytes")
        _step(f"reset:{a.file}")
    temporaries = _remove_commit_temporaries(root, journal)
    for folder in folders:
        fsync_dir(folder)
    _step("rolled_back")
    remove_journal(root)
    report.rolled_back = True
    report.actions.append(f"rolled back unfinished commit {journal.tag}: {restored} file(s) restored, "
                          f"{removed} new file(s) removed, {len(truncated)} data file(s) reset"
                          + (f" ({'; '.join(truncated)})" if truncated else "")
                          + (f", {temporaries} temporary file(s) removed" if temporaries else ""))


def roll_forward(root: str, journal: Journal, report: RecoveryReport) -> None:
    """The commit reached its index: drop the backups and temporaries. Idempotent."""
    temporaries = _remove_commit_temporaries(root, journal)
    _step("rolled_forward")
    remove_journal(root)
    report.rolled_forward = True
    report.actions.append(f"completed commit {journal.tag} (its index was in place): "
                          f"{temporaries} leftover file(s) removed")


def _remove_commit_temporaries(root: str, journal: Journal) -> int:
    count = 0
    for r in journal.replaces:
        count += remove_if_present(resolve_inside(root, r.temp))
        if r.backup is not None:
            count += remove_if_present(resolve_inside(root, r.backup))
    for a in journal.appends:
        count += remove_if_present(resolve_inside(root, a.stage))
    return count


def roll_back_by_names(root: str, report: RecoveryReport) -> None:
    """Rollback for a journal that cannot be read: restore every ``X.oxy-bak-*`` over
    ``X`` (the index included); the session that opens the root next truncates the
    data files back to the sizes the restored index records."""
    restored = 0
    real_root = os.path.realpath(root)
    for folder, name in _walk_temporaries(real_root):
        if BACKUP_MARKER in name:
            os.replace(os.path.join(folder, name), os.path.join(folder, name.split(BACKUP_MARKER)[0]))
            restored += 1
    remove_journal(root)
    report.rolled_back = True
    report.actions.append(f"rolled back an unfinished commit whose journal was unreadable: "
                          f"{restored} file(s) restored from their backups")


def _walk_temporaries(real_root: str) -> list[tuple[str, str]]:
    found = []
    for folder, dirs, files in os.walk(real_root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        found += [(folder, name) for name in files if any(m in name for m in TEMPORARY_MARKERS)]
    return found


def remove_stale_temporaries(root: str, report: RecoveryReport) -> None:
    """Remove temporaries of sessions that died (call only with no journal present,
    under the root lock: then no live session owns any of them)."""
    real_root = os.path.realpath(root)
    stale = _walk_temporaries(real_root)
    for folder, name in stale:
        remove_if_present(os.path.join(folder, name))
        _step(f"stale:{name}")
    if stale:
        report.actions.append(f"removed {len(stale)} stale temporary file(s) of crashed sessions: "
                              + ", ".join(os.path.relpath(os.path.join(f, n), real_root) for f, n in stale[:5])
                              + (" ..." if len(stale) > 5 else ""))


def truncate_tails(root: str, report: RecoveryReport) -> None:
    """Truncate data files longer than the committed index records (left by an oxy
    older than the journal, or by a copy taken mid-commit): the engine mounts a root
    only when every size matches, and bytes past the recorded size belong to no
    committed resource. Does nothing when there is no readable index."""
    from oxy.errors import FormatError
    from oxy.formats import FileKind, parse_index
    from oxy.rootfs import read_inside

    try:
        index = parse_index(read_inside(root, INDEX_FILE_NAME), path=os.path.join(root, INDEX_FILE_NAME))
    except (OSError, FormatError):
        return
    for record in index.files:
        if record.kind not in (FileKind.TEXTURES_DATA, FileKind.BUFFERS_DATA):
            continue
        path = resolve_inside(root, record.relpath)
        try:
            actual = os.stat(path).st_size
        except FileNotFoundError:
            continue
        if actual > record.size:
            os.truncate(path, record.size)
            _step(f"tail:{record.relpath}")
            report.actions.append(f"{record.relpath}: {actual - record.size} bytes past the index removed")


def recover_root_locked(root: str) -> RecoveryReport:
    """Finish or undo an unfinished commit and remove stale temporaries. The caller
    holds the root lock. Raises JournalError only for a journal naming paths outside
    the rules, RootEscapeError for one whose paths leave the root, OSError on I/O."""
    with cached_resolution():  # each folder resolved once for the whole recovery
        return _recover_root_locked(root)


def _recover_root_locked(root: str) -> RecoveryReport:
    from oxy.build.commit import mount_problems  # the commit module imports this one

    report = RecoveryReport(root)
    if not os.path.isdir(root):
        return report
    try:
        journal = read_journal(root)
    except UnreadableJournalError:
        roll_back_by_names(root, report)
        journal = None
    if journal is not None:
        index_now = file_sha256(resolve_inside(root, INDEX_FILE_NAME))
        if index_now == journal.new_index_sha256 and not mount_problems(root):
            roll_forward(root, journal, report)
        else:
            roll_back(root, journal, report)
        _prune_records(root, report)
    truncate_tails(root, report)
    remove_stale_temporaries(root, report)
    return report


def _prune_records(root: str, report: RecoveryReport) -> None:
    """Drop build-records generations that do not describe the index now in place
    (one staged for the commit just rolled back). Readers already ignore them; a
    failure here is reported, never raised (the records are not the root)."""
    from oxy.build.records import NO_INDEX, BuildRecords, RecordsError

    try:
        path = resolve_inside(root, INDEX_FILE_NAME)
        index = file_sha256(path) or NO_INDEX
        dropped = BuildRecords(root).prune(index)
    except (RecordsError, OSError, RootEscapeError) as exc:
        report.actions.append(f"build records not pruned: {exc}")
        return
    if dropped:
        report.actions.append(f"build records: dropped {dropped} generation(s) that do not describe the index")


def recover_root(root: str) -> RecoveryReport:
    """:func:`recover_root_locked` under the root lock, taken without waiting. Raises
    RootBusyError when a live process holds it (its commit is not a crash)."""
    from oxy.build.rootlock import RootLock, holder_of

    if not os.path.isdir(root):
        return RecoveryReport(root)
    with RootLock(root) as lock:
        if not lock.held:
            raise RootBusyError(f"{root}: {holder_of(root) or 'another process'} holds {os.path.join(root, '.oxy-lock')} "
                                "(a cook is running); not recovering under it")
        return recover_root_locked(root)


__all__ = ["BACKUP_MARKER", "JOURNAL_FILE_NAME", "Journal", "JournalAppend", "JournalError", "JournalReplace",
           "UnreadableJournalError",
           "RecoveryReport", "RootBusyError", "RootEscapeError", "STAGE_MARKER", "TEMPORARY_MARKERS",
           "TEMP_MARKER", "read_journal", "recover_root", "recover_root_locked",
           "remove_stale_temporaries", "roll_back", "roll_forward", "write_journal"]
