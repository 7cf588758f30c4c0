"""oxy.build: what a cooked root needs beyond its formats, as plain storage code.

Today: the root lock (:mod:`oxy.build.rootlock`), the commit journal and crash
recovery (:mod:`oxy.build.journal`) and the commit protocol that uses them
(:mod:`oxy.build.commit`). Incremental cooking (cook keys, the content-addressed
cache, build records) will live here too.

Plain blocking functions over files: never gevent, never threads. Sessions on the
import hub run them on the I/O pool; the CLI and the loader call them directly.
"""
from __future__ import annotations

from oxy.build.commit import CommitPlan, CommitError, DataAppend, FileReplace, execute_commit
from oxy.build.journal import (JOURNAL_FILE_NAME, JournalError, RecoveryReport, RootBusyError,
                               recover_root, recover_root_locked)
from oxy.build.rootlock import LOCK_FILE_NAME, RootLock

__all__ = ["CommitError", "CommitPlan", "DataAppend", "FileReplace", "JOURNAL_FILE_NAME", "JournalError",
           "LOCK_FILE_NAME", "RecoveryReport", "RootBusyError", "RootLock", "execute_commit",
           "recover_root", "recover_root_locked"]
