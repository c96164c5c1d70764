"""In-memory `ObjectStore` with Pithos+ semantics, for unit tests without sockets.

It models what the filesystem can observe of a real server: a global,
content-addressed block store; per-path version lists with a global serial
(current, history and deleted markers); UUIDs kept on overwrite and move, new
on copy and on re-creation after delete; user metadata replaced by PUT and
merged by update; sharing and public links that do not create versions; the
409-with-missing-hashes of a hashmap PUT; If-Match preconditions.

Deliberate differences from the real server, because tests should not depend
on them: a partial update or truncation recomputes the block hashes of the
logical bytes (the server may keep stale tail bytes, protocol.md 8), and every call
is a single atomic step under one lock.

`store.stats` counts calls per HTTP method the real client would use, with
the payload bytes that would cross the wire, so dedup tests run here too.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import string
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

from pithosfs import protocol
from pithosfs.client import validation as v
from pithosfs.client.errors import (
    BadRequest,
    Conflict,
    MissingBlocks,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    RangeNotSatisfiable,
)
from pithosfs.client.fake_capabilities import FakeCapabilities
from pithosfs.client.fake_model import (
    ContainerRecord,
    PathRecord,
    VersionRecord,
    as_of,
    read_blocks,
)
from pithosfs.client.stats import TransferStats
from pithosfs.client.types import (
    AccountInfo,
    ContainerInfo,
    Hashmap,
    ObjectInfo,
    Subdir,
    VersionEntry,
)

log = logging.getLogger(__name__)

_PUBLIC_ALPHABET = string.ascii_letters + string.digits


class FakeStore(FakeCapabilities):
    """Thread-safe in-memory store for one account. See the module docstring."""

    def __init__(
        self,
        account: str = "fake-account-uuid",
        block_size: int = protocol.DEFAULT_BLOCK_SIZE,
        block_hash: str = protocol.DEFAULT_HASH_ALGORITHM,
        public_base: str = "http://fake.invalid/pithos/public/",
        clock: Callable[[], float] = time.time,
        listing_meta: bool = True,
    ) -> None:
        """`listing_meta` False: listings never carry user metadata (the reference's;
        with True, as a server offering protocol.EXT_LISTING_META)."""
        self._account = account
        self.listing_meta = listing_meta
        self.block_size = block_size
        self.block_hash = block_hash
        self._public_base = public_base
        self._clock = clock
        self._lock = threading.RLock()  # guards everything below
        self._serial = itertools.count(1)
        self._blocks: dict[str, bytes] = {protocol.EMPTY_SHA256: b""}  # hash -> rstripped bytes
        self._containers: dict[str, ContainerRecord] = {}
        self._account_meta: dict[str, str] = {}
        self._groups: dict[str, list[str]] = {}
        self._account_mtime = clock()
        self.stats = TransferStats()

    # -- helpers (call with the lock held) ---------------------------------
    @property
    def account(self) -> str:
        return self._account

    def _now(self) -> float:
        # Strictly increasing so that versions order by time as they do by serial.
        t = self._clock()
        last = getattr(self, "_last_time", 0.0)
        t = max(t, last + 1e-6)
        self._last_time = t
        return t

    def _container(self, container: str) -> ContainerRecord:
        v.check_container_name(container)
        try:
            return self._containers[container]
        except KeyError:
            raise NotFound("Container does not exist", path=container) from None

    def _current(
        self, container: str, name: str
    ) -> tuple[ContainerRecord, PathRecord, VersionRecord]:
        cont = self._container(container)
        v.check_object_name(name)
        path = cont.paths.get(name)
        cur = path.current if path else None
        if path is None or cur is None:
            raise NotFound("Object does not exist", path=f"{container}/{name}")
        return cont, path, cur

    def _version(
        self, container: str, name: str, version: int | None
    ) -> tuple[PathRecord, VersionRecord]:
        if version is None:
            _, path, cur = self._current(container, name)
            return path, cur
        cont = self._container(container)
        record = cont.paths.get(name)
        if record is not None:
            for ver in record.versions:
                if ver.serial == version and not ver.deleted:
                    return record, ver
        raise NotFound("Version does not exist", path=f"{container}/{name}?version={version}")

    def _info(
        self, name: str, path: PathRecord, ver: VersionRecord, explicit_version: bool
    ) -> ObjectInfo:
        cur = path.current
        return ObjectInfo(
            name=name,
            size=ver.size,
            content_type=ver.content_type,
            hash=protocol.merkle_root_hex(ver.hashes, self.block_hash),
            uuid=ver.uuid,
            version=ver.serial,
            version_timestamp=ver.mtime,
            last_modified=(cur or ver).mtime,
            modified_by=self._account,
            meta=dict(ver.meta),
            sharing="" if explicit_version else v.format_sharing(path.read, path.write),
            public_url=(
                self._public_base + path.public_token
                if path.public_token and not explicit_version
                else ""
            ),
        )

    def _check_preconditions(
        self, path: PathRecord | None, if_match: str | None, if_none_match: bool
    ) -> None:
        cur = path.current if path else None
        if if_match is not None:
            if cur is None:
                raise PreconditionFailed("Resource does not exist")
            etag = protocol.merkle_root_hex(cur.hashes, self.block_hash)
            wanted = [e.strip().strip('"') for e in if_match.split(",")]
            if "*" not in wanted and etag not in wanted:
                raise PreconditionFailed("Object ETag does not match")
        if if_none_match and cur is not None:
            raise PreconditionFailed("Object already exists")

    def _usage(self, cont: ContainerRecord) -> int:
        return sum(p.current.size for p in cont.paths.values() if p.current)

    def _commit(
        self,
        container: str,
        name: str,
        size: int,
        hashes: list[str],
        content_type: str,
        meta: dict[str, str],
        keep_uuid: str | None = None,
        new_uuid: bool = False,
    ) -> tuple[PathRecord, VersionRecord]:
        """Write a new current version at `name`; the previous one goes to history."""
        cont = self._container(container)
        v.check_object_name(name)
        v.check_meta_count(meta)
        path = cont.paths.setdefault(name, PathRecord())
        cur = path.current
        if cont.quota:
            usage = self._usage(cont) - (cur.size if cur else 0) + size
            if usage > cont.quota:
                raise QuotaExceeded("Quota error: container quota exceeded", path=container)
        if keep_uuid:
            obj_uuid = keep_uuid
        elif cur is not None and not new_uuid:
            obj_uuid = cur.uuid
        else:
            obj_uuid = str(uuidlib.uuid4())
        ver = VersionRecord(
            next(self._serial), obj_uuid, size, list(hashes), content_type, dict(meta), self._now()
        )
        if cont.versioning == "none":
            path.versions = [x for x in path.versions if x.deleted]
        path.versions.append(ver)
        cont.mtime = ver.mtime
        return path, ver

    def _store_block(self, block: bytes) -> str:
        if len(block) > self.block_size:
            raise BadRequest("Block larger than the block size")
        h = protocol.block_hash_hex(block, self.block_hash)
        self._blocks.setdefault(h, block.rstrip(b"\0"))
        return h

    def _hash_data(self, data: bytes) -> list[str]:
        if not data:
            return [protocol.EMPTY_SHA256]
        return [
            self._store_block(data[i : i + self.block_size])
            for i in range(0, len(data), self.block_size)
        ]

    def _read(self, ver: VersionRecord, offset: int, length: int) -> bytes:
        return read_blocks(self._blocks, self.block_size, ver, offset, length)

    # -- account ------------------------------------------------------------
    def account_info(self) -> AccountInfo:
        with self._lock:
            self.stats.record("HEAD", 0, 0)
            used = sum(self._usage(c) for c in self._containers.values())
            mtimes = [self._account_mtime] + [c.mtime for c in self._containers.values()]
            return AccountInfo(
                name=self._account,
                container_count=len(self._containers),
                bytes_used=used,
                quota=0,
                last_modified=max(mtimes),
                meta=dict(self._account_meta),
                groups={k: list(m) for k, m in self._groups.items()},
            )

    def list_containers(self) -> list[ContainerInfo]:
        with self._lock:
            self.stats.record("GET", 0, 0)
            return [self._container_info(n) for n in sorted(self._containers)]

    def set_account_groups(self, groups: Mapping[str, list[str]]) -> None:
        """Merge groups (POST ?update); an empty member list deletes the group."""
        with self._lock:
            self.stats.record("POST", 0, 0)
            for name, members in groups.items():
                if "-" in name or "_" in name or not name:
                    raise BadRequest(f"Bad group name {name!r}")
                if members:
                    self._groups[name.lower()] = list(
                        members
                    )  # names lower-cased, members kept (protocol.md 2.4)
                else:
                    self._groups.pop(name.lower(), None)
            self._account_mtime = self._now()

    # -- containers -----------------------------------------------------------
    def _container_info(self, container: str) -> ContainerInfo:
        cont = self._container(container)
        current = [p.current for p in cont.paths.values() if p.current]
        last = max([cont.mtime] + [c.mtime for c in current if c])
        return ContainerInfo(
            name=container,
            count=len(current),
            bytes=sum(c.size for c in current if c is not None),
            last_modified=last,
            versioning=cont.versioning,
            quota=cont.quota,
            block_size=self.block_size,
            block_hash=self.block_hash,
            meta=dict(cont.meta),
        )

    def container_info(self, container: str) -> ContainerInfo:
        with self._lock:
            self.stats.record("HEAD", 0, 0)
            return self._container_info(container)

    def create_container(self, container: str, versioning: str | None = None) -> None:
        """Create, or merge the policy of an existing container (PUT is 201 or 202)."""
        with self._lock:
            self.stats.record("PUT", 0, 0)
            v.check_container_name(container)
            if versioning is not None and versioning not in ("auto", "none"):
                raise BadRequest(f"Invalid versioning policy {versioning!r}")
            cont = self._containers.get(container)
            if cont is None:
                self._containers[container] = ContainerRecord(versioning or "auto", 0, self._now())
            elif versioning is not None:
                cont.versioning = versioning

    def delete_container(self, container: str) -> None:
        with self._lock:
            self.stats.record("DELETE", 0, 0)
            cont = self._container(container)
            if any(p.current for p in cont.paths.values()):
                raise Conflict("Container is not empty", path=container)
            del self._containers[container]

    def set_container_versioning(self, container: str, versioning: str) -> None:
        with self._lock:
            self.stats.record("POST", 0, 0)
            if versioning not in ("auto", "none"):
                raise BadRequest(f"Invalid versioning policy {versioning!r}")
            self._container(container).versioning = versioning

    def set_container_quota(self, container: str, quota: int) -> None:
        with self._lock:
            self.stats.record("POST", 0, 0)
            if quota < 0:
                raise BadRequest("Quota must be >= 0")
            self._container(container).quota = quota

    # -- listing ------------------------------------------------------------------
    def list_objects(
        self,
        container: str,
        prefix: str = "",
        delimiter: str | None = "/",
        with_meta: bool = True,
        until: int | None = None,
        limit: int | None = None,
    ) -> Iterator[ObjectInfo | Subdir]:
        with self._lock:
            self.stats.record("GET", 0, 0)
            cont = self._container(container)
            prefix = prefix.lstrip("/")
            if prefix and delimiter and not prefix.endswith(delimiter):
                prefix += delimiter  # the server's naming policy (protocol.md 5.1)
            entries: list[ObjectInfo | Subdir] = []
            seen_subdirs: set[str] = set()
            for name in sorted(cont.paths):
                if not name.startswith(prefix):
                    continue
                path = cont.paths[name]
                ver = as_of(path, until)
                if ver is None:
                    continue
                if delimiter:
                    idx = name.find(delimiter, len(prefix))
                    if idx != -1 and idx + len(delimiter) < len(name):
                        sub = name[:idx]
                        if sub not in seen_subdirs:
                            seen_subdirs.add(sub)
                            entries.append(Subdir(sub))
                        continue
                info = self._info(name, path, ver, explicit_version=until is not None)
                listed_meta = with_meta and self.listing_meta
                entries.append(info if listed_meta else replace(info, meta=None))
        return iter(entries if limit is None else entries[:limit])

    # -- reading -------------------------------------------------------------------
    def head_object(self, container: str, name: str, version: int | None = None) -> ObjectInfo:
        with self._lock:
            self.stats.record("HEAD", 0, 0)
            path, ver = self._version(container, name, version)
            return self._info(name, path, ver, explicit_version=version is not None)

    def read_range(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        version: int | None = None,
        size: int | None = None,  # a hint for HTTP clients; the fake knows better
    ) -> bytes:
        with self._lock:
            if offset < 0 or length < 0:
                raise BadRequest("Negative offset or length")
            _, ver = self._version(container, name, version)
            data = self._read(ver, offset, length)
            if data or ver.size == 0:
                self.stats.record("GET", 0, len(data))
            return data

    def read_range_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        version: int | None = None,
        size: int | None = None,
    ) -> int:
        view = memoryview(buf).cast("B")
        data = self.read_range(container, name, offset, len(view), version, size)
        view[: len(data)] = data
        return len(data)

    def get_hashmap(self, container: str, name: str, version: int | None = None) -> Hashmap:
        with self._lock:
            _, ver = self._version(container, name, version)
            hashes = list(ver.hashes) if ver.size else [protocol.EMPTY_SHA256]
            self.stats.record("GET", 0, 70 * len(hashes))
            return Hashmap(self.block_size, self.block_hash, ver.size, hashes)

    def list_versions(self, container: str, name: str) -> list[VersionEntry]:
        with self._lock:
            self.stats.record("GET", 0, 0)
            cont = self._container(container)
            path = cont.paths.get(name)
            if path is None:
                raise NotFound("Object does not exist", path=f"{container}/{name}")
            return [VersionEntry(x.serial, x.mtime) for x in path.versions if not x.deleted]

    def has_block(self, block_hash: str) -> bool:
        """Test helper: whether the block store holds this hash."""
        with self._lock:
            return block_hash in self._blocks

    # -- writing ---------------------------------------------------------------------
    def put_object(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str = protocol.OCTET_STREAM,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
        sharing: str | None = None,
    ) -> ObjectInfo:
        with self._lock:
            self.stats.record("PUT", len(data), 0)
            cont = self._container(container)
            v.check_object_name(name)
            self._check_preconditions(cont.paths.get(name), if_match, if_none_match)
            norm = v.normalise_meta(meta)  # replace keeps empty values (as the backend does)
            hashes = self._hash_data(data)
            path, ver = self._commit(container, name, len(data), hashes, content_type, norm)
            if sharing is not None:
                path.read, path.write = v.parse_sharing(sharing)
            return self._info(name, path, ver, False)

    def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
        with self._lock:
            self.stats.record("POST", sum(len(b) for b in blocks), 70 * len(blocks))
            self._container(container)
            # Like the server, cut each body at block boundaries.
            bs = self.block_size
            return [
                self._store_block(body[i : i + bs])
                for body in blocks
                for i in range(0, max(len(body), 1), bs)
            ]

    def missing_blocks(
        self,
        container: str,
        name: str,
        hashes: list[str],
        content_type: str = protocol.OCTET_STREAM,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> list[str] | None:
        """Which of `hashes` the store lacks: the HTTP client's probe (a failing hashmap PUT)."""
        with self._lock:
            self.stats.record("PUT", 30 + 67 * (len(hashes) + 1), 0)
            self._container(container)
            return list(dict.fromkeys(h for h in hashes if h not in self._blocks))

    def put_hashmap(
        self,
        container: str,
        name: str,
        size: int,
        hashes: list[str],
        content_type: str = protocol.OCTET_STREAM,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        with self._lock:
            self.stats.record("PUT", 30 + 67 * len(hashes), 0)
            cont = self._container(container)
            v.check_object_name(name)
            if size < 0 or not all(protocol.is_hex_digest(h) for h in hashes):
                raise BadRequest("Invalid hashmap")
            if not protocol.hashmap_length_ok(size, hashes, self.block_size):
                raise BadRequest(
                    "The object's size does not match with the object's hashmap length"
                )
            self._check_preconditions(cont.paths.get(name), if_match, if_none_match)
            hashes = [h.lower() for h in hashes]
            missing = list(dict.fromkeys(h for h in hashes if h not in self._blocks))
            if missing:
                raise MissingBlocks(missing, method="PUT", path=f"{container}/{name}")
            norm = v.normalise_meta(meta)  # replace keeps empty values (as the backend does)
            stored = hashes if size else [protocol.EMPTY_SHA256]
            path, ver = self._commit(container, name, size, stored, content_type, norm)
            return self._info(name, path, ver, False)

    def _rewrite(self, container: str, name: str, data: bytes) -> ObjectInfo:
        """New version with new data, keeping type, metadata and UUID (POST ?update)."""
        _, _, cur = self._current(container, name)
        hashes = self._hash_data(data)
        path, ver = self._commit(container, name, len(data), hashes, cur.content_type, cur.meta)
        return self._info(name, path, ver, False)

    def update_range(self, container: str, name: str, offset: int, data: bytes) -> ObjectInfo:
        with self._lock:
            self.stats.record("POST", len(data), 0)
            _, _, cur = self._current(container, name)
            if offset < 0 or offset > cur.size:
                raise RangeNotSatisfiable("Offset past the end of the object")
            old = self._read(cur, 0, cur.size)
            new = old[:offset] + data + old[offset + len(data) :]
            return self._rewrite(container, name, new)

    def truncate(self, container: str, name: str, size: int) -> ObjectInfo:
        with self._lock:
            self.stats.record("POST", max(0, size - self._current(container, name)[2].size), 0)
            if size < 0:
                raise BadRequest("Negative size")
            _, _, cur = self._current(container, name)
            old = self._read(cur, 0, cur.size)
            new = old[:size] + b"\0" * max(0, size - cur.size)
            return self._rewrite(container, name, new)

    def _subtree(self, cont: ContainerRecord, name: str) -> list[str]:
        """Current objects below directory `name` (protocol.md 4.5), without `name` itself."""
        base = name if name.endswith("/") else name + "/"
        return sorted(n for n, p in cont.paths.items() if n.startswith(base) and p.current)

    def _copy_one(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        src_version: int | None,
        content_type: str | None,
        meta: dict[str, str],
        is_move: bool,
    ) -> None:
        _, src = self._version(src_container, src_name, src_version)
        merged = {**src.meta, **meta}
        merged = {k: val for k, val in merged.items() if val}
        same_path = (src_container, src_name) == (dst_container, dst_name)
        self._commit(
            dst_container,
            dst_name,
            src.size,
            src.hashes,
            content_type or src.content_type,
            merged,
            keep_uuid=src.uuid if (is_move or same_path) else None,
            new_uuid=not (is_move or same_path),
        )
        if is_move and not same_path:
            self._delete_one(src_container, src_name)

    def _transfer(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        src_version: int | None,
        content_type: str | None,
        meta: Mapping[str, str] | None,
        recursive: bool,
        is_move: bool,
    ) -> None:
        norm = v.normalise_meta(meta)
        self._container(dst_container)
        v.check_object_name(dst_name)
        cont = self._container(src_container)
        pairs = [(src_name, dst_name)]
        if recursive:
            self._current(src_container, src_name)  # the marker must exist (protocol.md 4.5)
            for child in self._subtree(cont, src_name):
                pairs.append((child, dst_name + child[len(src_name) :]))
        for src, dst in pairs:
            self._copy_one(
                src_container, src, dst_container, dst, src_version, content_type, norm, is_move
            )

    def copy_object(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        src_version: int | None = None,
        content_type: str | None = None,
        meta: Mapping[str, str] | None = None,
        recursive: bool = False,
    ) -> None:
        with self._lock:
            self.stats.record("PUT", 0, 0)
            self._transfer(
                src_container, src_name, dst_container, dst_name, src_version,
                content_type, meta, recursive, is_move=False,
            )  # fmt: skip

    def move_object(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        content_type: str | None = None,
        recursive: bool = False,
        meta: Mapping[str, str] | None = None,
    ) -> int | None:
        with self._lock:
            self.stats.record("PUT", 0, 0)
            self._transfer(
                src_container, src_name, dst_container, dst_name, None,
                content_type, meta, recursive, is_move=True,
            )  # fmt: skip
            return self._current(dst_container, dst_name)[2].serial

    def _delete_one(self, container: str, name: str) -> None:
        cont, path, cur = self._current(container, name)
        marker = VersionRecord(
            next(self._serial), cur.uuid, 0, [], cur.content_type, {}, self._now()
        )
        marker.deleted = True
        if cont.versioning == "none":
            path.versions = [x for x in path.versions if x.deleted]
        path.versions.append(marker)
        path.read, path.write, path.public_token = [], [], ""
        cont.mtime = marker.mtime

    def delete_object(self, container: str, name: str, recursive: bool = False) -> None:
        with self._lock:
            self.stats.record("DELETE", 0, 0)
            cont, _, _ = self._current(container, name)
            children = self._subtree(cont, name) if recursive else []
            self._delete_one(container, name)
            for child in children:
                self._delete_one(container, child)

    def update_meta(self, container: str, name: str, meta: Mapping[str, str]) -> int | None:
        with self._lock:
            self.stats.record("POST", 0, 0)
            _, _, cur = self._current(container, name)
            norm = v.normalise_meta(meta)
            if not norm:
                return None  # with ?update and no meta the server writes no version
            merged = {**cur.meta, **norm}
            merged = {k: val for k, val in merged.items() if val}
            _, ver = self._commit(container, name, cur.size, cur.hashes, cur.content_type, merged)
            return ver.serial

    def set_sharing(self, container: str, name: str, sharing: str) -> None:
        with self._lock:
            self.stats.record("POST", 0, 0)
            _, path, _ = self._current(container, name)
            path.read, path.write = v.parse_sharing(sharing)

    def purge_history(self, container: str, name: str | None, until: int) -> None:
        with self._lock:
            self.stats.record("DELETE", 0, 0)
            cont = self._container(container)
            if name is not None:
                path = cont.paths.get(name)
                if path is None:
                    raise NotFound("Object does not exist", path=f"{container}/{name}")
                path.versions = [x for x in path.versions if x.mtime > until]
                if not path.versions:
                    del cont.paths[name]
                return
            for key, path in list(cont.paths.items()):
                current = path.current
                path.versions = [x for x in path.versions if x is current or x.mtime > until]
                if not path.versions:
                    del cont.paths[key]

    def set_public(self, container: str, name: str, public: bool) -> str:
        with self._lock:
            self.stats.record("POST", 0, 0)
            _, path, _ = self._current(container, name)
            if not public:
                path.public_token = ""
                return ""
            if not path.public_token:
                path.public_token = "".join(secrets.choice(_PUBLIC_ALPHABET) for _ in range(16))
            return self._public_base + path.public_token
