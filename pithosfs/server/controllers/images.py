"""Plankton image API (protocol.md 10.1): `/image/`, `/image/v1.0/...` and `/image/v1/...`.

Routing, header parsing and rendering only; image semantics live in
`pithosfs.server.plankton`. Request header values reach us already URL-unquoted
once by the request layer (protocol.md 1.5), which is the unquoting the reference
applies to the name, location parts and property keys and values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import quote

from pithosfs.server import json_input
from pithosfs.server.controllers.base import Context, base_url
from pithosfs.server.errors import BadRequest, MethodNotAllowed, PithosFault
from pithosfs.server.plankton import Plankton
from pithosfs.server.plankton_model import (
    KNOWN_FIELDS,
    Image,
    ImageFields,
    normalise_key,
    parse_list_params,
)
from pithosfs.server.webio import Req, Response, json_response

log = logging.getLogger(__name__)

META = "x-image-meta-"
PROPERTY = META + "property-"
MAX_MEMBERS_BODY = 1024 * 1024

_VERSIONED = re.compile(r"^/image/v1(?:\.0)?(/.*)?$")
_IMAGE_ID = r"(?P<image>[\w-]+)"
_MEMBER = r"(?P<member>[\w@.\-]+)"
# (pattern, endpoint, methods), tried in order: `detail` before an image id.
ROUTES: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (re.compile(r"^/images/?$"), "images", ("GET", "POST")),
    (re.compile(r"^/images/detail/?$"), "detail", ("GET",)),
    (re.compile(rf"^/images/{_IMAGE_ID}/?$"), "image", ("HEAD", "GET", "PUT", "DELETE")),
    (re.compile(rf"^/images/{_IMAGE_ID}/members/?$"), "members", ("GET", "PUT")),
    (re.compile(rf"^/images/{_IMAGE_ID}/members/{_MEMBER}/?$"), "member", ("PUT", "DELETE")),
    (re.compile(rf"^/shared-images/{_MEMBER}/?$"), "shared", ("GET",)),
]


class NotImplementedFault(PithosFault):
    status = 501
    fault = "notImplemented"


def image_fields(req: Req) -> ImageFields:
    """X-Image-Meta-* request headers -> known fields and properties (protocol.md 10.5)."""
    parsed = ImageFields()
    for name, value in req.headers.items():
        if name.startswith(PROPERTY):
            parsed.properties[normalise_key(name[len(PROPERTY) :])] = value.strip()
        elif name.startswith(META):
            key = normalise_key(name[len(META) :])
            if key in KNOWN_FIELDS:
                parsed.fields[key] = value.strip()
    return parsed


def image_headers(image: Image) -> list[tuple[str, str]]:
    """The image as `X-Image-Meta-*` headers (protocol.md 10.4); text values URL-quoted."""
    detail = image.detail()
    headers = [
        ("X-Image-Meta-Id", image.id),
        ("X-Image-Meta-Name", quote(image.name)),
        ("X-Image-Meta-Disk-Format", image.disk_format),
        ("X-Image-Meta-Container-Format", image.container_format),
        ("X-Image-Meta-Size", str(image.size)),
        ("X-Image-Meta-Checksum", image.checksum),
        ("X-Image-Meta-Location", image.location),
        ("X-Image-Meta-Created-At", detail["created_at"]),
        ("X-Image-Meta-Updated-At", detail["updated_at"]),
        ("X-Image-Meta-Deleted-At", ""),
        ("X-Image-Meta-Status", quote(image.status)),
        ("X-Image-Meta-Is-Public", str(image.is_public)),
        ("X-Image-Meta-Owner", image.owner),
        ("X-Image-Meta-Is-Snapshot", str(image.is_snapshot)),
        ("X-Image-Meta-Description", quote(image.description or "")),
    ]
    for key, value in image.properties.items():
        headers.append(("X-Image-Meta-Property-" + quote(key.replace("_", "-")), quote(value)))
    return headers


def route(path: str) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """(endpoint, path values, allowed methods) of a path under /image/v1.0."""
    for pattern, endpoint, methods in ROUTES:
        m = pattern.match(path)
        if m:
            return endpoint, m.groupdict(), methods
    raise BadRequest("API endpoint not found")


class ImageController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.plankton = Plankton(ctx.backend)

    def handle(self, req: Req, authenticate: Callable[[Req], None]) -> Response:
        """Everything under /image: the unversioned version list needs no token."""
        if req.path.rstrip("/") in ("/image", "/image/versions"):
            if req.method != "GET":
                raise MethodNotAllowed(["GET"])
            return self.versions(req)
        m = _VERSIONED.match(req.path)
        if m is None:
            raise BadRequest("API endpoint not found")
        endpoint, values, methods = route(m.group(1) or "/")
        if req.method not in methods:
            raise MethodNotAllowed(list(methods))
        authenticate(req)
        handler = getattr(self, f"{endpoint}_{req.method.lower()}")
        return handler(req, **values)

    def versions(self, req: Req) -> Response:
        base = base_url(req) + "/image"
        version = {
            "id": "v1.0",
            "status": "CURRENT",
            "updated": "2013-01-01T00:00:00Z",
            "links": [{"rel": "self", "href": base + "/v1.0/"}],
        }
        return json_response(200, {"versions": [version]})

    # ---- collection ------------------------------------------------------------

    def images_get(self, req: Req) -> Response:
        return self._list(req, detail=False)

    def detail_get(self, req: Req) -> Response:
        return self._list(req, detail=True)

    def _list(self, req: Req, detail: bool) -> Response:
        filters, sort_key, sort_dir = parse_list_params(req.args)
        images = self.plankton.list(req.user, filters, sort_key, sort_dir)
        items = [img.detail() if detail else img.short() for img in images]
        if _bare_list_client(req):
            return json_response(200, items)
        return json_response(200, {"images": items})

    def images_post(self, req: Req) -> Response:
        req.drain()
        image = self.plankton.register(req.user, image_fields(req))
        return Response(200, image_headers(image))

    # ---- one image ---------------------------------------------------------------

    def image_head(self, req: Req, image: str) -> Response:
        return Response(200, image_headers(self.plankton.get(req.user, image)))

    def image_get(self, req: Req, image: str) -> Response:
        raise NotImplementedFault("Downloading image data is not implemented; use its location")

    def image_put(self, req: Req, image: str) -> Response:
        req.drain()
        updated = self.plankton.update(req.user, image, image_fields(req))
        return Response(200, image_headers(updated))

    def image_delete(self, req: Req, image: str) -> Response:
        req.drain()
        self.plankton.unregister(req.user, image)
        return Response(204)

    # ---- members --------------------------------------------------------------------

    def members_get(self, req: Req, image: str) -> Response:
        members = self.plankton.members(req.user, image)
        return json_response(
            200, {"members": [{"member_id": m, "can_share": False} for m in members]}
        )

    def members_put(self, req: Req, image: str) -> Response:
        self.plankton.replace_members(req.user, image, _memberships(req))
        return Response(204)

    def member_put(self, req: Req, image: str, member: str) -> Response:
        req.drain()
        self.plankton.add_member(req.user, image, member)
        return Response(204)

    def member_delete(self, req: Req, image: str, member: str) -> Response:
        req.drain()
        self.plankton.remove_member(req.user, image, member)
        return Response(204)

    def shared_get(self, req: Req, member: str) -> Response:
        ids = self.plankton.shared_images(req.user, member)
        return json_response(
            200, {"shared_images": [{"image_id": i, "can_share": False} for i in ids]}
        )


def _bare_list_client(req: Req) -> bool:
    """Whether to answer a list with a bare JSON array instead of `{"images": [...]}`.

    kamaki 0.16 (and the kamaki develop we know) iterate the reply of
    `GET /images/` as a list, as the Synnefo plankton views they were written
    against return it; given the dict they fail with "string indices must be
    integers". kamaki speaks through httplib, which sends neither User-Agent nor
    Accept; every other client we know (curl, requests, browsers, our own
    ImageClient, which accepts both shapes) sends at least one of them.
    """
    return req.header("User-Agent") is None and req.header("Accept") is None


_MEMBER_ID = re.compile(r"^[\w@.\-]+$")


def _memberships(req: Req) -> list[str]:
    """Member ids of a replace-members body `{"memberships": [{"member_id": ...}, ...]}`."""
    raw = json_input.read_body(req, MAX_MEMBERS_BODY)
    try:
        doc = json_input.loads(raw or b"null")
        members = [m["member_id"] for m in doc["memberships"]]
    except (ValueError, KeyError, TypeError):
        raise BadRequest(
            'Malformed request: expected {"memberships": [{"member_id": ...}]}'
        ) from None
    if not all(isinstance(m, str) and _MEMBER_ID.match(m) for m in members):
        raise BadRequest("Invalid member id")
    return members
