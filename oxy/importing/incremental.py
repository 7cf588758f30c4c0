"""Incremental cooking, the importers' side: is a source up to date, and what to record.

For each source of a job the importer asks :func:`check_source` (a blocking call:
the job runs it on the I/O pool through ``SessionIO.blocking``): the effective
settings (the request's, overridden by ``oxy.toml`` files,
:mod:`oxy.build.settings_files`), the fingerprint (settings, stage versions,
format) and, when the root's build records know the source with the same
fingerprint, whether any file it read changed (:func:`oxy.build.records.check_files`:
a ``stat`` each, a hash only when the stat moved). An up-to-date source is not
read, parsed or cooked; its outputs come from its record.

A stale source is cooked; :func:`source_record` then builds what the records will
say of it (signatures taken *before* the cook, hashes of the bytes the cook read)
and the session writes it in the same commit as the index.

:class:`CookCounts` counts, per unit kind, what was ``cooked``, ``up_to_date``,
taken from the cache (``cache_hits_local`` / ``cache_hits_remote``) or ``failed``.

Thread rules: :func:`check_source` and :func:`stat_files` do file-system work
(run them off the hub); the rest is plain data, used on the job's greenlet.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from oxy.build.recipe import (CODE_VERSION_CHANGED, DEPENDENCY_CHANGED, FIRST_COOK, FORCED, FORMAT_VERSION,
                              SETTINGS_CHANGED, SOURCE_CHANGED, STAGE_VERSIONS, Reason, explain,
                              settings_changes)
from oxy.build.records import (FileSignature, OutputRecord, RecordSet, SourceRecord, check_files, fingerprint,
                               signature)
from oxy.build.settings_files import SettingsFileCache, SettingsFileError, settings_for_source

COUNT_FIELDS = ("cooked", "up_to_date", "cache_hits_local", "cache_hits_remote", "failed")
SOURCE_STAGES = {"texture": ("texture",), "scene": tuple(STAGE_VERSIONS)}


class CookCounts:
    """Per unit kind (texture, scene_parse, geometry, material, scene): how each unit's
    result was obtained. Plain data; one job greenlet."""

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, int]] = {}

    def add(self, kind: str, what: str, n: int = 1) -> None:
        counts = self.by_kind.setdefault(kind, dict.fromkeys(COUNT_FIELDS, 0))
        counts[what] += n

    def add_origin(self, kind: str, origin: str) -> None:
        """Count a unit by its origin ("cooked", "cache:local", "cache:remote", "root", "unchanged")."""
        self.add(kind, {"cooked": "cooked", "cache:local": "cache_hits_local", "cache:remote": "cache_hits_remote",
                        "root": "up_to_date", "unchanged": "up_to_date"}.get(origin, "cooked"))

    def to_json(self) -> dict[str, dict[str, int]]:
        return {k: dict(v) for k, v in sorted(self.by_kind.items())}


@dataclass
class SourceCheck:
    """What :func:`check_source` found for one source."""

    path: str
    kind: str
    settings: dict[str, Any]
    origins: dict[str, str]
    fingerprint: str
    up_to_date: bool
    reason: Reason
    old: SourceRecord | None = None
    refreshed: SourceRecord | None = None       # up to date, with stat signatures that moved
    settings_files: list[FileSignature] = field(default_factory=list)  # consulted, hashed, before the cook
    pre: dict[str, FileSignature] = field(default_factory=dict)      # stat of the source before the cook
    error: str = ""                              # a settings file that cannot be used


def stage_versions(kind: str) -> dict[str, int]:
    return {s: STAGE_VERSIONS[s] for s in SOURCE_STAGES[kind]}


def stat_files(paths: Iterable[str]) -> dict[str, FileSignature]:
    """Signatures (stat only, no hash yet: ``sha256`` "") of ``paths``, taken now."""
    now = time.time()
    out = {}
    for path in paths:
        try:
            out[path] = signature(path, now=now, hash_file=False)
        except OSError:  # unreadable metadata: recorded as absent (the cook then reports the file)
            out[path] = FileSignature(path, -1, 0, 0, "")
    return out


def check_source(path: str, kind: str, base: Mapping[str, Any], records: RecordSet, *, force: bool,
                 allowed: frozenset[str], cache: SettingsFileCache | None = None) -> SourceCheck:
    """Decide whether ``path`` must be cooked (blocking: stats, small reads)."""
    path = os.path.abspath(path)
    try:
        lookup = settings_for_source(path, allowed=allowed, cache=cache)
    except SettingsFileError as exc:
        return SourceCheck(path, kind, dict(base), {}, "", False, Reason(FIRST_COOK), error=str(exc))
    settings = {**{k: v for k, v in base.items() if v is not None}, **lookup.settings}
    fp = fingerprint(kind, settings, stage_versions(kind), FORMAT_VERSION)
    old = records.sources.get(path)
    check = SourceCheck(path, kind, settings, dict(lookup.origins), fp, False, Reason(FIRST_COOK), old)
    if old is not None and old.kind == kind and old.fingerprint == fp and not force:
        changed, refreshed = check_files(old.deps)
        if not changed:
            check.up_to_date, check.reason = True, Reason.from_json(old.reason)
            if refreshed:
                by_path = {s.path: s for s in refreshed}
                check.refreshed = replace(old, deps=[by_path.get(d.path, d) for d in old.deps])
            return check
        first = changed[0]
        code = SOURCE_CHANGED if first.old.path == path else DEPENDENCY_CHANGED
        check.reason = Reason(code, {"file": first.old.path, "old": first.old.sha256 or None,
                                     "new": first.new.sha256 or None})
    elif force:
        check.reason = Reason(FORCED)
    elif old is not None:
        check.reason = _fingerprint_reason(old, settings, kind)
    check.settings_files = [signature(p) for p in lookup.consulted]
    check.pre = stat_files([path])
    return check


def _fingerprint_reason(old: SourceRecord, settings: Mapping[str, Any], kind: str) -> Reason:
    changes = settings_changes(old.settings, settings)
    if changes:
        return Reason(SETTINGS_CHANGED, {"changes": changes})
    now = stage_versions(kind)
    for stage, version in now.items():
        if old.stages.get(stage) != version:
            return Reason(CODE_VERSION_CHANGED, {"stage": stage, "old": old.stages.get(stage), "new": version})
    if old.kind != kind:
        return Reason(SETTINGS_CHANGED, {"changes": [{"field": "kind", "old": old.kind, "new": kind}]})
    return Reason(CODE_VERSION_CHANGED, {"stage": "format", "old": None, "new": FORMAT_VERSION})


def unit_reason(old: SourceRecord | None, name: str, recipe: Any, *, forced: bool) -> Reason:
    """Why the unit called ``name`` was cooked, from the recipe it had last time."""
    previous = None
    if old is not None:
        for output in old.outputs:
            if output.name == name:
                previous = output.recipe
                break
    return explain(previous, recipe, forced=forced)


def source_record(check: SourceCheck, *, hashes: Mapping[str, str], outputs: list[OutputRecord]) -> SourceRecord:
    """The record of a cooked source: ``hashes`` are the SHA-256 of the files the cook
    read (by path), matched with the signatures taken before it (a model's
    dependencies and textures are in ``check.pre`` too)."""
    deps: dict[str, FileSignature] = {}
    for path, sig in check.pre.items():
        digest = hashes.get(path, sig.sha256)
        deps[path] = replace(sig, sha256=digest if not sig.missing else "")
    for sig in check.settings_files:
        deps.setdefault(sig.path, sig)
    return SourceRecord(check.path, check.kind, check.settings, check.fingerprint, list(deps.values()), outputs,
                        check.reason.to_json(), time.time(), True, stage_versions(check.kind), check.origins)


def output_record(kind: str, name: str, outcome: Any, reason: Reason, *, index: int | None = None,
                  asset: str | None = None, vpath: str | None = None, origin: str | None = None,
                  buffers: tuple[int, ...] = ()) -> OutputRecord:
    return OutputRecord(kind, name, outcome.stage, outcome.key, outcome.recipe.to_json(), reason.to_json(),
                        origin or outcome.origin, index, asset, vpath, tuple(buffers))


def root_texture_keys(records: RecordSet, texture_count: int) -> dict[str, int]:
    """Texture key -> index of every texture output the root's records know (and
    its table holds), so a unit with that key reuses it without cooking."""
    out: dict[str, int] = {}
    for record in records.sources.values():
        for output in record.outputs:
            if output.kind == "texture" and output.index is not None and 0 < output.index < texture_count:
                out.setdefault(output.key, output.index)
    return out


def recorded_outputs(record: SourceRecord, source_id: str | None = None) -> dict[str, int]:
    """The report's ``outputs`` of an up-to-date source, from its record, named as a
    cook would name them: a standalone texture by ``source_id`` (the path as given
    now), a model's textures ``texture:<image>[<preset>]`` and geometries
    ``geometry:<name>:vertices|indices``."""
    out: dict[str, int] = {}
    for o in record.outputs:
        if record.kind == "texture" and o.kind == "texture" and o.index is not None:
            out[source_id or o.name] = o.index
        elif o.kind == "texture" and o.index is not None:
            out[o.name] = o.index
        elif o.stage == "geometry" and len(o.buffers) == 2 and o.vpath:
            name = o.vpath.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            out[f"geometry:{name}:vertices"], out[f"geometry:{name}:indices"] = o.buffers
    return out


__all__ = ["COUNT_FIELDS", "CookCounts", "SourceCheck", "check_source", "output_record", "recorded_outputs",
           "root_texture_keys", "source_record", "stat_files", "unit_reason"]
