"""What the mount shows for one name: a Node, and its `struct stat`.

A Node is built from what the store reports (an ObjectInfo from a listing or
HEAD, or nothing for implied directories and containers) and from the
metadata keys this filesystem stores on objects:

* `Pithosfs-Mtime`: the file's mtime as decimal seconds with up to 9
  fractional digits ("1700000000.123456789"); without it, Last-Modified.
* `Pithosfs-Mode`: permission bits in octal ("755"); without it 0644 for
  files, 0755 for directories.
* `Pithosfs-Symlink`: a symlink's target. Symlink objects also carry the
  content type `inode/symlink` (so a listing without metadata still knows them)
  and the target as their body (so other clients see something meaningful).
* `Pithosfs-Uid`, `Pithosfs-Gid`: the owner and group, in decimal; without
  them the user the mount shows as owner (its `-o uid=`/`gid=`, else the
  mounting user).
* `Pithosfs-Ctime`, `Pithosfs-Atime`: the status-change and access times, in
  the form of `Pithosfs-Mtime`; stored only when they differ from the mtime,
  which they default to.
* Special files (fifos, sockets, device nodes) are empty objects whose content
  type names their kind (`inode/fifo`, `inode/socket`, `inode/chardevice`,
  `inode/blockdevice`, as shared-mime-info calls them); a device node keeps its
  device number as `Pithosfs-Rdev` ("major:minor").
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from stat import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK

from pithosfs.client.types import ContainerInfo, ObjectInfo

MTIME_KEY = "Pithosfs-Mtime"
MODE_KEY = "Pithosfs-Mode"
SYMLINK_KEY = "Pithosfs-Symlink"
UID_KEY = "Pithosfs-Uid"
GID_KEY = "Pithosfs-Gid"
CTIME_KEY = "Pithosfs-Ctime"
ATIME_KEY = "Pithosfs-Atime"
RDEV_KEY = "Pithosfs-Rdev"
INTERNAL_PREFIX = "Pithosfs-"  # keys hidden from listxattr and refused by setxattr
SYMLINK_CONTENT_TYPE = "inode/symlink"

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755
ROOT_INO = 1


class NodeKind(Enum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"
    FIFO = "fifo"
    SOCKET = "socket"
    CHAR = "chardevice"
    BLOCK = "blockdevice"


# Special files: their content type ("inode/<kind value>") and file-type bits.
SPECIAL_KINDS = {
    S_IFIFO: NodeKind.FIFO, S_IFSOCK: NodeKind.SOCKET, S_IFCHR: NodeKind.CHAR,
    S_IFBLK: NodeKind.BLOCK,
}  # fmt: skip
_TYPE_BITS = {kind: bits for bits, kind in SPECIAL_KINDS.items()}
_SPECIAL_BY_TYPE = {"inode/" + kind.value: kind for kind in SPECIAL_KINDS.values()}


def special_content_type(kind: NodeKind) -> str:
    return "inode/" + kind.value


@dataclass(frozen=True, slots=True)  # slotted: the stat cache holds one per cached path
class Node:
    kind: NodeKind
    size: int
    mtime_ns: int
    mode: int  # permission bits only
    ino: int
    info: ObjectInfo | None = None  # the backing object (a marker for dirs); None if implied
    uid: int = -1  # -1: the mount's owner
    gid: int = -1
    ctime_ns: int = 0  # 0: the mtime
    atime_ns: int | None = None  # None: the mtime (0 is a time: utimensat can set it)
    # Whether `mode` was stored (chmod, create) rather than a default: a default is
    # what the safe `allow_other` rule narrows (mount/access_options.py), never a chosen mode.
    mode_stored: bool = False

    @property
    def version(self) -> int:
        return self.info.version if self.info else 0

    @property
    def is_dir(self) -> bool:
        return self.kind is NodeKind.DIR


def format_mtime(mtime_ns: int) -> str:
    if mtime_ns < 0:  # before 1970: "-1.5" is -1.5 s (parse_mtime reads it as a Decimal)
        return "-" + format_mtime(-mtime_ns)
    seconds, frac = divmod(mtime_ns, 10**9)
    return f"{seconds}.{frac:09d}"


def parse_mtime(value: str) -> int | None:
    text = value.strip()
    whole, _, frac = text.partition(".")
    # The form format_mtime writes, parsed without Decimal (listings parse thousands).
    if whole.isascii() and whole.isdigit() and (not frac or (frac.isascii() and frac.isdigit())):
        return int(whole) * 10**9 + (int(frac[:9].ljust(9, "0")) if frac else 0)
    if not text:
        return None
    try:
        return int(Decimal(text) * 10**9)
    except (InvalidOperation, ValueError):
        return None


def parse_mode(value: str) -> int | None:
    try:
        return int(value.strip(), 8) & 0o7777
    except ValueError:
        return None


def parse_id(value: str | None) -> int:
    """A stored uid/gid, or -1 (the mount's owner) if absent or not a number."""
    if value and value.isascii() and value.isdigit():
        return int(value)
    return -1


def parse_rdev(value: str | None) -> int:
    """A stored "major:minor" device number as st_rdev (0 if absent or bad)."""
    major, sep, minor = (value or "").partition(":")
    if sep and major.isdigit() and minor.isdigit():
        return os.makedev(int(major), int(minor))
    return 0


def format_rdev(dev: int) -> str:
    return f"{os.major(dev)}:{os.minor(dev)}"


def inode_of(identity: str) -> int:
    """A stable 63-bit inode number (never 0 or the root's 1)."""
    digest = hashlib.blake2b(identity.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return max(int.from_bytes(digest, "big") >> 1, ROOT_INO + 1)


# Module-level names: in listings these run once per entry, and enum member and
# attribute lookups are a visible share of an `ls -l` of 10,000 files.
_FILE, _DIR, _LINK = NodeKind.FILE, NodeKind.DIR, NodeKind.LINK
_CHAR, _BLOCK = NodeKind.CHAR, NodeKind.BLOCK
_DIRECTORY_TYPES = ("application/directory", "application/folder")
_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes
# A frozen dataclass's __init__ stores each field through object.__setattr__; a
# listing builds one Node per entry, so `_node` calls the slots' setters directly.
_new_instance = object.__new__
_set_kind, _set_size, _set_mtime, _set_mode, _set_ino, _set_info = (
    vars(Node)[name].__set__ for name in ("kind", "size", "mtime_ns", "mode", "ino", "info")
)
_set_uid, _set_gid, _set_ctime, _set_atime, _set_mode_stored = (
    vars(Node)[name].__set__ for name in ("uid", "gid", "ctime_ns", "atime_ns", "mode_stored")
)


def _node(
    kind: NodeKind, size: int, mtime_ns: int, mode: int, ino: int, info: ObjectInfo,
    uid: int = -1, gid: int = -1, ctime_ns: int = 0, atime_ns: int | None = None,
    mode_stored: bool = False,
) -> Node:  # fmt: skip
    """`Node(kind, size, mtime_ns, mode, ino, info, ...)`, without the frozen __init__'s detour."""
    node = _new_instance(Node)
    _set_kind(node, kind)
    _set_size(node, size)
    _set_mtime(node, mtime_ns)
    _set_mode(node, mode)
    _set_ino(node, ino)
    _set_info(node, info)
    _set_uid(node, uid)
    _set_gid(node, gid)
    _set_ctime(node, ctime_ns)
    _set_atime(node, atime_ns)
    _set_mode_stored(node, mode_stored)
    return node


def owner_and_times(meta: Mapping[str, str]) -> tuple[int, int, int, int | None]:
    """(uid, gid, ctime_ns, atime_ns) from stored metadata: -1, -1, 0, None where absent."""
    get = meta.get
    ctime = get(CTIME_KEY)
    atime = get(ATIME_KEY)
    return (
        parse_id(get(UID_KEY)),
        parse_id(get(GID_KEY)),
        (parse_mtime(ctime) or 0) if ctime else 0,
        parse_mtime(atime) if atime else None,
    )


def _inode_of_uuid(uuid: str) -> int:
    """inode_of("uuid:" + uuid), without the call overhead (once per listed object)."""
    digest = _blake2b(("uuid:" + uuid).encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return max(_from_bytes(digest, "big") >> 1, ROOT_INO + 1)


def node_from_object(info: ObjectInfo) -> Node:
    """A file, symlink or marker directory from an object's listing entry or HEAD."""
    content_type = info.content_type
    if ";" in content_type:
        content_type = content_type.split(";")[0]
    base_type = content_type.strip()
    meta = info.meta
    if base_type.lower() in _DIRECTORY_TYPES:  # as ObjectInfo.is_directory
        kind = _DIR
    elif base_type == SYMLINK_CONTENT_TYPE or (meta and meta.get(SYMLINK_KEY) is not None):
        kind = _LINK
    elif base_type.startswith("inode/") and base_type in _SPECIAL_BY_TYPE:
        kind = _SPECIAL_BY_TYPE[base_type]
    else:
        kind = _FILE
    mtime = mode = None
    uid = gid = -1
    ctime, atime = 0, None
    if meta:  # a listing without the extension, or an object without metadata, has none
        stored_mtime = meta.get(MTIME_KEY)
        mtime = parse_mtime(stored_mtime) if stored_mtime else None
        stored_mode = meta.get(MODE_KEY)
        mode = parse_mode(stored_mode) if stored_mode else None
        if len(meta) > 2 or stored_mtime is None or stored_mode is None:
            uid, gid, ctime, atime = owner_and_times(meta)  # else mtime and mode are all
    if mtime is None:
        mtime = int(info.last_modified * 10**9)
    mode_stored = mode is not None
    if mode is None:
        mode = DEFAULT_DIR_MODE if kind is _DIR else DEFAULT_FILE_MODE
    size = 0 if kind is _DIR else info.size
    # The UUID survives overwrites and MOVE, so renamed files keep their inode number.
    ino = _inode_of_uuid(info.uuid) if info.uuid else inode_of("name:" + info.name)
    return _node(kind, size, mtime, mode, ino, info, uid, gid, ctime, atime, mode_stored)


def implied_dir(path: str, mtime_ns: int = 0) -> Node:
    return Node(NodeKind.DIR, 0, mtime_ns, DEFAULT_DIR_MODE, inode_of("dir:" + path))


def container_node(info: ContainerInfo) -> Node:
    return Node(
        NodeKind.DIR,
        0,
        int(info.last_modified * 10**9),
        DEFAULT_DIR_MODE,
        inode_of("container:" + info.name),
    )


def st_mode(node: Node) -> int:
    kind = node.kind
    if kind is _DIR:
        return S_IFDIR | node.mode
    if kind is _LINK:
        return S_IFLNK | 0o777
    if kind is _FILE:
        return S_IFREG | node.mode
    return _TYPE_BITS[kind] | node.mode


def is_special(node: Node) -> bool:
    """A fifo, socket or device node (opened by the kernel, never by us)."""
    return node.kind in _TYPE_BITS


def to_stat(node: Node, uid: int, gid: int, blksize: int, nlink: int = 0) -> dict[str, int]:
    """The attribute dict mfusepy expects (times in ns, as use_ns=True wants).

    `uid`/`gid`: the owner of nodes that store none. `nlink`: a directory's link
    count when the caller knows it (2 + its subdirectories), else 2.
    """
    mtime = node.mtime_ns
    stat = {
        "st_mode": st_mode(node),
        "st_nlink": (nlink or 2) if node.kind is _DIR else 1,
        "st_size": node.size,
        "st_uid": uid if node.uid < 0 else node.uid,
        "st_gid": gid if node.gid < 0 else node.gid,
        "st_ino": node.ino,
        "st_mtime": mtime,
        "st_ctime": node.ctime_ns or mtime,
        "st_atime": mtime if node.atime_ns is None else node.atime_ns,
        "st_blksize": blksize,
        "st_blocks": (node.size + 511) // 512,
    }
    if node.kind is _CHAR or node.kind is _BLOCK:
        stat["st_rdev"] = parse_rdev((node.info.meta or {}).get(RDEV_KEY) if node.info else None)
    return stat
