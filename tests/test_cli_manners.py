"""Unix manners of the ``oxy`` command line: did-you-mean, -V, completion, a closed pipe,
``-o`` checks, and a busy root that names its holder."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import pytest

from conftest import PROJECT
from oxy.build.rootlock import RootLock, holder_of, wait_until_free
from oxy.cli.common import ExitCode, check_output_root, prepare_output_file


def oxy(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-m", "oxy", *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT, timeout=120, **kw)  # type: ignore[call-overload]


def test_misspelt_subcommand_choice_and_option_get_a_suggestion() -> None:
    r = oxy("cok", "x", "-o", "y")
    assert r.returncode == ExitCode.USAGE and "did you mean 'cook'?" in r.stderr
    r = oxy("cook", "x", "-o", "y", "--forse")
    assert r.returncode == ExitCode.USAGE and "did you mean '--force'?" in r.stderr
    r = oxy("cook", "x", "-o", "y", "--quality", "hgih")
    assert r.returncode == ExitCode.USAGE and "did you mean 'high'?" in r.stderr
    r = oxy("zzzzzz")
    assert r.returncode == ExitCode.USAGE and "did you mean" not in r.stderr


def test_version_and_completion() -> None:
    from oxy import __version__

    for flag in ("-V", "--version"):
        r = oxy(flag)
        assert r.returncode == 0 and r.stdout.strip() == f"oxy {__version__}"
    r = oxy("--print-completion", "bash")
    assert r.returncode == 0
    for word in ("cook", "validate", "inspect", "--quality", "complete"):
        assert word in r.stdout, word
    script = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"oxy-completion-{os.getpid()}.bash"
    script.write_text(r.stdout)
    try:
        check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    finally:
        script.unlink()


def test_closed_pipe_ends_quietly(tmp_path: pathlib.Path) -> None:
    from oxy.samples import many_materials, write_loose_root

    root = tmp_path / "big"
    write_loose_root(root, many_materials(2000))
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    proc = subprocess.Popen([sys.executable, "-m", "oxy", "inspect", str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=PROJECT)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    code = proc.wait(60)
    assert first
    assert err == b"", err.decode(errors="replace")
    assert code == ExitCode.BROKEN_PIPE


def test_pack_output_folder_is_created_or_named(tmp_path: pathlib.Path, sample_root: pathlib.Path) -> None:
    out = tmp_path / "new" / "deeper" / "game.pak"
    r = oxy("pack", str(sample_root), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert oxy("validate", str(out)).returncode == 0
    r = oxy("pack", str(sample_root), "-o", str(tmp_path))
    assert r.returncode == ExitCode.IO_ERROR and "is a folder" in r.stderr and ".tmp" not in r.stderr
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    r = oxy("pack", str(sample_root), "-o", str(blocker / "x.pak"))
    assert r.returncode == ExitCode.IO_ERROR and "is a file, not a folder" in r.stderr


def test_prepare_output_file_and_check_output_root(tmp_path: pathlib.Path, sample_root: pathlib.Path) -> None:
    assert prepare_output_file(str(tmp_path / "a" / "b.pak")) is None and (tmp_path / "a").is_dir()
    assert "is a folder" in (prepare_output_file(str(tmp_path)) or "")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert "not a directory" in (check_output_root(str(plain), force=False) or "")
    assert "is a file" in (check_output_root(str(plain / "root"), force=False) or "")
    mixed = tmp_path / "documents"
    mixed.mkdir()
    (mixed / "letter.txt").write_text("hello")
    assert "not a cooked root" in (check_output_root(str(mixed), force=False) or "")
    assert check_output_root(str(mixed), force=True) is None
    assert check_output_root(str(tmp_path / "empty-new"), force=False) is None
    assert check_output_root(str(sample_root), force=False) is None


def test_a_busy_root_names_its_holder_and_waits_with_a_bound(sample_root: pathlib.Path) -> None:
    assert holder_of(str(sample_root)) is None
    lock = RootLock(str(sample_root))
    assert lock.try_acquire()
    try:
        holder = holder_of(str(sample_root))
        assert holder is not None and f"pid {os.getpid()}" in holder
        told: list[str] = []
        start = time.monotonic()
        assert not wait_until_free(str(sample_root), 0.3, told.append)
        assert time.monotonic() - start >= 0.3
        assert told == [holder]
        r = oxy("compact", str(sample_root))
        assert r.returncode != 0 and f"pid {os.getpid()}" in r.stderr, r.stderr
    finally:
        lock.release()
    assert holder_of(str(sample_root)) is None
    assert wait_until_free(str(sample_root), 0.0)


@pytest.mark.parametrize("args", [("--help",), ("cook", "--help")])
def test_help_does_not_import_the_heavy_layers(args: tuple[str, ...]) -> None:
    code = ("import sys; from oxy.cli.main import main\n"
            "try:\n    main(list(sys.argv[1:]))\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('gevent', 'numpy', 'PIL', 'pyassimp', 'construct', 'rich', 'shtab') "
            "if m in sys.modules)\nprint('HEAVY', heavy, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=PROJECT,
                       env={**os.environ, "PYTHONPATH": str(PROJECT)}, timeout=60)
    assert "HEAVY []" in r.stderr, r.stderr[-500:]


def test_one_severity_enum() -> None:
    import re

    import oxy.importing.types as import_types
    import oxy.validate as validate

    assert import_types.Severity is validate.Severity
    defined = [p for p in (PROJECT / "oxy").rglob("*.py") if re.search(r"^class Severity\b", p.read_text(), re.M)]
    assert [p.relative_to(PROJECT).as_posix() for p in defined] == ["oxy/validate/diagnostics.py"]
