"""SQLite metadata store: schema and per-thread connections.

The schema follows the reference backend in spirit: a tree of nodes
(account -> container -> object), object versions with a global serial,
attributes keyed by (version, domain, key), permissions and public tokens per
path, and per-node policies. Block contents live in `blocks.py`, never here.

Concurrency: WAL journal, one connection per thread, a generous busy_timeout,
and `BEGIN IMMEDIATE` for every write so two writers never deadlock while
upgrading a read lock (which is what surfaces as "database is locked").
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pithosfs.server import node_history

log = logging.getLogger(__name__)

PAGE_CACHE_KIB = 1024  # SQLite page cache per connection (one connection per thread)

# Version clusters (protocol.md 6): the live version, superseded ones, delete markers.
CLUSTER_NORMAL = 0
CLUSTER_HISTORY = 1
CLUSTER_DELETED = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    node    INTEGER PRIMARY KEY,  -- node id
    parent  INTEGER,              -- account node for a container, container node for an object, NULL for an account
    name    TEXT NOT NULL,        -- name inside the parent: account uuid, container name or object name
    path    TEXT NOT NULL UNIQUE, -- "account", "account/container" or "account/container/object"
    mtime   REAL NOT NULL,        -- last change anywhere below (accounts, containers) or node creation (objects)
    ctime   REAL NOT NULL DEFAULT 0 -- creation time, for `until` views of an account's containers
);
CREATE UNIQUE INDEX IF NOT EXISTS nodes_parent_name ON nodes(parent, name);

CREATE TABLE IF NOT EXISTS versions (
    serial     INTEGER PRIMARY KEY AUTOINCREMENT, -- global version number, X-Object-Version
    node       INTEGER NOT NULL,                  -- the object node this version belongs to
    hash       TEXT NOT NULL,                     -- Merkle root of the block hashes (X-Object-Hash)
    size       INTEGER NOT NULL,                  -- bytes
    type       TEXT NOT NULL,                     -- Content-Type
    checksum   TEXT NOT NULL DEFAULT '',          -- client MD5 sent as ETag on PUT, else ''
    mtime      REAL NOT NULL,                     -- epoch seconds with microseconds
    muser      TEXT NOT NULL,                     -- uuid of the user who made this version
    uuid       TEXT NOT NULL,                     -- object uuid, kept across updates and moves
    cluster    INTEGER NOT NULL,                  -- 0 current, 1 history, 2 delete marker
    block_size INTEGER NOT NULL,                  -- block size the hashes were computed with
    hashes     BLOB NOT NULL                      -- concatenated raw block digests (last: large)
);
CREATE INDEX IF NOT EXISTS versions_node_cluster ON versions(node, cluster);
CREATE INDEX IF NOT EXISTS versions_uuid ON versions(uuid);

CREATE TABLE IF NOT EXISTS attributes (
    serial INTEGER NOT NULL,  -- version the attribute belongs to
    domain TEXT NOT NULL,     -- "pithos" for user metadata, "plankton" for image metadata
    key    TEXT NOT NULL,     -- normalised key (e.g. "Color", "Content-Encoding")
    value  TEXT NOT NULL,
    PRIMARY KEY (serial, domain, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS usage (
    node  INTEGER PRIMARY KEY, -- container node
    count INTEGER NOT NULL,    -- current (cluster 0) objects in it
    bytes INTEGER NOT NULL     -- their total size; kept in step by every commit and delete,
                               -- rebuilt from `versions` at every start
);

CREATE TABLE IF NOT EXISTS node_meta (
    node   INTEGER NOT NULL,  -- account or container node
    domain TEXT NOT NULL,     -- "pithos"
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (node, domain, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS policies (
    node  INTEGER NOT NULL,   -- account or container node
    key   TEXT NOT NULL,      -- "quota", "versioning", "project"
    value TEXT NOT NULL,
    PRIMARY KEY (node, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS groups (
    account TEXT NOT NULL,    -- owner uuid
    name    TEXT NOT NULL,    -- lower-cased group name
    member  TEXT NOT NULL,    -- member uuid
    UNIQUE (account, name, member)  -- rowid keeps the order members were listed in
);

CREATE TABLE IF NOT EXISTS permissions (
    path    TEXT NOT NULL,    -- "account/container/object" the permission is set on
    access  INTEGER NOT NULL, -- 0 read, 1 write
    subject TEXT NOT NULL,    -- user uuid, "owner:group" or "*"
    UNIQUE (path, access, subject)  -- rowid keeps the order the owner listed them in
);
CREATE INDEX IF NOT EXISTS permissions_subject ON permissions(subject);

-- Block lists of deleted versions, for the block collector (block_gc.py): filled by
-- the trigger below in the transaction that deletes them, emptied by the collector.
CREATE TABLE IF NOT EXISTS released_blocks (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    hashes BLOB NOT NULL,          -- concatenated raw block digests of a deleted version
    after  REAL NOT NULL DEFAULT 0 -- epoch seconds; not looked at before (kept for an upload)
);
CREATE TRIGGER IF NOT EXISTS versions_release_blocks AFTER DELETE ON versions
WHEN length(OLD.hashes) > 0
BEGIN
    INSERT INTO released_blocks (hashes) VALUES (OLD.hashes);
END;

CREATE TABLE IF NOT EXISTS public_links (
    path  TEXT PRIMARY KEY,   -- "account/container/object" that is published
    token TEXT NOT NULL UNIQUE -- 16 random alphanumerics in /public/<token>
) WITHOUT ROWID;
"""

READ = 0
WRITE = 1


class Database:
    """Hands out one SQLite connection per thread over a single file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self.conn()
        conn.executescript(SCHEMA)
        self._migrate(conn)
        node_history.create(conn)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Bring data dirs made by earlier versions of this server up to the schema."""
        columns = {r["name"] for r in conn.execute("PRAGMA table_info(nodes)")}
        if "ctime" not in columns:
            conn.execute("ALTER TABLE nodes ADD COLUMN ctime REAL NOT NULL DEFAULT 0")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=60.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode keeps the database consistent across a crash; a
        # power loss may drop the last transactions, never corrupt them.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA foreign_keys=OFF")
        # Each server thread has a connection, each connection its own page cache: bounded
        # here (the OS page cache holds the file anyway). SQLite's default, 2 MiB each,
        # let 40-odd connections grow the server by tens of MiB over an hour of work.
        conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        conn.row_factory = sqlite3.Row
        with self._lock:
            self._all.append(conn)
        return conn

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        conn = self.conn()
        if conn.in_transaction:  # nested inside a write: reuse it
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An immediate write transaction, committed on success, rolled back on any error."""
        conn = self.conn()
        if conn.in_transaction:
            yield conn
            return
        self._begin_immediate(conn)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _begin_immediate(conn: sqlite3.Connection) -> None:
        # busy_timeout covers normal waits; this loop only guards against the
        # rare SQLITE_BUSY that bypasses the handler, so it never reaches a client.
        deadline = time.monotonic() + 120
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                log.debug("database busy, retrying BEGIN IMMEDIATE")
                time.sleep(0.01)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:  # already closed or in use by a dying thread
                    pass
            self._all.clear()
        self._local = threading.local()
