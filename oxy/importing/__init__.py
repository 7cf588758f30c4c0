"""Import service, sessions, emitters, pipelines and importers.

Public surface so far: :class:`AsyncImportService` (``service``), the request /
progress / report types (``types``) and the importer seam (``registry``:
``register_importer``, ``Importer``, ``JobContext``). See each module.
"""
from __future__ import annotations

from oxy.importing.registry import (
    Importer,
    ImporterFactory,
    ImporterRegistry,
    JobContext,
    default_registry,
    register_importer,
)
from oxy.importing.service import AsyncImportService, JobHandle, ServiceClosed
from oxy.importing import texture_importer as _texture_importer  # registers the image importer
from oxy.importing.scene import importer as _scene_importer  # registers the scene importer
from oxy.importing.types import (
    ImportDiagnostic,
    ImportPhase,
    ImportProgress,
    ImportReport,
    ImportRequest,
    Severity,
)

__all__ = [
    "AsyncImportService",
    "ImportDiagnostic",
    "ImportPhase",
    "ImportProgress",
    "ImportReport",
    "ImportRequest",
    "Importer",
    "ImporterFactory",
    "ImporterRegistry",
    "JobContext",
    "JobHandle",
    "ServiceClosed",
    "Severity",
    "default_registry",
    "register_importer",
]
