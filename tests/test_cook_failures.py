"""Bad input and bad luck while cooking: each fails alone, and the root's previous
index always stays valid (issue 5)."""
from __future__ import annotations

import pathlib
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import gevent
import pytest

from oxy.cook.image_decode import MAX_TEXTURE_PIXELS, ImageDecodeError, decode_image
from oxy.cook.texture import settings_for
from oxy.formats import FileKind
from oxy.hub import AsyncFileReader, CancelToken, ImportLoop
from oxy.importing import AsyncImportService, ImportRequest
from oxy.importing.texture_pipeline import TexturePipeline, TextureSource, TextureWorkItem
from oxy.validate import validate_loose_root

from conftest import CORPUS, PROJECT
from cooking import cook, index_files, read_table

IMAGES = CORPUS / "images"
GOOD = [IMAGES / "net.png", IMAGES / "Concrete.tga"]


def _snapshot(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".oxy-lock"}


@pytest.mark.parametrize("bad", ["badadler.png", "truncated_jpeg.jpg"])
def test_malformed_images_fail_alone(tmp_path, bad):
    report = cook(tmp_path / "root", [GOOD[0], CORPUS / "malformed" / bad, GOOD[1]])
    assert not report.success and not report.cancelled
    errors = report.errors
    assert len(errors) == 1 and errors[0].code == "texture.decode_failed"
    assert errors[0].source_path.endswith(bad) and "decode failed" in errors[0].message
    assert set(report.outputs) == {str(p) for p in GOOD}  # the others still cooked
    assert validate_loose_root(tmp_path / "root", verify_hashes=True).ok


def test_truncated_images_at_many_lengths():
    data = (IMAGES / "net.png").read_bytes()
    for n in list(range(0, 200, 7)) + list(range(200, len(data), 211)):
        with pytest.raises(ImageDecodeError) as err:
            decode_image(data[:n], "net.png")
        assert err.value.source == "net.png" and err.value.reason
    jpeg = (IMAGES / "Wrinkles.jpg").read_bytes()
    for n in (0, 2, 100, 1000, len(jpeg) // 2):
        with pytest.raises(ImageDecodeError):
            decode_image(jpeg[:n], "Wrinkles.jpg")
    hdr = (IMAGES / "royal_esplanade_1k.hdr").read_bytes()
    for n in (10, 60, 80, 5000, len(hdr) - 10):
        with pytest.raises(ImageDecodeError):
            decode_image(hdr[:n], "esplanade.hdr")


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_by_its_header(tmp_path):
    bomb = _png_header_only(100_000, 100_000)
    with pytest.raises(ImageDecodeError, match="MAX_TEXTURE_PIXELS"):
        decode_image(bomb, "bomb.png")
    assert 100_000 * 100_000 > MAX_TEXTURE_PIXELS
    (tmp_path / "bomb.png").write_bytes(bomb)
    report = cook(tmp_path / "root", [tmp_path / "bomb.png", GOOD[0]])
    assert [d.code for d in report.errors] == ["texture.decode_failed"]
    assert "decompression bomb" in report.errors[0].message


def test_reimport_appends_and_keeps_the_index_true(tmp_path):
    root = tmp_path / "root"
    first = cook(root, [GOOD[0]])
    before = read_table(root).copy()
    size_before = index_files(root)[FileKind.TEXTURES_DATA][1]
    old_bytes = (root / "Resources" / "textures.data").read_bytes()
    second = cook(root, [GOOD[1], GOOD[0]])
    assert first.success and second.success
    after = read_table(root)
    # the unchanged image is up to date (its record says so): only the new one appends
    assert len(after) == len(before) + 1 and (after[:len(before)] == before).all()
    data = (root / "Resources" / "textures.data").read_bytes()
    assert len(data) > size_before and data[:size_before] == old_bytes  # old bytes untouched
    assert index_files(root)[FileKind.TEXTURES_DATA][1] == len(data)
    assert second.outputs[str(GOOD[0])] == first.outputs[str(GOOD[0])]
    assert second.outputs[str(GOOD[1])] == len(before)
    assert second.counts["texture"]["up_to_date"] == 1 and second.counts["texture"]["cooked"] == 1
    assert validate_loose_root(root, verify_hashes=True).ok


def test_unwritable_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "root"
    blocker.write_text("a file where the root should be")
    result = subprocess.run([sys.executable, "-m", "oxy", "cook", str(GOOD[0]), "-o", str(blocker)],
                            capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "not a directory" in result.stderr and str(blocker) in result.stderr  # refused before any job
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "a file where the root should be"


def test_full_disk_leaves_the_previous_index_valid(tmp_path):
    root = tmp_path / "root"
    assert cook(root, [GOOD[0]]).success
    before = _snapshot(root)
    # A file-size limit makes writes past 300 kB fail with EFBIG, as a full disk would.
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000)); "
              "from oxy.cli.main import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", script, "cook", str(IMAGES / "Wrinkles.jpg"), "-o", str(root)],
                            capture_output=True, text=True, cwd=PROJECT, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "write_failed" in result.stderr and "Traceback" not in result.stderr
    assert _snapshot(root) == before
    assert validate_loose_root(root, verify_hashes=True).ok


def test_cancel_mid_import_keeps_the_previous_index(tmp_path):
    root = tmp_path / "root"
    assert cook(root, [GOOD[0]]).success
    before = _snapshot(root)
    many = [IMAGES / "Wrinkles.jpg", IMAGES / "royal_esplanade_1k.hdr"] + [IMAGES / "Concrete.tga"] * 3
    with AsyncImportService(cpu_threads=1) as service:
        seen = []
        handle = service.submit(ImportRequest(str(many[0]), str(root), options={
            "sources": [str(p) for p in many[1:]], "preset": "albedo", "quality": "high"}),
            on_progress=lambda p: seen.append(p.phase.value))
        while "textures" not in seen and not handle.done():  # progress arrives from the import thread
            time.sleep(0.005)
        assert handle.cancel()
        report = handle.wait(60)
    assert report.cancelled and not report.success
    assert _snapshot(root) == before
    assert validate_loose_root(root, verify_hashes=True).ok


def test_ctrl_c_cancels_the_cli_cleanly(tmp_path):
    root = tmp_path / "root"
    assert cook(root, [GOOD[0]]).success
    before = _snapshot(root)
    # Enough work (about 10 s on one thread) that the signal lands in mid-cook on any machine.
    inputs = [str(IMAGES / "royal_esplanade_1k.hdr")] + [str(IMAGES / "Wrinkles.jpg")] * 7
    # Its own empty cook cache: hits from other tests' cooks of these files would end the job at once.
    env = {**os.environ, "OXY_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "oxy", "cook", *inputs, "-o", str(root), "--quality", "high",
                             "--threads", "1"], cwd=PROJECT, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stderr.readline()  # the first progress line: the job is running
    assert "[" in line, line
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "keeps its previous index" in err and "Traceback" not in err
    assert _snapshot(root) == before
    assert validate_loose_root(root, verify_hashes=True).ok


def test_pipeline_back_pressure_bounds_what_is_in_memory():
    """With one worker and a queue of 1, a producer that nobody collects from stalls
    after a handful of items instead of cooking everything into memory."""
    data = (IMAGES / "net.png").read_bytes()
    with ImportLoop(cpu_threads=1) as loop:
        def scenario() -> tuple[int, int, int]:
            token = CancelToken()
            pipeline = TexturePipeline(reader=AsyncFileReader(token), token=token, workers=1, queue_capacity=1)
            submitted = [0]

            def produce() -> None:
                for i in range(20):
                    pipeline.submit(TextureWorkItem(f"t{i}", (TextureSource(f"t{i}", data=data),),
                                                    settings_for("ui")))
                    submitted[0] += 1
                pipeline.close_input()
            producer = gevent.spawn(produce)
            gevent.sleep(1.0)  # no collect() yet: the producer must be blocked
            stalled_at = submitted[0]
            results = []
            while (r := pipeline.collect(timeout=30)) is not None:
                results.append(r)
            producer.get(timeout=30)
            return stalled_at, len(results), sum(r.success for r in results)
        stalled_at, collected, ok = loop.call(scenario, timeout=120)
    assert stalled_at <= 4  # queue (1) + worker (1) + finished result waiting (1), then blocked
    assert collected == ok == 20
