"""Keystone v2.0 / Astakos-shaped token endpoint (protocol.md 15.1), enough for kamaki and our client."""

from __future__ import annotations

from pithosfs.server import json_input
from pithosfs.server.controllers.base import Context, base_url
from pithosfs.server.errors import BadRequest, Unauthorized
from pithosfs.server.webio import Req, Response, json_response

MAX_TOKENS_BODY = 64 * 1024
MAX_CATALOG_BODY = 1024 * 1024


def tokens(ctx: Context, req: Req) -> Response:
    token = _token_from(req)
    uuid = ctx.tokens.get(token)
    if uuid is None:
        raise Unauthorized("Invalid token")
    base = base_url(req)
    return json_response(200, _access(base, uuid, token))


def _token_from(req: Req) -> str:
    raw = json_input.read_body(req, MAX_TOKENS_BODY)
    if raw:
        try:
            doc = json_input.loads(raw)
            token = doc["auth"]["token"]["id"]
        except (ValueError, KeyError, TypeError):
            raise BadRequest("Invalid authentication request") from None
        if isinstance(token, str) and token:
            return token
    header = req.header("X-Auth-Token")
    if header:
        return header
    raise Unauthorized("No authentication token")


def _access(base: str, uuid: str, token: str) -> dict[str, object]:
    def service(name: str, kind: str, version: str, url: str, **extra: str) -> dict[str, object]:
        endpoint = {"versionId": version, "publicURL": url, "region": "default", **extra}
        return {"name": name, "type": kind, "endpoints": [endpoint], "endpoints_links": []}

    return {
        "access": {
            "token": {
                "id": token,
                "expires": "2099-12-31T23:59:59.000000+00:00",
                "tenant": {"id": uuid, "name": uuid},
            },
            "user": {
                "id": uuid,
                "name": uuid,
                "roles": [{"id": "1", "name": "default"}],
                "roles_links": [],
            },
            "serviceCatalog": [
                service(
                    "astakos_account",
                    "account",
                    "v1.0",
                    f"{base}/account/v1.0",
                    **{"SNF:uiURL": f"{base}/ui"},
                ),
                service("astakos_identity", "identity", "v2.0", f"{base}/identity/v2.0"),
                service("pithos_object-store", "object-store", "v1", f"{base}/object-store/v1"),
                service("cyclades_plankton", "image", "v1.0", f"{base}/image"),
            ],
        }
    }


def user_catalogs(ctx: Context, req: Req) -> Response:
    """Astakos `POST /account/v1.0/user_catalogs`: uuid <-> display name (kamaki resolves owners).

    Local users have no separate display name, so the name is the uuid; unknown
    entries are left out, as Astakos does.
    """
    token = req.header("X-Auth-Token") or req.arg("X-Auth-Token")
    if not token or token not in ctx.tokens:
        raise Unauthorized("Invalid token")
    raw = json_input.read_body(req, MAX_CATALOG_BODY)
    try:
        doc = json_input.loads(raw or b"{}")
        uuids = doc.get("uuids") or []
        names = doc.get("displaynames") or []
        if not isinstance(uuids, list) or not isinstance(names, list):
            raise TypeError
    except (ValueError, TypeError, AttributeError):
        raise BadRequest("Invalid user catalog request") from None
    known = set(ctx.users)
    return json_response(
        200,
        {
            "uuid_catalog": {u: u for u in uuids if isinstance(u, str) and u in known},
            "displayname_catalog": {n: n for n in names if isinstance(n, str) and n in known},
        },
    )


def quotas(ctx: Context, req: Req) -> Response:
    """Astakos `GET /account/v1.0/quotas`: the caller's pithos.diskspace in its system project."""
    token = req.header("X-Auth-Token") or req.arg("X-Auth-Token")
    uuid = ctx.tokens.get(token or "")
    if uuid is None:
        raise Unauthorized("Invalid token")
    info = ctx.backend.account_info(uuid, uuid)
    disk = {
        "usage": info.bytes,
        "limit": info.quota,
        "pending": 0,
        "project_usage": info.bytes,
        "project_limit": info.quota,
        "project_pending": 0,
    }
    return json_response(200, {uuid: {"pithos.diskspace": disk}})
