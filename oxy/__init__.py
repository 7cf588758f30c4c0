"""oxy: the content pipeline of the Oxygen game engine.

Layers (each imports only from the layers below it): ``oxy.cli``; ``oxy.importing``,
``oxy.runtime``, ``oxy.pack``; ``oxy.hub``; ``oxy.cook``; ``oxy.formats`` and
``oxy.validate``; ``oxy._kernels`` (compiled Cython). See docs/architecture.md.

The names below are imported lazily, so ``import oxy.formats`` never pulls in gevent.
"""
from __future__ import annotations

import importlib
from typing import Any

from oxy.errors import FormatError, OperationCancelled, OxyError

__version__ = "0.1.0"

_LAZY = {
    "AsyncImportService": "oxy.importing",
    "ImportRequest": "oxy.importing",
    "ImportReport": "oxy.importing",
    "ImportProgress": "oxy.importing",
    "ImportDiagnostic": "oxy.importing",
    "AssetImporter": "oxy.importing.sync",
    "AssetLoader": "oxy.runtime",
    "LoaderConfig": "oxy.runtime",
    "list_assets": "oxy.runtime.listing:assets_in",
}

__all__ = ["FormatError", "OperationCancelled", "OxyError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'oxy' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or name)
