"""Object operations of the backend (mixed into `Backend`).

Writes follow one rule: receive and store blocks first, outside any database
transaction; then, inside one `BEGIN IMMEDIATE` transaction, check the
preconditions against the current version and commit the new version. A body
that never completes therefore never becomes visible.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import string
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pithosfs.protocol import hashmap_length_ok, merkle_root_hex
from pithosfs.server import access
from pithosfs.server.block_slices import BlockSlice
from pithosfs.server.bodies import RequestBody
from pithosfs.server.db import CLUSTER_DELETED, CLUSTER_HISTORY, CLUSTER_NORMAL
from pithosfs.server.errors import (
    BadRequest,
    Forbidden,
    MissingBlocks,
    NotFound,
    RequestEntityTooLarge,
)
from pithosfs.server.models import ObjectInfo, merged_meta
from pithosfs.server.sharing import Sharing

if TYPE_CHECKING:
    from pithosfs.server.block_gc import Collector
    from pithosfs.server.blocks import BlockStore
    from pithosfs.server.db import Database

log = logging.getLogger(__name__)

MAX_META_ITEMS = 32

PITHOS = "pithos"
Check = Callable[[ObjectInfo | None], None]
VERSION_COLUMNS = (
    "v.serial, v.hash, v.size, v.type, v.checksum, v.mtime, v.muser, v.uuid, v.block_size"
)
TOKEN_CHARS = string.ascii_letters + string.digits


@dataclass
class DataRange:
    """A parsed object POST Content-Range: start None means append (`bytes */*`)."""

    start: int | None
    end: int | None
    total: int | None


class ObjectOps:
    db: Database
    blocks: BlockStore
    collector: Collector
    block_size: int
    account_quota: int

    if TYPE_CHECKING:

        def _require_container(
            self, conn: sqlite3.Connection, a: str, c: str, user: str | None = None
        ) -> sqlite3.Row: ...
        def _policy(self, conn: sqlite3.Connection, node: int, a: str) -> dict[str, str]: ...
        def _touch(self, conn: sqlite3.Connection, nodes: list[int], mtime: float) -> None: ...
        def _now(self) -> float: ...
        def _bytes_used(self, conn: sqlite3.Connection, f: str, a: int, u: int | None) -> int: ...
        def _check_container_visible(
            self, conn: sqlite3.Connection, user: str, a: str, c: str
        ) -> bool: ...

    # ---- reading ---------------------------------------------------------------

    def _current_row(self, conn: sqlite3.Connection, path: str) -> sqlite3.Row | None:
        return conn.execute(
            f"SELECT n.node, {VERSION_COLUMNS} FROM nodes n JOIN versions v"
            " ON v.node = n.node AND v.cluster = ? WHERE n.path = ?",
            (CLUSTER_NORMAL, path),
        ).fetchone()

    def _meta_of(
        self, conn: sqlite3.Connection, serial: int, domain: str = PITHOS
    ) -> dict[str, str]:
        rows = conn.execute(
            "SELECT key, value FROM attributes WHERE serial = ? AND domain = ? ORDER BY key",
            (serial, domain),
        )
        return {r["key"]: r["value"] for r in rows}

    def _info(
        self, conn: sqlite3.Connection, account: str, container: str, name: str, row: sqlite3.Row
    ) -> ObjectInfo:
        return ObjectInfo(
            account,
            container,
            name,
            int(row["serial"]),
            row["hash"],
            int(row["size"]),
            row["type"],
            row["checksum"],
            float(row["mtime"]),
            row["muser"],
            row["uuid"],
            int(row["block_size"]),
            meta=self._meta_of(conn, int(row["serial"])),
            current_mtime=float(row["mtime"]),
        )

    def _read_access(
        self,
        conn: sqlite3.Connection,
        user: str,
        account: str,
        container: str,
        name: str,
        need: str = "read",
    ) -> tuple[str | None, str | None]:
        """(allowed_to, shared_by) for a non-owner; raises 403 when not allowed."""
        if user == account:
            return None, None
        sharing, shared_by = access.effective_sharing(conn, account, container, name)
        level = access.level_for(sharing, access.subjects_of(conn, user)) if sharing else None
        if level is None or (need == "write" and level != "write"):
            raise Forbidden("Not allowed")
        return level, shared_by

    def object_info(
        self, user: str, account: str, container: str, name: str, version: str | None = None
    ) -> ObjectInfo:
        with self.db.read() as conn:
            self._require_container(conn, account, container, user)
            path = f"{account}/{container}/{name}"
            allowed, _ = self._read_access(conn, user, account, container, name)
            current = self._current_row(conn, path)
            if version is None:
                if current is None:
                    raise NotFound("Object does not exist")
                info = self._info(conn, account, container, name, current)
                # As the reference: the permissions that apply, own or the folder's,
                # for the owner too, and where they are set when inherited (protocol.md 4.1).
                sharing, shared_by = access.effective_sharing(conn, account, container, name)
                info.sharing = sharing.render() if sharing else None
                info.shared_by, info.allowed_to = shared_by, allowed
                if user == account:
                    info.public_url_token = self._public_token(conn, path)
                return info
            try:
                serial = int(version)
            except ValueError:
                raise NotFound("Version does not exist") from None
            row = conn.execute(
                f"SELECT {VERSION_COLUMNS} FROM versions v JOIN nodes n ON v.node = n.node"
                " WHERE v.serial = ? AND n.path = ? AND v.cluster != ?",
                (serial, path, CLUSTER_DELETED),
            ).fetchone()
            if row is None:
                raise NotFound("Version does not exist")
            info = self._info(conn, account, container, name, row)
            info.current_mtime = float(current["mtime"]) if current else info.mtime
            return info

    def hashmap(self, info: ObjectInfo) -> list[str]:
        raw = self._raw_hashmap(info)
        width = len(self.blocks.empty_hash) // 2
        return [raw[i : i + width].hex() for i in range(0, len(raw), width)]

    def _raw_hashmap(self, info: ObjectInfo) -> bytes:
        """The version's block hashes as stored: binary digests, back to back."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT hashes FROM versions WHERE serial = ?", (info.serial,)
            ).fetchone()
        return bytes(row["hashes"]) if row else b""

    def iter_data(self, info: ObjectInfo, offset: int, length: int) -> Iterator[bytes]:
        """Yield object bytes [offset, offset+length) one block (at most) at a time."""
        for piece in self.iter_slices(info, offset, length):
            yield piece.read()

    def iter_slices(self, info: ObjectInfo, offset: int, length: int) -> Iterator[BlockSlice]:
        """The block slices that make up object bytes [offset, offset+length), in order.

        Only the hashes of the blocks in the range are decoded: a ranged GET of a
        large object would otherwise turn its whole hashmap into hex strings.
        """
        raw = self._raw_hashmap(info)
        width = len(self.blocks.empty_hash) // 2
        bs = info.block_size
        end = min(offset + length, info.size)
        pos = offset
        while pos < end:
            index, within = divmod(pos, bs)
            digest = raw[index * width : (index + 1) * width]
            if len(digest) != width:
                raise IndexError("hashmap shorter than the object")
            n = min(bs - within, end - pos)
            yield self.blocks.slice(digest.hex(), n, within)
            pos += n

    def versions(
        self, user: str, account: str, container: str, name: str
    ) -> list[tuple[int, float]]:
        with self.db.read() as conn:
            self._require_container(conn, account, container, user)
            self._read_access(conn, user, account, container, name)
            path = f"{account}/{container}/{name}"
            if conn.execute("SELECT 1 FROM nodes WHERE path = ?", (path,)).fetchone() is None:
                raise NotFound("Object does not exist")
            rows = conn.execute(
                "SELECT v.serial, v.mtime FROM versions v JOIN nodes n ON v.node = n.node"
                " WHERE n.path = ? AND v.cluster != ? ORDER BY v.serial",
                (path, CLUSTER_DELETED),
            ).fetchall()
            return [(int(r["serial"]), float(r["mtime"])) for r in rows]

    def _public_token(self, conn: sqlite3.Connection, path: str) -> str | None:
        row = conn.execute("SELECT token FROM public_links WHERE path = ?", (path,)).fetchone()
        return row["token"] if row else None

    def resolve_public(self, token: str) -> ObjectInfo:
        with self.db.read() as conn:
            row = conn.execute("SELECT path FROM public_links WHERE token = ?", (token,)).fetchone()
            if row is None:
                raise NotFound("Object does not exist")
            account, container, name = row["path"].split("/", 2)
            current = self._current_row(conn, row["path"])
            if current is None:
                raise NotFound("Object does not exist")
            return self._info(conn, account, container, name, current)

    # ---- committing versions --------------------------------------------------------

    def _object_node(self, conn: sqlite3.Connection, cnode: int, path: str, name: str) -> int:
        row = conn.execute("SELECT node FROM nodes WHERE path = ?", (path,)).fetchone()
        if row:
            return int(row["node"])
        cur = conn.execute(
            "INSERT INTO nodes (parent, name, path, mtime) VALUES (?, ?, ?, ?)",
            (cnode, name, path, self._now()),
        )
        return int(cur.lastrowid or 0)

    def _commit(
        self,
        conn: sqlite3.Connection,
        user: str,
        account: str,
        container: str,
        name: str,
        *,
        size: int,
        hashes: list[str],
        type: str,
        checksum: str,
        meta: dict[str, str],
        uuid: str | None = None,
        carry_from: int | None = None,
        check: Check | None = None,
    ) -> ObjectInfo:
        """Make a new current version of account/container/name; returns it."""
        crow = self._require_container(conn, account, container, user)
        # Again inside the write transaction: a share revoked while the body was
        # arriving stops the commit (the reference checks when it commits, too).
        self._read_access(conn, user, account, container, name, need="write")
        cnode, anode = int(crow["node"]), int(crow["parent"])
        path = f"{account}/{container}/{name}"
        current = self._current_row(conn, path)
        current_info = self._info(conn, account, container, name, current) if current else None
        if check is not None:
            check(current_info)
        if len(meta) > MAX_META_ITEMS:
            raise BadRequest("Too many metadata items")
        policy = self._policy(conn, cnode, account)
        self._check_quota(
            conn, cnode, anode, policy, size - (current_info.size if current_info else 0)
        )
        node = self._object_node(conn, cnode, path, name)
        carry = (
            carry_from
            if carry_from is not None
            else (current_info.serial if current_info else None)
        )
        other_domains = (
            conn.execute(
                "SELECT domain, key, value FROM attributes WHERE serial = ? AND domain != ?",
                (carry, PITHOS),
            ).fetchall()
            if carry is not None
            else []
        )
        if current_info is not None:
            self._retire(conn, current_info.serial, policy)
        self._adjust_usage(
            conn,
            cnode,
            size - (current_info.size if current_info else 0),
            0 if current_info else 1,
        )
        now = self._now()
        if uuid is None:
            uuid = current_info.uuid if current_info else str(uuidlib.uuid4())
        digest = merkle_root_hex(hashes, self.blocks.algorithm)
        cur = conn.execute(
            "INSERT INTO versions (node, hash, size, type, checksum, mtime, muser, uuid, cluster,"
            " block_size, hashes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                node,
                digest,
                size,
                type,
                checksum,
                now,
                user,
                uuid,
                CLUSTER_NORMAL,
                self.block_size,
                bytes.fromhex("".join(hashes)),
            ),
        )
        serial = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO attributes (serial, domain, key, value) VALUES (?, ?, ?, ?)",
            [(serial, PITHOS, k, v) for k, v in meta.items()]
            + [(serial, r["domain"], r["key"], r["value"]) for r in other_domains],
        )
        self._touch(conn, [cnode, anode], now)
        return ObjectInfo(
            account,
            container,
            name,
            serial,
            digest,
            size,
            type,
            checksum,
            now,
            user,
            uuid,
            self.block_size,
            dict(meta),
            current_mtime=now,
        )

    @staticmethod
    def _adjust_usage(conn: sqlite3.Connection, cnode: int, dbytes: int, dcount: int) -> None:
        """Keep the per-container counters in step with cluster-0 changes (quota checks read them)."""
        conn.execute(
            "INSERT INTO usage (node, count, bytes) VALUES (?, ?, ?) ON CONFLICT(node)"
            " DO UPDATE SET count = count + excluded.count, bytes = bytes + excluded.bytes",
            (cnode, dcount, dbytes),
        )

    def _retire(self, conn: sqlite3.Connection, serial: int, policy: dict[str, str]) -> None:
        """Move a superseded version to history, or drop it when versioning is "none"."""
        if policy.get("versioning") == "none":
            conn.execute("DELETE FROM attributes WHERE serial = ?", (serial,))
            conn.execute("DELETE FROM versions WHERE serial = ?", (serial,))
        else:
            conn.execute(
                "UPDATE versions SET cluster = ? WHERE serial = ?", (CLUSTER_HISTORY, serial)
            )

    def _check_quota(
        self, conn: sqlite3.Connection, cnode: int, anode: int, policy: dict[str, str], delta: int
    ) -> None:
        if delta <= 0:
            return
        quota = int(policy.get("quota", "0") or 0)
        if quota and self._bytes_used(conn, "parent = ?", cnode, None) + delta > quota:
            raise RequestEntityTooLarge("Quota error: container quota exceeded")
        if self.account_quota:
            used = self._bytes_used(
                conn, "parent IN (SELECT node FROM nodes WHERE parent = ?)", anode, None
            )
            if used + delta > self.account_quota:
                raise RequestEntityTooLarge("Quota error: account quota exceeded")

    def _check_writable(self, user: str, account: str, container: str, name: str) -> None:
        """Fail fast (before reading a body) when the write could never succeed."""
        with self.db.read() as conn:
            self._require_container(conn, account, container, user)
            self._read_access(conn, user, account, container, name, need="write")

    def _apply_sharing(
        self,
        conn: sqlite3.Connection,
        user: str,
        account: str,
        path: str,
        sharing: Sharing | None | bool,
        public: bool | None,
    ) -> None:
        """sharing: False = leave alone, None = clear, Sharing = set. public: None = leave."""
        if (sharing is not False or public is not None) and user != account:
            raise Forbidden("Only the owner may change sharing or publishing")
        if sharing is not False:
            access.store_sharing(conn, path, sharing if isinstance(sharing, Sharing) else None)
        if public is True:
            if self._public_token(conn, path) is None:
                token = "".join(secrets.choice(TOKEN_CHARS) for _ in range(16))
                conn.execute("INSERT INTO public_links (path, token) VALUES (?, ?)", (path, token))
        elif public is False:
            conn.execute("DELETE FROM public_links WHERE path = ?", (path,))

    # ---- writing -----------------------------------------------------------------------

    def put_object(
        self,
        user: str,
        account: str,
        container: str,
        name: str,
        body: RequestBody,
        *,
        type: str,
        meta: dict[str, str],
        checksum: str = "",
        sharing: Sharing | None | bool = False,
        public: bool | None = None,
        check: Check | None = None,
        checksum_of: Callable[[], str] | None = None,
    ) -> ObjectInfo:
        self._check_writable(user, account, container, name)
        if user != account and (sharing is not False or public is not None):
            raise Forbidden("Only the owner may change sharing or publishing")
        with self.blocks.guard.pinning() as pins:  # until committed (block_gc.py)
            hashes = self.blocks.ingest(body.readinto, body.length, pins)
            if checksum_of is not None:
                checksum = checksum_of()  # may reject the body (422) before anything is visible
            with self.db.write() as conn:
                info = self._commit(
                    conn,
                    user,
                    account,
                    container,
                    name,
                    size=body.received,
                    hashes=hashes,
                    type=type,
                    checksum=checksum,
                    meta=meta,
                    check=check,
                )
                self._apply_sharing(conn, user, account, info.path, sharing, public)
        return info

    def put_hashmap(
        self,
        user: str,
        account: str,
        container: str,
        name: str,
        size: int,
        hashes: list[str],
        *,
        type: str,
        meta: dict[str, str],
        sharing: Sharing | None | bool = False,
        public: bool | None = None,
        check: Check | None = None,
    ) -> ObjectInfo:
        if not hashmap_length_ok(size, hashes, self.block_size):
            raise BadRequest("The object's size does not match with the object's hashmap length")
        if size == 0:
            hashes = []
        self._check_writable(user, account, container, name)
        with self.blocks.guard.pinning() as pins:
            pins.add_all(hashes)  # before looking: the collector skips pinned blocks
            missing = self.blocks.missing(hashes)
            if missing:
                raise MissingBlocks(missing)
            with self.db.write() as conn:
                info = self._commit(
                    conn,
                    user,
                    account,
                    container,
                    name,
                    size=size,
                    hashes=hashes,
                    type=type,
                    checksum="",
                    meta=meta,
                    check=check,
                )
                self._apply_sharing(conn, user, account, info.path, sharing, public)
        self.blocks.guard.committed(hashes)
        return info

    def upload_blocks(
        self, user: str, account: str, container: str, body: RequestBody
    ) -> list[str]:
        if user != account:
            raise Forbidden("Only the owner may upload blocks")
        with self.db.read() as conn:
            self._require_container(conn, account, container)
        with self.blocks.guard.pinning() as pins:
            hashes = self.blocks.ingest(body.readinto, body.length, pins)
            self.blocks.guard.uploaded(hashes)  # kept for the hashmap PUT to come
        return hashes

    def update_object_meta(
        self,
        user: str,
        account: str,
        container: str,
        name: str,
        *,
        meta: dict[str, str],
        replace: bool,
        sharing: Sharing | None | bool = False,
        public: bool | None = None,
        check: Check | None = None,
    ) -> int | None:
        """Metadata-only POST; returns the new serial if a version was made."""
        with self.db.write() as conn:
            self._require_container(conn, account, container, user)
            self._read_access(conn, user, account, container, name, need="write")
            path = f"{account}/{container}/{name}"
            current = self._current_row(conn, path)
            if current is None:
                raise NotFound("Object does not exist")
            info = self._info(conn, account, container, name, current)
            if check is not None:
                check(info)
            self._apply_sharing(conn, user, account, path, sharing, public)
            if not replace and not meta:
                return None
            merged = merged_meta({} if replace else info.meta, meta)
            new = self._commit(
                conn,
                user,
                account,
                container,
                name,
                size=info.size,
                hashes=self._hashes_in(conn, info.serial),
                type=info.type,
                checksum=info.checksum,
                meta=merged,
            )
            return new.serial

    def _hashes_in(self, conn: sqlite3.Connection, serial: int) -> list[str]:
        row = conn.execute("SELECT hashes FROM versions WHERE serial = ?", (serial,)).fetchone()
        raw = bytes(row["hashes"])
        width = len(self.blocks.empty_hash) // 2
        return [raw[i : i + width].hex() for i in range(0, len(raw), width)]


def _user_meta(meta: dict[str, str]) -> dict[str, str]:
    prefix = "X-Object-Meta-"
    return {k[len(prefix) :]: v for k, v in meta.items() if k.startswith(prefix)}


user_meta = _user_meta
