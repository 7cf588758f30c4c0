"""Daemon settings, their checks, and the structured log.

:class:`DaemonConfig` is built once by ``oxy serve`` and read-only afterwards
(safe from any thread). :class:`Log` writes one line per event on stderr: a JSON
object with ``--log-json``, otherwise ``HH:MM:SS event key=value ...``; it takes
a lock, so any thread may log.
"""
from __future__ import annotations

import ipaddress
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

DEFAULT_PORT = 8717
MAX_BODY = 1 << 20  # bytes of a request body


class ConfigError(ValueError):
    """The command line asks for something the daemon refuses (the message says what)."""


@dataclass(frozen=True)
class DaemonConfig:
    """``root`` and ``watch`` are real paths (symlinks resolved)."""

    root: str
    watch: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    cache: str | None = None
    no_cache: bool = False
    token: str | None = None
    grace: float = 10.0
    debounce_ms: int = 300
    log_json: bool = False
    threads: int | None = None
    quality: str = "normal"
    output: str | None = None        # --format: images' output format (None: the preset's)
    isolate_parsers: bool = True     # libassimp in worker processes: a crash or hang fails that model alone
    parse_timeout: float = 120.0
    farm: str | None = None          # a cook farm address (docs/farm.md), connected at start
    extra: dict[str, Any] = field(default_factory=dict)

    def excluded(self, path: str) -> bool:
        """True for a path inside the root (its ``.oxy/`` included): never a source."""
        return is_inside(path, self.root)

    def watched_folder(self, real: str) -> str | None:
        """The watched folder holding the real path ``real``, or None."""
        for folder in self.watch:
            if is_inside(real, folder):
                return folder
        return None


def is_inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both absolute, normalised)."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_config(root: str, watch: list[str], **kw: Any) -> DaemonConfig:
    """Check and normalise the settings; raises :class:`ConfigError`."""
    if not watch:
        raise ConfigError("at least one --watch DIR is required")
    real_root = os.path.realpath(root)
    folders: list[str] = []
    for w in watch:
        real = os.path.realpath(w)
        if not os.path.isdir(real):
            raise ConfigError(f"--watch {w}: not a folder")
        if is_inside(real, real_root):
            raise ConfigError(f"--watch {w}: inside the cooked root {real_root} (the root is never a source)")
        if real not in folders:
            folders.append(real)
    host = kw.get("host") or "127.0.0.1"
    if not is_loopback(host) and not kw.get("token"):
        raise ConfigError(f"--host {host} is not a loopback address: --token is required to listen on it")
    if kw.get("grace") is not None and kw["grace"] < 0:
        raise ConfigError("--grace must be >= 0")
    if kw.get("debounce_ms") is not None and kw["debounce_ms"] < 0:
        raise ConfigError("--debounce must be >= 0")
    if kw.get("parse_timeout") is not None and kw["parse_timeout"] <= 0:
        raise ConfigError("--parse-timeout must be positive")
    if kw.get("farm"):
        from oxy.farm.executor import parse_address

        try:
            parse_address(kw["farm"])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if kw.get("threads") is not None and kw["threads"] < 1:
        raise ConfigError("--threads must be at least 1")
    if kw.get("port") is not None and not 0 <= kw["port"] <= 65535:
        raise ConfigError(f"--port {kw['port']}: not a port number (0-65535)")
    values = {k: v for k, v in kw.items() if v is not None}
    values["host"] = host
    return DaemonConfig(root=real_root, watch=tuple(folders), **values)


class Log:
    """Structured log lines on ``stream`` (stderr). Safe from any thread."""

    def __init__(self, json_lines: bool, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        now = time.time()
        if self.json_lines:
            line = json.dumps({"ts": round(now, 3), "level": level, "event": event, **fields}, default=str)
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            bits = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
            line = f"{stamp} oxy serve {level} {event}" + (f" {bits}" if bits else "")
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed: logging must never take the daemon down


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or not text) else text
