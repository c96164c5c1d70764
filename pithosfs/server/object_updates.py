"""Delete, copy, move and partial updates of objects (protocol.md 4.3-4.7, 8), mixed into `Backend`.

Partial updates spool the body, splice it into the current block list outside
the database lock, and commit only if no one wrote in between (see docs/server.md).
"""

from __future__ import annotations

import sqlite3
import uuid as uuidlib

from pithosfs.protocol import block_count
from pithosfs.server.block_gc import PinSet
from pithosfs.server.blocks import BlockBatch
from pithosfs.server.bodies import RequestBody, Spool
from pithosfs.server.db import CLUSTER_DELETED, CLUSTER_NORMAL
from pithosfs.server.errors import BadRequest, Conflict, Forbidden, NotFound, RangeNotSatisfiable
from pithosfs.server.models import ObjectInfo, merged_meta
from pithosfs.server.objects import Check, DataRange, ObjectOps
from pithosfs.server.sharing import Sharing

OPTIMISTIC_TRIES = 3


class ObjectUpdates(ObjectOps):
    def delete_object(
        self,
        user: str,
        account: str,
        container: str,
        name: str,
        *,
        until: int | None = None,
        delimiter: str | None = None,
    ) -> None:
        if user != account:
            raise Forbidden("Only the owner may delete")
        if until is not None:
            self._purge_object(account, container, name, until)
            self.collector.wake()  # after the commit: the purged versions' blocks may go
            return
        with self.db.write() as conn:
            crow = self._require_container(conn, account, container)
            path = f"{account}/{container}/{name}"
            if self._current_row(conn, path) is None:
                raise NotFound("Object does not exist")
            names = [name]
            if delimiter:
                names += self._names_below(conn, int(crow["node"]), name, delimiter)
            for each in names:
                self._delete_one(conn, user, account, container, each)

    def _purge_object(self, account: str, container: str, name: str, until: int) -> None:
        with self.db.write() as conn:
            crow = self._require_container(conn, account, container)
            path = f"{account}/{container}/{name}"
            node = conn.execute("SELECT node FROM nodes WHERE path = ?", (path,)).fetchone()
            if node is None:
                raise NotFound("Object does not exist")
            conn.execute(
                "DELETE FROM attributes WHERE serial IN"
                " (SELECT serial FROM versions WHERE node = ? AND mtime <= ?)",
                (node["node"], until),
            )
            before = self._current_row(conn, path)
            conn.execute(
                "DELETE FROM versions WHERE node = ? AND mtime <= ?", (node["node"], until)
            )
            if self._current_row(conn, path) is None:
                self._clear_path(conn, path)
                if before is not None:
                    self._adjust_usage(conn, int(crow["node"]), -int(before["size"]), -1)

    def _names_below(
        self, conn: sqlite3.Connection, cnode: int, name: str, delimiter: str
    ) -> list[str]:
        """Current objects under `name` + delimiter (or `name` itself if it ends with it)."""
        prefix = name if name.endswith(delimiter) else name + delimiter
        rows = conn.execute(
            "SELECT n.name FROM nodes n JOIN versions v ON v.node = n.node AND v.cluster = ?"
            " WHERE n.parent = ? AND n.name >= ? ORDER BY n.name",
            (CLUSTER_NORMAL, cnode, prefix),
        )
        names = []
        for r in rows:
            if not r["name"].startswith(prefix):
                break
            if r["name"] != name:
                names.append(r["name"])
        return names

    def _delete_one(
        self, conn: sqlite3.Connection, user: str, account: str, container: str, name: str
    ) -> None:
        crow = self._require_container(conn, account, container)
        path = f"{account}/{container}/{name}"
        current = self._current_row(conn, path)
        if current is None:
            return
        policy = self._policy(conn, int(crow["node"]), account)
        self._retire(conn, int(current["serial"]), policy)
        self._adjust_usage(conn, int(crow["node"]), -int(current["size"]), -1)
        now = self._now()
        conn.execute(
            "INSERT INTO versions (node, hash, size, type, checksum, mtime, muser, uuid, cluster,"
            " block_size, hashes) VALUES (?, ?, 0, '', '', ?, ?, ?, ?, ?, x'')",
            (
                current["node"],
                self.blocks.empty_hash,
                now,
                user,
                current["uuid"],
                CLUSTER_DELETED,
                self.block_size,
            ),
        )
        self._clear_path(conn, path)
        self._touch(conn, [int(crow["node"]), int(crow["parent"])], now)

    def _clear_path(self, conn: sqlite3.Connection, path: str) -> None:
        conn.execute("DELETE FROM permissions WHERE path = ?", (path,))
        conn.execute("DELETE FROM public_links WHERE path = ?", (path,))

    def empty_container(self, user: str, account: str, container: str) -> None:
        with self.db.write() as conn:
            crow = self._require_container(conn, account, container)
            rows = conn.execute(
                "SELECT n.name FROM nodes n JOIN versions v ON v.node = n.node AND v.cluster = ?"
                " WHERE n.parent = ?",
                (CLUSTER_NORMAL, crow["node"]),
            ).fetchall()
            for r in rows:
                self._delete_one(conn, user, account, container, r["name"])

    def copy_object(
        self,
        user: str,
        src: tuple[str, str, str],
        dst: tuple[str, str, str],
        *,
        move: bool,
        src_version: str | None = None,
        type: str | None = None,
        meta: dict[str, str] | None = None,
        sharing: Sharing | None | bool = False,
        public: bool | None = None,
        delimiter: str | None = None,
        check: Check | None = None,
    ) -> ObjectInfo:
        """Copy or move src to dst (recursively with `delimiter`); returns dst's new version."""
        src_acc, src_cont, src_name = src
        dst_acc, dst_cont, dst_name = dst
        if move and user != src_acc:
            raise Forbidden("Only the owner may move")
        with self.db.write() as conn:
            self._require_container(conn, src_acc, src_cont, user)
            self._require_container(conn, dst_acc, dst_cont, user)
            pairs = [(src_name, dst_name)]
            if delimiter:
                src_crow = self._require_container(conn, src_acc, src_cont)
                if self._current_row(conn, f"{src_acc}/{src_cont}/{src_name}") is None:
                    raise NotFound("Object does not exist")
                for child in self._names_below(conn, int(src_crow["node"]), src_name, delimiter):
                    pairs.append((child, dst_name + child[len(src_name) :]))
            first: ObjectInfo | None = None
            for s_name, d_name in pairs:
                info = self._copy_one(
                    conn,
                    user,
                    (src_acc, src_cont, s_name),
                    (dst_acc, dst_cont, d_name),
                    move=move,
                    src_version=src_version if s_name == src_name else None,
                    type=type if s_name == src_name else None,
                    meta=meta or {},
                    check=check if s_name == src_name else None,
                )
                if first is None:
                    first = info
                    self._apply_sharing(conn, user, dst_acc, info.path, sharing, public)
            assert first is not None
            return first

    def _copy_one(
        self,
        conn: sqlite3.Connection,
        user: str,
        src: tuple[str, str, str],
        dst: tuple[str, str, str],
        *,
        move: bool,
        src_version: str | None,
        type: str | None,
        meta: dict[str, str],
        check: Check | None,
    ) -> ObjectInfo:
        src_acc, src_cont, src_name = src
        dst_acc, dst_cont, dst_name = dst
        self._read_access(conn, user, src_acc, src_cont, src_name)
        self._read_access(conn, user, dst_acc, dst_cont, dst_name, need="write")
        src_info = self.object_info(
            user, src_acc, src_cont, src_name, None if move else src_version
        )
        merged = merged_meta(src_info.meta, meta)
        same_path = src == dst
        keep_uuid = src_info.uuid if (move or same_path) else str(uuidlib.uuid4())
        new = self._commit(
            conn,
            user,
            dst_acc,
            dst_cont,
            dst_name,
            size=src_info.size,
            hashes=self._hashes_in(conn, src_info.serial),
            type=type or src_info.type,
            checksum=src_info.checksum,
            meta=merged,
            uuid=keep_uuid,
            carry_from=src_info.serial,
            check=check,
        )
        if move and not same_path:
            self._delete_one(conn, user, src_acc, src_cont, src_name)
        return new

    def update_object_data(
        self,
        user: str,
        account: str,
        container: str,
        name: str,
        *,
        rng: DataRange,
        body: RequestBody | None,
        source: tuple[str, str, str, str | None] | None,
        truncate: int | None,
        meta: dict[str, str],
        replace: bool,
        sharing: Sharing | None | bool = False,
        public: bool | None = None,
        check: Check | None = None,
        chunked: bool = False,
    ) -> ObjectInfo:
        """Object POST with Content-Range (protocol.md 8), optimistic against concurrent writers."""
        self._check_writable(user, account, container, name)
        spool: Spool | None = body.spool(self.blocks.tmp_dir) if body is not None else None
        pins = self.blocks.guard.new_pins()  # every block the new version names, until committed

        def attempt(conn: sqlite3.Connection | None) -> ObjectInfo | None:
            """One try; with `conn` (write lock held) it cannot be overtaken."""
            base = self.object_info(user, account, container, name)
            if source is not None:
                s_acc, s_cont, s_name, s_ver = source
                src = self.object_info(user, s_acc, s_cont, s_name, s_ver)
                src_len = src.size
                reader: _Reader = _SourceReader(self, src)
            else:
                assert spool is not None
                src_len, reader = spool.size, _SpoolReader(spool)
            offset, length = _resolve_range(rng, base.size, src_len, source is not None, chunked)
            if check is not None:
                check(base)
            hashes, size = self._splice(base, offset, length, reader, pins)
            if truncate is not None and truncate < size:
                hashes, size = self._truncate(base.block_size, hashes, size, truncate, pins)
            pins.add_all(hashes)
            if self.blocks.missing(hashes):  # a source's block, collected after its purge
                return None
            with self.db.write() as conn:
                current = self._current_row(conn, base.path)
                if current is None:
                    raise NotFound("Object does not exist")
                if int(current["serial"]) != base.serial:
                    return None  # someone wrote in between: redo against the new base
                merged = merged_meta({} if replace else base.meta, meta)
                info = self._commit(
                    conn,
                    user,
                    account,
                    container,
                    name,
                    size=size,
                    hashes=hashes,
                    type=base.type,
                    checksum="",
                    meta=merged,
                )
                self._apply_sharing(conn, user, account, info.path, sharing, public)
                return info

        try:
            # Optimistic first (block I/O outside the lock); under contention,
            # the last try holds the write lock throughout so it always wins.
            for _ in range(OPTIMISTIC_TRIES):
                result = attempt(None)
                if result is not None:
                    return result
            with self.db.write() as conn:
                result = attempt(conn)
            if result is None:
                raise Conflict("Concurrent update")
            return result
        finally:
            pins.release()
            if spool is not None:
                spool.close()

    def _splice(
        self, base: ObjectInfo, offset: int, length: int, reader: _Reader, pins: PinSet
    ) -> tuple[list[str], int]:
        hashes = self.hashmap(base) if base.size else []
        new_size = max(base.size, offset + length)
        with self.blocks.batch(pins) as batch:
            self._splice_into(batch, base, hashes, new_size, offset, length, reader)
            batch.finish()
        return hashes, new_size

    def _splice_into(
        self,
        batch: BlockBatch,
        base: ObjectInfo,
        hashes: list[str],
        new_size: int,
        offset: int,
        length: int,
        reader: _Reader,
    ) -> None:
        bs = base.block_size
        pos, remaining = offset, length
        while remaining > 0:
            index, within = divmod(pos, bs)
            n = min(bs - within, remaining)
            block_len = min(bs, new_size - index * bs)
            reused = reader.whole_block_hash(n) if within == 0 and n == block_len else None
            if reused is not None:
                digest = reused
            else:
                data = reader.take(n)
                if within == 0 and n == block_len:
                    content = data
                else:
                    old_len = max(0, min(bs, base.size - index * bs))
                    old = self.blocks.read(hashes[index], old_len) if index < len(hashes) else b""
                    old = old.ljust(block_len, b"\0")
                    content = old[:within] + data + old[within + n : block_len]
                digest = batch.add(content)
            if index < len(hashes):
                hashes[index] = digest
            else:
                hashes.append(digest)
            pos += n
            remaining -= n

    def _truncate(
        self, bs: int, hashes: list[str], size: int, new_size: int, pins: PinSet
    ) -> tuple[list[str], int]:
        """Cut to new_size and rehash the last block, so the hash matches the bytes."""
        keep = block_count(new_size, bs)
        hashes = hashes[:keep]
        tail = new_size - (keep - 1) * bs if keep else 0
        if keep and tail < bs and tail < size - (keep - 1) * bs:
            hashes[-1] = self.blocks.store(self.blocks.read(hashes[-1], tail), pins)
        return hashes, new_size


class _Reader:
    def take(self, n: int) -> bytes:
        raise NotImplementedError

    def whole_block_hash(self, n: int) -> str | None:
        return None


class _SpoolReader(_Reader):
    def __init__(self, spool: Spool) -> None:
        self._read = spool.reader()

    def take(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) < n:
            data = data.ljust(n, b"\0")  # cannot happen: lengths were checked against the spool
        return data


class _SourceReader(_Reader):
    """Bytes of another object from offset 0; whole aligned blocks are reused by hash."""

    def __init__(self, ops: ObjectOps, info: ObjectInfo) -> None:
        self._ops = ops
        self._info = info
        self._hashes = ops.hashmap(info)
        self._pos = 0

    def take(self, n: int) -> bytes:
        # From the hashmap read once in __init__: re-reading it per call made
        # large unaligned copies quadratic.
        bs = self._info.block_size
        end = min(self._pos + n, self._info.size)
        parts = []
        while self._pos < end:
            index, within = divmod(self._pos, bs)
            k = min(bs - within, end - self._pos)
            parts.append(self._ops.blocks.read(self._hashes[index], k, within))
            self._pos += k
        return b"".join(parts)

    def whole_block_hash(self, n: int) -> str | None:
        bs = self._info.block_size
        if (
            bs != self._ops.block_size
            or self._pos % bs
            or n != min(bs, self._info.size - self._pos)
        ):
            return None
        digest = self._hashes[self._pos // bs]
        self._pos += n
        return digest


def _resolve_range(
    rng: DataRange, size: int, src_len: int, from_source: bool, chunked: bool
) -> tuple[int, int]:
    """(offset, length) of an object POST, applying the checks of protocol.md 8."""
    offset = size if rng.start is None else rng.start
    if rng.end is not None:
        length = rng.end - offset + 1
        if from_source:
            if length > src_len:
                raise BadRequest("Object length is smaller than range length")
        elif length != src_len and not chunked:
            raise BadRequest("Content length does not match range length")
        elif chunked:
            length = min(length, src_len)
    else:
        length = src_len
    if offset > size:
        raise RangeNotSatisfiable("Supplied offset is beyond object limits")
    if rng.total is not None and (
        rng.total != size or offset >= rng.total or offset + length > rng.total
    ):
        raise RangeNotSatisfiable("Supplied range will change provided object limits")
    return offset, length
