"""What every controller shares: the backend, the user table, and precondition checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pithosfs.protocol import ALL_EXTENSIONS, EXTENSIONS_HEADER
from pithosfs.server.backend import Backend
from pithosfs.server.errors import BadRequest, NotModified, PreconditionFailed
from pithosfs.server.http_util import parse_http_date_int, parse_until
from pithosfs.server.models import ObjectInfo
from pithosfs.server.sharing import Sharing, parse_sharing
from pithosfs.server.webio import Req


@dataclass
class Context:
    backend: Backend
    users: dict[str, str]  # uuid -> token
    tokens: dict[str, str] = field(default_factory=dict)  # token -> uuid
    # Answer exactly as the reference Pithos+ does: no extension is offered or
    # advertised, listings label rights as the reference does (docs/server.md).
    strict: bool = False

    def __post_init__(self) -> None:
        self.tokens = {token: uuid for uuid, token in self.users.items()}

    def offers(self, extension: str) -> bool:
        """Whether this server offers (and advertises) one of protocol.ALL_EXTENSIONS."""
        return not self.strict and extension in ALL_EXTENSIONS

    def advertised(self) -> list[tuple[str, str]]:
        """The header naming the extensions offered (none in strict mode)."""
        if self.strict:
            return []
        return [(EXTENSIONS_HEADER, ", ".join(ALL_EXTENSIONS))]


def base_url(req: Req) -> str:
    env = req.environ
    host = env.get("HTTP_HOST") or f"{env['SERVER_NAME']}:{env['SERVER_PORT']}"
    return f"{env.get('wsgi.url_scheme', 'http')}://{host}"


def until_of(req: Req) -> int | None:
    return parse_until(req.arg("until"))


def check_time_conditions(req: Req, mtime: float, etag: str = "") -> None:
    """If-Modified-Since -> 304, If-Unmodified-Since -> 412 (protocol.md 9.6), whole seconds."""
    since = parse_http_date_int(req.header("If-Modified-Since"))
    if since is not None and int(mtime) <= since:
        raise NotModified(etag)
    unmodified = parse_http_date_int(req.header("If-Unmodified-Since"))
    if unmodified is not None and int(mtime) > unmodified:
        raise PreconditionFailed("Resource has been modified")


def check_read_conditions(req: Req, info: ObjectInfo) -> None:
    """All four preconditions for an object GET/HEAD."""
    etag = info.etag
    if_match = req.header("If-Match")
    if if_match is not None and if_match.strip() != "*" and not info.etag_matches(if_match):
        raise PreconditionFailed("Resource ETag does not match")
    if_none = req.header("If-None-Match")
    if if_none is not None and (if_none.strip() == "*" or info.etag_matches(if_none)):
        raise NotModified(etag)
    check_time_conditions(req, info.current_mtime, etag)


def write_check(req: Req) -> Callable[[ObjectInfo | None], None] | None:
    """If-Match / If-None-Match for writes, evaluated inside the write transaction."""
    if_match = req.header("If-Match")
    if_none = req.header("If-None-Match")
    if if_match is None and if_none is None:
        return None

    def check(current: ObjectInfo | None) -> None:
        if if_match is not None:
            if current is None:
                raise PreconditionFailed("Resource does not exist")
            if if_match.strip() != "*" and not current.etag_matches(if_match):
                raise PreconditionFailed("Resource ETag does not match")
        if if_none is not None and current is not None:
            if if_none.strip() == "*" or current.etag_matches(if_none):
                raise PreconditionFailed("Resource exists or ETag matches")

    return check


def sharing_of(req: Req) -> Sharing | None | bool:
    """False when X-Object-Sharing is absent; None to clear; else the parsed lists."""
    raw = req.header("X-Object-Sharing")
    if raw is None:
        return False
    parsed = parse_sharing(raw)
    return None if parsed.empty() else parsed


def public_of(req: Req) -> bool | None:
    raw = req.header("X-Object-Public")
    if raw is None:
        return None
    value = raw.strip().lower()
    if value == "true":
        return True
    if value in ("false", ""):
        return False
    raise BadRequest("Invalid X-Object-Public header")
