"""oxy.daemon.memdebug: the environment-gated memory reports a soak reads from the daemon.

A real child process each time (signal handlers and tracemalloc are process-wide)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import PROJECT

SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from oxy.daemon import memdebug
    print(memdebug.install(), flush=True)
    keep = [bytearray(100) for _ in range(30000)]   # small blocks (pymalloc's): ~5 MB that outlive the first report
    os.kill(os.getpid(), signal.SIGUSR2)
    keep += [bytearray(100) for _ in range(30000)]  # ~5 MB more before the second
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(0.1)
""")


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=PROJECT,
                          env={**os.environ, **env}, timeout=120)


def test_reports_on_sigusr2_when_the_environment_asks(tmp_path):
    result = _run({"OXY_MEMDEBUG": str(tmp_path), "OXY_MEMDEBUG_FRAMES": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    reports = sorted(tmp_path.glob("memdebug-*-*.json"))
    assert [p.name.rsplit("-", 1)[1] for p in reports] == ["0001.json", "0002.json"]
    first, second = (json.loads(p.read_text()) for p in reports)
    for doc in (first, second):
        assert doc["smaps_rollup"]["Rss"] > 0 and doc["smaps_rollup"]["Anonymous"] > 0
        assert doc["mallinfo2"]["uordblks"] > 0
        assert doc["pymalloc"] == {}  # CPython hides pymalloc's statistics while tracemalloc wraps it
        assert doc["gc_objects"] > 0 and doc["tracemalloc"]["current"] > 0
    # the second report's difference names this script's line and the ~5 MB it added
    grown = {where: size for where, size, _count in second["tracemalloc"]["diff"]}
    line = next(size for where, size in grown.items() if where.startswith("<string>:7"))
    assert 30000 * 100 <= line <= 30000 * 250
    assert "gc_delta" in second and "gc_delta" not in first
    assert not list(tmp_path.glob("*.tmp"))


def test_without_tracemalloc_the_reports_show_pymalloc(tmp_path):
    result = _run({"OXY_MEMDEBUG": str(tmp_path), "OXY_MEMDEBUG_FRAMES": "0"})
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(p.read_text()) for p in sorted(tmp_path.glob("memdebug-*.json")))
    assert "tracemalloc" not in first and "tracemalloc" not in second
    assert first["pymalloc"]["arenas"] > 0 and first["pymalloc"]["allocated"] > 0
    # the second 30,000 bytearrays (object and 101-byte buffer each, both pymalloc's)
    assert 30000 * 100 <= second["pymalloc"]["allocated"] - first["pymalloc"]["allocated"] <= 30000 * 250
    assert "Total" not in result.stderr  # the statistics went to the report, not to stderr


def test_does_nothing_without_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OXY_MEMDEBUG")}
    result = subprocess.run([sys.executable, "-c", SCRIPT.replace("os.kill(os.getpid(), signal.SIGUSR2)", "pass")],
                            capture_output=True, text=True, cwd=PROJECT, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert not list(tmp_path.iterdir())


def test_set_mmap_threshold_maps_large_blocks_of_their_own():
    script = textwrap.dedent("""
        import sys
        from oxy.daemon import memdebug
        before = memdebug.mallinfo()["hblks"]
        print(memdebug.set_mmap_threshold(64 << 10) if sys.argv[1] == "set" else "default")
        keep = [bytearray(100_000) for _ in range(20)]  # under glibc's default 128 KiB: heap blocks
        print(memdebug.mallinfo()["hblks"] - before)
    """)
    mapped = {}
    for mode in ("set", "default"):
        result = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, cwd=PROJECT,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        answer, count = result.stdout.split()
        assert answer == ("True" if mode == "set" else "default")
        mapped[mode] = int(count)
    assert mapped["set"] >= 15 and mapped["default"] <= 2, mapped
