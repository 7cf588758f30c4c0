"""Worker set-up for the cook farm: ``dask worker SCHEDULER --preload oxy.farm.worker``.

The preload runs once per worker process, before it takes tasks: it imports what
oxy's tasks need (the compiled kernels, the codec registrations, pyassimp), so a
broken install fails the worker at start, not in the middle of a cook, and logs
the versions the client's connect check compares
(:func:`oxy.farm.tasks.worker_versions`). Workers without the preload work too
(they import the same modules on their first task); the client's version check at
connect is what refuses a mismatched worker either way.
"""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("oxy.farm.worker")


def dask_setup(worker: Any) -> None:
    """Dask's preload hook: import oxy's task dependencies and log their versions."""
    import oxy.cook.texture  # noqa: F401 - the kernels
    import oxy.importing.scene.backend_assimp  # noqa: F401 - pyassimp and libassimp
    import oxy.importing.units  # noqa: F401 - the codec registrations
    from oxy.farm.tasks import worker_versions

    log.info("oxy farm worker %s ready: %s", getattr(worker, "address", "?"), worker_versions())
