"""The write path on a plain OpenStack Swift container (no Pithos+ extensions).

Swift has no hashmaps, block uploads or partial updates, so the staged file is
sent whole at commit: one streamed PUT of the staged content (written blocks from
the staging file, untouched ones read from the stored object). Background block
uploads are never queued: Swift would have nowhere to keep loose blocks.
Objects above the single-PUT limit (5 GiB) are not segmented yet: the commit
fails with Unsupported instead of sending a body Swift would refuse at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pithosfs import protocol
from pithosfs.client.errors import PreconditionFailed, Unsupported
from pithosfs.client.types import ObjectInfo
from pithosfs.fs.writeback import StagedFile

log = logging.getLogger(__name__)

SINGLE_PUT_LIMIT = 5 * 1024**3  # Swift's default max_file_size
STREAM_PIECE = 1024 * 1024  # bytes read from the staged file per chunk of the PUT body


class StagedBody:
    """The staged content as a streamed, replayable PUT body (transport's RewindableBody)."""

    def __init__(self, staged: StagedFile, size: int) -> None:
        self._staged = staged
        self._size = size
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    def rewind(self) -> None:
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        want = self._size - self._pos if size < 0 else min(size, self._size - self._pos)
        if want <= 0:
            return b""
        piece = self._staged.read(self._pos, want)
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
        if size > SINGLE_PUT_LIMIT:
            raise Unsupported(f"{self.name}: objects above 5 GiB need segments (not yet on Swift)")
        content_type = self._content_type or (base.content_type if base else protocol.OCTET_STREAM)
        # Swift has no If-Match on PUT; If-None-Match: * still guards creation.
        conditions = {} if base is not None else {"if_none_match": True}
        body: bytes | StagedBody = (
            self.read(0, size) if size <= STREAM_PIECE else StagedBody(self, size)
        )
        info = self._store.put_object(
            self.container,
            self.name,
            body,
            content_type,
            meta,
            **conditions,  # type: ignore[arg-type]
        )
        with self._lock:
            self._install_swift(info, size)
        log.debug("swift commit %s/%s: %d bytes in one PUT", self.container, self.name, size)
        return info

    def _install_swift(self, info: ObjectInfo, size: int) -> None:
        self.commit_uploaded_bytes += size
        self._base = info
        self._base_hashes = []
        self._base_extent = size
        for blk in self._local.values():
            blk.dirty = False
        self._dirty = False
