"""The state behind FakeStore: versions, paths and containers, and pure helpers over them.

Plain data; FakeStore holds its lock around every use.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class VersionRecord:
    serial: int
    uuid: str
    size: int
    hashes: list[str]
    content_type: str
    meta: dict[str, str]
    mtime: float
    deleted: bool = False  # a "deleted" marker written by DELETE


@dataclass
class PathRecord:
    """Every version ever written at one path; the last one is current unless deleted."""

    versions: list[VersionRecord] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    public_token: str = ""

    @property
    def current(self) -> VersionRecord | None:
        if self.versions and not self.versions[-1].deleted:
            return self.versions[-1]
        return None


@dataclass
class ContainerRecord:
    versioning: str
    quota: int
    mtime: float
    meta: dict[str, str] = field(default_factory=dict)
    paths: dict[str, PathRecord] = field(default_factory=dict)


def as_of(path: PathRecord, until: int | None) -> VersionRecord | None:
    """The version current at time `until` (None: now), or None if absent or deleted then."""
    if until is None:
        return path.current
    older = [x for x in path.versions if x.mtime <= until]
    if not older or older[-1].deleted:
        return None
    return older[-1]


def read_blocks(
    blocks: dict[str, bytes], block_size: int, ver: VersionRecord, offset: int, length: int
) -> bytes:
    """Bytes [offset, offset+length) of a version, clamped to its size; blocks padded with zeros."""
    end = min(ver.size, offset + length)
    if offset >= end:
        return b""
    out = bytearray()
    for index in range(offset // block_size, (end - 1) // block_size + 1):
        block = blocks[ver.hashes[index]].ljust(block_size, b"\0")
        lo = max(offset, index * block_size) - index * block_size
        hi = min(end, (index + 1) * block_size) - index * block_size
        out += block[lo:hi]
    return bytes(out)
