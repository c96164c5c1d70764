"""The write path on a plain OpenStack Swift container (no Pithos+ extensions).

Swift has no hashmaps, block uploads or partial updates, so the staged file is
sent whole at commit: one streamed PUT of the staged content (written blocks from
the staging file, untouched ones read from the stored object). Background block
uploads are never queued: Swift would have nowhere to keep loose blocks.
Objects above the cluster's single-PUT limit (5 GiB by default) are sent as
segments plus an SLO manifest (swift_segments.py); replacing a segmented object
deletes its old segments once the new content is in place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pithosfs import protocol
from pithosfs.client.errors import PreconditionFailed
from pithosfs.client.types import ObjectInfo
from pithosfs.fs.writeback import swift_segments
from pithosfs.fs.writeback.staged_file import StagedFile

log = logging.getLogger(__name__)

STREAM_PIECE = 1024 * 1024  # bytes read from the staged file per chunk of the PUT body


class StagedBody:
    """Bytes [start, start + size) of the staged content as a streamed, replayable PUT body
    (transport's RewindableBody)."""

    def __init__(self, staged: StagedFile, size: int, start: int = 0) -> None:
        self._staged = staged
        self._size = size
        self._start = start
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    def rewind(self) -> None:
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        want = self._size - self._pos if size < 0 else min(size, self._size - self._pos)
        if want <= 0:
            return b""
        piece = self._staged.read(self._start + self._pos, want)
        if len(piece) < want:  # the file shrank meanwhile: keep Content-Length honest
            piece += bytes(want - len(piece))
        self._pos += len(piece)
        return piece


class SwiftStagedFile(StagedFile):
    """A StagedFile whose commit is a whole-object PUT (plain Swift containers)."""

    def _base_hashmap(self) -> list[str]:
        # Swift has no hashmaps (a ?format=json GET returns the data): no dedup hints.
        self._base_hashes = []
        return self._base_hashes

    def _queue(self, indices: list[int], at_commit: bool) -> bool:
        # No background block uploads on Swift; returning False makes nothing pending.
        return False

    def commit(self, meta: Mapping[str, str] | None = None) -> ObjectInfo | None:
        # Unlike the block path, the body is read through read(), which takes `_lock`:
        # hold only `_commit_lock` while sending (the FUSE layer serialises writes per file).
        with self._commit_lock:
            with self._lock:
                self._check_open()
                if not self._dirty:
                    return None
            return self._commit_locked(meta)

    def _commit_locked(self, meta: Mapping[str, str] | None) -> ObjectInfo:
        meta = self._resolve_base(meta)
        base = self._base
        if self._base_stale:
            raise PreconditionFailed(
                "object changed since it was opened", path=f"{self.container}/{self.name}"
            )
        size = self._size
        content_type = self.content_type or (base.content_type if base else protocol.OCTET_STREAM)
        if size > swift_segments.limits(self._store).single_put:
            return self._commit_segmented(size, content_type, meta)
        # Swift has no If-Match on PUT; If-None-Match: * still guards creation.
        conditions = {} if base is not None else {"if_none_match": True}
        old_segments = self._old_segments()
        body: bytes | StagedBody = (
            self.read(0, size) if size <= STREAM_PIECE else StagedBody(self, size)
        )
        info = self._store.put_object(
            self.container,
            self.name,
            # The contract says bytes; the HTTP client, the only store that speaks Swift,
            # streams a RewindableBody too (client/transport.py).
            body,  # type: ignore[arg-type]
            content_type,
            meta,
            **conditions,  # type: ignore[arg-type]
        )
        with self._lock:
            self._install_swift(info, size)
        swift_segments.delete_segments(self._store, self.container, old_segments)
        log.debug("swift commit %s/%s: %d bytes in one PUT", self.container, self.name, size)
        return info

    def _old_segments(self) -> list[str]:
        """The segments of the version being replaced, if it is a manifest (one HEAD, and
        only for objects large enough to be one: small ones were never segmented)."""
        base = self._base
        never_segmented = min(STREAM_PIECE, swift_segments.limits(self._store).single_put)
        if base is None or base.size <= never_segmented:
            return []
        return swift_segments.manifest_segments(self._store, self.container, self.name)

    def _commit_segmented(
        self, size: int, content_type: str, meta: Mapping[str, str] | None
    ) -> ObjectInfo:
        old_segments = self._old_segments()
        swift_segments.put_segmented(
            self._store, self.container, self.name, size,
            lambda offset, length: StagedBody(self, length, offset),
            content_type, meta, create_only=self._base is None,
        )  # fmt: skip
        info = self._store.head_object(self.container, self.name)
        with self._lock:
            self._install_swift(info, size)
        swift_segments.delete_segments(self._store, self.container, old_segments)
        return info

    def _install_swift(self, info: ObjectInfo, size: int) -> None:
        self.commit_uploaded_bytes += size
        self._base = info
        self._base_hashes = []
        self._base_extent = size
        for blk in self._local.values():
            blk.dirty = False
        self._dirty = False
