"""The cook farm: oxy's pure cook steps as Dask tasks (``pip install oxy[farm]``).

``Farm.connect("tcp://host:8786")`` (an existing scheduler) or ``"local:N"`` (a
``LocalCluster`` of N worker processes) and pass it, or just the address, to
``AsyncImportService(farm=...)``. See ``docs/farm.md`` and :mod:`oxy.farm.executor`.
Importing this package does not import Dask; :class:`Farm` does, on first use.
"""
from __future__ import annotations

from typing import Any

from oxy.farm.errors import FarmError, FarmLost, FarmTimeout, FarmUnavailable, FarmVersionMismatch

__all__ = ["Farm", "FarmError", "FarmLost", "FarmTimeout", "FarmUnavailable", "FarmVersionMismatch"]


def __getattr__(name: str) -> Any:
    if name == "Farm":
        from oxy.farm.executor import Farm

        return Farm
    raise AttributeError(name)
