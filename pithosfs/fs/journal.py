"""Journal of closed files whose commit failed: their bytes are kept, never dropped.

When a commit fails (server down, network gone, quota), the file's full
content is copied into `<cache-dir>/journal/<id>.data` and described by
`<id>.json` (container, name, base hash/version, size, attempts, last error).
Both are written to a temporary name, fsynced and renamed, so a crash leaves
either no record or a complete one; a `.data` without its `.json` is an
unfinished park and is deleted on load. Within one process `_lock` makes the
rename of the data and the save of its record one step for `entries()`, so a
park in progress on one thread is never taken for a crash leftover by another.

Replay (`UploadJournal.replay`) uploads an entry conditionally on its base:
if the object changed on the server meanwhile (or its container is gone), the
entry is not uploaded but moved to `<cache-dir>/conflicts/<container>/<name>`
(with a `.json` record next to it) for the user to resolve; this is the
ESTALE case.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from pithosfs import protocol
from pithosfs.client.errors import NotFound, PithosError, PreconditionFailed
from pithosfs.client.types import ObjectInfo, ObjectStore

log = logging.getLogger(__name__)

COPY_CHUNK = 4 * 1024 * 1024


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
    another account's file into its own.
    """

    def __init__(self, cache_dir: Path, account: str = "") -> None:
        self.account = account
        self.directory = Path(cache_dir) / "journal"
        self.conflicts = Path(cache_dir) / "conflicts"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Serialises publishing (data rename + record) against entries(); re-entrant because
        # park() saves the record, and every change drops the cached listing under it.
        self._lock = threading.RLock()
        self._cached: list[PendingUpload] | None = None  # GUARDED_BY(_lock)
        for part in self.directory.glob(".*.part"):  # a park cut off by a crash
            part.unlink(missing_ok=True)

    def data_path(self, entry: PendingUpload) -> Path:
        return self.directory / f"{entry.id}.data"

    def _record_path(self, entry_id: str) -> Path:
        return self.directory / f"{entry_id}.json"

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
    ) -> PendingUpload:
        """Copy `size` bytes from `read(offset, length)` into the journal and record them.

        Raises OSError (e.g. ENOSPC) if the copy cannot be made durable; then
        nothing half-written is left in the journal.
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
        data = self.data_path(entry)
        part = data.with_name(f".{data.name}.part")
        try:
            with open(part, "wb") as f:
                offset = 0
                while offset < size:
                    chunk = read(offset, min(COPY_CHUNK, size - offset))
                    if not chunk:
                        raise OSError(f"short read while parking {container}/{name} at {offset}")
                    f.write(chunk)
                    offset += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            with self._lock:
                os.replace(part, data)
                self._save(entry)
        except BaseException:
            part.unlink(missing_ok=True)
            data.unlink(missing_ok=True)
            raise
        log.warning("kept %s/%s (%d bytes) in the journal: %s", container, name, size, error)
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

        Read from disk once per change made through this object (status asks every second).
        """
        with self._lock:
            if self._cached is None:
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

    def keep_as_conflict(self, entry: PendingUpload, why: str) -> Path:
        """Move the entry's bytes to conflicts/ (the user resolves it); returns where."""
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
        if (
            current is not None
            and current_hash != entry.base_hash
            and self._is_ours(store, entry, current)
        ):
            # Committed already (a reply lost to a crash, or a later retry by the mount).
            self.remove(entry)
            return current
        if current_hash != entry.base_hash:
            why = f"base {entry.base_hash or '(absent)'} is now {current_hash or '(absent)'}"
            raise ReplayConflict(entry, self.keep_as_conflict(entry, why))
        try:
            info = self._upload(store, entry, progress or (lambda _n: None))
        except (PreconditionFailed, NotFound) as exc:  # NotFound: the container is gone
            raise ReplayConflict(entry, self.keep_as_conflict(entry, str(exc))) from exc
        except PithosError as exc:
            self._failed(entry, exc)
            raise
        self.remove(entry)
        log.info("journal: committed %s/%s version %s", entry.container, entry.name, info.version)
        return info

    def _is_ours(self, store: ObjectStore, entry: PendingUpload, current: ObjectInfo) -> bool:
        if current.size != entry.size:
            return False
        geometry = store.container_info(entry.container)
        digests: list[bytes] = []
        with open(self.data_path(entry), "rb") as f:
            while block := f.read(geometry.block_size):
                digests.append(protocol.block_hash(block, geometry.block_hash))
        if not digests:
            digests.append(protocol.block_hash(b"", geometry.block_hash))
        return protocol.merkle_root(digests, geometry.block_hash).hex() == current.hash

    def _failed(self, entry: PendingUpload, exc: Exception) -> None:
        entry.attempts += 1
        entry.last_error = str(exc)
        self._save(entry)

    def _upload(
        self, store: ObjectStore, entry: PendingUpload, progress: Callable[[int], None]
    ) -> ObjectInfo:
        if_match = entry.base_hash or None
        if_none_match = not entry.base_hash
        supports = getattr(store, "supports_pithos", None)
        if supports is not None and not supports(entry.container):
            return self._upload_whole(store, entry, progress)
        block_size = store.container_info(entry.container).block_size
        with open(self.data_path(entry), "rb") as f:
            if entry.size <= block_size:
                info = store.put_object(
                    entry.container, entry.name, f.read(), entry.content_type,
                    entry.meta, if_match=if_match, if_none_match=if_none_match,
                )  # fmt: skip
                progress(entry.size)
                return info
            hashes: list[str] = []
            while chunk := f.read(block_size * 4):
                hashes.extend(store.upload_blocks(entry.container, [chunk]))
                progress(len(chunk))
        return store.put_hashmap(
            entry.container, entry.name, entry.size, hashes, entry.content_type,
            entry.meta, if_match=if_match, if_none_match=if_none_match,
        )  # fmt: skip

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
