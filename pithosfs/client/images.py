"""`ImageClient`: the Plankton (Cyclades image service) API, protocol.md 10-11.

An image is a Pithos object with metadata in the `plankton` domain; its id is
the object's UUID. The service URL from the catalog has no version; requests go
to `{image}/v1.0/...` (the identity module appends it). Register/update replies
and HEAD carry the image as `X-Image-Meta-*` headers; lists are JSON.
"""

from __future__ import annotations

import builtins
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote

from pithosfs.client.identity import authenticate
from pithosfs.client.stats import TransferStats
from pithosfs.client.transport import RetryPolicy, Transport

log = logging.getLogger(__name__)

META = "x-image-meta-"
PROPERTY = META + "property-"
SORT_KEYS = (
    "id",
    "name",
    "status",
    "size",
    "disk_format",
    "container_format",
    "created_at",
    "updated_at",
)
_PUNCT = re.compile(r"[^\w]")


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    status: str = ""
    disk_format: str = ""
    container_format: str = ""
    size: int = 0
    checksum: str = ""
    location: str = ""
    owner: str = ""
    is_public: bool = False
    created_at: str = ""
    updated_at: str = ""
    description: str = ""
    is_snapshot: bool = False
    properties: Mapping[str, str] = field(default_factory=dict)
    # The reply's `X-Image-Meta-*` headers as sent (lower-case names), when the image came
    # from headers: the metafile is written from them, in kamaki's form.
    headers: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def pithos_location(account: str, container: str, name: str) -> str:
    """`pithos://<account>/<container>/<path>`, each part URL-quoted with '/' kept."""
    return "pithos://" + "/".join(quote(part, safe="/") for part in (account, container, name))


def property_key(key: str) -> str:
    """The server's form of a property key: lower-case, punctuation -> '_' (protocol.md 10.5)."""
    return _PUNCT.sub("_", key.lower())


def _bool(value: Any) -> bool:
    return str(value).strip().lower() == "true" if not isinstance(value, bool) else value


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def image_from_headers(headers: Mapping[str, str]) -> Image:
    fields: dict[str, str] = {}
    props: dict[str, str] = {}
    raw: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low.startswith(META):
            raw[low] = value
        if low.startswith(PROPERTY):
            props[property_key(unquote(low[len(PROPERTY) :]))] = unquote(value)
        elif low.startswith(META):
            fields[low[len(META) :].replace("-", "_")] = unquote(value)
    return replace(_image(fields, props), headers=raw)


def image_from_json(item: Mapping[str, Any]) -> Image:
    props = {str(k): str(v) for k, v in (item.get("properties") or {}).items()}
    return _image({k: v for k, v in item.items() if k != "properties"}, props)


def _image(f: Mapping[str, Any], props: dict[str, str]) -> Image:
    return Image(
        id=str(f.get("id", "")),
        name=str(f.get("name", "")),
        status=str(f.get("status", "")),
        disk_format=str(f.get("disk_format", "")),
        container_format=str(f.get("container_format", "")),
        size=_int(f.get("size")),
        checksum=str(f.get("checksum", "")),
        location=str(f.get("location", "")),
        owner=str(f.get("owner", "")),
        is_public=_bool(f.get("is_public", False)),
        created_at=str(f.get("created_at", "")),
        updated_at=str(f.get("updated_at", "")),
        description=str(f.get("description", "") or ""),
        is_snapshot=_bool(f.get("is_snapshot", False)),
        properties=props,
    )


def _meta_headers(
    values: Mapping[str, Any], properties: Mapping[str, str] | None
) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "True" if value else "False"
        # The location is already a URL (pithos_location quoted each segment once); quoting it
        # again would turn "%20" into "%2520" and name another object. Keep existing escapes.
        safe = "/:@=,;%" if key == "location" else "/:@=,;"
        headers["X-Image-Meta-" + key.replace("_", "-").title()] = quote(str(value), safe=safe)
    for key, value in (properties or {}).items():
        headers["X-Image-Meta-Property-" + quote(key, safe="-_")] = quote(str(value), safe="/:@=,;")
    return headers


class ImageClient:
    """Plankton client for one token. Thread-safe like PithosClient."""

    def __init__(
        self,
        image_url: str,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        stats: TransferStats | None = None,
    ) -> None:
        self.transport = Transport(image_url, token, retry=retry, stats=stats)

    @classmethod
    def from_identity(cls, identity_url: str, token: str, **kw: Any) -> ImageClient:
        eps = authenticate(identity_url, token)
        if not eps.image_url:
            raise ValueError("the identity catalog has no image service")
        return cls(eps.image_url, token, **kw)

    def close(self) -> None:
        self.transport.close()

    def register(
        self,
        name: str,
        location: str,
        *,
        disk_format: str | None = None,
        container_format: str | None = None,
        checksum: str | None = None,
        is_public: bool | None = None,
        owner: str | None = None,
        properties: Mapping[str, str] | None = None,
        size: str | None = None,
        store: str | None = None,
    ) -> Image:
        """POST /images/ (200, image as headers). Only the object's owner may register.

        A None field is not sent (the server's default applies), as kamaki sends only
        the fields that have a value."""
        values = {
            "name": name,
            "location": location,
            "disk_format": disk_format,
            "container_format": container_format,
            "checksum": checksum,
            "is_public": is_public,
            "owner": owner,
            "size": size,
            "store": store,
        }
        resp = self.transport.request(
            "POST", "/images/", headers=_meta_headers(values, properties), idempotent=True
        )
        return image_from_headers(resp.headers)

    def list(
        self,
        detail: bool = False,
        filters: Mapping[str, str] | None = None,
        sort_key: str | None = None,
        sort_dir: str | None = None,
    ) -> list[Image]:
        """GET /images/ or /images/detail. The server ignores filters (protocol.md 10.3): they are applied here."""
        if sort_key is not None and sort_key not in SORT_KEYS:
            raise ValueError(f"sort_key must be one of {SORT_KEYS}")
        if sort_dir is not None and sort_dir not in ("asc", "desc"):
            raise ValueError("sort_dir must be 'asc' or 'desc'")
        params = dict(filters or {})
        if sort_key:
            params["sort_key"] = sort_key
        if sort_dir:
            params["sort_dir"] = sort_dir
        path = "/images/detail" if detail else "/images/"
        body = json.loads(self.transport.request("GET", path, params=params).content or b"[]")
        items = body.get("images", []) if isinstance(body, dict) else body
        images = [image_from_json(i) for i in items]
        return [img for img in images if _matches(img, filters or {})]

    def get(self, image_id: str) -> Image:
        """HEAD /images/<id>: the image as headers."""
        resp = self.transport.request("HEAD", "/images/" + quote(image_id, safe=""))
        return image_from_headers(resp.headers)

    def update(
        self,
        image_id: str,
        *,
        name: str | None = None,
        disk_format: str | None = None,
        container_format: str | None = None,
        is_public: bool | None = None,
        owner: str | None = None,
        status: str | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> Image:
        """PUT /images/<id>: merge; a property with an empty value is deleted."""
        values = {
            "name": name,
            "disk_format": disk_format,
            "container_format": container_format,
            "is_public": is_public,
            "owner": owner,
            "status": status,
        }
        resp = self.transport.request(
            "PUT", "/images/" + quote(image_id, safe=""), headers=_meta_headers(values, properties)
        )
        return image_from_headers(resp.headers)

    def unregister(self, image_id: str) -> None:
        self.transport.request("DELETE", "/images/" + quote(image_id, safe=""))

    def list_members(self, image_id: str) -> builtins.list[str]:
        resp = self.transport.request("GET", f"/images/{quote(image_id, safe='')}/members")
        return [str(m["member_id"]) for m in resp.json().get("members", [])]

    def add_member(self, image_id: str, member: str) -> None:
        self.transport.request(
            "PUT", f"/images/{quote(image_id, safe='')}/members/{quote(member, safe='@')}"
        )

    def remove_member(self, image_id: str, member: str) -> None:
        self.transport.request(
            "DELETE", f"/images/{quote(image_id, safe='')}/members/{quote(member, safe='@')}"
        )

    def set_members(self, image_id: str, members: builtins.list[str]) -> None:
        body = json.dumps({"memberships": [{"member_id": m} for m in members]}).encode()
        self.transport.request(
            "PUT",
            f"/images/{quote(image_id, safe='')}/members",
            headers={"Content-Type": "application/json"},
            data=body,
        )

    def shared_images(self, owner: str) -> builtins.list[str]:
        """Ids of images owned by `owner` that are shared with me and not public."""
        resp = self.transport.request("GET", f"/shared-images/{quote(owner, safe='')}")
        return [str(i["image_id"]) for i in resp.json().get("shared_images", [])]


def _matches(img: Image, filters: Mapping[str, str]) -> bool:
    """Client-side filtering, as kamaki does, because the server applies none."""
    for key, want in filters.items():
        if key == "size_min" and img.size < int(want):
            return False
        if key == "size_max" and img.size > int(want):
            return False
        if key in ("name", "status", "disk_format", "container_format"):
            if str(getattr(img, key)) != want:
                return False
    return True
