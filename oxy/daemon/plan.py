"""What a set of changed paths becomes: the import requests ``oxy cook`` would make.

A :class:`Plan` holds the models to cook (batched, as ``oxy cook`` batches them),
the images to cook (one texture job; images that a model of the same plan already
read are left out, as ``oxy cook`` leaves them out) and the deleted sources whose
build records are to be forgotten. The request building reuses
:mod:`oxy.cli.cook_cmd` (``expand_inputs``, ``unique_names``, ``MODELS_PER_JOB``).

Plain blocking code (``os.walk``, ``stat``, SQLite reads of the build records):
the main hub calls it through its thread pool. Pure otherwise; safe from any thread.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from oxy.daemon.config import DaemonConfig

#: Names editors and tools write before renaming into place: never sources.
TEMP_PATTERNS = ("*.tmp", "*~", ".#*", "*.swp", "*.swx", "*.swo", "*.part", "*.crdownload", "4913", "*.oxy-tmp-*")
SETTINGS_NAMES = ("oxy.toml",)
SETTINGS_SUFFIX = ".oxy.toml"
#: ``ImportRequest.layout`` of the daemon's records-only job (see :mod:`oxy.daemon.forget`).
FORGET_LAYOUT = "oxy.daemon.forget"
#: The texture settings a ``POST /api/cook`` may set for its job: ``oxy cook``'s ``--preset``,
#: ``--quality``, ``--format`` (``output``, images only) and ``--kind``, checked against the
#: texture importer's declarations.
REQUEST_SETTINGS = ("preset", "quality", "output", "kind")
#: Presets that reach a model's colour textures (as ``oxy cook --preset`` passes them); the
#: others apply to images only.
MODEL_PRESETS = ("albedo", "ui", "data")


def is_temp(path: str) -> bool:
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(name, p) for p in TEMP_PATTERNS)


def is_settings(path: str) -> bool:
    name = os.path.basename(path).lower()
    return name in SETTINGS_NAMES or name.endswith(SETTINGS_SUFFIX)


def source_kind(path: str) -> str | None:
    """"image", "model" (a suffix an importer knows), or None."""
    from oxy.importing import default_registry
    from oxy.importing.texture_importer import IMAGE_SUFFIXES

    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in default_registry.known_suffixes():
        return "model"
    return None


def interesting(path: str) -> bool:
    """A file event the daemon reacts to (a source or a settings file, not a temp name)."""
    return not is_temp(path) and (is_settings(path) or source_kind(path) is not None)


@dataclass
class Plan:
    models: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)  # images named directly (cooked even if a model read them)

    @property
    def sources(self) -> list[str]:
        return self.models + self.images + self.forget

    def __bool__(self) -> bool:
        return bool(self.models or self.images or self.forget)


def load_records(root: str) -> Any:
    """The root's build records for its current index (an empty set when none)."""
    from oxy.build.records import BuildRecords, RecordSet, RecordsError
    from oxy.formats.loose import INDEX_FILE_NAME

    try:
        with open(os.path.join(root, INDEX_FILE_NAME), "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        return BuildRecords(root).load(sha)
    except (OSError, RecordsError):
        return RecordSet(0, "")


def make_plan(cfg: DaemonConfig, paths: list[str], deleted: list[str] | None = None) -> Plan:
    """The plan for ``paths`` (files or folders, real paths inside watched folders) and
    ``deleted`` (files that no longer exist)."""
    from oxy.cli.cook_cmd import expand_inputs

    wanted: list[str] = []
    for p in paths:
        if is_settings(p):  # a settings change: the sources of its folder (the cook skips the unchanged)
            wanted.append(os.path.dirname(p))
        elif os.path.isdir(p) or (os.path.isfile(p) and source_kind(p) is not None):
            wanted.append(p)
    images, models, _missing = expand_inputs(sorted(set(wanted))) if wanted else ([], [], [])
    images = [p for p in _unique(images) if _allowed(cfg, p)]
    models = [p for p in _unique(models) if _allowed(cfg, p)]
    plan = Plan(models=models, images=images, explicit={p for p in paths if os.path.isfile(p)})
    records = load_records(cfg.root)
    touched = set(images) | set(models) | set(deleted or ())
    for path, record in records.sources.items():
        if record.kind == "scene" and path not in plan.models and os.path.isfile(path) \
                and any(d.path in touched for d in record.deps):
            plan.models.append(path)  # a model whose texture or buffer changed: cooked again
    # A path reported changed that no longer exists was deleted too: the watcher's change
    # set is unordered, so a file rewritten and deleted within one batch can arrive as
    # "modified" alone (found by tools/soak_daemon.py: such sources stayed live).
    for path in dict.fromkeys([*(deleted or ()), *paths]):
        if path in records.sources and not os.path.exists(path) and path not in plan.forget:
            plan.forget.append(path)
    return plan


def _allowed(cfg: DaemonConfig, path: str) -> bool:
    """Not a temp name, and really inside a watched folder and outside the root (a
    symlink in a watched folder that points elsewhere is not cooked, as the API refuses it)."""
    real = os.path.realpath(path)
    return not is_temp(path) and cfg.watched_folder(real) is not None and not cfg.excluded(real)


def _unique(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in paths:
        a = os.path.abspath(p)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return out


def check_settings(settings: Any) -> dict[str, str]:
    """The per-request texture settings of a cook (``None``: none), checked against the
    texture importer's option declarations (``TEXTURE_OPTIONS``). Raises ValueError
    naming the key and what is wrong (an unknown key, with the known ones; a value
    outside the choices). Pure."""
    from oxy.importing.texture_importer import TEXTURE_OPTIONS

    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ValueError(f"'settings' must be an object of texture settings, got {type(settings).__name__}")
    specs = {o.name: o for o in TEXTURE_OPTIONS if o.name in REQUEST_SETTINGS}
    for key, value in settings.items():
        spec = specs.get(key)
        if spec is None:
            raise ValueError(f"'settings' has an unknown key {key!r} (known: {', '.join(REQUEST_SETTINGS)})")
        problem = "must not be null" if value is None else spec.problem(value)
        if problem is not None:
            raise ValueError(f"'settings.{key}' {problem}")
    return dict(settings)


def model_requests(cfg: DaemonConfig, models: list[str], force: bool,
                   settings: dict[str, str] | None = None) -> list[Any]:
    """The requests ``oxy cook`` makes for ``models`` (batched, unique names); ``settings``
    (checked by :func:`check_settings`) as ``oxy cook --quality/--preset`` pass them."""
    from oxy.cli.cook_cmd import MODELS_PER_JOB, unique_names
    from oxy.importing import ImportRequest

    settings = settings or {}
    names = unique_names(models)
    preset = settings.get("preset")
    base = {"quality": settings.get("quality", cfg.quality), "preset": preset if preset in MODEL_PRESETS else None,
            "force": force or None}
    out = []
    for i in range(0, len(models), MODELS_PER_JOB):
        batch = models[i:i + MODELS_PER_JOB]
        out.append(ImportRequest(batch[0], cfg.root, options={
            **base, "name_prefix": names[batch[0]], "scene_name": names[batch[0]],
            "models": [{"path": p, "name_prefix": names[p], "scene_name": names[p]} for p in batch[1:]] or None}))
    return out


def image_request(cfg: DaemonConfig, images: list[str], force: bool, settings: dict[str, str] | None = None) -> Any:
    """The one texture job ``oxy cook`` makes for ``images``, with the request's ``settings``
    (checked by :func:`check_settings`) over the daemon's defaults."""
    from oxy.importing import ImportRequest

    settings = settings or {}
    return ImportRequest(images[0], cfg.root, options={
        "preset": settings.get("preset", "albedo"), "quality": settings.get("quality", cfg.quality),
        "output": settings.get("output", cfg.output),
        "kind": settings.get("kind", "2d"), "sources": images[1:], "force": force or None})


def forget_request(cfg: DaemonConfig, paths: list[str], anchor: str) -> Any:
    """The records-only job that forgets deleted sources (``anchor``: any readable file,
    the daemon's lock file: the service checks that a job's source exists)."""
    from oxy.importing import ImportRequest

    return ImportRequest(anchor, cfg.root, layout=FORGET_LAYOUT, options={"forget": list(paths)})
