"""The commit protocol of a loose cooked root: crash-safe at every instant.

An import session stages everything first, under names the current index does not
know: payloads in ``<data>.oxy-stage-<tag>`` files, tables and descriptors in
``<file>.oxy-tmp-<tag>`` files. :func:`execute_commit` then:

1. fsyncs every staged file and writes the new index to ``container.index.bin.oxy-tmp-<tag>``;
2. writes the journal (:mod:`oxy.build.journal`) and fsyncs it: from here on a crash
   is rolled back (or forward) by whoever opens the root next;
3. hard-links each file it will replace (and the index) to ``<file>.oxy-bak-<tag>``;
4. appends each stage file to its data file (the only moment data files grow), fsync;
5. renames the tables and descriptors into place;
6. renames the index into place (**the commit point**) and fsyncs the folder;
7. checks the engine's mount rules on the committed root (:func:`mount_problems`);
   a failure rolls the whole commit back and raises :class:`CommitError`;
8. removes the journal, then the backups and stage files.

A reader (the engine, or oxy's loader in another process) can see data file sizes
that disagree with the index only between steps 4 and 6.

Every path is confined to the root (:mod:`oxy.rootfs`). ``STEP_HOOK``, when set, is
called with the name of each step just after it completes: the crash-injection tests
set it to ``os._exit`` at chosen steps; it is None in normal use.

Thread rules: plain blocking code, safe from any one thread at a time per root (the
caller holds the root lock). Failure modes: :class:`CommitError` for a committed root
that fails its mount rules (rolled back); OSError or RootEscapeError from the file
system, after which this function tries to roll back; if that fails too, the journal
stays and the next :func:`~oxy.build.journal.recover_root` finishes it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Callable

from oxy.build.journal import (BACKUP_MARKER, TEMP_MARKER, Journal, JournalAppend, JournalReplace,
                               RecoveryReport, file_sha256, remove_if_present, remove_journal, roll_back,
                               write_journal)
from oxy.errors import OxyError
from oxy.formats.loose import INDEX_FILE_NAME
from oxy.rootfs import cached_resolution, fsync_dir, open_inside, resolve_inside

#: Called with each step's name after the step (crash injection in tests); None normally.
STEP_HOOK: Callable[[str], None] | None = None


class CommitError(OxyError):
    """The commit could not complete; the root was rolled back to its previous index."""


@dataclass(frozen=True)
class DataAppend:
    """Append all of ``stage`` to ``file`` at ``base_size`` (relpaths in the root)."""

    file: str
    stage: str
    base_size: int


@dataclass(frozen=True)
class FileReplace:
    """Rename ``temp`` over ``final`` (relpaths in the root)."""

    temp: str
    final: str


@dataclass(frozen=True)
class CommitPlan:
    root: str
    tag: str
    appends: tuple[DataAppend, ...]
    replaces: tuple[FileReplace, ...]
    index_blob: bytes


def _step(name: str) -> None:
    hook = STEP_HOOK
    if hook is not None:
        hook(name)


def mount_problems(root: str) -> list[str]:
    """What keeps the engine from mounting ``root`` as it is now (FORMATS.md 6, mount
    checks: index, file records, descriptor and file sizes); empty when it mounts."""
    from oxy.validate import validate_loose_root

    try:
        report = validate_loose_root(root, deep=False)
    except OSError as exc:
        return [f"{root}: cannot read the index: {exc.strerror or exc}"]
    return [str(d) for d in report.errors]


def _fsync_file(root: str, relpath: str) -> None:
    fd = open_inside(root, relpath)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _backup(path: str, backup: str) -> None:
    """Keep the current ``path`` as ``backup``: a hard link (a copy where links fail)."""
    remove_if_present(backup)
    try:
        os.link(path, backup, follow_symlinks=False)
    except OSError:
        # A copy is written under a temporary name and renamed: a crash mid-copy leaves
        # a stale temporary (removed by recovery), never a partial backup that a
        # rollback would rename over the intact file.
        partial = f"{backup}{TEMP_MARKER}copy"
        with open(path, "rb") as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 24):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, backup)


def _append(root: str, a: DataAppend) -> None:
    """Copy the whole stage file to ``a.file`` at ``a.base_size`` (kernel-side where it can)."""
    src = open_inside(root, a.stage)
    try:
        dst = open_inside(root, a.file, os.O_WRONLY | os.O_CREAT)
        try:
            size = os.fstat(dst).st_size
            if size != a.base_size:
                raise CommitError(f"{os.path.join(root, a.file)}: {size} bytes on disk, the index records "
                                  f"{a.base_size}; refusing to append")
            total, done = os.fstat(src).st_size, 0
            while done < total:
                try:
                    n = os.copy_file_range(src, dst, total - done, done, a.base_size + done)
                except OSError:
                    n = _copy_chunk(src, dst, total - done, done, a.base_size + done)
                if n == 0:
                    raise CommitError(f"{os.path.join(root, a.stage)}: ended at {done} of {total} bytes")
                done += n
            os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_chunk(src: int, dst: int, count: int, src_at: int, dst_at: int) -> int:
    data = os.pread(src, min(count, 1 << 24), src_at)
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(dst, view[done:], dst_at + done)
    return len(data)


def _write_index_temp(root: str, path: str, blob: bytes) -> None:
    fd = open_inside(root, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        view, done = memoryview(blob), 0
        while done < len(view):
            done += os.write(fd, view[done:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal_for(plan: CommitPlan, index_sha: str) -> Journal:
    appends = []
    for a in plan.appends:
        try:
            st = os.stat(resolve_inside(plan.root, a.file))
            existed, mtime = True, st.st_mtime_ns
        except FileNotFoundError:
            existed, mtime = False, None
        appends.append(JournalAppend(a.file, a.stage, a.base_size, existed, mtime))
    replaces = []
    index_temp = f"{INDEX_FILE_NAME}{TEMP_MARKER}{plan.tag}"
    for r in (*plan.replaces, FileReplace(index_temp, INDEX_FILE_NAME)):
        had = os.path.lexists(resolve_inside(plan.root, r.final))
        replaces.append(JournalReplace(r.final, r.temp, f"{r.final}{BACKUP_MARKER}{plan.tag}" if had else None))
    return Journal(plan.tag, index_sha, tuple(appends), tuple(replaces))


def execute_commit(plan: CommitPlan) -> None:
    """Commit ``plan`` as the module docstring describes. The caller holds the root lock."""
    with cached_resolution():  # every folder of the root resolved once for the whole commit
        _execute_commit(plan)


def _execute_commit(plan: CommitPlan) -> None:
    root = plan.root
    # Every path is checked (confined to the root) before anything is written.
    journal = _journal_for(plan, hashlib.sha256(plan.index_blob).hexdigest())
    _refuse_unrecoverable(plan, journal.new_index_sha256)
    index_temp = resolve_inside(root, f"{INDEX_FILE_NAME}{TEMP_MARKER}{plan.tag}")
    folders = {os.path.dirname(resolve_inside(root, r.final)) for r in plan.replaces}
    folders.add(os.path.realpath(root))
    try:
        for r in plan.replaces:
            _fsync_file(root, r.temp)
        for a in plan.appends:
            _fsync_file(root, a.stage)
        _write_index_temp(root, index_temp, plan.index_blob)
        for folder in folders:
            fsync_dir(folder)
        _step("staged")
        write_journal(root, journal)
    except BaseException:
        remove_if_present(index_temp)  # nothing committed yet: the caller removes its own temporaries
        raise
    _step("journal")
    try:
        _apply(root, journal, folders)
    except BaseException:
        _roll_back_quietly(root, journal)
        raise
    remove_journal(root)
    _step("journal_removed")
    for replaced in journal.replaces:
        if replaced.backup is not None:
            remove_if_present(resolve_inside(root, replaced.backup))
    for appended in journal.appends:
        remove_if_present(resolve_inside(root, appended.stage))
    _step("cleaned")


#: Descriptors: the index holds each one's SHA-256, so the index pins their bytes.
_PINNED_BY_INDEX = (".omat", ".ogeo", ".oscene")


def _refuse_unrecoverable(plan: CommitPlan, new_index_sha256: str) -> None:
    """Recovery tells a finished commit from an unfinished one by the index. A plan that
    appends data or replaces a table or data file while the index bytes stay the same
    could not be told apart after a crash: it is refused. (Rewriting descriptors under
    the same index is fine: the index pins their bytes, so old and new are the same.)"""
    if not plan.appends and all(r.final == INDEX_FILE_NAME or r.final.endswith(_PINNED_BY_INDEX)
                                for r in plan.replaces):
        return
    if file_sha256(resolve_inside(plan.root, INDEX_FILE_NAME)) == new_index_sha256:
        raise CommitError(f"{plan.root}: the commit changes data or tables but leaves container.index.bin as it "
                          "is; refused (a crash could not be recovered)")


def _apply(root: str, journal: Journal, folders: set[str]) -> None:
    for r in journal.replaces:
        if r.backup is not None:
            _backup(resolve_inside(root, r.final), resolve_inside(root, r.backup))
            _step(f"backup:{r.final}")
    for folder in folders:
        fsync_dir(folder)
    for a in journal.appends:
        _append(root, DataAppend(a.file, a.stage, a.base_size))
        _step(f"append:{a.file}")
    for r in journal.replaces:
        if r.final == INDEX_FILE_NAME:  # every earlier rename is durable before the index names it
            for folder in folders:
                fsync_dir(folder)
        os.replace(resolve_inside(root, r.temp), resolve_inside(root, r.final))
        if r.final == INDEX_FILE_NAME:
            fsync_dir(os.path.realpath(root))
        _step(f"rename:{r.final}")
    problems = mount_problems(root)
    if problems:
        raise CommitError(f"{root}: the committed root fails the engine's mount rules, rolled back: "
                          + "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
    _step("checked")


def _roll_back_quietly(root: str, journal: Journal) -> None:
    """Roll back after a failure inside the commit; if rolling back fails too, the
    journal stays on disk for the next recovery."""
    try:
        roll_back(root, journal, RecoveryReport(root))
    except (OSError, OxyError):
        pass
