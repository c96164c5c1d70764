"""The base class of virtual layers: every hook defaults to "not mine".

A layer sees mount paths ("/c/dir/.versions/x") exactly as FUSE passes them.
Nodes it returns are `pithosfs.fs.nodes.Node`s; errors are the core's
`pithosfs.fs.errors` (ReadOnly -> EROFS, NoEntry -> ENOENT, ...) or the store's
`PithosError`s, mapped to errno at the FUSE boundary like any other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pithosfs.client.types import ObjectInfo
from pithosfs.fs.errors import ReadOnly
from pithosfs.fs.nodes import Node

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)


class NotMine(Exception):
    """Raised by a layer hook: the core handles this call on its ordinary path."""


class VirtualLayer:
    """One virtual feature. Subclasses override `claims` and what they serve."""

    def __init__(self, fs: Filesystem) -> None:
        self.fs = fs

    def claims(self, path: str) -> bool:
        """Whether calls on `path` come to this layer first. Pure and cheap: called per op."""
        return False

    def close(self) -> None:
        """At unmount."""

    # -- namespace --------------------------------------------------------
    def getattr(self, path: str) -> Node:
        raise NotMine

    def readdir(self, path: str) -> list[tuple[str, Node]]:
        raise NotMine

    def readlink(self, path: str) -> str:
        raise NotMine

    def mkdir(self, path: str, mode: int) -> None:
        raise NotMine

    def rmdir(self, path: str) -> None:
        raise NotMine

    def unlink(self, path: str) -> None:
        raise NotMine

    def rename(self, old: str, new: str) -> None:
        """Called when `old` or `new` is claimed (the layer of `old` first)."""
        raise NotMine

    def symlink(self, path: str, target: str) -> None:
        raise NotMine

    def chmod(self, path: str, mode: int) -> None:
        raise NotMine

    def utimens(self, path: str, times: tuple[int, int] | None) -> None:
        raise NotMine

    def chown(self, path: str, uid: int, gid: int) -> None:
        raise NotMine

    def mknod(self, path: str, mode: int, dev: int) -> None:
        """A fifo, socket or device node (regular files come through `create`)."""
        raise NotMine

    # -- files (the returned handle is any object; the registry numbers it) --
    def open(self, path: str, flags: int) -> Any:
        raise NotMine

    def create(self, path: str, mode: int, flags: int) -> Any:
        raise NotMine

    def read(self, handle: Any, offset: int, size: int) -> bytes | memoryview:
        raise NotMine

    def write(self, handle: Any, offset: int, data: bytes) -> int:
        raise NotMine

    def truncate(self, path: str, length: int, handle: Any | None) -> None:
        """`handle` is the layer's own handle, or None for truncate(2) by path."""
        raise NotMine

    def flush(self, handle: Any) -> None:
        """Every close() and fsync(); errors raised here reach the caller."""

    def release(self, handle: Any) -> None:
        """The last close of this handle."""

    def copy_source(self, handle: Any) -> tuple[str, ObjectInfo] | None:
        """(container, version) whose content this handle reads, for server-side copies."""
        return None

    def handle_attr(self, handle: Any) -> Node | None:
        """fstat of an open handle (None: use getattr of its path)."""
        return None

    # -- extended attributes ------------------------------------------------
    def getxattr(self, path: str, name: str) -> bytes:
        raise NotMine

    def listxattr(self, path: str) -> list[str]:
        raise NotMine

    def setxattr(self, path: str, name: str, value: bytes, flags: int) -> None:
        raise NotMine

    def removexattr(self, path: str, name: str) -> None:
        raise NotMine

    # -- events on the ordinary path (for every layer; must not raise) --------
    def after_commit(self, path: str, info: ObjectInfo) -> None:
        """A regular file's new version is on the server (close/fsync/rename commit)."""

    def after_rename(self, old: str, new: str) -> None:
        """A rename on the ordinary path completed (files and directories)."""

    def after_unlink(self, path: str) -> None:
        """An object was deleted on the ordinary path."""


class ReadOnlyLayer(VirtualLayer):
    """A layer whose entries can be read but never changed: every write is EROFS.

    Subclasses set `readonly_reason`; it is the message of each refusal.
    """

    readonly_reason = "read-only"

    def _refuse(self, path: str, *_: Any) -> None:
        raise ReadOnly(self.readonly_reason, path)

    create = _refuse  # type: ignore[assignment]
    mkdir = _refuse  # type: ignore[assignment]
    rmdir = _refuse
    unlink = _refuse
    symlink = _refuse  # type: ignore[assignment]
    chmod = _refuse  # type: ignore[assignment]
    utimens = _refuse  # type: ignore[assignment]
    chown = _refuse  # type: ignore[assignment]
    mknod = _refuse  # type: ignore[assignment]
    setxattr = _refuse  # type: ignore[assignment]
    removexattr = _refuse  # type: ignore[assignment]

    def truncate(self, path: str, length: int, handle: Any | None) -> None:
        raise ReadOnly(self.readonly_reason, path)

    def write(self, handle: Any, offset: int, data: bytes) -> int:
        raise ReadOnly(self.readonly_reason, handle.info.name)

    def rename(self, old: str, new: str) -> None:
        raise ReadOnly(self.readonly_reason, old if self.claims(old) else new)
