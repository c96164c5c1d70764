"""What the in-memory store answers to the contract's capability members.

FakeStore (fake.py) models a Pithos+ server reached without HTTP: every
container speaks Pithos+, there are no tokens, no other accounts, no streamed
bodies and no Swift cluster. Each member says so (a flag, None, []) or raises
`Unsupported`, as the contract (types.ObjectStore) allows, so the filesystem
asks the same questions of both stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from pithosfs import protocol
from pithosfs.client.errors import Unsupported

if TYPE_CHECKING:
    from pithosfs.client.images import ImageClient
    from pithosfs.client.types import ObjectStore

# Where the in-memory store says its services are (like its public links): a
# name that never resolves, so nothing is ever sent there.
FAKE_SERVICE_BASE = "http://fake.invalid"
_SERVICE_PATHS = {"image": "/image/v1.0", "account": "/account/v1.0"}


def _no_swift(what: str) -> NoReturn:
    raise Unsupported(f"{what}: the in-memory store is not a Swift cluster")


class FakeCapabilities:
    """Capability members of FakeStore; mixed into it."""

    listing_meta: bool
    streams_uploads = False  # blocks go through upload_blocks

    @property
    def storage_url(self) -> str:
        return ""  # not reached over HTTP

    def supports_pithos(self, container: str) -> bool:
        return True

    def has_extension(self, name: str) -> bool:
        return name == protocol.EXT_LISTING_META and self.listing_meta

    def object_meta_keys(self, container: str) -> frozenset[str] | None:
        return None  # no reply says which keys a container's objects carry

    def can_reauthenticate(self) -> bool:
        return True  # no token to lose: a refusal is never for want of one

    def renew_token(self, token: str) -> None:
        raise Unsupported("the in-memory store takes no token")

    def auth_token(self) -> str:
        return ""

    def service_url(self, service: str) -> str:
        if service not in _SERVICE_PATHS:
            raise Unsupported(f"no {service!r} service")
        return FAKE_SERVICE_BASE + _SERVICE_PATHS[service]

    def image_client(self) -> ImageClient:
        raise Unsupported("the in-memory store has no image service to talk to")

    def list_sharing_accounts(self) -> list[str]:
        return []  # one account only

    def for_account(self, account: str) -> ObjectStore:
        raise Unsupported("the in-memory store holds one account")

    def upload_stream(self, container: str, body: Any) -> list[str]:
        raise Unsupported("the in-memory store takes blocks through upload_blocks")

    # -- plain Swift only ------------------------------------------------------------
    def cluster_info(self) -> Any:
        _no_swift("/info")

    def container_headers(self, container: str) -> Mapping[str, str]:
        _no_swift("raw container headers")

    def object_headers(
        self, container: str, name: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, str]:
        _no_swift("raw object headers")

    def list_object_versions(self, container: str, prefix: str, limit: int) -> list[Any]:
        _no_swift("?versions listings")

    def read_range_query(
        self,
        container: str,
        name: str,
        offset: int,
        length: int,
        params: dict[str, str] | None,
        size: int | None = None,
    ) -> bytes:
        _no_swift("reads with query parameters")

    def read_range_query_into(
        self,
        container: str,
        name: str,
        offset: int,
        buf: memoryview | bytearray,
        params: dict[str, str] | None,
        size: int | None = None,
    ) -> int:
        _no_swift("reads with query parameters")

    def create_segments_container(self, container: str) -> None:
        _no_swift("large-object segments")

    def put_segment(self, container: str, name: str, body: Any) -> str | None:
        _no_swift("large-object segments")

    def put_manifest(
        self,
        container: str,
        name: str,
        segments: list[dict[str, Any]],
        content_type: str,
        meta: Mapping[str, str] | None,
        create_only: bool,
    ) -> None:
        _no_swift("large-object manifests")

    def manifest_segments(self, container: str, name: str) -> list[str]:
        _no_swift("large-object manifests")

    def delete_segment(self, container: str, name: str) -> None:
        _no_swift("large-object segments")
