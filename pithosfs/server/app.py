"""The WSGI application: path decoding, routing, authentication, and the one place
where domain errors become HTTP status codes with a JSON fault body (protocol.md 1.4).
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, Map, Rule

from pithosfs.protocol import MAX_ACCOUNT_NAME, MAX_CONTAINER_NAME, MAX_OBJECT_NAME
from pithosfs.server.controllers import identity
from pithosfs.server.controllers.account import AccountController, list_accounts
from pithosfs.server.controllers.base import Context, base_url
from pithosfs.server.controllers.container import ContainerController
from pithosfs.server.controllers.images import ImageController
from pithosfs.server.controllers.object import ObjectController
from pithosfs.server.controllers.public import PublicController
from pithosfs.server.errors import (
    BadRequest,
    ClientDisconnected,
    InsufficientStorage,
    MethodNotAllowed,
    MissingBlocks,
    NotFound,
    NotModified,
    PithosFault,
    RequestTimeout,
    Unauthorized,
)
from pithosfs.server.webio import Req, Response, json_response, xml_response

log = logging.getLogger(__name__)


class SegmentConverter(BaseConverter):
    regex = "[^/]+"


class RestConverter(BaseConverter):
    """The object part: everything after acc/cont/, may hold or start with '/' (protocol.md 1.1)."""

    regex = ".+"
    part_isolating = False


URLS = Map(
    [
        Rule("/identity/v2.0/tokens", endpoint="tokens"),
        Rule("/identity/v2.0/tokens/", endpoint="tokens"),
        Rule("/account/v1.0/user_catalogs", endpoint="user_catalogs"),
        Rule("/account/v1.0/user_catalogs/", endpoint="user_catalogs"),
        Rule("/account/v1.0/quotas", endpoint="quotas"),
        Rule("/account/v1.0/quotas/", endpoint="quotas"),
        Rule("/object-store/v1", endpoint="top"),
        Rule("/object-store/v1/", endpoint="top"),
        Rule("/object-store/v1/<seg:account>", endpoint="account"),
        Rule("/object-store/v1/<seg:account>/", endpoint="account"),
        Rule("/object-store/v1/<seg:account>/<seg:container>", endpoint="container"),
        Rule("/object-store/v1/<seg:account>/<seg:container>/", endpoint="container"),
        Rule("/object-store/v1/<seg:account>/<seg:container>/<rest:name>", endpoint="object"),
        Rule("/public/<seg:token>", endpoint="public"),
        Rule("/public/<seg:token>/", endpoint="public"),
    ],
    converters={"seg": SegmentConverter, "rest": RestConverter},
    strict_slashes=False,
    merge_slashes=False,
)

ALLOWED = {
    "top": ["GET"],
    "account": ["HEAD", "GET", "POST"],
    "container": ["HEAD", "GET", "PUT", "POST", "DELETE"],
    "object": ["HEAD", "GET", "PUT", "COPY", "MOVE", "POST", "DELETE"],
    "public": ["HEAD", "GET"],
    "tokens": ["POST"],
    "user_catalogs": ["POST"],
    "quotas": ["GET"],
}


class PithosApp:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.controllers: dict[str, Any] = {
            "account": AccountController(ctx),
            "container": ContainerController(ctx),
            "object": ObjectController(ctx),
            "public": PublicController(ctx),
        }
        self.images = ImageController(ctx)  # Plankton: own routing under /image

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        req: Req | None = None
        try:
            path = decode_path(environ)
            req = Req(environ, path)
            response = self.dispatch(req)
        except ClientDisconnected as exc:
            if isinstance(exc.__cause__, TimeoutError):  # slower than the body's floor (front.py)
                log.info("request body too slow; nothing committed")
                response = fault_response(RequestTimeout("Request body not received in time"))
            else:
                log.info("client disconnected mid-request; nothing committed")
                response = Response(400, [], b"")
            response.add("Connection", "close")  # the rest of the body is not read
        except PithosFault as fault:
            if req is not None:
                req.drain()
            as_xml = req is not None and (req.arg("format") or "").lower() == "xml"
            response = fault_response(fault, xml=as_xml)
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
                response = self._disk_full(req, exc)
            else:
                log.exception("database error")
                busy = "locked" in str(exc) or "busy" in str(exc)
                response = fault_response(
                    PithosFault("Database busy, retry" if busy else "Internal server error"),
                    503 if busy else 500,
                )
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.exception(
                    "unexpected error on %s %s",
                    environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"),
                )
                response = fault_response(PithosFault("Internal server error"))
            else:
                response = self._disk_full(req, exc)
        except Exception:
            log.exception(
                "unexpected error on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            )
            response = fault_response(PithosFault("Internal server error"))
        return response(environ, start_response)

    def dispatch(self, req: Req) -> Response:
        if req.path == "/image" or req.path.startswith("/image/"):
            return self.images.handle(req, self.authenticate)
        try:
            endpoint, values = URLS.bind("localhost").match(req.path, method="GET")
        except HTTPException:
            if req.path.startswith("/object-store/"):
                raise BadRequest("API endpoint not found") from None
            raise NotFound("Not found") from None
        if req.method not in ALLOWED[endpoint]:
            raise MethodNotAllowed(ALLOWED[endpoint])
        _check_names(values)
        if endpoint == "tokens":
            return identity.tokens(self.ctx, req)
        if endpoint == "user_catalogs":
            return identity.user_catalogs(self.ctx, req)
        if endpoint == "quotas":
            return identity.quotas(self.ctx, req)
        if endpoint == "top" and not _token_of(req) and req.header("X-Auth-User") is not None:
            return self.legacy_auth(req)
        if endpoint != "public":
            self.authenticate(req)
        if endpoint == "top":
            return list_accounts(self.ctx, req)
        controller = self.controllers[endpoint]
        return getattr(controller, req.method)(req, **values)

    def _disk_full(self, req: Req | None, exc: Exception) -> Response:
        """507 for a full disk: one log line, no traceback (nothing is wrong with the server)."""
        what = f"{req.method} {req.path}" if req is not None else "a request"
        log.warning("disk full while serving %s: %s", what, exc)
        self.ctx.backend.collector.disk_full()  # uncommitted uploads make room first
        response = fault_response(InsufficientStorage("Not enough space left on the server"))
        response.add("Connection", "close")  # an unread upload body is not drained
        return response

    def legacy_auth(self, req: Req) -> Response:
        """OOS-style `GET /v1/` with X-Auth-User/X-Auth-Key (protocol.md 1.2); the key is the token."""
        user, key = req.header("X-Auth-User"), req.header("X-Auth-Key")
        if not user or not key:
            raise BadRequest("Missing X-Auth-User or X-Auth-Key header")
        if self.ctx.tokens.get(key) != user:
            raise Unauthorized("Invalid credentials")
        url = base_url(req) + req.path.rstrip("/") + "/" + user
        return Response(204, [("X-Auth-Token", key), ("X-Storage-Url", url)])

    def authenticate(self, req: Req) -> None:
        token = _token_of(req)
        if not token:
            raise Unauthorized("Access denied. No authentication token")
        user = self.ctx.tokens.get(token)
        if user is None:
            raise Unauthorized("Invalid token")
        req.user, req.token = user, token


def _token_of(req: Req) -> str | None:
    """Query parameter first, then header (protocol.md 1.2)."""
    return req.arg("X-Auth-Token") or req.header("X-Auth-Token")


def decode_path(environ: dict[str, Any]) -> str:
    """The request path as text, decoded once from the raw URI.

    Encoded slashes become '/', like the reference (names are database keys,
    never file paths, so this cannot escape anything); invalid UTF-8 and NUL are 400.
    """
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        raw_path = raw.split("?", 1)[0]
        if "://" in raw_path:  # absolute-form request target
            raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
        data = unquote_to_bytes(raw_path)
    else:
        data = environ.get("PATH_INFO", "").encode("latin-1")
    try:
        path = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("Invalid UTF-8 in path") from None
    if "\0" in path:
        raise BadRequest("NUL byte in path")
    return path


def _check_names(values: Mapping[str, Any]) -> None:
    if len(values.get("account", "")) > MAX_ACCOUNT_NAME:
        raise BadRequest("Account name too large")
    if len(values.get("container", "")) > MAX_CONTAINER_NAME:
        raise BadRequest("Container name too large")
    if len(values.get("name", "")) > MAX_OBJECT_NAME:
        raise BadRequest("Object name too large.")


def fault_response(fault: PithosFault, status: int | None = None, xml: bool = False) -> Response:
    """The one mapping from a domain error to an HTTP response (protocol.md 1.4)."""
    status = status or fault.status
    if isinstance(fault, NotModified):
        return Response(304, [("ETag", fault.etag)] if fault.etag else [])
    if isinstance(fault, MissingBlocks):
        return json_response(409, fault.missing)  # always JSON, whatever `format` says
    key = "serviceUnavailable" if status == 503 else fault.fault
    headers: list[tuple[str, str]] = []
    if isinstance(fault, MethodNotAllowed):
        headers.append(("Allow", ",".join(fault.allowed)))  # "GET,HEAD", as the reference
    if xml:
        text = (
            f'<{key} code="{status}"><message>{escape(fault.message)}</message>'
            f"<details>{escape(fault.details)}</details></{key}>"
        )
        return xml_response(status, text, headers)
    body = {key: {"code": status, "message": fault.message, "details": fault.details}}
    return json_response(status, body, headers)
