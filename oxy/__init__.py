"""oxy: the content pipeline of the Oxygen game engine.

Layers (each imports only from the layers below it): ``oxy.cli`` / ``oxy.daemon``;
``oxy.importing``, ``oxy.runtime``, ``oxy.pack``; ``oxy.hub``; ``oxy.cook``;
``oxy.formats`` and ``oxy.validate``; ``oxy._kernels`` (compiled Cython).
See docs/architecture.md.
"""
from __future__ import annotations

from oxy.errors import FormatError, OperationCancelled, OxyError

__version__ = "0.1.0"

__all__ = ["FormatError", "OperationCancelled", "OxyError", "__version__"]
