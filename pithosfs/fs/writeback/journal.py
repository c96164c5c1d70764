"""Journal of closed files whose commit failed for a transient reason: kept, never dropped.

When a commit fails and the failure may pass (server down, network gone,
server error; commit_failures.py), the file goes to
`<cache-dir>/journal/<id>.data`, described by `<id>.json` (container, name,
base hash/version, size, attempts, last error). The data file keeps holes as
holes: blocks that are all zeros are never written (a `truncate -s 1T` file
costs nothing), and blocks of the base version that the file did not change
are recorded by their hash (`refs`), not copied: the server has them. Before
anything is written, the bytes needed are checked against the journal's
bound (`--cache-size`) and the free space of the cache disk (keeping
`reserve_bytes()` free); when it cannot keep a file, `park` raises ENOSPC and
the writer hears it at close.

Both files are written to a temporary name, fsynced and renamed, so a crash
leaves either no record or a complete one; a `.data` without its `.json` is
an unfinished park and is deleted on load. Within one process `_lock` makes
the rename of the data and the save of its record one step for `entries()`,
so a park in progress on one thread is never taken for a crash leftover.

Replay (`UploadJournal.replay`) uploads an entry conditionally on its base:
if the object changed on the server meanwhile (or its container is gone), the
entry is not uploaded but moved to `<cache-dir>/conflicts/<container>/<name>`
(with a `.json` record next to it) for the user to resolve; this is the
ESTALE case. An entry the server refuses for good (`fail`) moves to
`<cache-dir>/failed/` with the reason; `pithosfs status` lists it, and
`pithosfs journal retry|save|discard ID` puts it back, copies it out or
deletes it (journal_areas.py). Conflicts and failed entries get the base
blocks they referred to copied in from the server when it answers, so they
are whole files.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from pithosfs import protocol
from pithosfs.client.errors import MissingBlocks, NotFound, PithosError, PreconditionFailed
from pithosfs.client.types import ObjectInfo, ObjectStore

log = logging.getLogger(__name__)

COPY_CHUNK = 4 * 1024 * 1024
HOLE_GRAIN = 64 * 1024  # zero runs at least this long (aligned) stay holes in a parked file
MAX_RESERVE = 64 * 1024 * 1024  # free space a park leaves on the cache disk, at most...
RESERVE_FRACTION = 0.05  # ...and at most this share of the disk (small disks keep less)
EMPTY = protocol.EMPTY_SHA256
MAX_PUT_ROUNDS = 4  # hashmap PUT -> upload missing -> PUT again (as the write path)
UPLOAD_GROUP = 4  # blocks per upload request at replay


@dataclass
class PendingUpload:
    """One parked file. `base_hash` "" means the object did not exist at open."""

    id: str
    container: str
    name: str
    base_hash: str
    base_version: int
    size: int
    content_type: str = "application/octet-stream"
    meta: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    last_error: str = ""
    created: float = 0.0
    account: str = ""  # the store's account URL ("": written before accounts were recorded)
    block_size: int = 0  # the block size `refs` index by (0: no refs)
    refs: dict[str, str] = field(default_factory=dict)  # block index -> hash the server holds
    stored: int = 0  # bytes the data file really takes (holes and refs excluded)
    failed: float = 0.0  # when it was moved to failed/ (0: it was not)


class ReplayConflict(Exception):
    """The object changed on the server since the entry's base: kept under conflicts/."""

    def __init__(self, entry: PendingUpload, kept_at: Path) -> None:
        super().__init__(f"{entry.container}/{entry.name} changed on the server; kept at {kept_at}")
        self.entry = entry
        self.kept_at = kept_at


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class UploadJournal:
    """Parks failed commits under `<cache_dir>/journal` and replays them.

    Mounts without --cache-dir share one cache dir, possibly for different accounts:
    each entry names its account (`account`, the store's URL) and a journal opened
    for an account lists only that account's entries, so a mount never replays
    another account's file into its own. `max_bytes` bounds the bytes its data
    files take (0: only the disk's free space bounds it).
    """

    def __init__(self, cache_dir: Path, account: str = "", max_bytes: int = 0) -> None:
        self.account = account
        self.max_bytes = max_bytes
        self.directory = Path(cache_dir) / "journal"
        self.conflicts = Path(cache_dir) / "conflicts"
        self.failed_dir = Path(cache_dir) / "failed"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Serialises publishing (data rename + record) against entries(); re-entrant because
        # park() saves the record, and every change drops the cached listing under it.
        self._lock = threading.RLock()
        self._cached: list[PendingUpload] | None = None  # GUARDED_BY(_lock)
        self._stamp = 0  # the directory's mtime when _cached was read; GUARDED_BY(_lock)
        self._space_lock = threading.Lock()  # one park at a time checks and takes space
        for part in self.directory.glob(".*.part"):  # a park cut off by a crash
            part.unlink(missing_ok=True)

    def data_path(self, entry: PendingUpload) -> Path:
        return self.directory / f"{entry.id}.data"

    def _record_path(self, entry_id: str) -> Path:
        return self.directory / f"{entry_id}.json"

    def used_bytes(self) -> int:
        """Disk space the journal's data files take (holes excluded)."""
        total = 0
        for data in self.directory.glob("*.data"):
            try:
                total += data.stat().st_blocks * 512
            except OSError:
                continue  # removed while we looked
        return total

    def _check_room(self, needed: int, what: str) -> None:
        """ENOSPC unless `needed` more bytes fit the bound and leave the disk its reserve."""
        if self.max_bytes and self.used_bytes() + needed > self.max_bytes:
            raise OSError(
                errno.ENOSPC,
                f"journal full: {what} needs {needed} bytes, the journal holds "
                f"{self.used_bytes()} of its {self.max_bytes} (--cache-size)",
            )
        st = os.statvfs(self.directory)
        free = st.f_bavail * st.f_frsize
        reserve = reserve_bytes(st.f_blocks * st.f_frsize)
        if needed > free - reserve:
            raise OSError(
                errno.ENOSPC,
                f"cache disk full: {what} needs {needed} bytes, {max(free, 0)} free "
                f"(keeping {reserve})",
            )

    def park(
        self,
        container: str,
        name: str,
        base: ObjectInfo | None,
        size: int,
        read: Callable[[int, int], bytes],
        content_type: str = "application/octet-stream",
        meta: Mapping[str, str] | None = None,
        error: str = "",
        plan: Sequence[str | None] | None = None,
        block_size: int = 0,
    ) -> PendingUpload:
        """Copy the file's content via `read(offset, length)` into the journal and record it.

        `plan` (one item per block of `block_size`): None = read and keep the
        block, "" = a block of zeros (nothing read or written), a hash = a
        block of the base the server holds (recorded, not copied). Without a
        plan every byte is read. All-zero pieces are left as holes either way.
        Raises OSError (ENOSPC if it does not fit, before writing anything) if
        the copy cannot be made durable; then nothing half-written is left.
        """
        entry = PendingUpload(
            id=uuid.uuid4().hex,
            container=container,
            name=name,
            base_hash=base.hash if base is not None else "",
            base_version=base.version if base is not None else 0,
            size=size,
            content_type=content_type,
            meta=dict(meta or {}),
            last_error=error,
            created=time.time(),
            account=self.account,
        )
        pieces = list(_pieces(size, plan, block_size))
        refs = {str(i): h for i, h in enumerate(plan or ()) if h}
        if refs:
            entry.block_size, entry.refs = block_size, refs
        data = self.data_path(entry)
        part = data.with_name(f".{data.name}.part")
        try:
            with self._space_lock:  # two parks must not both take the last free space
                self._check_room(sum(n for _, n in pieces), f"{container}/{name}")
                with open(part, "wb") as f:
                    f.truncate(size)  # holes where nothing is written
                    for offset, length in pieces:
                        _copy_piece(f, read, offset, length, f"{container}/{name}")
                    f.flush()
                    os.fsync(f.fileno())
                entry.stored = os.stat(part).st_blocks * 512
            with self._lock:
                os.replace(part, data)
                self._save(entry)
        except BaseException:
            part.unlink(missing_ok=True)
            data.unlink(missing_ok=True)
            raise
        log.warning(
            "kept %s/%s in the journal (%d bytes, %d on disk): %s",
            container, name, size, entry.stored, error,
        )  # fmt: skip
        return entry

    def _save(self, entry: PendingUpload) -> None:
        payload = json.dumps(asdict(entry), sort_keys=True).encode()
        _write_atomically(self._record_path(entry.id), payload)
        self._changed()

    def _changed(self) -> None:
        with self._lock:
            self._cached = None

    def entries(self) -> list[PendingUpload]:
        """Complete entries, oldest first; unfinished parks (data without record) are removed.

        Read from disk once per change, made through this object or by another process
        (the directory's mtime tells; `status` asks every second).
        """
        with self._lock:
            stamp = self.directory.stat().st_mtime_ns
            if self._cached is None or stamp != self._stamp:
                self._stamp = stamp
                self._cached = self._entries_locked()
            return list(self._cached)

    def _entries_locked(self) -> list[PendingUpload]:
        found: list[PendingUpload] = []
        known_elsewhere: set[str] = set()
        for record in self.directory.glob("*.json"):
            try:
                entry = PendingUpload(**json.loads(record.read_bytes()))
            except (ValueError, TypeError) as exc:
                log.error("unreadable journal record %s kept aside: %s", record, exc)
                record.rename(record.with_suffix(".bad"))
                continue
            if self.account and entry.account not in ("", self.account):
                known_elsewhere.add(entry.id)  # another account's, on the same cache dir
                continue
            found.append(entry)
        known = {e.id for e in found} | known_elsewhere
        for data in self.directory.glob("*.data"):
            if data.stem not in known:
                log.info("removing unfinished journal data %s", data)
                data.unlink(missing_ok=True)
        return sorted(found, key=lambda e: e.created)

    def has(self, entry: PendingUpload) -> bool:
        """Whether the entry is still in the journal (not removed, failed or set aside)."""
        return self._record_path(entry.id).exists()

    def remove(self, entry: PendingUpload) -> None:
        self._record_path(entry.id).unlink(missing_ok=True)
        self.data_path(entry).unlink(missing_ok=True)
        _fsync_dir(self.directory)
        self._changed()

    def set_aside(self, entry: PendingUpload, why: str) -> None:
        """Stop replaying an entry that cannot be read (its record is kept as `<id>.bad`)."""
        record = self._record_path(entry.id)
        if record.exists():
            record.rename(record.with_suffix(".bad"))
        self._changed()
        log.error(
            "journal entry %s (%s/%s) set aside: %s", entry.id, entry.container, entry.name, why
        )

    def keep_as_conflict(
        self, entry: PendingUpload, why: str, store: ObjectStore | None = None
    ) -> Path:
        """Move the entry's bytes to conflicts/ (the user resolves it); returns where."""
        if store is not None:
            self._fill_refs(store, entry)
        target = self.conflicts / entry.container / entry.name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if target.exists():
            target = target.with_name(f"{target.name}.{entry.id[:8]}")
        os.replace(self.data_path(entry), target)
        entry.last_error = why
        _write_atomically(
            target.with_name(target.name + ".pithosfs-conflict.json"),
            json.dumps(asdict(entry), sort_keys=True).encode(),
        )
        self._record_path(entry.id).unlink(missing_ok=True)
        self._changed()
        log.error("conflict: %s/%s kept at %s (%s)", entry.container, entry.name, target, why)
        return target

    def fail(self, entry: PendingUpload, why: str, store: ObjectStore | None = None) -> Path:
        """Move an entry the server refused for good to failed/ (never deleted); returns where.

        With `store`, the base blocks it refers to are copied in first, so the
        kept file is whole.
        """
        if store is not None:
            self._fill_refs(store, entry)
        self.failed_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        entry.last_error = why
        entry.failed = time.time()
        target = self.failed_dir / f"{entry.id}.data"
        os.replace(self.data_path(entry), target)
        _write_atomically(
            self.failed_dir / f"{entry.id}.json", json.dumps(asdict(entry), sort_keys=True).encode()
        )
        self._record_path(entry.id).unlink(missing_ok=True)
        _fsync_dir(self.directory)
        self._changed()
        log.error(
            "upload of %s/%s refused for good, kept in %s: %s "
            "(pithosfs journal retry|save|discard %s)",
            entry.container, entry.name, target, why, entry.id,
        )  # fmt: skip
        return target

    def _fill_refs(self, store: ObjectStore, entry: PendingUpload) -> None:
        """Copy the base blocks an entry refers to into its data file (best effort)."""
        if not entry.refs:
            return
        bs = entry.block_size
        try:
            with open(self.data_path(entry), "r+b") as f:
                for index in sorted(entry.refs, key=int):
                    offset = int(index) * bs
                    length = max(0, min(bs, entry.size - offset))
                    if entry.refs[index] != EMPTY and length:
                        f.seek(offset)
                        f.write(_base_block(store, entry, offset, length))
                    del entry.refs[index]
                f.flush()
                os.fsync(f.fileno())
        except (PithosError, OSError) as exc:
            log.warning(
                "%s/%s: %d base block(s) stay recorded by hash only (version %d): %s",
                entry.container, entry.name, len(entry.refs), entry.base_version, exc,
            )  # fmt: skip

    def replay(
        self,
        store: ObjectStore,
        entry: PendingUpload,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        """Upload one entry if its base is still current; remove it once committed.

        Raises ReplayConflict (entry moved to conflicts/) if the object changed
        or its container is gone, or the store's PithosError (entry kept,
        attempts counted) if it failed. `progress(n)` hears of every n bytes sent.
        """
        try:
            current: ObjectInfo | None = store.head_object(entry.container, entry.name)
        except NotFound:
            current = None
        except PithosError as exc:
            self._failed(entry, exc)
            raise
        current_hash = current.hash if current is not None else ""
        try:
            ours = (
                current is not None
                and current_hash != entry.base_hash
                and self._is_ours(store, entry, current)
            )
        except PithosError as exc:
            self._failed(entry, exc)
            raise
        if ours:
            # Committed already (a reply lost to a crash, or a later retry by the mount).
            self.remove(entry)
            assert current is not None
            return current
        if current_hash != entry.base_hash:
            why = f"base {entry.base_hash or '(absent)'} is now {current_hash or '(absent)'}"
            raise ReplayConflict(entry, self.keep_as_conflict(entry, why, store))
        try:
            info = self._upload(store, entry, progress or (lambda _n: None))
        except (PreconditionFailed, NotFound) as exc:  # NotFound: the container is gone
            late = isinstance(exc, PreconditionFailed)
            landed = self._landed_meanwhile(store, entry) if late else None
            if landed is not None:
                self.remove(entry)
                return landed
            raise ReplayConflict(entry, self.keep_as_conflict(entry, str(exc), store)) from exc
        except PithosError as exc:
            self._failed(entry, exc)
            raise
        self.remove(entry)
        log.info("journal: committed %s/%s version %s", entry.container, entry.name, info.version)
        return info

    def _hashes(self, entry: PendingUpload, bs: int, algorithm: str) -> tuple[list[str], int]:
        """The entry's hashmap for blocks of `bs`, and how many blocks the data file holds."""
        if entry.refs and entry.block_size != bs:
            raise PreconditionFailed(
                f"block size changed from {entry.block_size} to {bs}",
                path=f"{entry.container}/{entry.name}",
            )
        hashes: list[str] = []
        held = 0
        with open(self.data_path(entry), "rb") as f:
            for index, block in _blocks(f, entry.size, bs):
                ref = entry.refs.get(str(index))
                if ref is not None:
                    hashes.append(ref)
                elif block is None:
                    hashes.append(EMPTY)
                else:
                    hashes.append(protocol.block_hash_hex(block, algorithm))
                    held += 1
        return hashes, held

    def _landed_meanwhile(self, store: ObjectStore, entry: PendingUpload) -> ObjectInfo | None:
        """After a 412: the object's info if it now holds exactly this content, else None.

        Why: the close that parked the entry may have sent a commit that a slow network
        delivered late (its sender had given up); the replay's conditional PUT then
        fails on the version that commit made, which holds the same bytes: done, not
        a conflict. Other content is a real conflict.
        """
        try:
            current = store.head_object(entry.container, entry.name)
            return current if self._is_ours(store, entry, current) else None
        except (PithosError, OSError):
            return None

    def _is_ours(self, store: ObjectStore, entry: PendingUpload, current: ObjectInfo) -> bool:
        if current.size != entry.size:
            return False
        geometry = store.container_info(entry.container)
        hashes, _ = self._hashes(entry, geometry.block_size, geometry.block_hash)
        if not hashes:
            hashes = [protocol.block_hash_hex(b"", geometry.block_hash)]
        return protocol.merkle_root_hex(hashes, geometry.block_hash) == current.hash

    def _failed(self, entry: PendingUpload, exc: Exception) -> None:
        entry.attempts += 1
        entry.last_error = str(exc)
        self._save(entry)

    def _upload(
        self, store: ObjectStore, entry: PendingUpload, progress: Callable[[int], None]
    ) -> ObjectInfo:
        if_match = entry.base_hash or None
        if_none_match = not entry.base_hash
        if not store.supports_pithos(entry.container):
            return self._upload_whole(store, entry, progress)
        geometry = store.container_info(entry.container)
        bs = geometry.block_size
        if entry.size <= bs and not entry.refs:
            with open(self.data_path(entry), "rb") as f:
                info = store.put_object(
                    entry.container, entry.name, f.read(), entry.content_type,
                    entry.meta, if_match=if_match, if_none_match=if_none_match,
                )  # fmt: skip
            progress(entry.size)
            return info
        hashes, _ = self._hashes(entry, bs, geometry.block_hash)
        for _ in range(MAX_PUT_ROUNDS):
            try:
                return store.put_hashmap(
                    entry.container, entry.name, entry.size, hashes, entry.content_type,
                    entry.meta, if_match=if_match, if_none_match=if_none_match,
                )  # fmt: skip
            except MissingBlocks as exc:
                self._send_missing(store, entry, bs, hashes, exc.hashes, progress)
        raise PithosError(f"{entry.container}/{entry.name}: blocks keep vanishing on the server")

    def _send_missing(
        self,
        store: ObjectStore,
        entry: PendingUpload,
        bs: int,
        hashes: list[str],
        missing: list[str],
        progress: Callable[[int], None],
    ) -> None:
        """Upload the blocks the server lacks from the data file; a missing base block
        (recorded by hash, not kept) is a conflict: the base is gone from the server."""
        first: dict[str, int] = {}
        for index, h in enumerate(hashes):
            first.setdefault(h, index)
        wanted = {h.lower() for h in missing}
        indices = sorted(first[h] for h in wanted if h in first)
        if len(indices) != len(wanted) or any(str(i) in entry.refs for i in indices):
            raise PreconditionFailed(
                "blocks of the base version are gone from the server",
                path=f"{entry.container}/{entry.name}",
            )
        with open(self.data_path(entry), "rb") as f:
            for start in range(0, len(indices), UPLOAD_GROUP):
                group = []
                for index in indices[start : start + UPLOAD_GROUP]:
                    f.seek(index * bs)
                    group.append(f.read(max(0, min(bs, entry.size - index * bs))).rstrip(b"\0"))
                store.upload_blocks(entry.container, group)
                progress(sum(len(b) for b in group))

    def _upload_whole(
        self, store: ObjectStore, entry: PendingUpload, progress: Callable[[int], None]
    ) -> ObjectInfo:
        """Plain Swift: one streamed PUT (no If-Match there; the HEAD above checked the base)."""
        with open(self.data_path(entry), "rb") as f:
            body = _FileBody(f, entry.size, progress)
            return store.put_object(
                entry.container, entry.name, body, entry.content_type,  # type: ignore[arg-type]
                entry.meta, if_none_match=not entry.base_hash,
            )  # fmt: skip

    def replay_all(
        self, store: ObjectStore
    ) -> tuple[list[ObjectInfo], list[ReplayConflict], list[PendingUpload]]:
        """Try every entry once: (committed, conflicts, still pending)."""
        done: list[ObjectInfo] = []
        conflicts: list[ReplayConflict] = []
        pending: list[PendingUpload] = []
        for entry in self.entries():
            try:
                done.append(self.replay(store, entry))
            except ReplayConflict as exc:
                conflicts.append(exc)
            except PithosError:
                pending.append(entry)
        return done, conflicts, pending


def reserve_bytes(disk_bytes: int) -> int:
    """Free space a park must leave on a disk of `disk_bytes` (staging and the cache need it)."""
    return min(MAX_RESERVE, int(disk_bytes * RESERVE_FRACTION))


def _pieces(
    size: int, plan: Sequence[str | None] | None, block_size: int
) -> Iterator[tuple[int, int]]:
    """(offset, length) of the byte ranges a park must read: the plan's None blocks, merged."""
    if plan is None:
        if size:
            yield 0, size
        return
    start = -1
    for index, item in enumerate(plan):
        if item is None and start < 0:
            start = index
        elif item is not None and start >= 0:
            yield start * block_size, (index - start) * block_size
            start = -1
    if start >= 0:
        yield start * block_size, max(0, size - start * block_size)


def _copy_piece(
    f: BinaryIO, read: Callable[[int, int], bytes], offset: int, length: int, what: str
) -> None:
    """Copy [offset, offset+length) from `read` to `f`, leaving all-zero chunks as holes."""
    end = offset + length
    while offset < end:
        chunk = read(offset, min(COPY_CHUNK, end - offset))
        if not chunk:
            raise OSError(f"short read while parking {what} at {offset}")
        view = memoryview(chunk)
        for start in range(0, len(chunk), HOLE_GRAIN):
            piece = view[start : start + HOLE_GRAIN]
            if piece.tobytes().count(0) != len(piece):
                f.seek(offset + start)
                f.write(piece)
        offset += len(chunk)


def _blocks(f: BinaryIO, size: int, bs: int) -> Iterator[tuple[int, bytes | None]]:
    """(index, bytes) of each block of the data file; None for a block that is all hole.

    Holes are found with SEEK_DATA, so a huge sparse file costs no reads.
    """
    fd = f.fileno()
    count = protocol.block_count(size, bs)
    index = 0
    while index < count:
        offset = index * bs
        try:
            data_at = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: only a hole from here to the end
                raise
            data_at = size
        skip_to = min(count, data_at // bs)
        while index < skip_to:
            yield index, None
            index += 1
        if index >= count:
            return
        f.seek(index * bs)
        yield index, f.read(max(0, min(bs, size - index * bs)))
        index += 1


def _base_block(store: ObjectStore, entry: PendingUpload, offset: int, length: int) -> bytes:
    data = store.read_range(entry.container, entry.name, offset, length, version=entry.base_version)
    return bytes(data).ljust(length, b"\0")


class _FileBody:
    """A journal data file as a streamed, replayable PUT body (transport's RewindableBody)."""

    def __init__(self, f: BinaryIO, size: int, progress: Callable[[int], None]) -> None:
        self._f, self._size, self._progress = f, size, progress

    def __len__(self) -> int:
        return self._size

    def rewind(self) -> None:
        self._f.seek(0)

    def read(self, size: int = -1) -> bytes:
        piece = self._f.read(size if size >= 0 else self._size)
        self._progress(len(piece))
        return piece
