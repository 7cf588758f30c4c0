"""The daemon's watcher thread on its own (no daemon process): its start-up handshake and its
fallback to polling when inotify is refused. No gevent hub is created on pytest's thread."""
from __future__ import annotations

import os
import pathlib
import threading
import time
from typing import Any

import watchfiles._rust_notify as rust_notify

from oxy.daemon.config import make_config
from oxy.daemon.watcher import Watcher


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        self.lines.append((event, fields))


def _changes(notifier: Any, stop: threading.Event, make: pathlib.Path) -> set[tuple[int, str]]:
    """Create ``make`` and return the first non-timeout change set the notifier reports."""
    make.write_bytes(b"x")
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        raw = notifier.watch(50, 20, 1000, stop)
        if raw not in ("timeout", "stop", "signal"):
            return raw
    raise AssertionError("no change reported within 10 s")


def test_watches_are_registered_when_the_notifier_is_built(tmp_path: pathlib.Path) -> None:
    watched = tmp_path / "src" / "deep" / "er"
    watched.mkdir(parents=True)
    cfg = make_config(str(tmp_path / "root"), [str(tmp_path / "src")])
    log = Recorder()
    notifier = Watcher(cfg, None, lambda c, d: None, log)._notifier()
    stop = threading.Event()
    with notifier:
        raw = _changes(notifier, stop, watched / "new.png")  # created right after the build returned
    assert any(path == os.path.join(str(watched), "new.png") for _c, path in raw), raw
    assert log.lines == []


def test_inotify_refused_falls_back_to_polling(tmp_path: pathlib.Path, monkeypatch: Any) -> None:
    real = rust_notify.RustNotify
    calls: list[bool] = []

    def refusing(paths: list[str], debug: bool, force_polling: bool, *rest: Any) -> Any:
        calls.append(force_polling)
        if not force_polling:
            raise OSError(28, "OS file watch limit reached")
        return real(paths, debug, force_polling, *rest)

    monkeypatch.setattr(rust_notify, "RustNotify", refusing)
    (tmp_path / "src").mkdir()
    cfg = make_config(str(tmp_path / "root"), [str(tmp_path / "src")])
    log = Recorder()
    watcher = Watcher(cfg, None, lambda c, d: None, log)
    notifier = watcher._notifier()
    assert calls == [False, True] and watcher.polling
    assert log.lines[0][0] == "watch.polling" and "watch limit" in log.lines[0][1]["reason"]
    stop = threading.Event()
    with notifier:
        raw = _changes(notifier, stop, tmp_path / "src" / "polled.png")
    assert any(path.endswith("polled.png") for _c, path in raw), raw
