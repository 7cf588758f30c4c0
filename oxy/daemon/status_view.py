"""What the status page shows, as plain data: the one place that picks the queue,
the running job, recent jobs, recent failures, thumbnails and the cache hit rate
from the daemon's status and job objects (``/api/status``, ``/api/jobs``).

The page's script (:mod:`oxy.daemon.status_assets`) applies the same rules to the
same JSON in the browser; the limits below are passed to it in the page
(``data-limits``), so both sides cut the lists at the same length.

Pure functions over JSON-shaped dicts; safe from any thread.
"""
from __future__ import annotations

from typing import Any

LIMITS = {"recent": 15, "failures": 8, "thumbs": 24, "diagnostics": 20, "sources": 5}
TERMINAL = ("committed", "failed", "cancelled")


def cache_rate(cache: dict[str, int] | None) -> str:
    """``"75% (3 of 4 lookups)"``; ``"off"`` without a cache; ``"no lookups yet"``."""
    if cache is None:
        return "off"
    hits = int(cache.get("hits_local", 0)) + int(cache.get("hits_remote", 0))
    lookups = hits + int(cache.get("misses", 0))
    if not lookups:
        return "no lookups yet"
    return f"{_percent(hits, lookups)}% ({hits} of {lookups} lookups)"


def _percent(part: int, whole: int) -> int:
    """Rounded like JavaScript's ``Math.round`` (halves up), so both sides print the same."""
    return (200 * part + whole) // (2 * whole)


def outcomes(jobs: dict[str, int]) -> str:
    return ", ".join(f"{jobs.get(k, 0)} {k}" for k in TERMINAL)


def queued(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Queued jobs, oldest first (``jobs`` in any order)."""
    return sorted((j for j in jobs if j["state"] == "queued"), key=lambda j: j["id"])


def finished(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished jobs, newest first, at most ``LIMITS["recent"]``."""
    done = sorted((j for j in jobs if j["state"] in TERMINAL), key=lambda j: -j["id"])
    return done[:LIMITS["recent"]]


def failures(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failed jobs, newest first, at most ``LIMITS["failures"]``."""
    failed = sorted((j for j in jobs if j["state"] == "failed"), key=lambda j: -j["id"])
    return failed[:LIMITS["failures"]]


def shown_diagnostics(job: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """A failed job's diagnostics to show (errors first, then the rest) and how many more there are."""
    diags = job.get("diagnostics") or []
    ordered = [d for d in diags if d.get("severity") == "error"] + [d for d in diags if d.get("severity") != "error"]
    n = LIMITS["diagnostics"]
    return ordered[:n], max(0, len(ordered) - n)


def thumbs(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``[{"index", "name", "source", "job"}]``: the textures of finished jobs, newest job
    first, each texture index once, at most ``LIMITS["thumbs"]``; none from before the
    last committed compaction (it renumbers the texture table)."""
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for job in sorted((j for j in jobs if j["state"] in TERMINAL), key=lambda j: -j["id"]):
        if job["kind"] == "compact" and job["state"] == "committed":
            break
        for t in job.get("textures") or []:
            if t["index"] in seen:
                continue
            seen.add(t["index"])
            out.append({**t, "job": job["id"]})
            if len(out) >= LIMITS["thumbs"]:
                return out
    return out


def thumbs_key(items: list[dict[str, Any]]) -> str:
    """What the script compares to know whether the thumbnails changed."""
    return ",".join(f"{t['index']}@{t['job']}" for t in items)


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def sources_text(job: dict[str, Any]) -> str:
    """``"a.png, b.png (+3 more)"``: the first few sources' file names."""
    sources = job.get("sources") or []
    n = LIMITS["sources"]
    text = ", ".join(basename(s) for s in sources[:n])
    return text + (f" (+{len(sources) - n} more)" if len(sources) > n else "")


def job_title(job: dict[str, Any]) -> str:
    return f"#{job['id']} {job['kind']} \u00b7 {job['trigger']}"


def seconds_text(job: dict[str, Any]) -> str:
    return "" if job.get("seconds") is None else f"{float(job['seconds']):.2f} s"
