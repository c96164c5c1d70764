"""Pithos semantics over the metadata database and the block store; no HTTP here.

Accounts and containers live in this module; objects in `objects.py` (mixed in).
Every public method takes the calling user first and enforces permissions
itself, so a controller cannot forget a check.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from pithosfs.protocol import DEFAULT_HASH_ALGORITHM
from pithosfs.server import access, node_history
from pithosfs.server.block_gc import Collector
from pithosfs.server.blocks import BlockStore
from pithosfs.server.db import CLUSTER_DELETED, CLUSTER_HISTORY, CLUSTER_NORMAL, Database
from pithosfs.server.errors import BadRequest, Conflict, Forbidden, NotFound
from pithosfs.server.models import AccountInfo, ContainerInfo
from pithosfs.server.object_listing import ObjectListing
from pithosfs.server.object_updates import ObjectUpdates
from pithosfs.server.sharing import MAX_GROUPS

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_QUOTA = 50 * 1024**3  # PITHOS_BACKEND_ACCOUNT_QUOTA in the reference settings
MAX_META_ITEMS = 32
CONTAINER_POLICY_DEFAULTS = {"quota": "0", "versioning": "auto"}


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir private (0700), or warn if an existing one is open to others.

    Every account's data lives there, so a directory the server starts is its user's
    alone. One that already holds something is the admin's: its mode is theirs to set.
    """
    fresh = not data_dir.exists() or not any(data_dir.iterdir())
    data_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        data_dir.chmod(0o700)  # mkdir's mode would be masked by the umask
    elif data_dir.stat().st_mode & 0o077:
        log.warning("data dir %s is open to other local users; chmod 700 it", data_dir)


class Backend(ObjectUpdates, ObjectListing):
    def __init__(
        self,
        data_dir: Path,
        block_size: int,
        algorithm: str = DEFAULT_HASH_ALGORITHM,
        account_quota: int = DEFAULT_ACCOUNT_QUOTA,
    ) -> None:
        prepare_data_dir(data_dir)
        self.db = Database(data_dir / "pithos.db")
        self.blocks = BlockStore(data_dir / "blocks", block_size, algorithm)
        self.block_size = block_size
        self.algorithm = algorithm
        self.account_quota = account_quota
        self._rebuild_usage()
        self.collector = Collector(self.db, self.blocks, data_dir)
        self.collector.start()

    def _rebuild_usage(self) -> None:
        """Recount per-container usage from the versions (cheap insurance against drift)."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM usage")
            conn.execute(
                "INSERT INTO usage (node, count, bytes) SELECT n.parent, COUNT(*), SUM(v.size)"
                " FROM versions v JOIN nodes n ON v.node = n.node WHERE v.cluster = ?"
                " GROUP BY n.parent",
                (CLUSTER_NORMAL,),
            )

    def close(self) -> None:
        self.collector.stop()
        self.blocks.close()
        self.db.close()

    # ---- nodes -----------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return time.time()

    def _account_node(self, conn: sqlite3.Connection, account: str, create: bool = False) -> int:
        row = conn.execute(
            "SELECT node FROM nodes WHERE parent IS NULL AND name = ?", (account,)
        ).fetchone()
        if row:
            return int(row["node"])
        if not create:
            return 0
        cur = conn.execute(
            "INSERT INTO nodes (parent, name, path, mtime, ctime) VALUES (NULL, ?, ?, ?, ?)",
            (account, account, self._now(), self._now()),
        )
        return int(cur.lastrowid or 0)

    def _container_row(
        self, conn: sqlite3.Connection, account: str, container: str
    ) -> sqlite3.Row | None:
        return conn.execute(
            "SELECT node, parent, mtime FROM nodes WHERE path = ?", (f"{account}/{container}",)
        ).fetchone()

    def _require_container(
        self, conn: sqlite3.Connection, account: str, container: str, user: str | None = None
    ) -> sqlite3.Row:
        """The container's row; 404 if missing, but 403 for a non-owner `user`:
        a stranger must not learn which container names exist (protocol.md 9.4, as the
        reference, which checks permissions before looking the container up)."""
        row = self._container_row(conn, account, container)
        if row is None:
            if user is not None and user != account:
                raise Forbidden("Not allowed")
            raise NotFound("Container does not exist")
        return row

    def _touch(self, conn: sqlite3.Connection, nodes: list[int], mtime: float) -> None:
        conn.executemany(
            "UPDATE nodes SET mtime = MAX(mtime, ?) WHERE node = ?", [(mtime, n) for n in nodes]
        )

    def _node_meta(self, conn: sqlite3.Connection, node: int) -> dict[str, str]:
        rows = conn.execute(
            "SELECT key, value FROM node_meta WHERE node = ? AND domain = 'pithos' ORDER BY key",
            (node,),
        )
        return {r["key"]: r["value"] for r in rows}

    def _set_node_meta(
        self, conn: sqlite3.Connection, node: int, meta: dict[str, str], replace: bool
    ) -> None:
        if replace:
            conn.execute("DELETE FROM node_meta WHERE node = ? AND domain = 'pithos'", (node,))
        for key, value in meta.items():
            if value == "":
                conn.execute(
                    "DELETE FROM node_meta WHERE node = ? AND domain = 'pithos' AND key = ?",
                    (node, key),
                )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO node_meta (node, domain, key, value)"
                    " VALUES (?, 'pithos', ?, ?)",
                    (node, key, value),
                )
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM node_meta WHERE node = ? AND domain = 'pithos'", (node,)
        ).fetchone()
        if count > MAX_META_ITEMS:
            raise BadRequest("Too many metadata items")

    def _policy(
        self, conn: sqlite3.Connection, node: int, account: str, until: int | None = None
    ) -> dict[str, str]:
        policy = dict(CONTAINER_POLICY_DEFAULTS, project=account)
        policy.update(self._set_policies(conn, node, until))
        return policy

    @staticmethod
    def _set_policies(
        conn: sqlite3.Connection, node: int, until: int | None = None
    ) -> dict[str, str]:
        """The policies set on a node (now, or at `until`), without defaults."""
        if until is not None:
            return node_history.state_at(conn, node, until)[1]
        return {r["key"]: r["value"] for r in conn.execute(
            "SELECT key, value FROM policies WHERE node = ?", (node,)
        )}  # fmt: skip

    def _meta_at(self, conn: sqlite3.Connection, node: int, until: int | None) -> dict[str, str]:
        """A node's user metadata now, or as it was at `until`."""
        if until is not None:
            return node_history.state_at(conn, node, until)[0]
        return self._node_meta(conn, node)

    def _record_state(self, conn: sqlite3.Connection, node: int, now: float) -> None:
        """Remember a node's metadata and policy as of `now`, for `until` views."""
        meta = self._node_meta(conn, node)
        node_history.record(conn, node, meta, self._set_policies(conn, node), now)

    # ---- visibility for non-owners ----------------------------------------

    def _shared_with(self, conn: sqlite3.Connection, user: str, path_prefix: str) -> bool:
        """Whether anything under `path_prefix` ("acc/" or "acc/cont/") is shared with user."""
        subjects = access.subjects_of(conn, user)
        marks = ",".join("?" * len(subjects))
        row = conn.execute(
            f"SELECT 1 FROM permissions WHERE path >= ? AND path < ? AND subject IN ({marks})"
            " LIMIT 1",
            (path_prefix, path_prefix[:-1] + "0", *subjects),
        ).fetchone()
        return row is not None

    def _check_account_visible(self, conn: sqlite3.Connection, user: str, account: str) -> bool:
        """True for the owner; for others, 403 unless something in it is shared with them."""
        if user == account:
            return True
        if not self._shared_with(conn, user, account + "/"):
            raise Forbidden("Not allowed")
        return False

    def _check_container_visible(
        self, conn: sqlite3.Connection, user: str, account: str, container: str
    ) -> bool:
        if user == account:
            return True
        if not self._shared_with(conn, user, f"{account}/{container}/"):
            raise Forbidden("Not allowed")
        return False

    # ---- top level -----------------------------------------------------------

    def list_sharing_accounts(self, user: str) -> list[tuple[str, float]]:
        """Accounts (other than the caller's) that share something with the caller."""
        with self.db.read() as conn:
            subjects = access.subjects_of(conn, user)
            marks = ",".join("?" * len(subjects))
            rows = conn.execute(
                f"SELECT DISTINCT path FROM permissions WHERE subject IN ({marks})",
                tuple(subjects),
            ).fetchall()
            accounts = sorted({r["path"].split("/", 1)[0] for r in rows} - {user})
            result = []
            for acc in accounts:
                row = conn.execute(
                    "SELECT mtime FROM nodes WHERE parent IS NULL AND name = ?", (acc,)
                ).fetchone()
                result.append((acc, float(row["mtime"]) if row else 0.0))
            return result

    # ---- accounts ------------------------------------------------------------

    def account_info(self, user: str, account: str, until: int | None = None) -> AccountInfo:
        with self.db.read() as conn:
            owner = self._check_account_visible(conn, user, account)
            if not owner and until is not None:
                raise Forbidden("Not allowed")
            node = self._account_node(conn, account)
            mtime_row = conn.execute("SELECT mtime FROM nodes WHERE node = ?", (node,)).fetchone()
            # An account exists implicitly (protocol.md 1.2); before its first write it is "new".
            mtime = float(mtime_row["mtime"]) if mtime_row else self._now()
            if not owner:
                return AccountInfo(account, 0, 0, mtime, {}, {}, 0, False)
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM nodes WHERE parent = ? AND ctime <= ?",
                (node, until if until is not None else float("inf")),
            ).fetchone()
            used = self._bytes_used(
                conn, "parent IN (SELECT node FROM nodes WHERE parent = ?)", node, until
            )
            groups: dict[str, list[str]] = {}
            for r in conn.execute(
                "SELECT name, member FROM groups WHERE account = ? ORDER BY name, rowid", (account,)
            ):
                groups.setdefault(r["name"], []).append(r["member"])
            return AccountInfo(
                account,
                count,
                used,
                mtime,
                self._meta_at(conn, node, until) if node else {},
                groups,
                self.account_quota,
                True,
                until,
                self.disk_available(),
            )

    def disk_available(self) -> int:
        """Bytes an unprivileged writer may still put on the block store's filesystem."""
        st = os.statvfs(self.blocks.root)
        return st.f_bavail * st.f_frsize

    def _bytes_used(
        self, conn: sqlite3.Connection, node_filter: str, arg: int, until: int | None
    ) -> int:
        """Sum of current object sizes for objects whose node matches `node_filter`."""
        if until is None:
            # `node_filter` selects objects by their parent; usage rows are keyed by that parent.
            parents = node_filter.replace("parent", "node", 1)
            row = conn.execute(
                f"SELECT COALESCE(SUM(bytes), 0) FROM usage WHERE {parents}", (arg,)
            ).fetchone()
            return int(row[0])
        row = conn.execute(
            f"SELECT COALESCE(SUM(v.size), 0) FROM versions v JOIN nodes n ON v.node = n.node"
            f" WHERE n.{node_filter} AND v.cluster != {CLUSTER_DELETED} AND v.serial = ("
            f"  SELECT MAX(serial) FROM versions w WHERE w.node = v.node AND w.mtime <= ?)",
            (arg, until),
        ).fetchone()
        return int(row[0])

    def update_account(
        self,
        user: str,
        account: str,
        meta: dict[str, str],
        groups: dict[str, list[str]] | None,
        replace: bool,
    ) -> None:
        if user != account:
            raise Forbidden("Not allowed")
        with self.db.write() as conn:
            node = self._account_node(conn, account, create=True)
            self._set_node_meta(conn, node, meta, replace)
            if groups is not None:
                if replace:
                    conn.execute("DELETE FROM groups WHERE account = ?", (account,))
                for name, members in groups.items():
                    conn.execute(
                        "DELETE FROM groups WHERE account = ? AND name = ?", (account, name)
                    )
                    conn.executemany(
                        "INSERT OR IGNORE INTO groups (account, name, member) VALUES (?, ?, ?)",
                        [(account, name, m) for m in members],
                    )
                (ngroups,) = conn.execute(
                    "SELECT COUNT(DISTINCT name) FROM groups WHERE account = ?", (account,)
                ).fetchone()
                if ngroups > MAX_GROUPS:
                    raise BadRequest("Too many groups")
            now = self._now()
            self._record_state(conn, node, now)
            self._touch(conn, [node], now)

    def list_containers(
        self,
        user: str,
        account: str,
        marker: str | None = None,
        limit: int = 10000,
        shared: bool = False,
        public: bool = False,
        until: int | None = None,
    ) -> list[ContainerInfo]:
        with self.db.read() as conn:
            owner = self._check_account_visible(conn, user, account)
            if public and not owner:
                raise Forbidden("Not allowed")
            if until is not None and not owner:
                raise Forbidden("Not allowed")
            node = self._account_node(conn, account)
            names = (
                [
                    r["name"]
                    for r in conn.execute(
                        "SELECT name FROM nodes WHERE parent = ? AND ctime <= ? ORDER BY name",
                        (node, until if until is not None else float("inf")),
                    )
                ]
                if node
                else []
            )
            if not owner:
                names = [n for n in names if self._shared_with(conn, user, f"{account}/{n}/")]
            if shared or public:  # together: either one (the reference's union)
                names = [
                    n
                    for n in names
                    if (shared and self._has_permissions(conn, f"{account}/{n}/"))
                    or (public and self._has_public(conn, f"{account}/{n}/"))
                ]
            if not (shared or public):
                if marker is not None:
                    names = [n for n in names if n > marker]
                names = names[:limit]
            # A listing shows no X-Container-Object-Meta: skip the per-container key scan.
            return [
                self._container_info(conn, account, n, owner, until, user, with_keys=False)
                for n in names
            ]

    def _has_permissions(self, conn: sqlite3.Connection, prefix: str) -> bool:
        return bool(
            conn.execute(
                "SELECT 1 FROM permissions WHERE path >= ? AND path < ? LIMIT 1",
                (prefix, prefix[:-1] + "0"),
            ).fetchone()
        )

    def _has_public(self, conn: sqlite3.Connection, prefix: str) -> bool:
        return bool(
            conn.execute(
                "SELECT 1 FROM public_links WHERE path >= ? AND path < ? LIMIT 1",
                (prefix, prefix[:-1] + "0"),
            ).fetchone()
        )

    # ---- containers ------------------------------------------------------------

    def container_info(
        self, user: str, account: str, container: str, until: int | None = None
    ) -> ContainerInfo:
        with self.db.read() as conn:
            self._require_container(conn, account, container, user)
            owner = self._check_container_visible(conn, user, account, container)
            if until is not None and not owner:
                raise Forbidden("Not allowed")
            return self._container_info(conn, account, container, owner, until, user)

    def _container_info(
        self,
        conn: sqlite3.Connection,
        account: str,
        container: str,
        owner: bool,
        until: int | None,
        user: str | None = None,
        with_keys: bool = True,
    ) -> ContainerInfo:
        """`with_keys`: also the object metadata keys (a scan of the container's objects)."""
        row = self._require_container(conn, account, container)
        node = int(row["node"])
        if not owner:
            keys = (
                self._readable_meta_keys(conn, user, account, container, node)
                if user and with_keys
                else []
            )
            return ContainerInfo(account, container, 0, 0, float(row["mtime"]), {}, {}, keys, False)
        keys = (
            [
                r["key"][len("X-Object-Meta-") :]
                for r in conn.execute(
                    "SELECT DISTINCT a.key FROM attributes a JOIN versions v ON a.serial = v.serial"
                    " JOIN nodes n ON v.node = n.node WHERE n.parent = ? AND v.cluster = ?"
                    " AND a.domain = 'pithos' AND a.key LIKE 'X-Object-Meta-%' ORDER BY a.key",
                    (node, CLUSTER_NORMAL),
                )
            ]
            if with_keys
            else []
        )
        if until is None:
            counted = conn.execute("SELECT count FROM usage WHERE node = ?", (node,)).fetchone()
            count = int(counted["count"]) if counted else 0
        else:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM versions v JOIN nodes n ON v.node = n.node"
                " WHERE n.parent = ? AND v.cluster != ? AND v.serial = ("
                " SELECT MAX(serial) FROM versions w WHERE w.node = v.node AND w.mtime <= ?)",
                (node, CLUSTER_DELETED, until),
            ).fetchone()
        used = self._bytes_used(conn, "parent = ?", node, until)
        return ContainerInfo(
            account,
            container,
            int(count),
            used,
            float(row["mtime"]),
            self._meta_at(conn, node, until),
            self._policy(conn, node, account, until),
            keys,
            True,
            until,
        )

    def _readable_meta_keys(
        self, conn: sqlite3.Connection, user: str, account: str, container: str, node: int
    ) -> list[str]:
        """X-Container-Object-Meta for a non-owner: the user-meta keys of the objects
        they may read, never those of private objects (the reference restricts it to
        the caller's allowed paths too)."""
        perms = access.ContainerPermissions.load(conn, account, container)
        subjects = access.subjects_of(conn, user)
        rows = conn.execute(
            "SELECT DISTINCT n.name, a.key FROM attributes a JOIN versions v ON a.serial = v.serial"
            " JOIN nodes n ON v.node = n.node WHERE n.parent = ? AND v.cluster = ?"
            " AND a.domain = 'pithos' AND a.key LIKE 'X-Object-Meta-%'",
            (node, CLUSTER_NORMAL),
        )
        prefix = len("X-Object-Meta-")
        return sorted(
            {r["key"][prefix:] for r in rows if access.may_read(perms, subjects, r["name"])}
        )

    @staticmethod
    def validate_policy(policy: dict[str, str]) -> dict[str, str]:
        clean: dict[str, str] = {}
        for key, value in policy.items():
            key = key.lower()
            if key == "quota":
                try:
                    if int(value) < 0:
                        raise ValueError
                except ValueError:
                    raise BadRequest("Invalid quota policy") from None
                clean[key] = str(int(value))
            elif key == "versioning":
                if value.lower() not in ("auto", "none"):
                    raise BadRequest("Invalid versioning policy")
                clean[key] = value.lower()
            elif key == "project":
                if not value or len(value) > 256:
                    raise BadRequest("Invalid project policy")
                clean[key] = value
            else:
                raise BadRequest(f"Invalid policy {key}")
        return clean

    def give_default_container(self, account: str, container: str) -> bool:
        """A new account gets `container`, as Synnefo clouds give each new user `pithos`
        (kamaki's default container); an account that exists is left as it is, even
        without that container. True if it was created."""
        with self.db.read() as conn:
            if self._account_node(conn, account):
                return False
        return self.put_container(account, account, container, {}, {})

    def put_container(
        self,
        user: str,
        account: str,
        container: str,
        policy: dict[str, str],
        meta: dict[str, str],
    ) -> bool:
        """Create a container (True) or merge policy and meta into an existing one (False)."""
        if user != account:
            raise Forbidden("Not allowed")
        policy = self.validate_policy(policy)
        with self.db.write() as conn:
            anode = self._account_node(conn, account, create=True)
            row = self._container_row(conn, account, container)
            now = self._now()
            created = row is None
            if created:
                cur = conn.execute(
                    "INSERT INTO nodes (parent, name, path, mtime, ctime) VALUES (?, ?, ?, ?, ?)",
                    (anode, container, f"{account}/{container}", now, now),
                )
                node = int(cur.lastrowid or 0)
            else:
                node = int(row["node"])  # type: ignore[index]
            self._set_policy(conn, node, policy, replace=False)
            self._set_node_meta(conn, node, meta, replace=False)
            self._record_state(conn, node, now)
            self._touch(conn, [node, anode], now)
            return created

    def _set_policy(
        self, conn: sqlite3.Connection, node: int, policy: dict[str, str], replace: bool
    ) -> None:
        if replace:
            conn.execute("DELETE FROM policies WHERE node = ?", (node,))
        conn.executemany(
            "INSERT OR REPLACE INTO policies (node, key, value) VALUES (?, ?, ?)",
            [(node, k, v) for k, v in policy.items()],
        )

    def update_container(
        self,
        user: str,
        account: str,
        container: str,
        policy: dict[str, str] | None,
        meta: dict[str, str],
        replace: bool,
    ) -> None:
        if user != account:
            raise Forbidden("Not allowed")
        clean = self.validate_policy(policy) if policy is not None else None
        with self.db.write() as conn:
            row = self._require_container(conn, account, container)
            node = int(row["node"])
            if clean is not None:
                self._set_policy(conn, node, clean, replace=replace)
            self._set_node_meta(conn, node, meta, replace)
            now = self._now()
            self._record_state(conn, node, now)
            self._touch(conn, [node, int(row["parent"])], now)

    def delete_container(
        self,
        user: str,
        account: str,
        container: str,
        until: int | None = None,
        delimiter: str | None = None,
    ) -> None:
        if user != account:
            raise Forbidden("Not allowed")
        if until is not None:
            with self.db.write() as conn:
                row = self._require_container(conn, account, container)
                self._purge_versions(
                    conn,
                    "node IN (SELECT node FROM nodes WHERE parent = ?)",
                    int(row["node"]),
                    until,
                    clusters=(CLUSTER_HISTORY, CLUSTER_DELETED),
                )
            self.collector.wake()  # the purged versions' blocks may go now
            return
        if delimiter is not None:
            self.empty_container(user, account, container)
            return
        with self.db.write() as conn:
            row = self._require_container(conn, account, container)
            node = int(row["node"])
            (live,) = conn.execute(
                "SELECT COUNT(*) FROM versions v JOIN nodes n ON v.node = n.node"
                " WHERE n.parent = ? AND v.cluster = ?",
                (node, CLUSTER_NORMAL),
            ).fetchone()
            if live:
                raise Conflict("Container is not empty")
            self._purge_versions(
                conn,
                "node IN (SELECT node FROM nodes WHERE parent = ?)",
                node,
                None,
                clusters=(CLUSTER_NORMAL, CLUSTER_HISTORY, CLUSTER_DELETED),
            )
            prefix = f"{account}/{container}/"
            conn.execute(
                "DELETE FROM permissions WHERE path >= ? AND path < ?", (prefix, prefix[:-1] + "0")
            )
            conn.execute(
                "DELETE FROM public_links WHERE path >= ? AND path < ?",
                (prefix, prefix[:-1] + "0"),
            )
            conn.execute("DELETE FROM nodes WHERE parent = ?", (node,))
            conn.execute("DELETE FROM node_meta WHERE node = ?", (node,))
            conn.execute("DELETE FROM policies WHERE node = ?", (node,))
            node_history.forget(conn, node)
            conn.execute("DELETE FROM usage WHERE node = ?", (node,))
            conn.execute("DELETE FROM nodes WHERE node = ?", (node,))
            self._touch(conn, [int(row["parent"])], self._now())
        self.collector.wake()

    def _purge_versions(
        self,
        conn: sqlite3.Connection,
        node_filter: str,
        arg: int,
        until: int | None,
        clusters: tuple[int, ...],
    ) -> None:
        """Drop versions (and their attributes) in `clusters` with mtime <= until."""
        marks = ",".join(str(int(c)) for c in clusters)
        where = f"{node_filter} AND cluster IN ({marks})"
        args: tuple[object, ...] = (arg,)
        if until is not None:
            where += " AND mtime <= ?"
            args = (arg, until)
        conn.execute(
            f"DELETE FROM attributes WHERE serial IN (SELECT serial FROM versions WHERE {where})",
            args,
        )
        conn.execute(f"DELETE FROM versions WHERE {where}", args)
