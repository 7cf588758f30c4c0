"""oxy.build: what a cooked root needs beyond its formats, as plain storage code.

The root lock (:mod:`oxy.build.rootlock`), the commit journal and crash recovery
(:mod:`oxy.build.journal`) and the commit protocol that uses them
(:mod:`oxy.build.commit`); incremental cooking: recipes and cook keys
(:mod:`oxy.build.recipe`), the content-addressed cook cache (:mod:`oxy.build.cache`),
build records (:mod:`oxy.build.records`), per-asset settings files
(:mod:`oxy.build.settings_files`), a model's dependency files
(:mod:`oxy.build.model_deps`) and the safe encoding of cached results
(:mod:`oxy.build.unit_codec`). See docs/incremental.md.

Plain blocking functions over files: never gevent, never threads of their own
(the cache's fsspec remote tier runs its client on fsspec's event-loop thread). Sessions on the
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
