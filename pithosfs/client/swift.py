"""Plain OpenStack Swift requests the filesystem needs beyond the Pithos+ protocol.

Static Large Objects (segments and their manifest), the cluster's `/info`, raw
HEAD headers (archive locations, `X-Timestamp`, `X-Static-Large-Object`) and
`?versions` listings. Mixed into PithosClient; what to do with the answers
(segment sizes, version ids) is decided in pithosfs/fs/writeback/swift_segments.py
and pithosfs/fs/virtual/swift_history.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pithosfs.client.parsing import meta_headers, quote_name


def cluster_root(storage_url: str) -> str:
    """`http://host:8080/v1/AUTH_x` -> `http://host:8080` (where `/info` lives)."""
    head, sep, _ = storage_url.rpartition("/v1/")
    return head if sep else storage_url.rsplit("/", 2)[0]


def _raw_path(container: str, name: str | None = None) -> str:
    """`/container[/name]` quoted, without the name checks of Pithos+ paths."""
    path = "/" + quote_name(container)
    return path if name is None else path + "/" + quote_name(name)


class SwiftRequests:
    """Swift-only requests over HTTP; mixed into PithosClient."""

    if TYPE_CHECKING:

        def _req(self, method: str, path: str = "", **kw: Any) -> Any: ...
        @property
        def storage_url(self) -> str: ...

    def cluster_info(self) -> Any:
        """The cluster's `GET /info` JSON (limits such as `swift.max_file_size`)."""
        root = cluster_root(self.storage_url)
        return self._req("GET", absolute_url=root + "/info").json()

    def account_headers(self) -> Mapping[str, str]:
        """The reply headers of a HEAD on the account."""
        return self._req("HEAD").headers

    def container_headers(self, container: str) -> Mapping[str, str]:
        """The reply headers of a HEAD on `container` (archive locations, versioning)."""
        return self._req("HEAD", _raw_path(container)).headers

    def object_headers(
        self, container: str, name: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, str]:
        """The reply headers of a HEAD on an object, with query `params` (`version-id`)."""
        kw = {"params": dict(params)} if params else {}
        return self._req("HEAD", _raw_path(container, name), **kw).headers

    def list_object_versions(self, container: str, prefix: str, limit: int) -> list[Any]:
        """`GET <container>?versions&prefix=`: one page of Swift's object versions (JSON)."""
        resp = self._req(
            "GET",
            _raw_path(container),
            params={"versions": "", "prefix": prefix, "format": "json", "limit": str(limit)},
        )
        return list(resp.json()) if resp.content else []

    def create_segments_container(self, container: str) -> None:
        """PUT the container that holds a large object's segments (201, or 202 if it exists)."""
        self._req("PUT", _raw_path(container))

    def put_segment(self, container: str, name: str, body: Any) -> str | None:
        """PUT one segment; returns its ETag (None when the reply has none)."""
        resp = self._req("PUT", _raw_path(container, name), data=body, idempotent=True)
        return str(resp.headers.get("ETag", "")).strip('"') or None

    def put_manifest(
        self,
        container: str,
        name: str,
        segments: list[dict[str, Any]],
        content_type: str,
        meta: Mapping[str, str] | None,
        create_only: bool,
    ) -> None:
        """PUT `?multipart-manifest=put`: the segments (path, etag, size_bytes) become one object."""
        headers = {"Content-Type": content_type, **meta_headers("X-Object-Meta-", meta)}
        if create_only:
            headers["If-None-Match"] = "*"
        self._req(
            "PUT",
            _raw_path(container, name),
            params={"multipart-manifest": "put"},
            headers=headers,
            data=json.dumps(segments).encode(),
            idempotent=True,  # the same manifest again is the same object
        )

    def manifest_segments(self, container: str, name: str) -> list[str]:
        """Segment paths (`/container/object`) of `name` if it is a manifest, else [].

        NotFound when there is no such object."""
        path = _raw_path(container, name)
        head = self._req("HEAD", path)
        if head.headers.get("X-Static-Large-Object", "").lower() != "true":
            return []
        resp = self._req("GET", path, params={"multipart-manifest": "get"})
        return [str(item["name"]) for item in resp.json()]

    def delete_segment(self, container: str, name: str) -> None:
        """DELETE one segment (one already gone is fine)."""
        self._req("DELETE", _raw_path(container, name), ok=(404,))
