"""Mount paths -> what they name on the store. Pure: no I/O, tested without a kernel.

`/` is the account, `/c` a container, `/c/a/b` the object (or directory
prefix) `a/b` in container `c`. Whether `/c/a/b` is a file or a directory is
the core's business (it needs a listing); this module only splits names,
checks the store's length limits and NAME_MAX (limits.py) before anything is
sent, and recognises the reserved names that later layers own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pithosfs import protocol
from pithosfs.fs.errors import InvalidArgument, NameTooLong, NoEntry, ReadOnly
from pithosfs.fs.limits import NAME_MAX

# Hidden names owned by virtual layers (SEMANTICS.md). They never
# appear in readdir; until their layers exist, lookups fail and writes are refused.
RESERVED_NAMES = frozenset({".versions", ".register", ".images", ".shared", ".snapshots"})


class Kind(Enum):
    ROOT = "root"
    CONTAINER = "container"
    ENTRY = "entry"  # an object or a directory inside a container


@dataclass(frozen=True)
class Location:
    kind: Kind
    container: str = ""
    key: str = ""  # object name inside the container ("" for root and containers)

    @property
    def path(self) -> str:
        if self.kind is Kind.ROOT:
            return "/"
        if self.kind is Kind.CONTAINER:
            return "/" + self.container
        return f"/{self.container}/{self.key}"

    @property
    def name(self) -> str:
        """The last path component ("" for the root)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> Location:
        if self.kind is Kind.ROOT:
            return self
        if self.kind is Kind.CONTAINER:
            return ROOT
        if "/" not in self.key:
            return Location(Kind.CONTAINER, self.container)
        return Location(Kind.ENTRY, self.container, self.key.rsplit("/", 1)[0])

    @property
    def prefix(self) -> str:
        """The listing prefix of this location as a directory ("" for a container)."""
        return self.key + "/" if self.key else ""

    def child(self, name: str) -> Location:
        if self.kind is Kind.ROOT:
            return Location(Kind.CONTAINER, name)
        return Location(Kind.ENTRY, self.container, self.prefix + name)

    def is_within(self, other: Location) -> bool:
        """Whether self is `other` or lies below it."""
        return self.path == other.path or self.path.startswith(other.path.rstrip("/") + "/")


ROOT = Location(Kind.ROOT)


def parse(path: str) -> Location:
    """Split a mount path. NoEntry for reserved names, NameTooLong over the limits,
    InvalidArgument for names that are not UTF-8."""
    parts = [p for p in path.split("/") if p]
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates
        raise InvalidArgument(
            "Pithos+ names are Unicode: this name is not valid UTF-8", path
        ) from None
    if any(p in RESERVED_NAMES for p in parts):
        raise NoEntry("reserved name (not available yet)", path)
    if not parts:
        return ROOT
    if any(len(p) > NAME_MAX // 4 and len(p.encode("utf-8")) > NAME_MAX for p in parts):
        raise NameTooLong(f"a name over {NAME_MAX} bytes", path)
    container = parts[0]
    if len(container) > protocol.MAX_CONTAINER_NAME:
        raise NameTooLong(f"container name over {protocol.MAX_CONTAINER_NAME}", path)
    if len(parts) == 1:
        return Location(Kind.CONTAINER, container)
    key = "/".join(parts[1:])
    if len(key) > protocol.MAX_OBJECT_NAME:
        raise NameTooLong(f"object name over {protocol.MAX_OBJECT_NAME}", path)
    return Location(Kind.ENTRY, container, key)


def parse_for_write(path: str) -> Location:
    """Like `parse`, but a reserved name is a read-only refusal rather than a missing entry."""
    if any(p in RESERVED_NAMES for p in path.split("/")):
        raise ReadOnly("reserved name", path)
    return parse(path)


def is_listable_name(name: str) -> bool:
    """Whether a child name from a listing can be shown (not empty, `.`, `..`, reserved
    or over NAME_MAX bytes: a lookup of it would fail)."""
    return (
        bool(name)
        and name not in (".", "..")
        and name not in RESERVED_NAMES
        and (len(name) <= NAME_MAX // 4 or len(name.encode("utf-8", "surrogateescape")) <= NAME_MAX)
    )
