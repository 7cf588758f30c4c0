"""A real ``oxy serve`` process for tests: start it, speak HTTP to it (urllib), read
its JSON log, follow its events, check its root on disk. Shared by test_daemon.py and
test_daemon_status_page.py."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import numpy as np
from PIL import Image

from conftest import PROJECT
from oxy.daemon.client import EventReader as SseReader  # noqa: F401 - the tests' name for it

START_TIMEOUT = 30.0


def png(path: pathlib.Path, size: int = 16, seed: int = 0) -> pathlib.Path:
    pixels = (np.random.RandomState(seed).rand(size, size, 4) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    return path


def wait(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx comes back as an HTTPError the caller reads


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


class Daemon:
    """``python -m oxy serve`` in a subprocess; stderr (JSON log lines) goes to a file."""

    def __init__(self, tmp: pathlib.Path, root: pathlib.Path, watch: list[pathlib.Path], *extra: str,
                 token: str | None = None, env_extra: dict[str, str] | None = None) -> None:
        self.root, self.token = root, token
        self.log_path = tmp / f"daemon-{time.monotonic_ns()}.log"
        env = {**os.environ, "OXY_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(PROJECT), **(env_extra or {})}
        args = [sys.executable, "-m", "oxy", "serve", "--root", str(root), "--port", "0", "--debounce", "100",
                "--log-json", *[a for w in watch for a in ("--watch", str(w))], *extra]
        if token:
            args += ["--token", token]
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log_file, env=env, cwd=PROJECT)
        self.port = 0

    def started(self) -> "Daemon":
        line = wait(lambda: self._first("listening") or self.proc.poll() is not None, START_TIMEOUT, "listening")
        assert isinstance(line, dict), f"daemon exited {self.proc.returncode}: {self.log_text()}"
        self.port = int(line["port"])
        return self

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for text in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(text))
            except ValueError:
                pass
        return out

    def log_text(self) -> str:
        return self.log_path.read_text()

    def _first(self, event: str) -> dict[str, Any] | None:
        return next((line for line in self.log_lines() if line.get("event") == event), None)

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = "default",
                raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        status, payload, resp_headers = self.fetch(method, path, body, token=token, raw=raw, headers=headers)
        ctype = resp_headers.get("Content-Type", "")
        return status, (json.loads(payload) if "json" in ctype else payload.decode())

    def fetch(self, method: str, path: str, body: Any = None, *, token: str | None = "default",
              raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        """(status, body bytes, response headers); redirects are not followed."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers=headers or {})
        token = self.token if token == "default" else token
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _NO_REDIRECTS.open(req, timeout=10) as resp:
                return resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers

    def get(self, path: str, **kw: Any) -> Any:
        status, doc = self.request("GET", path, **kw)
        assert status == 200, (status, doc)
        return doc

    def jobs(self) -> list[dict[str, Any]]:
        return self.get("/api/jobs")["jobs"]

    def job(self, job_id: int) -> dict[str, Any]:
        return self.get(f"/api/jobs/{job_id}")

    def wait_job(self, job_id: int, timeout: float = 20.0) -> dict[str, Any]:
        return wait(lambda: (j := self.job(job_id))["state"] in ("committed", "failed", "cancelled") and j,
                     timeout, f"job {job_id}")

    def wait_idle(self, after: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every job with an id above ``after`` once one exists and none is queued or running."""
        def idle() -> Any:
            jobs = [j for j in self.jobs() if j["id"] > after]
            return jobs if jobs and all(j["state"] in ("committed", "failed", "cancelled") for j in jobs) else None
        return wait(idle, timeout, "the daemon to go idle")

    def last_id(self) -> int:
        return max((j["id"] for j in self.jobs()), default=0)

    def assets(self) -> dict[str, dict[str, Any]]:
        return {s["path"]: s for s in self.get("/api/assets")["sources"]}

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()


def valid(root: pathlib.Path) -> None:
    from oxy.validate import validate_loose_root

    report = validate_loose_root(root, verify_hashes=True)
    assert report.ok, report


