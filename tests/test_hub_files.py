"""Async file reader and writer: error kinds, explicit-offset writes, flush, cancel, options."""
from __future__ import annotations

import errno
import os
import random

import gevent
import pytest

from oxy.hub import AsyncFileReader, AsyncFileWriter, CancelToken, FileError, ImportLoop, WriteOptions
from oxy.hub.files import FileResult, classify_os_error

T = 30.0


@pytest.fixture(scope="module")
def loop():
    with ImportLoop(cpu_threads=2, io_threads=2) as lp:
        yield lp


def on_hub(loop, fn, *args):
    return loop.call(fn, *args, timeout=T)


# -- reader -----------------------------------------------------------------------------------
def test_read_whole_file_range_info_and_exists(loop, tmp_path):
    path = tmp_path / "data.bin"
    payload = bytes(range(256)) * 100
    path.write_bytes(payload)

    def job():
        r = AsyncFileReader()
        return r.read_file(path), r.read_range(path, 1000, 300), r.read_range(path, len(payload) - 10, 100), \
            r.info(path), r.exists(path), r.exists(tmp_path / "missing")

    whole, middle, tail, info, yes, no = on_hub(loop, job)
    assert whole.ok and whole.value == payload and whole.error is None
    assert middle.value == payload[1000:1300]
    assert tail.value == payload[-10:]
    assert info.value.size == len(payload) and info.value.mtime_ns == os.stat(path).st_mtime_ns
    assert (yes.ok, yes.value, no.ok, no.value) == (True, True, True, False)


def test_reader_errors_come_back_as_file_error_kinds(loop, tmp_path):
    regular = tmp_path / "file.txt"
    regular.write_text("x")

    def job():
        r = AsyncFileReader()
        return {
            "missing": r.read_file(tmp_path / "nope.bin"),
            "directory": r.read_file(tmp_path),
            "dir_info": r.info(tmp_path),
            "not_dir": r.read_file(regular / "child"),
            "negative": r.read_range(regular, -1, 4),
            "nul": r.read_file(str(tmp_path) + "/a\0b"),
        }

    got = on_hub(loop, job)
    assert got["missing"].error is FileError.NOT_FOUND and not got["missing"].ok
    assert got["missing"].path.endswith("nope.bin") and got["missing"].message
    assert got["directory"].error is FileError.IS_DIRECTORY
    assert got["dir_info"].error is FileError.IS_DIRECTORY
    assert got["not_dir"].error is FileError.NOT_A_DIRECTORY
    assert got["negative"].error is FileError.INVALID_ARGUMENT
    assert got["nul"].error is FileError.INVALID_ARGUMENT


def test_cancelled_reader_returns_cancelled_without_touching_the_disk(loop, tmp_path):
    token = CancelToken()
    token.cancel()
    result = on_hub(loop, lambda: AsyncFileReader(token).read_file(tmp_path / "whatever"))
    assert result.error is FileError.CANCELLED


@pytest.mark.parametrize("code, kind", [
    (errno.EACCES, FileError.PERMISSION_DENIED), (errno.EPERM, FileError.PERMISSION_DENIED),
    (errno.ENOSPC, FileError.NO_SPACE), (errno.EIO, FileError.IO_ERROR), (errno.EEXIST, FileError.ALREADY_EXISTS),
])
def test_os_errors_are_classified(code, kind):
    assert classify_os_error(OSError(code, os.strerror(code))) is kind
    result = FileResult.from_os_error(OSError(code, os.strerror(code), "/some/path"))
    assert (result.ok, result.error, result.path) == (False, kind, "/some/path")


# -- writer -----------------------------------------------------------------------------------
def test_write_at_async_from_many_greenlets_lands_every_byte(loop, tmp_path):
    path = tmp_path / "sub" / "dir" / "big.bin"
    chunk = 4096 + 17  # deliberately unaligned
    count = 300
    rng = random.Random(7)
    blocks = [rng.randbytes(chunk) for _ in range(count)]
    order = list(range(count))
    rng.shuffle(order)

    def job():
        writer = AsyncFileWriter()
        results = []

        def producer(indices):
            for i in indices:
                writer.write_at_async(path, i * chunk, blocks[i], lambda r, i=i: results.append((i, r)))
                gevent.sleep(0)

        producers = [gevent.spawn(producer, order[k::16]) for k in range(16)]
        gevent.joinall(producers, raise_error=True)
        flushed = writer.flush()
        pending_after = writer.pending_count
        open_after = writer.open_file_count()
        writer.close()
        return results, flushed, pending_after, open_after

    results, flushed, pending_after, open_after = on_hub(loop, job)
    assert flushed.ok and pending_after == 0 and open_after == 0
    assert sorted(i for i, _ in results) == list(range(count))
    assert all(r.ok and r.value == chunk for _, r in results)
    assert path.read_bytes() == b"".join(blocks)


def test_write_at_blocks_only_the_greenlet_and_reports_bytes(loop, tmp_path):
    path = tmp_path / "f.bin"

    def job():
        writer = AsyncFileWriter()
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0)) for _ in range(3)])
        first = writer.write_at(path, 8, b"BBBB")
        second = writer.write_at(path, 0, memoryview(b"AAAAAAAA"))
        ticker.join()
        writer.close()
        return first, second, len(ticks)

    first, second, ticks = on_hub(loop, job)
    assert (first.value, second.value, ticks) == (4, 8, 3)
    assert path.read_bytes() == b"AAAAAAAABBBB"


def test_first_open_truncates_when_overwriting_and_refuses_otherwise(loop, tmp_path):
    path = tmp_path / "old.bin"
    path.write_bytes(b"x" * 100)

    def job():
        keep = AsyncFileWriter(WriteOptions(overwrite=False))
        refused = keep.write_at(path, 0, b"new")
        whole_refused = keep.write(path, b"new")
        keep.close()
        over = AsyncFileWriter(WriteOptions(overwrite=True))
        ok = over.write_at(path, 0, b"new")
        over.flush()
        again = over.write_at(path, 3, b"!")  # reopened after flush: no second truncation
        over.close()
        return refused, whole_refused, ok, again

    refused, whole_refused, ok, again = on_hub(loop, job)
    assert refused.error is FileError.ALREADY_EXISTS and whole_refused.error is FileError.ALREADY_EXISTS
    assert ok.ok and again.ok
    assert path.read_bytes() == b"new!"


def test_truncate_false_keeps_existing_bytes_for_appending(loop, tmp_path):
    path = tmp_path / "log.data"
    path.write_bytes(b"old-bytes!")

    def job():
        writer = AsyncFileWriter(WriteOptions(truncate=False))
        result = writer.write_at(path, 10, b"+appended")
        writer.close()
        return result

    assert on_hub(loop, job).ok
    assert path.read_bytes() == b"old-bytes!+appended"


def test_create_directories_option(loop, tmp_path):
    path = tmp_path / "a" / "b" / "c.bin"

    def job():
        no_dirs = AsyncFileWriter(WriteOptions(create_directories=False))
        failed = no_dirs.write(path, b"1")
        no_dirs.close()
        dirs = AsyncFileWriter()
        done = dirs.write(path, b"12345", atomic=True)
        dirs.close()
        return failed, done

    failed, done = on_hub(loop, job)
    assert failed.error is FileError.NOT_FOUND
    assert done.value == 5 and path.read_bytes() == b"12345"
    assert [p.name for p in path.parent.iterdir()] == ["c.bin"]  # the temporary name is gone


def test_share_write_false_serialises_writes_in_submission_order(loop, tmp_path):
    path = tmp_path / "serial.bin"

    def job():
        writer = AsyncFileWriter(WriteOptions(share_write=False))
        done = []
        for i in range(40):
            # every write covers the same range: the last submitted must win
            writer.write_at_async(path, 0, bytes([i]) * 64, lambda r, i=i: done.append(i))
        writer.flush()
        writer.close()
        return done

    done = on_hub(loop, job)
    assert done == list(range(40))
    assert path.read_bytes() == bytes([39]) * 64


def test_cancel_all_cancels_what_has_not_started(loop, tmp_path):
    path = tmp_path / "cancel.bin"

    def job():
        writer = AsyncFileWriter()
        results = []
        for i in range(50):
            writer.write_at_async(path, i, b"x", results.append)
        pending = writer.cancel_all()  # none of the greenlets has run yet
        flushed = writer.flush()
        later = writer.write_at(path, 0, b"y")
        writer.close()
        closed = writer.write_at(path, 0, b"z")
        return pending, results, flushed, later, closed

    pending, results, flushed, later, closed = on_hub(loop, job)
    assert pending == 50 and len(results) == 50
    assert {r.error for r in results} == {FileError.CANCELLED}
    assert flushed.error is FileError.CANCELLED  # flush reports the first failure once
    assert later.ok  # the writer still works after cancel_all
    assert closed.error is FileError.CLOSED
    assert path.read_bytes() == b"y"


def test_flush_waits_for_pending_and_reports_zero(loop, tmp_path):
    def job():
        writer = AsyncFileWriter()
        for i in range(20):
            writer.write_at_async(tmp_path / f"f{i % 3}.bin", i * 10, b"0123456789")
        before = writer.pending_count
        flushed = writer.flush(sync=True)
        after = writer.pending_count
        writer.close()
        return before, flushed, after

    before, flushed, after = on_hub(loop, job)
    assert before == 20 and flushed.ok and after == 0
    assert (tmp_path / "f0.bin").stat().st_size == 190


def test_writer_refuses_other_threads(loop, tmp_path):
    writer = on_hub(loop, AsyncFileWriter)
    from oxy.hub import NotOnImportHub

    with pytest.raises(NotOnImportHub):
        writer.write_at(tmp_path / "x", 0, b"1")
    on_hub(loop, writer.close)


def test_writer_outside_a_hub_is_refused():
    from oxy.hub import NotOnImportHub

    with pytest.raises(NotOnImportHub):
        AsyncFileWriter()


def test_loop_shutdown_closes_writer_descriptors(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    loop = ImportLoop(cpu_threads=1)

    def job():
        writer = AsyncFileWriter()
        for i in range(5):
            writer.write_at(tmp_path / f"open{i}.bin", 0, b"data")
        return writer.open_file_count()

    assert loop.call(job, timeout=T) == 5
    loop.close(T)
    assert len(os.listdir("/proc/self/fd")) == before
