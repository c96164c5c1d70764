"""Who may see what: sharing evaluation with directory inheritance (protocol.md 9.4).

A path's own permissions win; without them, the closest ancestor that has
permissions *and* is a directory marker object applies.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pithosfs.protocol import is_directory_type
from pithosfs.server.db import CLUSTER_NORMAL, READ, WRITE
from pithosfs.server.sharing import Sharing


def subjects_of(conn: sqlite3.Connection, user: str) -> set[str]:
    """Every sharing subject that names `user`: itself, "*", and "owner:group" memberships."""
    rows = conn.execute("SELECT account, name FROM groups WHERE member = ?", (user,))
    return {user.lower(), "*"} | {f"{r['account']}:{r['name']}".lower() for r in rows}


def own_sharing(conn: sqlite3.Connection, path: str) -> Sharing | None:
    rows = conn.execute(
        "SELECT access, subject FROM permissions WHERE path = ? ORDER BY rowid", (path,)
    ).fetchall()
    if not rows:
        return None
    sharing = Sharing()
    for r in rows:
        (sharing.write if r["access"] == WRITE else sharing.read).append(r["subject"])
    return sharing


def level_for(sharing: Sharing, subjects: set[str]) -> str | None:
    if any(s in subjects for s in sharing.write):
        return "write"
    if any(s in subjects for s in sharing.read):
        return "read"
    return None


def is_directory_object(conn: sqlite3.Connection, path: str) -> bool:
    row = conn.execute(
        "SELECT v.type FROM nodes n JOIN versions v ON v.node = n.node AND v.cluster = ?"
        " WHERE n.path = ?",
        (CLUSTER_NORMAL, path),
    ).fetchone()
    return bool(row) and is_directory_type(row["type"])


def ancestors(name: str) -> list[str]:
    """Parent object names of `a/b/c`, closest first: `a/b`, `a`."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1) if parts[:i] != [""]]


def effective_sharing(
    conn: sqlite3.Connection, account: str, container: str, name: str
) -> tuple[Sharing | None, str | None]:
    """(permissions that apply, the ancestor path they come from or None if own)."""
    base = f"{account}/{container}/"
    own = own_sharing(conn, base + name)
    if own is not None:
        return own, None
    for parent in ancestors(name):
        sharing = own_sharing(conn, base + parent)
        if sharing is not None and is_directory_object(conn, base + parent):
            return sharing, base + parent
    return None, None


@dataclass
class ContainerPermissions:
    """All permissions inside one container, loaded once for a listing."""

    base: str
    by_path: dict[str, Sharing]
    directories: set[str]

    @classmethod
    def load(cls, conn: sqlite3.Connection, account: str, container: str) -> ContainerPermissions:
        base = f"{account}/{container}/"
        by_path: dict[str, Sharing] = {}
        rows = conn.execute(
            "SELECT path, access, subject FROM permissions WHERE path >= ? AND path < ?"
            " ORDER BY rowid",
            (base, base[:-1] + "0"),  # "0" sorts right after "/"
        )
        for r in rows:
            sharing = by_path.setdefault(r["path"], Sharing())
            (sharing.write if r["access"] == WRITE else sharing.read).append(r["subject"])
        directories = {p for p in by_path if is_directory_object(conn, p)}
        return cls(base, by_path, directories)

    def effective(self, name: str) -> tuple[Sharing | None, str | None]:
        own = self.by_path.get(self.base + name)
        if own is not None:
            return own, None
        for parent in ancestors(name):
            path = self.base + parent
            if path in self.by_path and path in self.directories:
                return self.by_path[path], path
        return None, None


def may_read(perms: ContainerPermissions, subjects: set[str], name: str) -> bool:
    """Whether any of `subjects` may read object `name` (own or inherited permissions)."""
    sharing, _ = perms.effective(name)
    return sharing is not None and level_for(sharing, subjects) is not None


def store_sharing(conn: sqlite3.Connection, path: str, sharing: Sharing | None) -> None:
    conn.execute("DELETE FROM permissions WHERE path = ?", (path,))
    if sharing is None:
        return
    rows = [(path, READ, s) for s in sharing.read] + [(path, WRITE, s) for s in sharing.write]
    conn.executemany(
        "INSERT OR IGNORE INTO permissions (path, access, subject) VALUES (?, ?, ?)", rows
    )
