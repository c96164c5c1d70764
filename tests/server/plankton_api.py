"""Request boilerplate for black-box tests of the embedded Plankton image service.

`ImageApi` speaks to `{image_url}/v1.0` over real HTTP with one user's token and
builds requests the way kamaki's ImageClient does (protocol.md 11.2): the name
URL-quoted, each location segment URL-quoted, property keys in header names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import requests

from tests.server.pithos_http import Api

META = "x-image-meta-"
PROPERTY = META + "property-"

# Header form of an image (protocol.md 10.4): every field the HEAD must carry.
HEADER_FIELDS = {
    "id",
    "name",
    "disk-format",
    "container-format",
    "size",
    "checksum",
    "location",
    "created-at",
    "updated-at",
    "deleted-at",
    "status",
    "is-public",
    "owner",
    "is-snapshot",
    "description",
}
SHORT_FIELDS = {"status", "name", "disk_format", "container_format", "size", "id"}
DETAIL_FIELDS = SHORT_FIELDS | {
    "checksum",
    "location",
    "created_at",
    "updated_at",
    "deleted_at",
    "is_public",
    "owner",
    "properties",
    "is_snapshot",
}


def location(account: str, container: str, name: str) -> str:
    """`pithos://acc/cont/path` with each segment quoted, as kamaki sends it."""
    return "pithos://" + "/".join(quote(p, safe="/") for p in (account, container, name))


def image_of(resp: requests.Response) -> dict[str, Any]:
    """Response `X-Image-Meta-*` headers -> {field: value}, properties under "properties"."""
    image: dict[str, Any] = {"properties": {}}
    for name, value in resp.headers.items():
        low = name.lower()
        if low.startswith(PROPERTY):
            image["properties"][unquote(low[len(PROPERTY) :])] = unquote(value)
        elif low == META + "location":
            image["location"] = value  # stays quoted, as in the JSON form (protocol.md 10.3)
        elif low.startswith(META):
            image[low[len(META) :]] = unquote(value)
    return image


class ImageApi:
    def __init__(self, image_url: str, token: str | None, version: str = "v1.0") -> None:
        self.root = f"{image_url}/{version}"
        self.token = token
        self.session = requests.Session()

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
    ) -> requests.Response:
        hdrs = {"X-Auth-Token": self.token} if self.token else {}
        hdrs.update(headers or {})
        return self.session.request(
            method, self.root + path, headers=hdrs, params=params, data=data, timeout=60
        )

    def register_raw(
        self,
        name: str | None,
        loc: str | None,
        properties: Mapping[str, str] | None = None,
        **meta: str,
    ) -> requests.Response:
        headers: dict[str, str] = {}
        if name is not None:
            headers["X-Image-Meta-Name"] = quote(name)
        if loc is not None:
            headers["X-Image-Meta-Location"] = loc
        for key, value in meta.items():
            headers["X-Image-Meta-" + key.replace("_", "-").title()] = value
        for key, value in (properties or {}).items():
            headers["X-Image-Meta-Property-" + quote(key)] = quote(value)
        return self.request("POST", "/images/", headers=headers)

    def register(
        self,
        name: str,
        loc: str,
        properties: Mapping[str, str] | None = None,
        **meta: str,
    ) -> dict[str, Any]:
        resp = self.register_raw(name, loc, properties, **meta)
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        return image_of(resp)

    def head(self, image_id: str) -> requests.Response:
        return self.request("HEAD", f"/images/{image_id}")

    def info(self, image_id: str) -> dict[str, Any]:
        resp = self.head(image_id)
        assert resp.status_code == 200, resp.status_code
        return image_of(resp)

    def update(
        self,
        image_id: str,
        properties: Mapping[str, str] | None = None,
        **meta: str,
    ) -> requests.Response:
        headers = {"X-Image-Meta-" + k.replace("_", "-").title(): v for k, v in meta.items()}
        for key, value in (properties or {}).items():
            headers["X-Image-Meta-Property-" + quote(key)] = quote(value)
        return self.request("PUT", f"/images/{image_id}", headers=headers)

    def unregister(self, image_id: str) -> requests.Response:
        return self.request("DELETE", f"/images/{image_id}")

    def list(self, detail: bool = False, **params: Any) -> list[dict[str, Any]]:
        resp = self.list_raw(detail, **params)
        assert resp.status_code == 200, (resp.status_code, resp.text[:300])
        body = resp.json()
        assert set(body) == {"images"}, body
        return body["images"]

    def list_raw(self, detail: bool = False, **params: Any) -> requests.Response:
        return self.request("GET", "/images/detail" if detail else "/images/", params=params)

    def ids(self, detail: bool = False, **params: Any) -> list[str]:
        return [img["id"] for img in self.list(detail, **params)]


def upload(api: Api, cont: str, name: str, data: bytes = b"image bytes") -> dict[str, str]:
    """Put an object and return its uuid, hash and size as the server reports them."""
    api.put_object(cont, name, data)
    meta = api.meta(cont, name)
    return {
        "uuid": meta["X-Object-UUID"],
        "hash": meta["X-Object-Hash"],
        "size": meta["Content-Length"],
        "version": meta["X-Object-Version"],
        "location": location(api.account, cont, name),
    }
