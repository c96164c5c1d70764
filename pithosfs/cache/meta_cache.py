"""Object user metadata remembered per (UUID, version), on disk, across mounts.

Why: a reference Pithos+ listing carries no user metadata, and pithosfs keeps
modes, mtimes and symlink targets there (fs/nodes.py). Without it a listing
would show defaults, and a HEAD per file per listing is what the listing is
meant to save. A version never changes on the server (a metadata update makes
a new one), so what was once seen for (uuid, version) stays true forever: no
expiry, no invalidation. Entries come only from replies that carry the
version's full metadata (a HEAD, a write's result); a fresh mount of the same
cache directory starts with everything earlier mounts saw.

Storage: one SQLite file (WAL, so several mounts of one cache directory can
share it), an in-memory LRU in front of it, at most `max_rows` rows on disk
(the oldest go first). A broken or unwritable file only costs the cache: the
mount asks the server instead.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

Key = tuple[str, int]  # (object uuid, version)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    uuid    TEXT NOT NULL,     -- X-Object-UUID
    version INTEGER NOT NULL,  -- X-Object-Version: a version's metadata never changes
    meta    TEXT NOT NULL,     -- JSON object of its user metadata (keys as normalised)
    PRIMARY KEY (uuid, version)
);
"""
# Lookups per SQL statement (SQLite allows 32766 variables; two per key).
_LOOKUP_BATCH = 400
# Versions whose metadata is also kept in memory, in front of the file. Every commit adds
# a version: 50,000 of them held about 75 MiB and filled over the first 10 minutes of a
# soak (docs/memory.md); the file answers the rest with an indexed batch lookup.
MEMORY_ENTRIES = 4096


class MetaCache:
    def __init__(
        self, path: Path, max_rows: int = 2_000_000, memory_entries: int = MEMORY_ENTRIES
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self._memory_entries = memory_entries
        self._lock = threading.Lock()
        self._memory: OrderedDict[Key, dict[str, str]] = OrderedDict()  # GUARDED_BY(_lock)
        self._conn: sqlite3.Connection | None = None  # GUARDED_BY(_lock)
        self._writes = 0  # GUARDED_BY(_lock): rows added since the last trim
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            path.chmod(0o600)
            self._conn = conn
        except (OSError, sqlite3.Error) as exc:
            log.warning("metadata cache %s unusable (%s): kept in memory only", path, exc)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __len__(self) -> int:
        with self._lock:
            if self._conn is None:
                return len(self._memory)
            return int(self._conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0])

    def get_many(self, keys: Iterable[Key]) -> dict[Key, dict[str, str]]:
        """The metadata known for each of `keys` (absent keys are simply missing)."""
        found: dict[Key, dict[str, str]] = {}
        wanted = [k for k in dict.fromkeys(keys) if k[0]]
        with self._lock:
            missing = []
            for key in wanted:
                meta = self._memory.get(key)
                if meta is None:
                    missing.append(key)
                else:
                    self._memory.move_to_end(key)
                    found[key] = dict(meta)
            if not missing or self._conn is None:
                return found
            try:
                for i in range(0, len(missing), _LOOKUP_BATCH):
                    part = missing[i : i + _LOOKUP_BATCH]
                    where = " OR ".join(["(uuid = ? AND version = ?)"] * len(part))
                    args = [v for key in part for v in key]
                    for uuid, version, text in self._conn.execute(
                        f"SELECT uuid, version, meta FROM meta WHERE {where}", args
                    ):
                        meta = json.loads(text)
                        self._remember_locked((uuid, int(version)), meta)
                        found[(uuid, int(version))] = dict(meta)
            except (sqlite3.Error, ValueError) as exc:
                log.warning("metadata cache lookup failed (%s): asking the server", exc)
        return found

    def get(self, uuid: str, version: int) -> dict[str, str] | None:
        return self.get_many([(uuid, version)]).get((uuid, version))

    def put(self, uuid: str, version: int, meta: Mapping[str, str]) -> None:
        """Record the full user metadata of one version (as a HEAD shows it)."""
        if not uuid or version <= 0:
            return
        key = (uuid, int(version))
        value = dict(meta)
        with self._lock:
            if self._memory.get(key) == value:
                self._memory.move_to_end(key)
                return
            self._remember_locked(key, value)
            if self._conn is None:
                return
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (uuid, version, meta) VALUES (?, ?, ?)",
                    (uuid, int(version), json.dumps(value, sort_keys=True)),
                )
                self._conn.commit()
                self._writes += 1
                if self._writes >= max(1000, self.max_rows // 100):
                    self._trim_locked()
            except sqlite3.Error as exc:
                log.warning("metadata cache write failed (%s)", exc)

    def _remember_locked(self, key: Key, meta: dict[str, str]) -> None:
        self._memory[key] = meta
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)

    def _trim_locked(self) -> None:
        assert self._conn is not None
        self._writes = 0
        (rows,) = self._conn.execute("SELECT COUNT(*) FROM meta").fetchone()
        if rows > self.max_rows:
            self._conn.execute(
                "DELETE FROM meta WHERE rowid IN (SELECT rowid FROM meta ORDER BY rowid LIMIT ?)",
                (rows - self.max_rows,),
            )
            self._conn.commit()
