"""Typed errors of the object-store layer.

Every failure a store reports is a `PithosError` carrying the HTTP status, the
reason, the request path and the server's transaction id, so that the FUSE
layer can map it to one errno and the log can name the cause.
"""

from __future__ import annotations


class PithosError(Exception):
    """A request failed. `status` is the HTTP status (0 for transport failures)."""

    status: int = 0

    def __init__(
        self,
        reason: str = "",
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        trans_id: str = "",
    ) -> None:
        if status is not None:
            self.status = status
        self.reason = reason
        self.method = method
        self.path = path
        self.trans_id = trans_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" {self.method} {self.path}".rstrip() if (self.method or self.path) else ""
        tid = f" [trans {self.trans_id}]" if self.trans_id else ""
        return f"{self.status or 'transport'}{where}: {self.reason}{tid}"


class BadRequest(PithosError):
    status = 400


class Unauthorized(PithosError):
    status = 401


class Forbidden(PithosError):
    status = 403


class NotFound(PithosError):
    status = 404


class Conflict(PithosError):
    """409: a non-empty container on DELETE, or a hashmap with missing blocks."""

    status = 409


class MissingBlocks(Conflict):
    """409 on a hashmap PUT: the server lacks these blocks (hex hashes, first-seen order)."""

    def __init__(self, hashes: list[str], **kw: object) -> None:
        self.hashes = hashes
        super().__init__(f"{len(hashes)} blocks missing", **kw)  # type: ignore[arg-type]


class LengthRequired(PithosError):
    status = 411


class PreconditionFailed(PithosError):
    """412: If-Match/If-None-Match failed (the base version changed)."""

    status = 412


class QuotaExceeded(PithosError):
    status = 413


class TooLarge(PithosError):
    """413 that is not about quota: the object is larger than the server accepts
    (Swift's max_file_size, a proxy's body limit)."""

    status = 413


class RangeNotSatisfiable(PithosError):
    status = 416


class InsufficientStorage(PithosError):
    """507: the server's disk is full (Swift and the embedded server answer this)."""

    status = 507


class ServerError(PithosError):
    """5xx after retries."""

    status = 500


class TransportError(PithosError):
    """Connection refused/reset, timeout, truncated body: no HTTP status."""

    status = 0


class Unsupported(PithosError):
    """The server lacks a Pithos+ extension this call needs (e.g. plain Swift: no hashmaps,
    no partial updates). Raised before sending anything that Swift would misread."""

    status = 0


_BY_STATUS: dict[int, type[PithosError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    411: LengthRequired,
    412: PreconditionFailed,
    413: QuotaExceeded,
    416: RangeNotSatisfiable,
    507: InsufficientStorage,
}


def error_for_status(status: int, reason: str = "") -> type[PithosError]:
    """The exception class for an HTTP status (ServerError for 5xx, PithosError otherwise).

    A 413 is over quota (what Pithos+ means by it) unless its reason speaks of size
    and not of quota (Swift's answer to an object over its size limit).
    """
    if status >= 500 and status not in _BY_STATUS:
        return ServerError
    if status == 413:
        text = reason.lower()
        if "quota" not in text and ("large" in text or "size" in text):
            return TooLarge
    return _BY_STATUS.get(status, PithosError)
