"""Account and container metadata and policy through time, for `until` views (protocol.md 6).

Every change of an account's or a container's user metadata or policy records
the whole resulting state with its time; `until=T` then shows the last state
recorded at or before T. A node with no state recorded by then had none of its
own yet: empty metadata and the default policy. Data dirs from before this
table get their current state recorded as of time 0 (the best knowledge there is).
"""

from __future__ import annotations

import json
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS node_states (
    node   INTEGER NOT NULL,  -- account or container node
    mtime  REAL NOT NULL,     -- when this state began
    meta   TEXT NOT NULL,     -- JSON object: the user metadata from then on
    policy TEXT NOT NULL,     -- JSON object: the policies set from then on ({} for accounts)
    PRIMARY KEY (node, mtime)
) WITHOUT ROWID;
"""


def create(conn: sqlite3.Connection) -> None:
    """Create the table; on a data dir that lacked it, record every node's state as of 0."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'node_states'"
    ).fetchone()
    conn.executescript(SCHEMA)
    if exists:
        return
    nodes = conn.execute("SELECT node FROM node_meta UNION SELECT node FROM policies").fetchall()
    for row in nodes:
        node = int(row[0])
        meta = dict(conn.execute("SELECT key, value FROM node_meta WHERE node = ?", (node,)))
        policy = dict(conn.execute("SELECT key, value FROM policies WHERE node = ?", (node,)))
        record(conn, node, meta, policy, 0.0)


def record(
    conn: sqlite3.Connection,
    node: int,
    meta: dict[str, str],
    policy: dict[str, str],
    mtime: float,
) -> None:
    """The node's state from `mtime` on (a later change at the same instant wins)."""
    conn.execute(
        "INSERT OR REPLACE INTO node_states (node, mtime, meta, policy) VALUES (?, ?, ?, ?)",
        (node, mtime, json.dumps(meta, sort_keys=True), json.dumps(policy, sort_keys=True)),
    )


def state_at(
    conn: sqlite3.Connection, node: int, until: float
) -> tuple[dict[str, str], dict[str, str]]:
    """(user metadata, policies set) of the node at time `until`."""
    row = conn.execute(
        "SELECT meta, policy FROM node_states WHERE node = ? AND mtime <= ?"
        " ORDER BY mtime DESC LIMIT 1",
        (node, until),
    ).fetchone()
    if row is None:
        return {}, {}
    return dict(json.loads(row[0])), dict(json.loads(row[1]))


def forget(conn: sqlite3.Connection, node: int) -> None:
    conn.execute("DELETE FROM node_states WHERE node = ?", (node,))
