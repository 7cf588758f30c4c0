"""What ``oxy cook`` shows while it works, as a user sees it: in a real pseudo-terminal
(rendered with pyte, a terminal emulator: the final screen has the messages and the
summary, no scrolled bar lines) and through a pipe (plain lines, one per job event,
errors as each job reports them); ``-q``, ``-v``, ``--no-progress``; assimp's own
warnings summarised per source file."""
from __future__ import annotations

import fcntl
import json
import os
import pathlib
import re
import select
import struct
import subprocess
import sys
import termios

import pyte

from oxy.cli.console import THIRD_PARTY_SHOWN, DiagnosticFilter, Verbosity
from oxy.importing.types import ImportDiagnostic, Severity

from conftest import CORPUS, PROJECT

IMAGES = CORPUS / "images"
MODELS = CORPUS / "models"
MALFORMED = CORPUS / "malformed"
KING = MODELS / "fbx_ascii_kenney_king" / "king.fbx"  # 1 assimp warning, 2 of oxy's own
BAR_CHARACTERS = set("█░━╸╺▏▕") | {chr(c) for c in range(0x2800, 0x2900)}  # bars, rich's spinner (braille)
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
COLUMNS, ROWS = 400, 60  # wide: no message wraps, so each screen line is one message


def oxy_cook(*args: str) -> subprocess.CompletedProcess[str]:
    """``oxy cook`` with stdout and stderr on pipes."""
    return subprocess.run([sys.executable, "-m", "oxy", "cook", *args], capture_output=True, text=True,
                          cwd=PROJECT, timeout=300)


def oxy_cook_in_terminal(*args: str) -> tuple[int, bytes]:
    """``oxy cook`` with stdin, stdout and stderr on a pseudo-terminal of COLUMNS x ROWS;
    (exit code, every byte it wrote)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "oxy", "cook", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=PROJECT, env=env, close_fds=True)
    os.close(slave)
    data = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=300), bytes(data)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def final_screen(data: bytes) -> list[str]:
    """The non-empty lines a user sees on the terminal once the command has ended."""
    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.ByteStream(screen).feed(data)
    return [line.rstrip() for line in screen.display if line.strip()]


def warning_obj(folder: pathlib.Path) -> pathlib.Path:
    """A small OBJ that makes assimp log many different warnings (missing .mtl files,
    unknown materials): the case of a third-party model that drowns oxy's own warnings."""
    lines = ["v 0 0 0", "v 1 0 0", "v 0 1 0"]
    lines += [f"mtllib missing_{i}.mtl" for i in range(6)]
    for i in range(6):
        lines += [f"usemtl unknown_{i}", "f 1 2 3"]
    path = folder / "noisy.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_through_a_pipe_one_plain_line_per_job_event_and_errors_as_each_job_ends(tmp_path):
    inputs = [MALFORMED / "malformed.obj", MODELS / "gltf_Box" / "Box.gltf", MALFORMED / "badadler.png",
              IMAGES / "net.png"]
    result = oxy_cook(*map(str, inputs), "-o", str(tmp_path / "root"))
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    err = result.stderr
    assert "\r" not in err and "\x1b" not in err and not BAR_CHARACTERS & set(err)
    lines = err.splitlines()
    assert all(line.startswith("oxy cook: ") for line in lines), lines

    def where(text: str) -> int:
        found = [n for n, line in enumerate(lines) if text in line]
        assert len(found) == 1, (text, lines)
        return found[0]

    # the models' job (both models in one batch), then the images' job; each event once
    assert where("[1/2] queued: malformed.obj (+1 more)") < where("[1/2] parsing: malformed.obj")
    model_error = where("error scene.parse_failed: " + str(MALFORMED / "malformed.obj"))
    model_end = where("[1/2] failed after")
    image_start = where("[2/2] queued: badadler.png (+1 more)")
    image_error = where("error texture.decode_failed: " + str(MALFORMED / "badadler.png"))
    summary = where("4 source(s) in 2 job(s)")
    # the model's error is printed as its job reports it, before the next job even starts
    assert model_error < model_end < image_start < image_error < where("[2/2] failed after") < summary
    assert where("[2/2] textures") > image_start  # one line for the phase, not one per texture
    assert "2 error(s)" in lines[summary] and summary == len(lines) - 2  # then the counts line


def test_in_a_terminal_the_display_redraws_in_place_and_leaves_messages_and_summary(tmp_path):
    inputs = [KING, IMAGES / "Wrinkles.jpg", IMAGES / "Concrete.tga", MALFORMED / "badadler.png"]
    code, data = oxy_cook_in_terminal(*map(str, inputs), "-o", str(tmp_path / "root"), "--threads", "1",
                                      "--no-cache")
    assert code == 4, data.decode(errors="replace")[-3000:]
    shown = ANSI.sub(b"", data).decode("utf-8", "replace")
    # the live display was drawn: job lines with the file names, phase and items, an overall line
    tail = shown[-3000:]
    assert re.search(r"\[1/2\] king\.fbx\s+(parsing|textures|materials|geometry|scene|writing)", shown), tail
    assert re.search(r"\[2/2\] Wrinkles\.jpg \(\+2 more\)\s+textures", shown), tail
    assert re.search(r"job 2 of 2, \d+ texture\(s\) done", shown), tail
    assert "ETA" in shown and BAR_CHARACTERS & set(shown)
    # progress inside the first (largest) texture, before any texture of the job has ended
    inside = [int(p) for p in re.findall(r"\[2/2\] Wrinkles\.jpg \(\+2 more\)\s+textures 0/3[^%]*?(\d+)%", shown)]
    assert any(0 < p < 100 for p in inside), tail
    screen = final_screen(data)
    text = "\n".join(screen)
    # ... and erased: what stays is the messages and the summary, no bar line
    assert not BAR_CHARACTERS & set(text), screen
    assert "ETA" not in text and "[1/2]" not in text and "[2/2]" not in text, screen
    assert all(line.startswith("oxy cook: ") for line in screen), screen
    assert sum("warning scene.texture_path_fallback" in line for line in screen) == 2
    assert sum("warning scene.assimp_warning" in line for line in screen) == 1
    assert sum("error texture.decode_failed" in line and "badadler.png" in line for line in screen) == 1
    assert "4 source(s) in 2 job(s), wrote" in screen[-2] and "1 error(s)" in screen[-2]
    # the error of the first image came out while the other textures were still cooking
    error_at = shown.index("error texture.decode_failed")
    assert re.search(r"\[2/2\] Wrinkles\.jpg \(\+2 more\)\s+textures", shown[error_at:]), tail


def test_no_progress_in_a_terminal_prints_plain_lines(tmp_path):
    code, data = oxy_cook_in_terminal(str(IMAGES / "net.png"), "-o", str(tmp_path / "root"), "--no-progress")
    assert code == 0, data
    assert b"\x1b" not in data and not BAR_CHARACTERS & set(data.decode())
    lines = data.decode().replace("\r\n", "\n").splitlines()  # the terminal turns \n into \r\n
    assert lines[0] == "oxy cook: [1/1] queued: net.png"
    assert lines[1] == "oxy cook: [1/1] textures 0/1: net.png"  # the phase started, 0 of 1 done
    assert "\r" not in "\n".join(lines)


def test_quiet_prints_errors_and_the_summary_only(tmp_path):
    result = oxy_cook(str(KING), str(MALFORMED / "badadler.png"), str(IMAGES / "net.png"),
                      "-o", str(tmp_path / "root"), "-q")
    assert result.returncode == 4
    lines = result.stderr.splitlines()
    assert len(lines) == 3, lines
    assert "error texture.decode_failed" in lines[0] and "badadler.png" in lines[0]
    assert "3 source(s) in 2 job(s), wrote" in lines[1] and "1 error(s), 3 warning(s) (1 from assimp)" in lines[1]
    assert lines[2].startswith("oxy cook: geometry: ")


def test_assimp_warnings_are_summarised_per_file_and_oxys_own_always_shown(tmp_path):
    noisy = warning_obj(tmp_path)
    args = [str(noisy), str(KING), "--no-cache"]
    verbose = oxy_cook(*args, "-o", str(tmp_path / "verbose"), "-v")
    assert verbose.returncode == 0, verbose.stderr
    every = [line for line in verbose.stderr.splitlines() if "warning scene.assimp_warning" in line]
    noisy_all = [line for line in every if str(noisy) in line]
    assert len(noisy_all) > THIRD_PARTY_SHOWN + 3 and len(every) == len(noisy_all) + 1  # king.fbx warns once
    assert "not shown" not in verbose.stderr

    normal = oxy_cook(*args, "-o", str(tmp_path / "normal"))
    assert normal.returncode == 0, normal.stderr
    lines = normal.stderr.splitlines()
    shown = [line for line in lines if "warning scene.assimp_warning" in line]
    assert [line for line in shown if str(noisy) in line] == noisy_all[:THIRD_PARTY_SHOWN]  # the first three
    assert len([line for line in shown if str(KING) in line]) == 1
    [note] = [line for line in lines if "not shown" in line]
    hidden = len(noisy_all) - THIRD_PARTY_SHOWN
    assert f"{hidden} more assimp warning(s) about {noisy} not shown ({len(noisy_all)} in all" in note
    assert "-v shows every one" in note
    # oxy's own warnings about king.fbx are all there, however loud assimp was
    assert sum("warning scene.texture_path_fallback" in line for line in lines) == 2
    assert f"({len(noisy_all) + 1} from assimp)" in lines[-2]


def test_json_keeps_stdout_a_json_document(tmp_path):
    result = oxy_cook(str(IMAGES / "net.png"), "-o", str(tmp_path / "root"), "--json", "-v")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [job["success"] for job in doc["jobs"]] == [True]
    assert "[1/1] queued: net.png" in result.stderr


def test_help_does_not_import_rich():
    code = ("import sys\nfrom oxy.cli.main import main\ntry:\n    main(['cook', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('rich' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT, timeout=60)
    assert result.stderr.strip() == "False", result.stderr
    assert "--quiet" in result.stdout and "--verbose" in result.stdout and "--no-progress" in result.stdout


def test_filter_counts_third_party_warnings_per_source():
    def assimp(source: str, n: int) -> ImportDiagnostic:
        return ImportDiagnostic(Severity.WARNING, "scene.assimp_warning", f"message {n}", source)

    own = ImportDiagnostic(Severity.WARNING, "scene.normals_repaired", "repaired", "a.fbx")
    info = ImportDiagnostic(Severity.INFO, "scene.note", "fyi", "a.fbx")
    error = ImportDiagnostic(Severity.ERROR, "scene.parse_failed", "bad", "b.fbx")
    normal = DiagnosticFilter(Verbosity.NORMAL)
    assert [normal.admit(assimp("a.fbx", n)) for n in range(5)] == [True, True, True, False, False]
    assert normal.admit(assimp("b.fbx", 0)) and normal.admit(own) and normal.admit(error) and not normal.admit(info)
    assert normal.hidden("a.fbx") == 2 and normal.hidden("b.fbx") == 0 and normal.hidden_note("b.fbx") is None
    assert normal.third_party_total() == 6
    verbose = DiagnosticFilter(Verbosity.VERBOSE)
    assert all(verbose.admit(assimp("a.fbx", n)) for n in range(5)) and verbose.admit(info)
    assert verbose.hidden("a.fbx") == 0
    quiet = DiagnosticFilter(Verbosity.QUIET)
    assert quiet.admit(error) and not quiet.admit(own) and not quiet.admit(assimp("a.fbx", 0))
    assert quiet.third_party_total() == 1 and quiet.hidden("a.fbx") == 0  # counted for the summary, no note


def test_texture_progress_inside_a_texture_keeps_the_cooked_bytes():
    """Strip-wise BC7 encoding reports progress and makes the very bytes of one call."""
    from oxy.cook import bc7
    from oxy.cook.texture import cook_texture_files, settings_for, watch_progress

    data = (IMAGES / "Wrinkles.jpg").read_bytes()
    for preset in ("albedo", "hdr"):
        settings = settings_for(preset, quality="fast")
        whole = cook_texture_files([("w.jpg", data)], settings)
        seen: list[tuple[str, int, int]] = []
        with watch_progress(["w.jpg"], lambda name, done, total: seen.append((name, done, total))):
            stripped = cook_texture_files([("w.jpg", data)], settings)
            cook_texture_files([("other.jpg", data)], settings)  # not watched
        assert stripped == whole
        assert {name for name, _, _ in seen} == {"w.jpg"} and len(seen) > 3
        assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen) and seen[-1][1] == seen[-1][2]
        assert len({t for _, _, t in seen}) == 1
    from oxy.cook import texture

    assert not texture._sinks  # every watch removed its sinks
    rows = bc7.strip_rows(1024)
    assert rows % 4 == 0 and rows * 1024 * 4 <= bc7.STRIP_BYTES
