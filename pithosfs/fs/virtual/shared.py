"""`/.shared/`: what other accounts share with you (SEMANTICS.md).

* `/.shared/` lists the accounts that share something with you (`GET /v1/`).
* `/.shared/<account>/` lists that account's containers holding objects shared
  with you; below them, the shared objects and directories, as the server lists
  them for you.

Each account is served by a nested `Filesystem` over a client for that
account (same token), so listing, reading (ranged, cached), writing and
renames work exactly as in your own account, and the server decides: a write
where you only have read permission fails with EACCES (403). Your rights are
the server's (a HEAD's `X-Object-Allowed-To`, or a listing that carries exact
rights: meta_store.py); what you may only read, directly or through a folder,
shows without write bits and is refused at open for writing, create and
truncate with EACCES, before any data is taken (root included, whom the kernel's
permission check lets through). Renames between accounts are EXDEV (so `mv`
copies). The nested filesystems have no virtual layers of their own (no
`.versions` below `.shared`), and no server-side copy fast path.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pithosfs.fs.errors import AccessDenied, CrossDevice, NoEntry, ReadOnly
from pithosfs.fs.nodes import Node, NodeKind, inode_of
from pithosfs.fs.virtual.base import VirtualLayer
from pithosfs.fs.writeback.journal_areas import SHARED_DIR

if TYPE_CHECKING:
    from pithosfs.fs.core import Filesystem

log = logging.getLogger(__name__)

SHARED = ".shared"
PRIORITY = 10  # before `.versions`: below .shared everything belongs to the other account


def split(path: str) -> tuple[str, str]:
    """`/.shared/acc/c/x` -> ("acc", "/c/x"); `/.shared` -> ("", "/"). Pure."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != SHARED:
        raise ValueError(path)
    if len(parts) == 1:
        return "", "/"
    return parts[1], "/" + "/".join(parts[2:])


def _read_only(node: Node, rights: str) -> Node:
    """What you may only read shows without write bits."""
    if rights == "read":
        return replace(node, mode=node.mode & ~0o222)
    return node


def _parent(inner: str) -> str:
    return inner.rstrip("/").rpartition("/")[0] or "/"


def _writing(flags: int) -> bool:
    return (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_TRUNC)


class SharedLayer(VirtualLayer):
    def __init__(self, fs: Filesystem) -> None:
        super().__init__(fs)
        self._lock = threading.Lock()
        self._accounts: tuple[float, list[str]] | None = None  # GUARDED_BY(_lock)
        self._nested: dict[str, Any] = {}  # account -> Filesystem; GUARDED_BY(_lock)

    def claims(self, path: str) -> bool:
        return path == "/" + SHARED or path.startswith("/" + SHARED + "/")

    def close(self) -> None:
        with self._lock:
            nested, self._nested = list(self._nested.values()), {}
        for fs in nested:
            fs.close()

    # -- accounts ----------------------------------------------------------------
    def accounts(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._accounts
        if cached is not None and now - cached[0] < self.fs.opts.dir_timeout:
            return cached[1]
        found = sorted(self.fs.store.list_sharing_accounts())
        with self._lock:
            self._accounts = (now, found)
        return found

    def _account_fs(self, account: str, path: str) -> Any:
        with self._lock:
            nested = self._nested.get(account)
        if nested is not None:
            return nested
        if account not in self.accounts():
            raise NoEntry("no account shares with you under this name", path)
        return self._nested_fs(account)

    def resume_journals(self) -> list[str]:
        """Start the retriers of shared accounts whose journals hold uploads left by an
        earlier mount (without asking the server: it may be away). Returns the accounts."""
        from pithosfs.fs.writeback.durability import guard_of

        root = self.fs.opts.cache_dir / SHARED_DIR
        resumed = []
        for journal in sorted(root.glob("*/journal")) if root.is_dir() else []:
            if any(journal.glob("*.json")):
                guard_of(self._nested_fs(journal.parent.name)).start()
                resumed.append(journal.parent.name)
        return resumed

    def _nested_fs(self, account: str) -> Any:
        from pithosfs.fs.core import Filesystem  # the core imports the layers
        from pithosfs.fs.meta_store import MetaCachingStore

        opts = replace(self.fs.opts, cache_dir=self.fs.opts.cache_dir / SHARED_DIR / account)
        # Listed rights must be this user's (a HEAD where the server cannot say: meta_store).
        store = MetaCachingStore(
            self.fs.store.for_account(account), self.fs.store.cache, rights=True
        )
        created = Filesystem(store, opts, layers=[])
        created.caller = lambda: self.fs.caller()  # the same requests: the same callers
        with self._lock:
            nested = self._nested.setdefault(account, created)
        if nested is not created:
            created.close()
        return nested

    def _route(self, path: str) -> tuple[Any, str]:
        account, inner = split(path)
        if not account:
            raise ReadOnly("the list of sharing accounts is read-only", path)
        return self._account_fs(account, path), inner

    # -- rights ----------------------------------------------------------------------
    @staticmethod
    def _rights(nested: Any, inner: str, node: Node | None) -> str:
        """ "read", "write" or "" (unknown): what you may do at `inner`.

        An object's own rights are those the server reported for it (its HEAD, or
        a listing that carries exact rights: meta_store.py). A directory with no
        object behind it (implied) has the rights of the closest folder above it.
        """
        path = inner
        while True:
            if node is None:
                try:
                    node = nested.lookup(path)
                except NoEntry:
                    return ""
            if node.info is not None:
                return node.info.allowed_to.lower()
            if path.count("/") <= 1 or not path.strip("/"):
                return ""  # a container (or the top): no object carries rights for it
            path, node = _parent(path), None

    def _require_write(self, nested: Any, inner: str, path: str, node: Node | None) -> None:
        """EACCES before anything is written where you may only read (also for root,
        whom the kernel's permission check lets through)."""
        if self._rights(nested, inner, node) == "read":
            raise AccessDenied("shared with you read-only", path)

    # -- namespace -----------------------------------------------------------------
    def getattr(self, path: str) -> Node:
        account, inner = split(path)
        if not account:
            return Node(NodeKind.DIR, 0, self.fs.mount_time_ns, 0o555, inode_of("shared:"))
        nested = self._account_fs(account, path)
        node = nested.lookup(inner)
        if inner == "/":
            return replace(node, ino=inode_of("shared:" + account))
        return _read_only(node, self._rights(nested, inner, node))

    def readdir(self, path: str) -> list[tuple[str, Node]]:
        account, inner = split(path)
        if not account:
            return [(a, self.getattr(f"/{SHARED}/{a}")) for a in self.accounts()]
        nested = self._account_fs(account, path)
        entries = nested.readdir(inner)
        # Implied subdirectories have the rights of this directory (or of its folder).
        inherited = self._rights(nested, inner, nested.lookup(inner)) if inner != "/" else ""
        return [
            (name, _read_only(node, node.info.allowed_to.lower() if node.info else inherited))
            for name, node in entries
        ]

    def readlink(self, path: str) -> str:
        nested, inner = self._route(path)
        return str(nested.readlink(inner))

    def mkdir(self, path: str, mode: int) -> None:
        nested, inner = self._route(path)
        nested.mkdir(inner, mode)

    def rmdir(self, path: str) -> None:
        nested, inner = self._route(path)
        nested.rmdir(inner)

    def unlink(self, path: str) -> None:
        nested, inner = self._route(path)
        nested.unlink(inner)

    def symlink(self, path: str, target: str) -> None:
        nested, inner = self._route(path)
        nested.symlink(inner, target)

    def chmod(self, path: str, mode: int) -> None:
        nested, inner = self._route(path)
        nested.chmod(inner, mode)

    def utimens(self, path: str, times: tuple[int, int] | None) -> None:
        nested, inner = self._route(path)
        nested.utimens(inner, times)

    def chown(self, path: str, uid: int, gid: int) -> None:
        nested, inner = self._route(path)
        nested.chown(inner, uid, gid)

    def mknod(self, path: str, mode: int, dev: int) -> None:
        nested, inner = self._route(path)
        nested.mknod(inner, mode, dev)

    def rename(self, old: str, new: str) -> None:
        if not (self.claims(old) and self.claims(new)) or split(old)[0] != split(new)[0]:
            raise CrossDevice("renames across accounts are copies", old)
        nested, inner_old = self._route(old)
        nested.rename(inner_old, split(new)[1])

    # -- files ---------------------------------------------------------------------
    def open(self, path: str, flags: int) -> tuple[Any, int]:
        nested, inner = self._route(path)
        if _writing(flags):
            self._require_write(nested, inner, path, nested.lookup(inner))
        return nested, nested.open(inner, flags)

    def create(self, path: str, mode: int, flags: int) -> tuple[Any, int]:
        nested, inner = self._route(path)
        existing = nested.exists(inner)
        if existing is not None:
            self._require_write(nested, inner, path, existing)
        else:  # a new name: the rights of the folder it goes into
            self._require_write(nested, _parent(inner), path, None)
        return nested, nested.create(inner, mode, flags)

    def read(self, handle: tuple[Any, int], offset: int, size: int) -> bytes:
        nested, fh = handle
        return bytes(nested.read(fh, offset, size))

    def write(self, handle: tuple[Any, int], offset: int, data: bytes) -> int:
        nested, fh = handle
        return int(nested.write(fh, offset, data))

    def truncate(self, path: str, length: int, handle: tuple[Any, int] | None) -> None:
        nested, inner = self._route(path)
        if handle is None:  # a handle was checked when it was opened for writing
            self._require_write(nested, inner, path, nested.lookup(inner))
        nested.truncate(inner, length, None if handle is None else handle[1])

    def flush(self, handle: tuple[Any, int]) -> None:
        nested, fh = handle
        nested.flush(fh)

    def release(self, handle: tuple[Any, int]) -> None:
        nested, fh = handle
        nested.release(fh)

    def handle_attr(self, handle: tuple[Any, int]) -> Node | None:
        nested, fh = handle
        node = nested.files.node_of_handle(fh)
        if node is None or node.info is None:
            return node
        return _read_only(node, node.info.allowed_to.lower())

    # -- extended attributes ---------------------------------------------------------
    def getxattr(self, path: str, name: str) -> bytes:
        nested, inner = self._route_xattr(path)
        return bytes(nested.xattrs.get(inner, name))

    def listxattr(self, path: str) -> list[str]:
        if not split(path)[0]:
            return []
        nested, inner = self._route_xattr(path)
        return list(nested.xattrs.list(inner))

    def setxattr(self, path: str, name: str, value: bytes, flags: int) -> None:
        nested, inner = self._route(path)
        nested.xattrs.set(inner, name, value, flags)

    def removexattr(self, path: str, name: str) -> None:
        nested, inner = self._route(path)
        nested.xattrs.remove(inner, name)

    def _route_xattr(self, path: str) -> tuple[Any, str]:
        from pithosfs.fs.errors import NoAttribute

        if not split(path)[0]:
            raise NoAttribute("no attributes here", path)
        return self._route(path)


LAYER = SharedLayer
