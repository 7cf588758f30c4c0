"""Build records: what each source of a cooked root produced, from what, and why.

Stored per root in SQLite (WAL) at ``ROOT/.oxy/build.sqlite``; the engine ignores
``.oxy/``. For each source (an image or a model, by absolute path) one
:class:`SourceRecord`: its kind and effective settings, the stat signature and
SHA-256 of every file its cook read (:class:`FileSignature`: the source, a glTF's
``.bin``, a model's textures, the settings files consulted, present or not), each
output with its unit recipe, key, reason and origin (:class:`OutputRecord`), and
the reason for its last cook.

**Records describe one committed index.** Rows belong to a *generation* tagged
with the SHA-256 of the ``container.index.bin`` they describe. A commit stages a
new generation (the old one copied, the changed sources replaced) *before* the
new index is renamed into place, in one transaction that also drops every
generation but the base and the new one; a reader takes the newest generation
whose tag equals the SHA-256 of the index on disk (crash recovery prunes the one
that lost). So
whatever a crash leaves (old index or new, see :mod:`oxy.build.commit`), the
records read back are the ones of that index; when none match (records lost, or
a root cooked by another tool) the root has no records and everything is checked
from scratch.

**Stat signatures.** A file is unchanged when its (size, mtime_ns, inode) equal
the recorded ones, and otherwise when its SHA-256 does. A signature taken within
:data:`RACY_SECONDS` of its file's mtime is *racy* (the file could change again
within the same timestamp tick): it is always confirmed by hash.

Plain blocking code (sqlite3, os): call from one thread at a time per object;
sessions on the import hub call it through their I/O pool. Any number of
processes may read while one cook (holding the root lock) writes.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from oxy.build.recipe import canonical_json
from oxy.errors import OxyError
from oxy.rootfs import resolve_inside

RECORDS_FOLDER = ".oxy"
RECORDS_FILE = f"{RECORDS_FOLDER}/build.sqlite"
SCHEMA_VERSION = 1
RACY_SECONDS = 2.0
NO_INDEX = ""  # the generation tag of a root that has no index yet

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS generations(gen INTEGER PRIMARY KEY, index_sha256 TEXT NOT NULL, "
    "created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sources(gen INTEGER NOT NULL, path TEXT NOT NULL, data TEXT NOT NULL, "
    "PRIMARY KEY(gen, path))",
)


class RecordsError(OxyError):
    """The build records cannot be read or written (names the file and the reason)."""


class DamagedRecordsError(RecordsError):
    """The records file is not an SQLite database of this schema (damaged, truncated,
    or something else under its name): :meth:`BuildRecords.set_aside` moves it away."""


@dataclass(frozen=True)
class FileSignature:
    """A file as it was when a cook read it. ``size == -1``: the file did not exist."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str
    racy: bool = False

    @property
    def missing(self) -> bool:
        return self.size < 0

    def to_json(self) -> list[Any]:
        return [self.path, self.size, self.mtime_ns, self.inode, self.sha256, self.racy]

    @classmethod
    def from_json(cls, row: list[Any]) -> "FileSignature":
        return cls(str(row[0]), int(row[1]), int(row[2]), int(row[3]), str(row[4]), bool(row[5]))


@dataclass(frozen=True)
class OutputRecord:
    """One output of a source. ``kind``: "texture" (``index`` into the texture table)
    or "asset" (``asset`` key as hex, ``vpath``). ``origin``: how its bytes were
    obtained the last time it was cooked ("cooked", "cache:local", "cache:remote",
    "root": the root already held them, "unchanged": built again, byte-identical)."""

    kind: str
    name: str
    stage: str
    key: str
    recipe: Mapping[str, Any]
    reason: Mapping[str, Any]
    origin: str
    index: int | None = None
    asset: str | None = None
    vpath: str | None = None
    buffers: tuple[int, ...] = ()    # a geometry's vertex and index buffer indices

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "stage": self.stage, "key": self.key,
                "recipe": dict(self.recipe), "reason": dict(self.reason), "origin": self.origin,
                "index": self.index, "asset": self.asset, "vpath": self.vpath, "buffers": list(self.buffers)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "OutputRecord":
        return cls(str(data["kind"]), str(data["name"]), str(data["stage"]), str(data["key"]),
                   dict(data.get("recipe", {})), dict(data.get("reason", {})), str(data.get("origin", "cooked")),
                   data.get("index"), data.get("asset"), data.get("vpath"),
                   tuple(int(b) for b in data.get("buffers", ())))


@dataclass
class SourceRecord:
    """Everything recorded about one source (see the module docstring)."""

    path: str
    kind: str                                     # "texture" or "scene"
    settings: dict[str, Any]
    fingerprint: str                              # settings + stage versions + format, hashed
    deps: list[FileSignature] = field(default_factory=list)
    outputs: list[OutputRecord] = field(default_factory=list)
    reason: dict[str, Any] = field(default_factory=lambda: {"code": "first_cook"})
    cooked_at: float = 0.0
    live: bool = True
    stages: dict[str, int] = field(default_factory=dict)  # the stage versions it was cooked with
    origins: dict[str, str] = field(default_factory=dict)  # setting -> the settings file that set it

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "settings": self.settings, "fingerprint": self.fingerprint,
                "deps": [d.to_json() for d in self.deps], "outputs": [o.to_json() for o in self.outputs],
                "reason": self.reason, "cooked_at": self.cooked_at, "live": self.live, "stages": self.stages,
                "origins": self.origins}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SourceRecord":
        return cls(str(data["path"]), str(data["kind"]), dict(data.get("settings", {})),
                   str(data.get("fingerprint", "")), [FileSignature.from_json(d) for d in data.get("deps", ())],
                   [OutputRecord.from_json(o) for o in data.get("outputs", ())],
                   dict(data.get("reason", {})), float(data.get("cooked_at", 0.0)), bool(data.get("live", True)),
                   dict(data.get("stages", {})), dict(data.get("origins", {})))

    def texture_indices(self) -> list[int]:
        return [o.index for o in self.outputs if o.kind == "texture" and o.index is not None]


@dataclass
class RecordSet:
    """The records of one generation. ``gen`` is 0 when the root has none that match
    its index (``sources`` is then empty)."""

    gen: int
    index_sha256: str
    sources: dict[str, SourceRecord] = field(default_factory=dict)


def fingerprint(kind: str, settings: Mapping[str, Any], stage_versions: Mapping[str, int], format_version: str) -> str:
    """The part of a source's recipe that is not a file: settings, code versions, format."""
    return hashlib.sha256(canonical_json({"kind": kind, "settings": dict(settings),
                                          "stages": dict(stage_versions), "format": format_version})).hexdigest()


# -- file signatures -----------------------------------------------------------------------------

def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def signature(path: str, sha256: str | None = None, *, now: float | None = None,
              hash_file: bool = True) -> FileSignature:
    """The signature of ``path`` as it is now (``sha256``: the hash of the bytes the
    cook read, when known; else the file is hashed, or with ``hash_file=False`` left
    ""). A missing file gets size -1. The one place a stat becomes a signature."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return FileSignature(path, -1, 0, 0, "")
    digest = sha256 if sha256 is not None else (file_sha256(path) if hash_file else "")
    racy = (now if now is not None else time.time()) - st.st_mtime_ns / 1e9 < RACY_SECONDS
    return FileSignature(path, st.st_size, st.st_mtime_ns, st.st_ino, digest, racy)


@dataclass(frozen=True)
class FileChange:
    old: FileSignature
    new: FileSignature


def check_files(deps: Iterable[FileSignature]) -> tuple[list[FileChange], list[FileSignature]]:
    """(changed files, refreshed signatures). A file whose stat matches (and is not
    racy) costs one ``stat``; otherwise it is hashed: same hash -> unchanged, with a
    refreshed signature when the stat itself moved; another hash (or it appeared or
    vanished) -> changed."""
    changed, refreshed = [], []
    now = time.time()
    for old in deps:
        try:
            st = os.stat(old.path)
        except (FileNotFoundError, NotADirectoryError):
            if not old.missing:
                changed.append(FileChange(old, FileSignature(old.path, -1, 0, 0, "")))
            continue
        if old.missing:
            changed.append(FileChange(old, signature(old.path, now=now)))
            continue
        same_stat = (st.st_size, st.st_mtime_ns, st.st_ino) == (old.size, old.mtime_ns, old.inode)
        if same_stat and not old.racy:
            continue
        try:
            current = signature(old.path, now=now)
        except OSError:
            changed.append(FileChange(old, FileSignature(old.path, -1, 0, 0, "")))
            continue
        if current.sha256 != old.sha256:
            changed.append(FileChange(old, current))
        elif not same_stat:
            refreshed.append(current)
    return changed, refreshed


# -- the database -------------------------------------------------------------------------------

class BuildRecords:
    """The records file of one root. Reading never creates it; the first write does.
    Writers must hold the root lock (:class:`oxy.build.rootlock.RootLock`)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    @property
    def path(self) -> str:
        return resolve_inside(self.root, RECORDS_FILE)

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        path = self.path
        exists = os.path.isfile(path)
        if not create and not exists:
            return None
        if create and not exists:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            resolve_inside(self.root, RECORDS_FILE)  # the folder just made must still be inside
        try:
            db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            if create and not exists:  # a new file: WAL mode and the schema (both persist in the file)
                db.execute("PRAGMA journal_mode=WAL")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("PRAGMA synchronous=FULL")
            db.execute("SELECT COUNT(*) FROM generations").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise RecordsError(f"{path}: cannot open the build records: {exc}") from None
            raise DamagedRecordsError(f"{path}: cannot open the build records: {exc}") from None
        except sqlite3.Error as exc:
            raise RecordsError(f"{path}: cannot open the build records: {exc}") from None

    def set_aside(self) -> str:
        """Move a damaged records file (and its WAL files) to ``build.sqlite.damaged-<n>``
        beside it, so the next write starts afresh; returns the new name. The caller
        holds the root lock."""
        path = self.path
        n = 1
        while os.path.exists(f"{path}.damaged-{n}"):
            n += 1
        target = f"{path}.damaged-{n}"
        os.replace(path, target)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, target + suffix)
        return target

    def load(self, index_sha256: str) -> RecordSet:
        """The newest generation describing the index whose SHA-256 is given (empty
        when there is none). Raises RecordsError for an unreadable file."""
        db = self._connect(create=False)
        if db is None:
            return RecordSet(0, index_sha256)
        try:
            row = db.execute("SELECT gen FROM generations WHERE index_sha256=? ORDER BY gen DESC LIMIT 1",
                             (index_sha256,)).fetchone()
            if row is None:
                return RecordSet(0, index_sha256)
            gen = int(row[0])
            sources = {}
            for path, data in db.execute("SELECT path, data FROM sources WHERE gen=?", (gen,)):
                sources[path] = SourceRecord.from_json(json.loads(data))
            return RecordSet(gen, index_sha256, sources)
        except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
            raise RecordsError(f"{self.path}: cannot read the build records: {exc}") from None
        finally:
            db.close()

    def stage(self, index_sha256: str, base: RecordSet, changed: Mapping[str, SourceRecord | None]) -> int:
        """Write a new generation for the index whose SHA-256 is given: ``base``'s
        sources with ``changed`` applied (None removes a source). Returns its number;
        it takes effect once that index is in place (see the module docstring)."""
        db = self._connect(create=True)
        assert db is not None
        try:
            db.execute("BEGIN IMMEDIATE")
            gen = int(db.execute("SELECT COALESCE(MAX(gen), 0) + 1 FROM generations").fetchone()[0])
            db.execute("INSERT INTO generations VALUES(?, ?, ?)", (gen, index_sha256, time.time()))
            # Generations other than the base (the index in place) and this one describe no
            # index that can still be on disk: drop them now (so a commit needs no second
            # transaction; :meth:`finish` drops the base once the new index is in place).
            db.execute("DELETE FROM sources WHERE gen NOT IN (?, ?)", (base.gen, gen))
            db.execute("DELETE FROM generations WHERE gen NOT IN (?, ?)", (base.gen, gen))
            if base.gen:
                db.execute("INSERT INTO sources(gen, path, data) SELECT ?, path, data FROM sources WHERE gen=?",
                           (gen, base.gen))
            else:
                db.executemany("INSERT INTO sources VALUES(?, ?, ?)",
                               [(gen, p, json.dumps(r.to_json())) for p, r in base.sources.items()])
            for path, record in changed.items():
                if record is None:
                    db.execute("DELETE FROM sources WHERE gen=? AND path=?", (gen, path))
                else:
                    db.execute("INSERT OR REPLACE INTO sources VALUES(?, ?, ?)",
                               (gen, path, json.dumps(record.to_json())))
            db.execute("COMMIT")
            return gen
        except sqlite3.Error as exc:
            _rollback(db)
            raise RecordsError(f"{self.path}: cannot write the build records: {exc}") from None
        finally:
            db.close()

    def finish(self, gen: int) -> None:
        """After the commit of ``gen``'s index: drop every other generation."""
        self._execute(("DELETE FROM sources WHERE gen<>?", (gen,)), ("DELETE FROM generations WHERE gen<>?", (gen,)))

    def discard(self, gen: int) -> None:
        """After a failed commit: drop the generation staged for it."""
        self._execute(("DELETE FROM sources WHERE gen=?", (gen,)), ("DELETE FROM generations WHERE gen=?", (gen,)))

    def prune(self, index_sha256: str) -> int:
        """Keep only the newest generation describing this index (after a crash
        recovery: a generation staged for a commit that was rolled back goes).
        Returns how many generations were dropped; nothing is written when none is."""
        db = self._connect(create=False)
        if db is None:
            return 0
        try:
            row = db.execute("SELECT MAX(gen) FROM generations WHERE index_sha256=?", (index_sha256,)).fetchone()
            keep = int(row[0]) if row and row[0] is not None else 0
            stale = int(db.execute("SELECT COUNT(*) FROM generations WHERE gen<>?", (keep,)).fetchone()[0])
        except sqlite3.Error as exc:
            raise RecordsError(f"{self.path}: cannot read the build records: {exc}") from None
        finally:
            db.close()
        if stale:
            self._execute(("DELETE FROM sources WHERE gen<>?", (keep,)), ("DELETE FROM generations WHERE gen<>?", (keep,)))
        return stale

    def refresh(self, gen: int, records: Iterable[SourceRecord]) -> None:
        """Rewrite sources of generation ``gen`` in place (refreshed stat signatures:
        what they describe does not change)."""
        rows = [(json.dumps(r.to_json()), gen, r.path) for r in records]
        if rows and gen:
            self._execute(*[("UPDATE sources SET data=? WHERE gen=? AND path=?", row) for row in rows])

    def _execute(self, *statements: tuple[str, tuple]) -> None:
        db = self._connect(create=False)
        if db is None:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                db.execute(sql, params)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(db)
            raise RecordsError(f"{self.path}: cannot write the build records: {exc}") from None
        finally:
            db.close()


def _rollback(db: sqlite3.Connection) -> None:
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def live_texture_indices(records: RecordSet) -> dict[int, str]:
    """Texture index -> the source that keeps it live (standalone textures and the
    textures of models, from the latest cook of each live source)."""
    out: dict[int, str] = {}
    for path in sorted(records.sources):
        record = records.sources[path]
        if record.live:
            for index in record.texture_indices():
                out.setdefault(index, path)
    return out
