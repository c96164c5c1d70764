"""Top level (`GET /v1/`) and account level (protocol.md 2)."""

from __future__ import annotations

from typing import Any

from pithosfs.protocol import DISK_AVAILABLE_HEADER, EXT_DISK_AVAILABLE
from pithosfs.server.controllers.base import Context, check_time_conditions, until_of
from pithosfs.server.errors import BadRequest
from pithosfs.server.http_util import collect_meta, http_date, iso_date, parse_limit
from pithosfs.server.models import AccountInfo, ContainerInfo
from pithosfs.server.sharing import MAX_GROUPS, parse_group_members
from pithosfs.server.webio import TEXT_TYPE, Req, Response, json_response, xml_items, xml_response


def list_accounts(ctx: Context, req: Req) -> Response:
    accounts = ctx.backend.list_sharing_accounts(req.user)
    fmt = req.wants(("text", "json", "xml"), "text")
    if fmt == "json":
        return json_response(200, [{"name": a, "last_modified": iso_date(m)} for a, m in accounts])
    if fmt == "xml":
        items = [{"name": a, "last_modified": iso_date(m)} for a, m in accounts]
        return xml_response(200, xml_items("accounts", {}, "account", items))
    if not accounts:
        return Response(204)
    return Response(
        200, [("Content-Type", TEXT_TYPE)], "".join(a + "\n" for a, _ in accounts).encode()
    )


def account_headers(info: AccountInfo, disk: bool = False) -> list[tuple[str, str]]:
    headers = [("Last-Modified", http_date(info.mtime))]
    if not info.owner_view:
        return headers
    headers += [
        ("X-Account-Container-Count", str(info.count)),
        ("X-Account-Bytes-Used", str(info.bytes)),
        ("X-Account-Policy-Quota", str(info.quota)),
    ]
    headers += [(f"X-Account-Meta-{k}", v) for k, v in info.meta.items()]
    # As the reference: the name capitalised (first letter upper, the rest lower), members sorted.
    headers += [
        (f"X-Account-Group-{g.capitalize()}", ",".join(sorted(m))) for g, m in info.groups.items()
    ]
    if info.until is not None:
        headers.append(("X-Account-Until-Timestamp", http_date(info.until)))
    if disk and info.disk_available is not None:  # the disk-available extension
        headers.append((DISK_AVAILABLE_HEADER, str(info.disk_available)))
    return headers


class AccountController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def HEAD(self, req: Req, account: str) -> Response:
        info = self.ctx.backend.account_info(req.user, account, until_of(req))
        check_time_conditions(req, info.mtime)
        disk = self.ctx.offers(EXT_DISK_AVAILABLE)
        return Response(204, account_headers(info, disk) + self.ctx.advertised())

    def GET(self, req: Req, account: str) -> Response:
        backend = self.ctx.backend
        until = until_of(req)
        info = backend.account_info(req.user, account, until)
        check_time_conditions(req, info.mtime)
        containers = backend.list_containers(
            req.user,
            account,
            marker=req.arg("marker"),
            limit=parse_limit(req.arg("limit")),
            shared=req.flag("shared"),
            public=req.flag("public"),
            until=until,
        )
        headers = account_headers(info, self.ctx.offers(EXT_DISK_AVAILABLE))
        headers += self.ctx.advertised()
        fmt = req.wants(("text", "json", "xml"), "text")
        if fmt == "text":
            if not containers:
                return Response(204, headers)
            text = "".join(c.name + "\n" for c in containers)
            return Response(200, [*headers, ("Content-Type", TEXT_TYPE)], text.encode())
        items = [_container_item(c) for c in containers]
        if fmt == "json":
            return json_response(200, items, headers)
        return xml_response(
            200, xml_items("account", {"name": account}, "container", items), headers
        )

    def POST(self, req: Req, account: str) -> Response:
        replace = not req.flag("update")
        meta = collect_meta(req.headers, "X-Account-Meta-")
        groups: dict[str, list[str]] = {}
        for name, value in req.headers.items():
            if name.lower().startswith("x-account-group-"):
                gname, members = parse_group_members(name[len("x-account-group-") :], value)
                groups[gname] = members
        if len(groups) > MAX_GROUPS:
            raise BadRequest("Too many groups")
        self.ctx.backend.update_account(req.user, account, meta, groups or None, replace)
        req.drain()
        return Response(202)


def _container_item(c: ContainerInfo) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": c.name,
        "count": c.count,
        "bytes": c.bytes,
        "last_modified": iso_date(c.mtime),
    }
    if c.owner_view:
        item["x_container_policy"] = dict(c.policy)
    if c.until is not None:
        item["x_container_until_timestamp"] = http_date(c.until)
    return item
