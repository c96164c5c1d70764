"""Plain records passed between the backend and the controllers (no HTTP, no SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ObjectInfo:
    """One version of an object as the API shows it."""

    account: str
    container: str
    name: str
    serial: int
    hash: str
    size: int
    type: str
    checksum: str
    mtime: float
    muser: str
    uuid: str
    block_size: int
    meta: dict[str, str] = field(default_factory=dict)  # pithos-domain user meta
    current_mtime: float = 0.0  # mtime of the current version (Last-Modified)
    sharing: str | None = None  # own permissions, rendered
    shared_by: str | None = None  # "acc/cont/dir" when inherited
    allowed_to: str | None = None  # "read"/"write" for non-owners
    public_url_token: str | None = None  # owner only

    @property
    def etag(self) -> str:
        """The Merkle hash; or the client's MD5 when a Swift-style PUT sent one (docs/server.md)."""
        return self.checksum or self.hash

    def etag_matches(self, header: str) -> bool:
        """If-Match / If-None-Match list membership, accepting either identity of the content."""
        values = {v.strip().strip('"') for v in header.split(",")}
        return self.hash in values or (bool(self.checksum) and self.checksum in values)

    @property
    def path(self) -> str:
        return f"{self.account}/{self.container}/{self.name}"


@dataclass
class ContainerInfo:
    account: str
    name: str
    count: int
    bytes: int
    mtime: float
    meta: dict[str, str]
    policy: dict[str, str]
    object_meta_keys: list[str]
    owner_view: bool
    until: int | None = None


@dataclass
class AccountInfo:
    account: str
    count: int
    bytes: int
    mtime: float
    meta: dict[str, str]
    groups: dict[str, list[str]]
    quota: int
    owner_view: bool
    until: int | None = None
    disk_available: int | None = None  # bytes free for new blocks on the data disk


@dataclass
class ListingParams:
    prefix: str = ""
    delimiter: str | None = None
    virtual: bool = True  # False for `path=` listings (no subdir entries)
    marker: str | None = None
    limit: int = 10000
    meta_filters: list[str] = field(default_factory=list)
    shared: bool = False
    public: bool = False
    until: int | None = None
    include_meta: bool = False


def merged_meta(base: dict[str, str], updates: dict[str, str]) -> dict[str, str]:
    """`base` with `updates` applied as Pithos+ applies request metadata: a key with an
    empty value is removed, any other is set (object POST with ?update, COPY, MOVE)."""
    merged = dict(base)
    for key, value in updates.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
