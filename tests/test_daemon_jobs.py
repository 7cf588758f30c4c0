"""The job table's reading of import reports: a source deleted while its cook ran is a
warning (the watcher's deletion batch forgets it), not a failed job. No gevent hub here."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Any

from oxy.daemon.jobs import VANISHED_CODES, _vanished, _vanished_sources
from oxy.importing.types import ImportDiagnostic, Severity


@dataclass
class Report:
    diagnostics: list[Any] = field(default_factory=list)


def test_only_sources_that_are_gone_count_as_vanished(tmp_path: pathlib.Path) -> None:
    present = tmp_path / "present.png"
    present.write_bytes(b"x")
    gone = str(tmp_path / "gone.png")
    reports = [Report([ImportDiagnostic(Severity.ERROR, "texture.read_failed", "cannot read", gone),
                       ImportDiagnostic(Severity.ERROR, "texture.read_failed", "cannot read", str(present)),
                       ImportDiagnostic(Severity.ERROR, "texture.decode_failed", "bad chunk", str(tmp_path / "x.png"))]),
               Report([ImportDiagnostic(Severity.ERROR, "import.source_not_found", "missing", gone)])]
    assert _vanished_sources(reports) == {gone}
    doc = _vanished(reports[0].diagnostics[0])
    assert doc["severity"] == "warning" and doc["code"] == "daemon.source_vanished" and doc["source_path"] == gone
    assert "texture.read_failed" in doc["message"]
    assert "texture.decode_failed" not in VANISHED_CODES  # a corrupt file that is still there fails its job
