"""Object listings and manifests (protocol.md 5, 4.2), mixed into `Backend`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from pithosfs.server import access
from pithosfs.server.db import CLUSTER_DELETED, CLUSTER_NORMAL
from pithosfs.server.errors import Forbidden
from pithosfs.server.listing import Batch, Entry, MetaFilters, Subdir, iter_grouped
from pithosfs.server.models import ObjectInfo
from pithosfs.server.objects import VERSION_COLUMNS, ObjectOps, user_meta


class ObjectListing(ObjectOps):
    def manifest_parts(
        self, user: str, account: str, container: str, prefix: str
    ) -> list[ObjectInfo]:
        """Current objects under `prefix`, in name order, that a manifest concatenates."""
        parts: list[ObjectInfo] = []
        marker: str | None = None
        while True:
            page = list(self.iter_objects(user, account, container, prefix=prefix, marker=marker))
            parts += [p for p in page if isinstance(p, ObjectInfo)]
            if len(page) < 10000:
                return parts
            marker = page[-1].name

    # ---- listing -----------------------------------------------------------------

    def iter_objects(
        self,
        user: str,
        account: str,
        container: str,
        prefix: str = "",
        delimiter: str | None = None,
        virtual: bool = True,
        marker: str | None = None,
        limit: int = 10000,
        filters: MetaFilters | None = None,
        shared: bool = False,
        public: bool = False,
        until: int | None = None,
    ) -> Iterator[ObjectInfo | Subdir]:
        """A listing page, read while it is consumed (a response streams it as it goes).

        Access is checked here, before the first entry, so that a refusal is an
        error status and not a cut answer. The rows are then read in batches,
        each in its own short snapshot (no transaction stays open while a
        client reads): like a client paging with `marker`, a concurrent change
        shows up in the page or not, but every name appears once and in order.
        """
        with self.db.read() as conn:
            crow = self._require_container(conn, account, container, user)
            owner = self._check_container_visible(conn, user, account, container)
            if (public or until is not None) and not owner:
                raise Forbidden("Not allowed")
            perms = access.ContainerPermissions.load(conn, account, container)
            subjects = access.subjects_of(conn, user)
            public_paths = {
                r["path"]: r["token"]
                for r in conn.execute(
                    "SELECT path, token FROM public_links WHERE path >= ? AND path < ?",
                    (perms.base, perms.base[:-1] + "0"),
                )
            }
        cnode = int(crow["node"])

        def fetch(after: str | None, n: int) -> Batch[ObjectInfo]:
            out: list[Entry[ObjectInfo]] = []
            with self.db.read() as conn:
                rows = self._listing_rows(conn, cnode, prefix, after, n, until)
                for row in rows:
                    name = row["name"]
                    sharing, shared_by = perms.effective(name)
                    allowed = None
                    if not owner:
                        allowed = access.level_for(sharing, subjects) if sharing else None
                        if allowed is None:
                            continue
                    path = perms.base + name
                    # `shared` and `public` together: either one (the reference's union).
                    if (shared or public) and not (
                        (shared and sharing is not None) or (public and path in public_paths)
                    ):
                        continue
                    info = self._info(conn, account, container, name, row)
                    if filters is not None and not filters.match(user_meta(info.meta)):
                        continue
                    if until is None:
                        own = perms.by_path.get(path)
                        info.sharing = own.render() if own else None
                        if not owner:
                            info.allowed_to, info.shared_by = allowed, shared_by
                        else:
                            info.public_url_token = public_paths.get(path)
                    out.append(Entry(name, info))
            return Batch(out, rows[-1]["name"] if rows else None, len(rows) == n)

        return iter_grouped(fetch, prefix, delimiter, virtual, marker, limit)

    def _listing_rows(
        self,
        conn: sqlite3.Connection,
        cnode: int,
        prefix: str,
        after: str | None,
        n: int,
        until: int | None,
    ) -> list[sqlite3.Row]:
        cond = "n.parent = ? AND n.name >= ?"
        args: list[object] = [cnode, prefix]
        if after is not None:
            cond += " AND n.name > ?"
            args.append(after)
        if until is None:
            sql = (
                f"SELECT n.name, {VERSION_COLUMNS} FROM nodes n JOIN versions v"
                f" ON v.node = n.node AND v.cluster = {CLUSTER_NORMAL} WHERE {cond}"
                " ORDER BY n.name LIMIT ?"
            )
        else:
            sql = (
                f"SELECT n.name, {VERSION_COLUMNS} FROM nodes n JOIN versions v ON v.node = n.node"
                f" WHERE {cond} AND v.cluster != {CLUSTER_DELETED} AND v.serial = ("
                " SELECT MAX(serial) FROM versions w WHERE w.node = n.node AND w.mtime <= ?)"
                " ORDER BY n.name LIMIT ?"
            )
            args.append(until)
        args.append(n)
        return conn.execute(sql, args).fetchall()
