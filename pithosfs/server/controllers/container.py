"""Container level (protocol.md 3 and 5): HEAD, GET (listing), PUT, POST (meta, blocks), DELETE."""

from __future__ import annotations

from typing import Any

from pithosfs.protocol import EXT_LISTING_META, EXT_LISTING_RIGHTS, LISTING_META_PARAM
from pithosfs.server.controllers.base import Context, check_time_conditions, until_of
from pithosfs.server.http_util import (
    collect_meta,
    decimal_ts,
    http_date,
    iso_date,
    parse_limit,
)
from pithosfs.server.listing import Subdir, parse_meta_filters
from pithosfs.server.models import ContainerInfo, ObjectInfo
from pithosfs.server.objects import user_meta
from pithosfs.server.webio import (
    JSON_TYPE,
    TEXT_TYPE,
    Req,
    Response,
    json_array_body,
    json_response,
    xml_items,
    xml_response,
)

POLICY_PREFIX = "x-container-policy-"


def container_headers(
    info: ContainerInfo, block_size: int, algorithm: str
) -> list[tuple[str, str]]:
    headers = [
        ("Last-Modified", http_date(info.mtime)),
        ("X-Container-Block-Size", str(block_size)),
        ("X-Container-Block-Hash", algorithm),
        ("X-Container-Object-Meta", ",".join(info.object_meta_keys)),
    ]
    if not info.owner_view:
        return headers
    headers += [
        ("X-Container-Object-Count", str(info.count)),
        ("X-Container-Bytes-Used", str(info.bytes)),
    ]
    headers += [(f"X-Container-Meta-{k}", v) for k, v in info.meta.items()]
    headers += [(f"X-Container-Policy-{k.title()}", v) for k, v in info.policy.items()]
    if info.until is not None:
        headers.append(("X-Container-Until-Timestamp", http_date(info.until)))
    return headers


def object_item(
    info: ObjectInfo, base: str, include_meta: bool, until: bool, exact_rights: bool = True
) -> dict[str, Any]:
    """One JSON listing item (protocol.md 5.3).

    `exact_rights` (the listing-rights extension): a grantee's item says what this
    caller may do, inherited rights included. Without it, as the reference: only
    items with permissions of their own are labelled, and `x_object_allowed_to`
    is "write" whenever the path has any write grant, whoever asks.
    """
    item: dict[str, Any] = {
        "name": info.name,
        "bytes": info.size,
        "content_type": info.type,
        "hash": info.checksum,
        "x_object_hash": info.hash,
        "x_object_uuid": info.uuid,
        "x_object_version": info.serial,
        "x_object_version_timestamp": decimal_ts(info.mtime),
        "x_object_modified_by": info.muser,
        "available": 1,
        "map_check_timestamp": None,
    }
    if not until:
        item["last_modified"] = iso_date(info.mtime)
        if info.sharing:
            item["x_object_sharing"] = info.sharing
        if exact_rights:
            if info.shared_by:
                item["x_object_shared_by"] = info.shared_by
            if info.allowed_to:
                item["x_object_allowed_to"] = info.allowed_to
        elif info.allowed_to and info.sharing:
            item["x_object_allowed_to"] = "write" if "write=" in info.sharing else "read"
        if info.public_url_token:
            item["x_object_public"] = f"{base}/public/{info.public_url_token}"
    for key in ("Content-Encoding", "Content-Disposition", "X-Object-Manifest"):
        if key in info.meta:
            item[key.lower().replace("-", "_")] = info.meta[key]
    if include_meta:
        item["x_object_meta"] = user_meta(info.meta)
    return item


class ContainerController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _headers(self, info: ContainerInfo) -> list[tuple[str, str]]:
        b = self.ctx.backend
        return container_headers(info, b.block_size, b.algorithm) + self.ctx.advertised()

    def HEAD(self, req: Req, account: str, container: str) -> Response:
        info = self.ctx.backend.container_info(req.user, account, container, until_of(req))
        check_time_conditions(req, info.mtime)
        return Response(204, self._headers(info))

    def GET(self, req: Req, account: str, container: str) -> Response:
        backend = self.ctx.backend
        until = until_of(req)
        info = backend.container_info(req.user, account, container, until)
        check_time_conditions(req, info.mtime)
        prefix = (req.arg("prefix") or "").lstrip("/")
        delimiter = req.arg("delimiter") or None
        virtual = True
        path = req.arg("path")
        if path:
            prefix, delimiter, virtual = path.strip("/") + "/", "/", False
            if path == "/":
                prefix = ""
        elif prefix and delimiter and not prefix.endswith(delimiter):
            prefix += delimiter  # [QUIRK] kept: the naming policy appends the delimiter
        raw_filters = req.arg("meta")
        # Access is checked now; the entries are read as the answer is written.
        entries = backend.iter_objects(
            req.user,
            account,
            container,
            prefix=prefix,
            delimiter=delimiter,
            virtual=virtual,
            marker=req.arg("marker"),
            limit=parse_limit(req.arg("limit")),
            filters=parse_meta_filters(raw_filters) if raw_filters else None,
            shared=req.flag("shared"),
            public=req.flag("public"),
            until=until,
        )
        headers = self._headers(info)
        fmt = req.wants(("text", "json", "xml"), "text")
        if fmt == "text":
            names = [e.name for e in entries]
            if not names:
                return Response(204, headers)
            return Response(
                200,
                [*headers, ("Content-Type", TEXT_TYPE)],
                "".join(n + "\n" for n in names).encode(),
            )
        from pithosfs.server.controllers.base import base_url

        base = base_url(req)
        include_meta = self.ctx.offers(EXT_LISTING_META) and _truthy(req.arg(LISTING_META_PARAM))
        exact_rights = self.ctx.offers(EXT_LISTING_RIGHTS)
        items = (
            {"subdir": e.name}
            if isinstance(e, Subdir)
            else object_item(e, base, include_meta, until is not None, exact_rights)
            for e in entries
        )
        if fmt == "json":
            # Streamed (chunked): a client parses the first entries while the
            # server still reads the rest, instead of the two taking turns.
            return Response(200, [("Content-Type", JSON_TYPE), *headers], json_array_body(items))
        return xml_response(
            200, xml_items("container", {"name": container}, "object", items), headers
        )

    def PUT(self, req: Req, account: str, container: str) -> Response:
        policy = {
            k[len(POLICY_PREFIX) :]: v.replace("~", "")
            for k, v in req.headers.items()
            if k.startswith(POLICY_PREFIX)
        }
        meta = collect_meta(req.headers, "X-Container-Meta-")
        created = self.ctx.backend.put_container(req.user, account, container, policy, meta)
        req.drain()
        return Response(201 if created else 202)

    def POST(self, req: Req, account: str, container: str) -> Response:
        backend = self.ctx.backend
        replace = not req.flag("update")
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        length = req.content_length
        is_upload = ctype == "application/octet-stream" and (length or req.chunked)
        policy = {
            k[len(POLICY_PREFIX) :]: v.replace("~", "")
            for k, v in req.headers.items()
            if k.startswith(POLICY_PREFIX)
        }
        meta = collect_meta(req.headers, "X-Container-Meta-")
        if is_upload:
            # As the reference: the headers are applied first (merged with ?update,
            # replaced without it: a block POST without ?update wipes container meta),
            # then the body's blocks are stored.
            backend.update_container(
                req.user, account, container, policy if policy else None, meta, replace
            )
            hashes = backend.upload_blocks(req.user, account, container, req.body())
            if req.wants(("json", "xml"), "json") == "xml":
                text = "<blocks>" + "".join(f"<block>{h}</block>" for h in hashes) + "</blocks>"
                return xml_response(202, text)
            return json_response(202, hashes)
        backend.update_container(
            req.user, account, container, policy if policy else None, meta, replace
        )
        req.drain()
        return Response(202)

    def DELETE(self, req: Req, account: str, container: str) -> Response:
        self.ctx.backend.delete_container(
            req.user,
            account,
            container,
            until=until_of(req),
            delimiter=req.arg("delimiter"),
        )
        return Response(204)


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false", "no")
