#!/usr/bin/env python3
"""Crash injection against oxy's commit protocol.

Two campaigns, both on real cooks of real content:

* **step injection** (``steps``): for each scenario (a texture cook into a fresh
  root, a scene cook into a root that holds textures, a re-import of both), a
  child process cooks with ``oxy.build.commit.STEP_HOOK`` set to ``os._exit`` after
  the N-th step of the commit, for every N. After each crash the next oxy session
  (an import session opening the root, as any cook does) must leave the root valid,
  and the root must then be exactly the state before the cook (rolled back) or
  exactly the state an uncrashed cook produces (rolled forward): every asset
  descriptor and every texture and buffer payload byte for byte.
* **crashed recovery** (``recovery``): a re-import is crashed at every commit step
  that leaves a journal, then the recovery itself is crashed after each of its
  steps; the session after that must still leave a valid root in a committed state.
* **kill -9** (``kill``): the real ``oxy cook`` command (async service, hub thread,
  CPU pool) is killed with SIGKILL, every other run at a random moment, the others
  inside a commit (0-3 ms after the journal of a random commit appears); the next
  session must leave the root valid with every previously committed asset and
  resource unchanged.

Both count how many roots were valid at once (before any recovery) and after the
next session (which must be all). Results go to stdout (and ``--json``); the
summary is kept in ``docs/reliability.md``. ``tests/test_crash_injection.py`` runs
the step campaign on bundled samples.

    python tools/crash_campaign.py steps [--scenario texture|scene|reimport] [--json F]
    python tools/crash_campaign.py recovery [--json F]
    python tools/crash_campaign.py kill --runs 200 [--seed 1] [--json F]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(PROJECT, "samples")
TEXTURES = sorted(os.path.join(SAMPLES, "textures", n) for n in os.listdir(os.path.join(SAMPLES, "textures")))
MODEL = os.path.join(SAMPLES, "models", "brick_cube.gltf")
CRASH_EXIT = 99

Snapshot = dict[str, str]


# ------------------------------------------------------------------ what a root holds
def snapshot(root: str) -> Snapshot:
    """Every asset descriptor and every texture/buffer payload of ``root`` as SHA-256
    hex, read through the committed index (what the engine would read)."""
    import numpy as np

    from oxy.formats import FileKind, parse_index
    from oxy.formats.loose import INDEX_FILE_NAME
    from oxy.formats.resources import BUFFER_DESC_DTYPE, TEXTURE_DESC_DTYPE
    from oxy.rootfs import read_inside

    out: Snapshot = {}
    try:
        index = parse_index(read_inside(root, INDEX_FILE_NAME))
    except FileNotFoundError:
        return out
    for asset in index.assets:
        out[f"asset:{asset.virtual_path}"] = hashlib.sha256(read_inside(root, asset.descriptor_relpath)).hexdigest()
    for name, table_kind, data_kind, dtype in (("texture", FileKind.TEXTURES_TABLE, FileKind.TEXTURES_DATA,
                                                TEXTURE_DESC_DTYPE),
                                               ("buffer", FileKind.BUFFERS_TABLE, FileKind.BUFFERS_DATA,
                                                BUFFER_DESC_DTYPE)):
        table_file, data_file = index.file(table_kind), index.file(data_kind)
        if table_file is None or data_file is None:
            continue
        rows = np.frombuffer(read_inside(root, table_file.relpath)[:table_file.size], dtype)
        data = read_inside(root, data_file.relpath)
        for i, row in enumerate(rows):
            start, size = int(row["data_offset"]), int(row["size_bytes"])
            out[f"{name}:{i}"] = hashlib.sha256(data[start:start + size]).hexdigest()
    return out


def root_errors(root: str) -> list[str]:
    """Every ERROR the validator finds in ``root`` (deep), or why it cannot look."""
    from oxy.validate import validate_loose_root

    if not os.path.exists(os.path.join(root, "container.index.bin")):
        return []  # a root that never committed: nothing to mount, nothing wrong
    try:
        return [str(d) for d in validate_loose_root(root).errors]
    except OSError as exc:
        return [f"unreadable: {exc}"]


def leftovers(root: str) -> list[str]:
    """Journal and temporaries still in ``root``."""
    from oxy.build.journal import JOURNAL_FILE_NAME, TEMPORARY_MARKERS

    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name == JOURNAL_FILE_NAME or any(m in name for m in TEMPORARY_MARKERS):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return found


def next_session(root: str) -> list[str]:
    """What any cook does first: open an import session on the root (lock, recover,
    read), then leave it without writing. Returns the recovery notes."""
    from oxy.importing.session import ImportSession
    from oxy.importing.session_io import DirectSessionIO

    with ImportSession(root, DirectSessionIO()) as session:
        notes = [d.message for d in session.diagnostics]
    return notes


def loader_check(root: str) -> list[str]:
    """Mount ``root`` with oxy's AssetLoader and load every asset; the failures."""
    from oxy.formats import parse_index
    from oxy.formats.loose import INDEX_FILE_NAME
    from oxy.rootfs import read_inside
    from oxy.runtime import AssetLoader

    if not os.path.exists(os.path.join(root, INDEX_FILE_NAME)):
        return []
    problems = []
    index = parse_index(read_inside(root, INDEX_FILE_NAME))
    with AssetLoader() as loader:
        try:
            loader.add_loose_cooked_root(root)
        except Exception as exc:  # noqa: BLE001 - a campaign counts every failure
            return [f"mount: {type(exc).__name__}: {exc}"]
        for asset in index.assets:
            try:
                loader.load_asset(asset.key).result(timeout=60)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{asset.virtual_path}: {type(exc).__name__}: {exc}")
    return problems


# ---------------------------------------------------------------------- scenarios
def _cook(root: str, sources: list[str]) -> None:
    from oxy import AssetImporter
    from oxy.importing import ImportRequest

    importer = AssetImporter()
    for source in sources:
        report = importer.import_to_loose_cooked(ImportRequest(source, root))
        if not report.success:
            raise RuntimeError(f"cook of {source} failed: {[str(d) for d in report.diagnostics]}")


@dataclass(frozen=True)
class Scenario:
    name: str
    prepare: tuple[str, ...]   # cooked (uncrashed) before the crashing cook
    crashing: tuple[str, ...]  # the cook whose commit crashes
    #: Cook copies of the samples and change the model's texture between the two cooks,
    #: so the crashing cook really re-commits (an unchanged source writes nothing).
    variant: bool = False


SCENARIOS = {
    "texture": Scenario("texture", (), tuple(TEXTURES)),
    "scene": Scenario("scene", (TEXTURES[0],), (MODEL,)),
    "reimport": Scenario("reimport", (TEXTURES[0], MODEL), (TEXTURES[1], MODEL), variant=True),
}


def _step_recorder(steps_file: str, crash_at: int, after: Callable[[str], None] | None = None
                   ) -> Callable[[str], None]:
    """A step hook: append each step's name to ``steps_file``; exit the process at step
    number ``crash_at`` (1-based; 0 never); else call ``after(step)``."""
    seen = [0]

    def hook(step: str) -> None:
        seen[0] += 1
        with open(steps_file, "a") as fh:
            fh.write(f"{step}\n")
        if seen[0] == crash_at:
            os._exit(CRASH_EXIT)
        if after is not None:
            after(step)
    return hook


def _child(root: str, sources: list[str], crash_at: int, steps_file: str) -> None:
    """Cook ``sources`` into ``root``; record each commit step; die at step ``crash_at``."""
    import oxy.build.commit as commit

    def record_state(step: str) -> None:
        if crash_at == 0 and step == "cleaned":  # the reference run: every committed state
            with open(f"{steps_file}.states", "a") as fh:
                fh.write(json.dumps(snapshot(root)) + "\n")

    commit.STEP_HOOK = _step_recorder(steps_file, crash_at, record_state)
    _cook(root, sources)


def _recover_child(root: str, crash_at: int, steps_file: str) -> None:
    """Recover ``root`` (as ``oxy validate --repair`` does); die at recovery step ``crash_at``."""
    import oxy.build.journal as journal
    from oxy.build import recover_root

    journal.RECOVERY_HOOK = _step_recorder(steps_file, crash_at)
    recover_root(root)


def _run_child(root: str, sources: tuple[str, ...], crash_at: int, steps_file: str) -> int:
    """Cook ``sources`` (or, with no sources, recover the root) in a child process."""
    cmd = [sys.executable, os.path.abspath(__file__), "child", "--root", root, "--crash-at", str(crash_at),
           "--steps-file", steps_file, *(sources or ["--recover"])]
    env = dict(os.environ, PYTHONPATH=PROJECT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300).returncode


@dataclass
class Outcome:
    scenario: str
    step: str
    valid_at_once: bool
    valid_after: bool
    state: str  # "before", "after", "intermediate" (after one of the cook's commits), "superset", "other"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.valid_after and self.state != "other" and not self.problems


@dataclass
class Reference:
    """A scenario's prepared root, its state, and what an uncrashed cook does to it."""

    base: str
    before: Snapshot
    after: Snapshot
    committed: list[Snapshot]   # the state after each commit of the cook
    steps: list[str]            # every commit step of the cook, in order
    crashing: tuple[str, ...] = ()  # the sources of the crashing cook

    def classify(self, now: Snapshot) -> str:
        return ("before" if now == self.before else "after" if now == self.after
                else "intermediate" if now in self.committed else "other")


def _variant_sources(scenario: Scenario, workdir: str) -> tuple[list[str], tuple[str, ...], str]:
    """(prepare, crashing, changed texture): the scenario's sources, copied into
    ``workdir`` for a variant scenario."""
    if not scenario.variant:
        return list(scenario.prepare), scenario.crashing, ""
    src = os.path.join(workdir, f"{scenario.name}-src")
    for folder in ("models", "textures"):
        shutil.copytree(os.path.join(SAMPLES, folder), os.path.join(src, folder))

    def moved(path: str) -> str:
        return os.path.join(src, os.path.relpath(path, SAMPLES))
    return [moved(p) for p in scenario.prepare], tuple(moved(p) for p in scenario.crashing), \
        os.path.join(src, "textures", "brick.png")


def reference_run(scenario: Scenario, workdir: str) -> Reference:
    base = os.path.join(workdir, f"{scenario.name}-base")
    os.makedirs(base)
    prepare, crashing, changed = _variant_sources(scenario, workdir)
    _cook(base, prepare)
    if changed:  # the model's texture changes: its material is re-committed
        shutil.copyfile(os.path.join(SAMPLES, "textures", "checker.png"), changed)
    reference = os.path.join(workdir, f"{scenario.name}-reference")
    shutil.copytree(base, reference)
    steps_file = os.path.join(workdir, f"{scenario.name}-steps")
    code = _run_child(reference, crashing, 0, steps_file)
    if code != 0:
        raise RuntimeError(f"{scenario.name}: the uncrashed cook exited {code}")
    with open(f"{steps_file}.states") as fh:
        committed = [json.loads(line) for line in fh]
    with open(steps_file) as fh:
        steps = fh.read().split()
    after = snapshot(reference)
    shutil.rmtree(reference)
    return Reference(base, snapshot(base), after, committed, steps, crashing)


def _check_recovered(ref: Reference, root: str, scenario: str, step: str, at_once: bool,
                     problems: list[str], check_loader: bool) -> Outcome:
    """Open the next session on ``root`` and judge what it left."""
    next_session(root)
    errors = root_errors(root)
    problems = problems + errors + [f"left behind: {p}" for p in leftovers(root)]
    if check_loader:
        problems += loader_check(root)
    state = ref.classify(snapshot(root))
    if state == "other":
        problems.append("root is not a state any commit of the cook left")
    return Outcome(scenario, step, at_once, not errors, state, problems)


def step_campaign(scenario: Scenario, workdir: str, *, check_loader: bool = False,
                  progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Crash after every commit step of ``scenario``; one Outcome per step."""
    ref = reference_run(scenario, workdir)
    outcomes = []
    for n, step in enumerate(ref.steps, start=1):
        root = os.path.join(workdir, f"{scenario.name}-{n}")
        shutil.copytree(ref.base, root)
        code = _run_child(root, ref.crashing, n, os.path.join(workdir, f"{scenario.name}-{n}-steps"))
        problems = [] if code == CRASH_EXIT else [f"child exited {code}, not by the injected crash"]
        outcome = _check_recovered(ref, root, scenario.name, step, not root_errors(root), problems, check_loader)
        outcomes.append(outcome)
        if progress:
            progress(f"{scenario.name} step {n}/{len(ref.steps)} {step}: {outcome.state}, "
                     f"valid at once {outcome.valid_at_once}")
        shutil.rmtree(root)
    return outcomes


def recovery_campaign(workdir: str, *, crash_points: list[str] | None = None,
                      progress: Callable[[str], None] | None = None) -> list[Outcome]:
    """Crash a re-import at commit steps that leave a journal, then crash the recovery
    after each of its own steps; the session after that must still recover."""
    scenario = SCENARIOS["reimport"]
    ref = reference_run(scenario, workdir)
    journaled, inside = [], False   # (step number, name) of every step that leaves a journal
    for n, step in enumerate(ref.steps, start=1):
        inside = (inside or step == "journal") and step != "journal_removed"
        if inside and (crash_points is None or step in crash_points or step.split(":")[0] in crash_points):
            journaled.append((n, step))
    outcomes = []
    for n, point in journaled:
        crashed = os.path.join(workdir, f"recovery-{n}")
        shutil.copytree(ref.base, crashed)
        _run_child(crashed, ref.crashing, n, os.path.join(workdir, f"recovery-{n}-steps"))
        steps_file = os.path.join(workdir, f"recovery-{n}-rsteps")
        probe = f"{crashed}-probe"
        shutil.copytree(crashed, probe)
        _run_child(probe, (), 0, steps_file)
        shutil.rmtree(probe)
        with open(steps_file) as fh:
            rsteps = fh.read().split()
        for m, rstep in enumerate(rsteps, start=1):
            root = f"{crashed}-{m}"
            shutil.copytree(crashed, root)
            code = _run_child(root, (), m, f"{root}-steps")
            problems = [] if code == CRASH_EXIT else [f"recovery child exited {code}, not by the injected crash"]
            outcome = _check_recovered(ref, root, "recovery", f"{point} / {rstep}", not root_errors(root),
                                       problems, False)
            outcomes.append(outcome)
            if progress:
                progress(f"recovery after {point}, crashed at {m}/{len(rsteps)} {rstep}: {outcome.state}")
            shutil.rmtree(root)
        shutil.rmtree(crashed)
    return outcomes


# ---------------------------------------------------------------------- kill -9
def kill_campaign(runs: int, seed: int, workdir: str, *, progress: Callable[[str], None] | None = None
                  ) -> list[Outcome]:
    """Kill the real ``oxy cook`` at random moments; check what the next session finds."""
    rng = random.Random(seed)
    oxy = os.path.join(os.path.dirname(sys.executable), "oxy")
    cmd_base = [oxy, "cook", *TEXTURES, MODEL, "--threads", "2"]
    base = os.path.join(workdir, "kill-base")
    _cook(base, [TEXTURES[0], MODEL])
    before = snapshot(base)
    probe = os.path.join(workdir, "kill-probe")
    shutil.copytree(base, probe)
    started = time.perf_counter()
    subprocess.run([*cmd_base, "-o", probe], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    duration = time.perf_counter() - started
    outcomes = []
    for n in range(runs):
        root = os.path.join(workdir, f"kill-{n}")
        shutil.copytree(base, root)
        proc = subprocess.Popen([*cmd_base, "-o", root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if n % 2:  # at a random moment of the cook
            delay = rng.uniform(0.0, duration * 1.1)
            time.sleep(delay)
            label = f"{delay:.3f}s"
        else:  # inside a commit: as soon as its journal appears, plus 0-3 ms
            label = _kill_at_journal(proc, root, rng.uniform(0.0, 0.003), rng.randrange(2))  # 2 commits
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_once = not root_errors(root)
        next_session(root)
        errors = root_errors(root)
        problems = errors + [f"left behind: {p}" for p in leftovers(root)]
        now = snapshot(root)
        lost = [k for k, v in before.items() if k.startswith(("texture:", "buffer:")) and now.get(k) != v]
        problems += [f"resource changed or lost: {k}" for k in lost]
        state = "before" if now == before else "superset"
        outcomes.append(Outcome("kill" if n % 2 else "kill-in-commit", label, at_once, not errors, state, problems))
        if progress:
            progress(f"kill {n + 1}/{runs} at {label}: {state}, valid at once {at_once}, "
                     f"{len(problems)} problem(s)")
        shutil.rmtree(root)
    return outcomes


def _kill_at_journal(proc: subprocess.Popen, root: str, extra: float, skip: int) -> str:
    """Wait until the ``skip``-th commit's journal of ``root`` appears (polling), then
    ``extra`` seconds more; the label of the moment (the caller sends the signal)."""
    from oxy.formats.loose import JOURNAL_FILE_NAME

    journal, seen, present = os.path.join(root, JOURNAL_FILE_NAME), 0, False
    while proc.poll() is None:
        now = os.path.exists(journal)
        if now and not present:
            if seen == skip:
                time.sleep(extra)
                return f"commit {seen + 1} +{extra * 1000:.1f}ms"
            seen += 1
        present = now
        time.sleep(0.0002)
    return f"finished before commit {skip + 1}"


def summarize(outcomes: list[Outcome]) -> dict[str, object]:
    """Per scenario: runs, valid at once, valid after the next session, and which state
    the root was left in (the one before the cook, after one of its earlier commits,
    after the whole cook, or, for kill runs, any superset of the previous content)."""
    by: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = by.setdefault(o.scenario, {"runs": 0, "valid_at_once": 0, "valid_after_next_session": 0,
                                         "failures": 0})
        row["runs"] += 1
        row["valid_at_once"] += o.valid_at_once
        row["valid_after_next_session"] += o.valid_after
        row[f"state_{o.state}"] = row.get(f"state_{o.state}", 0) + 1
        row["failures"] += not o.ok
    return {"by_scenario": by, "failures": [asdict(o) for o in outcomes if not o.ok]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    steps = sub.add_parser("steps", help="crash after every commit step")
    steps.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    steps.add_argument("--loader", action="store_true", help="also mount and load every asset after recovery")
    sub.add_parser("recovery", help="crash commits, then crash their recovery at every step")
    kill = sub.add_parser("kill", help="kill -9 real oxy cook runs at random moments")
    kill.add_argument("--runs", type=int, default=100)
    kill.add_argument("--seed", type=int, default=1)
    for p in (steps, kill, sub.choices["recovery"]):
        p.add_argument("--json", help="write the outcomes here")
    child = sub.add_parser("child")
    child.add_argument("--root", required=True)
    child.add_argument("--crash-at", type=int, required=True)
    child.add_argument("--steps-file", required=True)
    child.add_argument("--recover", action="store_true", help="recover the root instead of cooking")
    child.add_argument("sources", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "child":
        if args.recover:
            _recover_child(args.root, args.crash_at, args.steps_file)
        else:
            _child(args.root, args.sources, args.crash_at, args.steps_file)
        return 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="oxy-crash-") as workdir:
        if args.command == "steps":
            outcomes = []
            for name in args.scenario or sorted(SCENARIOS):
                outcomes += step_campaign(SCENARIOS[name], workdir, check_loader=args.loader, progress=print)
        elif args.command == "recovery":
            outcomes = recovery_campaign(workdir, progress=print)
        else:
            outcomes = kill_campaign(args.runs, args.seed, workdir, progress=print)
    summary = summarize(outcomes)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary["by_scenario"], indent=1))
    for failure in summary["failures"]:  # type: ignore[attr-defined]
        print("FAILED:", failure)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=1)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
