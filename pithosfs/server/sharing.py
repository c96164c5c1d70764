"""Pure parsing and rendering of X-Object-Sharing values and group lists (protocol.md 9.3, 9.4)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pithosfs.server.errors import BadRequest

MAX_GROUPS = 32
MAX_GROUP_MEMBERS = 32
MAX_NAME = 256


@dataclass
class Sharing:
    """Read and write subject lists: user uuids, "owner:group" or "*"."""

    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.read and not self.write

    def render(self) -> str:
        parts = []
        if self.read:
            parts.append("read=" + ",".join(self.read))
        if self.write:
            parts.append("write=" + ",".join(self.write))
        return "; ".join(parts)


def parse_sharing(value: str) -> Sharing:
    """Parse a request X-Object-Sharing header; an empty value means "no permissions"."""
    value = value.replace(" ", "").replace("~", "").lower()
    sharing = Sharing()
    if not value:
        return sharing
    for part in value.split(";"):
        if not part:
            continue
        kind, sep, members = part.partition("=")
        if not sep or kind not in ("read", "write"):
            raise BadRequest("Bad X-Object-Sharing header value")
        names = [m for m in members.split(",") if m]
        if not names or any(len(m) > MAX_NAME for m in names):
            raise BadRequest("Bad X-Object-Sharing header value")
        target = sharing.read if kind == "read" else sharing.write
        for name in names:
            if name not in target:
                target.append(name)
    # A user on both lists keeps only write (reference behaviour).
    sharing.read = [m for m in sharing.read if m not in sharing.write]
    if sharing.empty():
        raise BadRequest("Bad X-Object-Sharing header value")
    return sharing


def parse_group_members(name: str, value: str) -> tuple[str, list[str]]:
    """Validate one X-Account-Group-<name> header; returns (lower name, members)."""
    name = name.lower()
    if not name or "-" in name or "_" in name or len(name) > MAX_NAME:
        raise BadRequest("Bad group name")
    members = [m.strip() for m in value.replace("~", "").split(",") if m.strip()]
    if len(members) > MAX_GROUP_MEMBERS or any(len(m) > MAX_NAME for m in members):
        raise BadRequest("Too many or too long group members")
    return name, members
