"""Crash injection: a hard crash (os._exit) after every step of a commit, for a texture
cook, a scene cook and a re-import (tools/crash_campaign.py, on the bundled samples).

After each crash the next oxy session must leave the root valid (deep validation),
with no journal or temporary left, and the root must be exactly the state before the
cook or exactly a state that one of the uncrashed cook's commits produced (every
descriptor and every texture and buffer payload compared by SHA-256).
"""
from __future__ import annotations

import sys

import pytest

from conftest import PROJECT

sys.path.insert(0, str(PROJECT / "tools"))
import crash_campaign  # noqa: E402


@pytest.mark.parametrize("name", ["texture", "scene", "reimport"])
def test_crash_after_every_commit_step_recovers(name: str, tmp_path) -> None:
    outcomes = crash_campaign.step_campaign(crash_campaign.SCENARIOS[name], str(tmp_path),
                                            check_loader=(name == "reimport"))
    steps = {o.step.split(":")[0] for o in outcomes}
    assert {"staged", "journal", "backup", "append", "rename", "checked", "journal_removed"} <= steps
    failures = [o for o in outcomes if not o.ok]
    assert not failures, failures
    assert all(o.valid_after for o in outcomes)
    # Both directions are exercised: crashes before the index rename roll back,
    # crashes after it roll forward.
    states = {o.state for o in outcomes}
    assert "before" in states  # a crash before the first commit's index rename leaves the root as it was
    assert "after" in states


def test_a_crashed_recovery_is_recovered_by_the_next_session(tmp_path) -> None:
    """Crash a re-import after its data append and after its index rename, then crash
    the recovery after each of its own steps: the session after that still recovers."""
    outcomes = crash_campaign.recovery_campaign(str(tmp_path), crash_points=["append", "rename:container.index.bin"])
    steps = {o.step.split(" / ")[1].split(":")[0] for o in outcomes}
    assert {"restore", "reset", "rolled_back", "rolled_forward"} <= steps
    failures = [o for o in outcomes if not o.ok]
    assert not failures, failures
