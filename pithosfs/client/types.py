"""The contract between the filesystem and any object store behind it.

`ObjectStore` is what `pithosfs.fs` programs against. Three things implement it:
the HTTP `PithosClient` (real deployments, the embedded server, plain Swift),
the in-memory `FakeStore` (unit tests, no sockets), and caching decorators.
Errors are the typed exceptions of `pithosfs.client.errors`; nothing here
knows about FUSE or errno.

Every feature the filesystem may use is a member here, implemented by both
stores: where a store lacks a feature it says so through the member
(`supports_pithos` False, `streams_uploads` False, `object_meta_keys` None) or
raises `Unsupported`; callers never probe a store for attributes
(tests/unit/test_store_contract.py checks both).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pithosfs import protocol

if TYPE_CHECKING:
    from pithosfs.client.images import ImageClient
    from pithosfs.client.stats import TransferStats

# The listing extension's query parameter (protocol.EXT_LISTING_META): asked for
# only from a server that advertises the extension.
LISTING_META_PARAM = protocol.LISTING_META_PARAM


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object version as HEAD or a JSON listing describes it.

    Slotted: the stat cache keeps up to hundreds of thousands of these, and an
    instance dict would triple their size.
    """

    name: str
    size: int
    content_type: str
    hash: str  # Merkle root (X-Object-Hash), hex
    uuid: str
    version: int  # global serial (X-Object-Version)
    version_timestamp: float  # epoch seconds of this version
    last_modified: float  # epoch seconds of the current version
    modified_by: str = ""
    # User metadata (X-Object-Meta-<Key> -> value, keys normalised). None means
    # "not known" (a listing without the extension), {} means "known empty".
    meta: Mapping[str, str] | None = None
    sharing: str = ""  # "read=a,b; write=c" or ""
    public_url: str = ""
    allowed_to: str = ""  # "read"/"write" for objects shared with us, "" for own
    # "account/container/folder" whose permissions `sharing` is (inherited), "" if its own
    shared_by: str = ""

    @property
    def is_directory(self) -> bool:
        return self.content_type.split(";")[0].strip().lower() in (
            "application/directory",
            "application/folder",
        )


# A frozen dataclass's __init__ sets each field through object.__setattr__: 13 calls,
# over a microsecond per ObjectInfo, and a listing of 10,000 objects builds 10,000.
# The slots' own setters are called directly instead (what object.__setattr__ ends in).
_new_instance = object.__new__
(_set_name, _set_size, _set_content_type, _set_hash, _set_uuid, _set_version,
 _set_version_timestamp, _set_last_modified, _set_modified_by, _set_meta, _set_sharing,
 _set_public_url, _set_allowed_to, _set_shared_by) = (
    vars(ObjectInfo)[name].__set__ for name in (
        "name", "size", "content_type", "hash", "uuid", "version", "version_timestamp",
        "last_modified", "modified_by", "meta", "sharing", "public_url", "allowed_to",
        "shared_by",
    )
)  # fmt: skip


def listed_object(
    name: str,
    size: int,
    content_type: str,
    hash: str,
    uuid: str,
    version: int,
    version_timestamp: float,
    last_modified: float,
    modified_by: str,
    meta: Mapping[str, str] | None,
    sharing: str,
    public_url: str,
    allowed_to: str,
    shared_by: str = "",
) -> ObjectInfo:
    """`ObjectInfo(...)` with every field given, without the frozen __init__'s detour.

    The result is an ordinary ObjectInfo (equality, hashing, `replace` and
    immutability as usual); tests check that every field is set here.
    """
    info = _new_instance(ObjectInfo)
    _set_name(info, name)
    _set_size(info, size)
    _set_content_type(info, content_type)
    _set_hash(info, hash)
    _set_uuid(info, uuid)
    _set_version(info, version)
    _set_version_timestamp(info, version_timestamp)
    _set_last_modified(info, last_modified)
    _set_modified_by(info, modified_by)
    _set_meta(info, meta)
    _set_sharing(info, sharing)
    _set_public_url(info, public_url)
    _set_allowed_to(info, allowed_to)
    _set_shared_by(info, shared_by)
    return info


@dataclass(frozen=True)
class Subdir:
    """A virtual directory in a delimiter listing (`{"subdir": "a/b/"}`), name without the slash."""

    name: str


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    count: int
    bytes: int
    last_modified: float
    versioning: str = "auto"
    quota: int = 0
    block_size: int = 4 * 1024 * 1024
    block_hash: str = "sha256"
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountInfo:
    name: str  # the account (user UUID)
    container_count: int
    bytes_used: int
    quota: int  # 0 = unlimited
    last_modified: float
    meta: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, list[str]] = field(default_factory=dict)
    # Bytes free on the server's disk, if it says so (the embedded server's
    # protocol.EXT_DISK_AVAILABLE; None from Pithos+, Swift and strict servers).
    disk_available: int | None = None


@dataclass(frozen=True)
class Hashmap:
    block_size: int
    block_hash: str
    size: int
    hashes: list[str]


@dataclass(frozen=True)
class VersionEntry:
    version: int
    timestamp: float


@runtime_checkable
class ObjectStore(Protocol):
    """Operations on one account. `account` is the user UUID unless stated.

    All methods may raise `pithosfs.client.errors.PithosError` subclasses.
    Methods must be safe to call from many threads at once.
    """

    @property
    def account(self) -> str: ...

    @property
    def storage_url(self) -> str:
        """`{endpoint}/v1/{account}`; "" for a store that is not reached over HTTP."""
        ...

    # Requests (and bytes) per HTTP method, as sent or as the real client would send them.
    stats: TransferStats
    # Whether `upload_stream` takes a streamed body (else blocks go through upload_blocks).
    streams_uploads: bool

    # -- capabilities ------------------------------------------------------
    def supports_pithos(self, container: str) -> bool:
        """Whether `container` speaks the Pithos+ extensions (hashmaps, partial
        updates); False on plain Swift."""
        ...

    def has_extension(self, name: str) -> bool:
        """Whether the server advertises `name` (protocol.EXTENSIONS_HEADER)."""
        ...

    def object_meta_keys(self, container: str) -> frozenset[str] | None:
        """User-metadata keys the container's objects carry, as a reply said; None: unknown."""
        ...

    # -- credentials and the services next to the store --------------------
    def can_reauthenticate(self) -> bool:
        """Whether a refused token (401) can be replaced without the user."""
        ...

    def renew_token(self, token: str) -> None:
        """Use `token` from now on (Unsupported where there are no tokens)."""
        ...

    def auth_token(self) -> str:
        """The token requests carry now (renewed or re-authenticated); "" if none."""
        ...

    def service_url(self, service: str) -> str:
        """The URL of a service next to the store: "image" (Plankton) or "account"
        (Astakos). Unsupported when it cannot be told (plain Swift)."""
        ...

    def image_client(self) -> ImageClient:
        """A Plankton client with this store's token and request counters."""
        ...

    # -- account -----------------------------------------------------------
    def list_sharing_accounts(self) -> list[str]:
        """Accounts that share something with this one."""
        ...

    def for_account(self, account: str) -> ObjectStore:
        """A store for another account with the same credentials (what it shares with us)."""
        ...

    def account_info(self) -> AccountInfo: ...
    def list_containers(self) -> list[ContainerInfo]: ...
    def set_account_groups(self, groups: Mapping[str, list[str]]) -> None: ...

    # -- containers --------------------------------------------------------
    def container_info(self, container: str) -> ContainerInfo: ...
    def create_container(self, container: str, versioning: str | None = None) -> None: ...
    def delete_container(self, container: str) -> None: ...
    def set_container_versioning(self, container: str, versioning: str) -> None: ...

    # -- listing -----------------------------------------------------------
    def list_objects(
        self,
        container: str,
        prefix: str = "",
        delimiter: str | None = "/",
        with_meta: bool = True,
        until: int | None = None,
        limit: int | None = None,
    ) -> Iterator[ObjectInfo | Subdir]:
        """Every entry under `prefix` (pages past 10,000 followed, subdirs de-duplicated).

        `prefix` is sent as given (pass "dir/" to list a directory). With
        `with_meta`, the listing extension is requested; items' `meta` stays
        None where the server does not support it. `limit`: at most that many
        entries (and no more asked of the server).
        """
        ...

    # -- reading -----------------------------------------------------------
    def head_object(self, container: str, name: str, version: int | None = None) -> ObjectInfo: ...
    def read_range(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        version: int | None = None,
        size: int | None = None,
    ) -> bytes:
        """Bytes [offset, offset+length) clamped to the object's size; b"" past EOF.

        `size` (optional) is the size the caller already knows (from a stat):
        the HTTP client then clamps the Range itself and never sends one for
        an empty object, saving the 416 + HEAD round trip.
        """
        ...

    def read_range_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        version: int | None = None,
        size: int | None = None,
    ) -> int:
        """`read_range` of len(buf) bytes, stored into `buf`; returns how many there were."""
        ...

    def get_hashmap(self, container: str, name: str, version: int | None = None) -> Hashmap: ...
    def list_versions(self, container: str, name: str) -> list[VersionEntry]: ...

    # -- writing -----------------------------------------------------------
    def put_object(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
        sharing: str | None = None,
    ) -> ObjectInfo:
        """Create or replace with a plain PUT (small objects, directory markers).

        Replaces all user metadata with `meta`. `sharing` ("read=a,b; write=c"), when
        given, replaces the object's sharing in the same request. `if_match` is an ETag
        (Merkle hash) the current object must have: PreconditionFailed otherwise.
        Returns the new version's info (a HEAD after the write is acceptable).
        """
        ...

    def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
        """Store blocks on the server (container POST ?update); returns their hex hashes.

        An element may hold several consecutive blocks (all full but the
        last); the store cuts at block size. The HTTP client packs consecutive
        elements into as few requests as it can (a short element ends a request).
        """
        ...

    def put_hashmap(
        self,
        container: str,
        name: str,
        size: int,
        hashes: list[str],
        content_type: str = "application/octet-stream",
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> ObjectInfo:
        """Commit an object from block hashes. Raises MissingBlocks(hashes) on 409."""
        ...

    def upload_stream(self, container: str, body: Any) -> list[str]:
        """`upload_blocks` of one streamed body; only where `streams_uploads` (else
        Unsupported)."""
        ...

    def missing_blocks(
        self,
        container: str,
        name: str,
        hashes: list[str],
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> list[str] | None:
        """Which of `hashes` the server lacks, writing nothing; None if it cannot tell."""
        ...

    def update_range(self, container: str, name: str, offset: int, data: bytes) -> ObjectInfo:
        """Overwrite/append in place (object POST ?update with Content-Range); offset <= size."""
        ...

    def truncate(self, container: str, name: str, size: int) -> ObjectInfo:
        """Shrink to `size` (X-Object-Bytes) or extend with zeros, keeping metadata."""
        ...

    def copy_object(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        src_version: int | None = None,
        content_type: str | None = None,
        meta: Mapping[str, str] | None = None,
        recursive: bool = False,
    ) -> None: ...

    def move_object(
        self,
        src_container: str,
        src_name: str,
        dst_container: str,
        dst_name: str,
        content_type: str | None = None,
        recursive: bool = False,
        meta: Mapping[str, str] | None = None,
    ) -> int | None:
        """Server-side MOVE: keeps the object's UUID (and so its image id).

        `content_type` replaces the type; `meta` is merged into the user metadata (an
        empty value removes a key). Returns the destination's new version when the
        reply names it (None: the reference's reply garbles it, protocol.md 4.4, and plain
        Swift has none)."""
        ...

    def delete_object(self, container: str, name: str, recursive: bool = False) -> None: ...

    def update_meta(self, container: str, name: str, meta: Mapping[str, str]) -> int | None:
        """Merge user metadata (POST ?update); an empty value deletes that key.

        Returns the version the change made, or None when the reply does not say.
        """
        ...

    def set_sharing(self, container: str, name: str, sharing: str) -> None:
        """`read=a,b;write=c`; "" removes all permissions."""
        ...

    def set_public(self, container: str, name: str, public: bool) -> str:
        """Publish/unpublish; returns the public URL ("" when unpublished)."""
        ...

    def purge_history(self, container: str, name: str | None, until: int) -> None:
        """Drop for good the versions up to `until` (epoch seconds): of the object
        `name` (all of them, current included, if it is that old: DELETE ?until), or
        with `name` None the history and deleted objects of the container (never
        current versions). Pithos+ only (Unsupported on plain Swift)."""
        ...

    # -- plain Swift only (Unsupported where there is no Swift cluster) ------
    def cluster_info(self) -> Any:
        """The cluster's `/info` (its limits)."""
        ...

    def container_headers(self, container: str) -> Mapping[str, str]:
        """A container HEAD's reply headers (archive locations, versioning)."""
        ...

    def object_headers(
        self, container: str, name: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, str]:
        """An object HEAD's reply headers, with query `params` (`version-id`)."""
        ...

    def list_object_versions(self, container: str, prefix: str, limit: int) -> list[Any]:
        """One page of `GET <container>?versions&prefix=` (Swift's object versioning)."""
        ...

    def read_range_query(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        params: dict[str, str] | None,
        size: int | None = None,
    ) -> bytes:
        """`read_range` of an object named with query `params` (Swift's `version-id`)."""
        ...

    def read_range_query_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        params: dict[str, str] | None,
        size: int | None = None,
    ) -> int:
        """`read_range_into` with query `params`."""
        ...

    def create_segments_container(self, container: str) -> None: ...
    def put_segment(self, container: str, name: str, body: Any) -> str | None:
        """PUT one large-object segment; its ETag."""
        ...

    def put_manifest(
        self,
        container: str,
        name: str,
        segments: list[dict[str, Any]],
        content_type: str,
        meta: Mapping[str, str] | None,
        create_only: bool,
    ) -> None:
        """PUT a Static Large Object manifest over `segments`."""
        ...

    def manifest_segments(self, container: str, name: str) -> list[str]:
        """The segments of `name` if it is a manifest, else []."""
        ...

    def delete_segment(self, container: str, name: str) -> None: ...
