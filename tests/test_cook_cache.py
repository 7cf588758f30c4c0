"""The cook cache (oxy.build.cache): entries on disk, verification, LRU trim, processes
racing on one folder, the S3 tier against moto's server, a shared-folder tier, and
``oxy cache``. Tests read the entry files, never only what the API returned."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from oxy.build.cache import (DEFAULT_SIZE_LIMIT, HEADER_SIZE, CookCache, default_cache_dir, open_cache,
                             parse_size)
from oxy.cli.main import main as oxy_main

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def key_of(name: str | int) -> str:
    return hashlib.sha256(f"recipe {name}".encode()).hexdigest()


def entry_path(folder, key: str) -> str:
    return os.path.join(str(folder), "v1", key[:2], key)


def check_entry_file(path: str, key: str, data: bytes) -> None:
    """The documented layout, field by field."""
    with open(path, "rb") as fh:
        raw = fh.read()
    assert len(raw) == HEADER_SIZE + len(data) == 84 + len(data)
    assert raw[:8] == b"OXYCACHE" and raw[8] == 1 and raw[9:12] == bytes(3)
    assert raw[12:44] == bytes.fromhex(key)
    assert raw[44:76] == hashlib.sha256(data).digest()
    assert int.from_bytes(raw[76:84], "little") == len(data)
    assert raw[84:] == data


# -- local tier -------------------------------------------------------------------------

def test_round_trip_writes_the_documented_entry(tmp_path):
    cache = open_cache(str(tmp_path))
    key, data = key_of("a"), b"cooked \x00 bytes" * 100
    assert cache.get(key) is None
    assert not os.path.exists(tmp_path / "v1")  # a miss creates nothing
    cache.put(key, data)
    check_entry_file(entry_path(tmp_path, key), key, data)
    hit = cache.get(key)
    assert hit is not None and hit.data == data and hit.origin == "local"
    cache.put(key_of("empty"), b"")
    assert cache.get(key_of("empty")).data == b""
    check_entry_file(entry_path(tmp_path, key_of("empty")), key_of("empty"), b"")
    counts = cache.counters.snapshot()
    assert counts["hits_local"] == 2 and counts["misses"] == 1 and counts["writes"] == 2 and counts["corrupt"] == 0
    leftovers = [n for _, _, names in os.walk(tmp_path) for n in names if ".oxy-tmp-" in n]
    assert leftovers == []


def test_a_hit_refreshes_recency(tmp_path):
    cache = open_cache(str(tmp_path))
    key = key_of("r")
    cache.put(key, b"x")
    path = entry_path(tmp_path, key)
    os.utime(path, (1_000_000, 1_000_000))
    assert cache.get(key).data == b"x"
    assert abs(os.stat(path).st_mtime - time.time()) < 60
    os.utime(path, (1_000_000, 1_000_000))
    assert cache.get(key_of("other")) is None
    assert os.stat(path).st_mtime == 1_000_000  # only a hit touches an entry


def _flip_data(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 0x01])


CORRUPTIONS = {
    "flipped data byte": (_flip_data, "SHA-256"),
    "truncated data": (lambda raw: raw[:-5], "data bytes"),
    "truncated header": (lambda raw: raw[:40], "truncated"),
    "empty file": (lambda raw: b"", "truncated"),
    "trailing byte": (lambda raw: raw + b"\0", "data bytes"),
    "bad magic": (lambda raw: b"OXYCACHX" + raw[8:], "magic"),
    "header names another key": (lambda raw: raw[:12] + bytes.fromhex(key_of("other")) + raw[44:], "misplaced"),
    "reserved bytes set": (lambda raw: raw[:9] + b"\x01\0\0" + raw[12:], "reserved"),
    "length field changed": (lambda raw: raw[:76] + (len(raw) - 83).to_bytes(8, "little") + raw[84:], "data bytes"),
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_a_corrupt_entry_is_a_logged_counted_removed_miss(tmp_path, caplog, how):
    mutate, reason = CORRUPTIONS[how]
    cache = open_cache(str(tmp_path))
    key = key_of("c")
    cache.put(key, b"the right bytes" * 10)
    path = entry_path(tmp_path, key)
    with open(path, "rb") as fh:
        raw = fh.read()
    with open(path, "wb") as fh:
        fh.write(mutate(raw))
    with caplog.at_level(logging.WARNING, logger="oxy.build.cache"):
        assert cache.get(key) is None
    assert cache.counters.corrupt == 1 and cache.counters.misses == 1 and cache.counters.hits_local == 0
    assert not os.path.exists(path)
    message = "\n".join(r.getMessage() for r in caplog.records)
    assert path in message and reason in message
    cache.put(key, b"again")  # the key works again
    assert cache.get(key).data == b"again"


def test_an_entry_copied_to_another_key_is_a_miss(tmp_path):
    cache = open_cache(str(tmp_path))
    good, other = key_of("good"), key_of("moved")
    cache.put(good, b"good's bytes")
    os.makedirs(os.path.dirname(entry_path(tmp_path, other)), exist_ok=True)
    with open(entry_path(tmp_path, good), "rb") as src, open(entry_path(tmp_path, other), "wb") as dst:
        dst.write(src.read())
    assert cache.get(other) is None and cache.counters.corrupt == 1
    assert cache.get(good).data == b"good's bytes"


def test_another_format_version_is_a_miss_left_in_place(tmp_path):
    cache = open_cache(str(tmp_path))
    key = key_of("v2")
    cache.put(key, b"data")
    path = entry_path(tmp_path, key)
    raw = bytearray(open(path, "rb").read())
    raw[8] = 2
    open(path, "wb").write(raw)
    assert cache.get(key) is None
    assert os.path.exists(path) and cache.counters.corrupt == 0 and cache.counters.misses == 1


@pytest.mark.parametrize("bad", ["", "ab", key_of("k").upper(), key_of("k")[:63], key_of("k") + "0",
                                 key_of("k")[:62] + "/x", "../" + key_of("k")[3:], key_of("k") + "\n",
                                 "g" * 64, b"0" * 64, None])
def test_invalid_keys_are_refused(tmp_path, bad):
    cache = open_cache(str(tmp_path / "c"))
    with pytest.raises(ValueError, match="cook key"):
        cache.get(bad)
    with pytest.raises(ValueError, match="cook key"):
        cache.put(bad, b"x")
    assert os.listdir(tmp_path) == []


def test_lru_trim_keeps_the_recently_used(tmp_path):
    size = HEADER_SIZE + 1000
    cache = open_cache(str(tmp_path), size_limit=10 * size)
    keys = [key_of(i) for i in range(11)]
    for i in range(8):
        cache.put(keys[i], bytes([i]) * 1000)
        os.utime(entry_path(tmp_path, keys[i]), (1_000_000 + i, 1_000_000 + i))
    assert cache.get(keys[0]) and cache.get(keys[1])  # used: now the most recent
    for i in (8, 9, 10):  # the 11th entry passes the limit: trimmed to 90% (9 entries)
        cache.put(keys[i], bytes([i]) * 1000)
    present = [os.path.exists(entry_path(tmp_path, k)) for k in keys]
    assert present == [True, True, False, False] + [True] * 7
    on_disk = sum(os.path.getsize(entry_path(tmp_path, k)) for k, p in zip(keys, present) if p)
    assert on_disk == 9 * size <= 0.9 * cache.size_limit

    # an explicit bound: the three most recent stay
    for i, k in enumerate(keys):
        if present[i]:
            os.utime(entry_path(tmp_path, k), (2_000_000 + i, 2_000_000 + i))
    result = cache.trim(3 * size)
    assert (result.removed, result.removed_bytes, result.entries, result.bytes) == (6, 6 * size, 3, 3 * size)
    assert [os.path.exists(entry_path(tmp_path, k)) for k in keys] == [False] * 8 + [True] * 3
    assert cache.stats().bytes == 3 * size and cache.stats().entries == 3


def test_trim_removes_stale_temporaries_only(tmp_path):
    cache = open_cache(str(tmp_path))
    key = key_of("t")
    cache.put(key, b"x")
    folder = os.path.dirname(entry_path(tmp_path, key))
    stale, fresh = os.path.join(folder, key + ".oxy-tmp-0001"), os.path.join(folder, key + ".oxy-tmp-0002")
    for p in (stale, fresh):
        open(p, "wb").write(b"partial")
    os.utime(stale, (time.time() - 7200,) * 2)
    result = cache.trim()
    assert result.stale_temps == 1 and result.removed == 0
    assert not os.path.exists(stale) and os.path.exists(fresh) and cache.get(key).data == b"x"


def test_put_and_get_never_raise_for_io_trouble(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    cache = open_cache(str(blocker))
    with caplog.at_level(logging.WARNING, logger="oxy.build.cache"):
        cache.put(key_of("x"), b"data")
        assert cache.get(key_of("x")) is None
    assert cache.counters.write_failures == 1 and cache.counters.misses == 1
    assert "cannot write" in caplog.text and str(blocker) in caplog.text
    assert blocker.read_bytes() == b"not a folder"


def test_threads_share_one_cache(tmp_path):
    cache = open_cache(str(tmp_path), size_limit=40_000)
    wrong: list[str] = []

    def work(seed: int) -> None:
        for i in range(300):
            n = (i * 7 + seed) % 50
            data = hashlib.sha256(str(n).encode()).digest() * (n + 1)
            hit = cache.get(key_of(n))
            if hit is None:
                cache.put(key_of(n), data)
            elif hit.data != data:
                wrong.append(key_of(n))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == [] and cache.counters.corrupt == 0 and cache.counters.hits_local > 0
    # bounded: a trim may miss the puts of the other threads made while it ran
    assert cache.stats().bytes <= 40_000 + 4 * (HEADER_SIZE + 32 * 50)


# -- processes racing on one folder ------------------------------------------------------

WORKER = textwrap.dedent("""
    import hashlib, json, sys
    from oxy.build.cache import open_cache

    folder, seed = sys.argv[1], int(sys.argv[2])
    cache = open_cache(folder, size_limit=24_000)
    wrong = 0
    for i in range(600):
        n = (i * 13 + seed * 5) % 40
        key = hashlib.sha256(f"recipe {n}".encode()).hexdigest()
        data = hashlib.sha256(str(n).encode()).digest() * (n + 3)
        hit = cache.get(key)
        if hit is None:
            cache.put(key, data)
        elif hit.data != data:
            wrong += 1
        if i % 97 == 0:
            cache.trim(12_000)
    print(json.dumps({"wrong": wrong, **cache.counters.snapshot()}))
""")


def test_processes_racing_on_one_folder(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    folder = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": PROJECT}
    procs = [subprocess.Popen([sys.executable, str(script), str(folder), str(seed)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=PROJECT, env=env) for seed in range(4)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert all(r["wrong"] == 0 and r["corrupt"] == 0 and r["read_failures"] == 0 for r in reports), reports
    assert sum(r["hits_local"] for r in reports) > 0 and sum(r["writes"] for r in reports) > 40
    cache = open_cache(str(folder))
    for n in range(40):
        hit = cache.get(key_of(n))
        assert hit is None or hit.data == hashlib.sha256(str(n).encode()).digest() * (n + 3)
    assert cache.counters.corrupt == 0
    leftovers = [n for _, _, names in os.walk(folder) for n in names if ".oxy-tmp-" in n]
    assert leftovers == []


# -- a shared folder as the remote tier --------------------------------------------------

def test_shared_folder_tier(tmp_path, caplog):
    shared = tmp_path / "shared"
    url = "file://" + str(shared)
    a = open_cache(url, local_dir=str(tmp_path / "a"))
    b = open_cache(url, local_dir=str(tmp_path / "b"))
    assert a.remote_url == url and a.location == str(tmp_path / "a")
    key, data = key_of("s"), b"shared bytes" * 50
    a.put(key, data)
    check_entry_file(entry_path(shared, key), key, data)
    check_entry_file(entry_path(tmp_path / "a", key), key, data)
    assert a.counters.remote_writes == 1
    hit = b.get(key)
    assert hit.origin == "remote" and hit.data == data
    check_entry_file(entry_path(tmp_path / "b", key), key, data)  # filled locally
    assert b.get(key).origin == "local"
    # a corrupt shared entry: a miss, and removed from the shared folder
    key2 = key_of("s2")
    a.put(key2, data)
    path = entry_path(shared, key2)
    with open(path, "rb") as fh:
        raw = fh.read()
    with open(path, "wb") as fh:
        fh.write(_flip_data(raw))
    with caplog.at_level(logging.WARNING, logger="oxy.build.cache"):
        assert b.get(key2) is None
    assert b.counters.corrupt == 1 and not os.path.exists(path) and path in caplog.text
    assert not os.path.exists(entry_path(tmp_path / "b", key2))
    leftovers = [n for _, _, names in os.walk(shared) for n in names if ".oxy-tmp-" in n]
    assert leftovers == []
    # clear: local by default, the shared folder only when asked
    assert b.clear() == 1 and os.path.exists(entry_path(shared, key))
    assert b.clear(remote=True) == 1 and not os.path.exists(entry_path(shared, key))


def test_refused_remote_writes_stop_writes_not_reads(tmp_path, monkeypatch, caplog):
    import oxy.build.cache_remote as cache_remote

    shared = tmp_path / "shared"
    writer = open_cache(str(shared), local_dir=str(tmp_path / "w"))
    writer.put(key_of("before"), b"shared before")
    reader = open_cache(str(shared), local_dir=str(tmp_path / "r"))

    def refuse(path, data, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(cache_remote, "write_file_atomically", refuse)
    with caplog.at_level(logging.WARNING, logger="oxy.build.cache"):
        reader.put(key_of("x"), b"one")  # refused: counted, logged, kept locally
        reader.put(key_of("y"), b"two")  # not tried again
    assert reader.counters.write_failures == 1 and reader.counters.remote_skipped == 1
    assert reader.counters.writes == 2 and reader.remote is not None and reader.remote.read_only
    assert "Permission denied" in caplog.text and "reads go on" in caplog.text
    assert not os.path.exists(entry_path(shared, key_of("x")))
    hit = reader.get(key_of("before"))
    assert hit is not None and hit.origin == "remote" and hit.data == b"shared before"


def test_url_forms(tmp_path, monkeypatch):
    monkeypatch.setenv("OXY_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.delenv("OXY_CACHE_SIZE", raising=False)
    assert default_cache_dir() == str(tmp_path / "env")
    cache = open_cache()
    assert cache.location == str(tmp_path / "env") and cache.remote is None
    assert cache.size_limit == DEFAULT_SIZE_LIMIT == 10 << 30
    assert open_cache("file://" + str(tmp_path / "f")).location == str(tmp_path / "f")
    assert open_cache(str(tmp_path / "p"), local_dir=str(tmp_path / "p")).remote is None
    memory = open_cache("memory://oxy-test-cache", local_dir=str(tmp_path / "m"))
    assert memory.remote_url == "memory://oxy-test-cache"
    memory.put(key_of("m"), b"in memory")
    assert open_cache("memory://oxy-test-cache", local_dir=str(tmp_path / "m2")).get(key_of("m")).origin == "remote"
    monkeypatch.setenv("OXY_CACHE_SIZE", "2G")
    assert open_cache().size_limit == 2 << 30
    monkeypatch.setenv("OXY_CACHE_SIZE", "lots")
    with pytest.raises(ValueError, match="OXY_CACHE_SIZE"):
        open_cache()
    with pytest.raises(ValueError):
        open_cache("nosuchprotocol://x", local_dir=str(tmp_path))


def test_parse_size():
    assert parse_size("123456") == 123456
    assert parse_size("500M") == 500 << 20 == parse_size("500 MiB") == parse_size("500m")
    assert parse_size("2G") == 2 << 30 and parse_size("1.5GiB") == 3 << 29
    assert parse_size("800MB") == 800_000_000 and parse_size("1kb") == 1000 and parse_size("0") == 0
    for bad in ("", "-1", "1.5", "5Q", "G", "1e9", "1,000", "nan"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)


# -- S3 through moto's server --------------------------------------------------------------

BUCKET = "oxy-cook-cache"


@pytest.fixture(scope="module")
def s3_endpoint():
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            client = boto3.client("s3", endpoint_url=endpoint)
            client.create_bucket(Bucket=BUCKET)
            yield endpoint, client
        finally:
            server.stop()


def s3_options(endpoint: str) -> dict:
    return {"endpoint_url": endpoint, "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}


def test_s3_write_back_and_read_through(s3_endpoint, tmp_path):
    endpoint, client = s3_endpoint
    url = f"s3://{BUCKET}/team/a"
    writer = open_cache(url, local_dir=str(tmp_path / "w"), storage_options=s3_options(endpoint))
    key, data = key_of("s3"), os.urandom(3000)
    writer.put(key, data)
    assert writer.counters.remote_writes == 1 and writer.counters.write_failures == 0
    remote = client.get_object(Bucket=BUCKET, Key=f"team/a/v1/{key[:2]}/{key}")["Body"].read()
    assert remote == open(entry_path(tmp_path / "w", key), "rb").read()
    check_entry_file(entry_path(tmp_path / "w", key), key, data)

    reader = open_cache(url, local_dir=str(tmp_path / "r"), storage_options=s3_options(endpoint))
    assert reader.get(key_of("absent")) is None
    hit = reader.get(key)
    assert hit.origin == "remote" and hit.data == data
    check_entry_file(entry_path(tmp_path / "r", key), key, data)
    hit = reader.get(key)
    assert hit.origin == "local" and hit.data == data
    counts = reader.counters.snapshot()
    assert {k: counts[k] for k in ("hits_remote", "hits_local", "misses", "writes", "read_failures")} == {
        "hits_remote": 1, "hits_local": 1, "misses": 1, "writes": 1, "read_failures": 0}


def test_s3_corrupt_object_is_a_miss(s3_endpoint, tmp_path, caplog):
    endpoint, client = s3_endpoint
    url = f"s3://{BUCKET}/team/corrupt"
    key = key_of("s3-corrupt")
    open_cache(url, local_dir=str(tmp_path / "w"), storage_options=s3_options(endpoint)).put(key, b"good" * 100)
    object_key = f"team/corrupt/v1/{key[:2]}/{key}"
    raw = client.get_object(Bucket=BUCKET, Key=object_key)["Body"].read()
    client.put_object(Bucket=BUCKET, Key=object_key, Body=_flip_data(raw))
    reader = open_cache(url, local_dir=str(tmp_path / "r"), storage_options=s3_options(endpoint))
    with caplog.at_level(logging.WARNING, logger="oxy.build.cache"):
        assert reader.get(key) is None
    assert reader.counters.corrupt == 1 and reader.counters.misses == 1
    assert object_key in caplog.text and "SHA-256" in caplog.text
    assert not os.path.exists(entry_path(tmp_path / "r", key))
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=object_key)["KeyCount"] == 0  # removed remotely


def test_s3_endpoint_from_the_environment_and_cli(s3_endpoint, tmp_path, monkeypatch, capsys):
    endpoint, client = s3_endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    url = f"s3://{BUCKET}/team/env"
    cache = open_cache(url, local_dir=str(tmp_path / "l"), storage_options={"skip_instance_cache": True})
    cache.put(key_of("env"), b"via the environment")
    assert cache.counters.remote_writes == 1
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="team/env/v1/")["KeyCount"] == 1
    monkeypatch.setenv("OXY_CACHE_DIR", str(tmp_path / "l"))
    assert oxy_main(["cache", "clear", "--cache", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["removed"] == 1 and doc["remote_cleared"] is False and doc["remote"] == url
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="team/env/v1/")["KeyCount"] == 1
    assert oxy_main(["cache", "clear", "--cache", url, "--remote", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["remote_cleared"] is True and doc["remote_removed"] == 1
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="team/env/v1/")["KeyCount"] == 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_s3_unreachable_server_is_counted_not_raised(s3_endpoint, tmp_path, caplog):
    dead = f"http://127.0.0.1:{_closed_port()}"
    url = f"s3://{BUCKET}/team/dead"
    with caplog.at_level(logging.WARNING, logger="oxy.build.cache"):
        writer = open_cache(url, local_dir=str(tmp_path / "w"), storage_options=s3_options(dead))
        writer.put(key_of("d"), b"kept locally")  # the remote write fails: logged, counted
        assert writer.counters.write_failures == 1 and writer.counters.writes == 1
        assert writer.get(key_of("d")).origin == "local"
        assert writer.get(key_of("nothing")) is None  # the remote is paused: skipped, not retried
        assert writer.counters.remote_skipped == 1 and writer.counters.read_failures == 0
        reader = open_cache(url, local_dir=str(tmp_path / "r"), storage_options=s3_options(dead))
        assert reader.get(key_of("d")) is None
        assert reader.counters.read_failures == 1 and reader.counters.misses == 1
    assert "cannot write" in caplog.text and "cannot read" in caplog.text and "skipped" in caplog.text


# -- oxy cache ---------------------------------------------------------------------------

def test_cli_stats_trim_clear(tmp_path, capsys):
    folder = str(tmp_path / "c")
    cache = open_cache(folder)
    size = HEADER_SIZE + 500
    for i in range(6):
        cache.put(key_of(i), bytes(500))
        os.utime(entry_path(folder, key_of(i)), (1_000_000 + i,) * 2)

    assert oxy_main(["cache", "stats", "--cache", folder, "--cache-size", "1M", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "oxy.cache/1" and doc["command"] == "stats"
    assert (doc["entries"], doc["bytes"], doc["size_limit"], doc["location"]) == (6, 6 * size, 1 << 20, folder)

    assert oxy_main(["cache", "trim", "--cache", folder, "--cache-size", str(2 * size), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["removed"], doc["removed_bytes"], doc["entries"], doc["bytes"]) == (4, 4 * size, 2, 2 * size)
    assert [os.path.exists(entry_path(folder, key_of(i))) for i in range(6)] == [False] * 4 + [True] * 2

    assert oxy_main(["cache", "stats", "--cache", folder]) == 0
    assert f"{folder}: 2 entries" in capsys.readouterr().out

    assert oxy_main(["cache", "clear", "--cache", folder, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["removed"] == 2 and doc["remote_cleared"] is False
    remaining = [n for _, _, names in os.walk(os.path.join(folder, "v1")) for n in names if n != ".trim-lock"]
    assert remaining == []

    assert oxy_main(["cache", "trim", "--cache", folder, "--cache-size", "lots"]) == 1
    assert "not a size" in capsys.readouterr().err
    assert oxy_main(["cache", "clear", "--cache", folder, "--remote"]) == 1
    with pytest.raises(SystemExit) as exit_info:
        oxy_main(["cache", "frobnicate"])
    assert exit_info.value.code == 1


def test_cookcache_rejects_a_negative_limit(tmp_path):
    with pytest.raises(ValueError):
        CookCache(str(tmp_path), size_limit=-1)
