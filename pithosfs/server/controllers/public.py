"""Public links `/public/<token>` (protocol.md 9.5): GET and HEAD without a token."""

from __future__ import annotations

from pithosfs.server.controllers.base import Context, check_read_conditions
from pithosfs.server.controllers.object import manifest_headers, manifest_parts, object_data
from pithosfs.server.http_util import http_date
from pithosfs.server.models import ObjectInfo
from pithosfs.server.webio import Req, Response

PUBLIC_META = ("Content-Encoding", "Content-Disposition")


def _headers(info: ObjectInfo) -> list[tuple[str, str]]:
    headers = [
        ("ETag", info.etag),
        ("Content-Type", info.type or "application/octet-stream"),
        ("Last-Modified", http_date(info.current_mtime)),
    ]
    headers += [(k, info.meta[k]) for k in PUBLIC_META if k in info.meta]
    return headers


class PublicController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def HEAD(self, req: Req, token: str) -> Response:
        info = self.ctx.backend.resolve_public(token)
        check_read_conditions(req, info)
        # A manifest's size is that of the parts an anonymous reader may read, as its GET.
        parts = manifest_parts(self.ctx.backend, req, info, public=True)
        if parts is None:
            return Response(200, _headers(info), [], info.size)
        return Response(
            200, manifest_headers(_headers(info), parts), [], sum(p.size for p in parts)
        )

    def GET(self, req: Req, token: str) -> Response:
        info = self.ctx.backend.resolve_public(token)
        check_read_conditions(req, info)
        return object_data(
            self.ctx.backend, req, info, _headers(info), public=True, strict=self.ctx.strict
        )
