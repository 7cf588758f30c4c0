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

import importlib
from typing import Any

#: Public names, imported on first use: ``import oxy.build.recipe`` (the importers'
#: hot path, and ``oxy --help``) must not pull in the formats through the journal.
_EXPORTS = {
    "CommitError": "oxy.build.commit", "CommitPlan": "oxy.build.commit", "DataAppend": "oxy.build.commit",
    "FileReplace": "oxy.build.commit", "execute_commit": "oxy.build.commit",
    "JOURNAL_FILE_NAME": "oxy.build.journal", "JournalError": "oxy.build.journal",
    "RecoveryReport": "oxy.build.journal", "RootBusyError": "oxy.build.journal", "recover_root": "oxy.build.journal",
    "recover_root_locked": "oxy.build.journal",
    "LOCK_FILE_NAME": "oxy.build.rootlock", "RootLock": "oxy.build.rootlock",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oxy.build' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
