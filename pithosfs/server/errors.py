"""Domain errors raised by the backend and the controllers.

Each carries the HTTP status and the fault key of protocol.md 1.4; `app.py` turns
them into responses in one place, so no module below it builds an error body.
"""

from __future__ import annotations


class PithosFault(Exception):
    """Base of every client-visible failure. Never raised directly."""

    status = 500
    fault = "internalServerError"

    def __init__(self, message: str = "", details: str = "") -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.default_message()
        self.details = details

    @classmethod
    def default_message(cls) -> str:
        return cls.__name__


class NotModified(PithosFault):
    status = 304
    fault = "notModified"

    def __init__(self, etag: str = "") -> None:
        super().__init__("Not Modified")
        self.etag = etag


class BadRequest(PithosFault):
    status = 400
    fault = "badRequest"


class Unauthorized(PithosFault):
    status = 401
    fault = "unauthorized"


class Forbidden(PithosFault):
    status = 403
    fault = "forbidden"


class NotFound(PithosFault):
    status = 404
    fault = "itemNotFound"


class MethodNotAllowed(PithosFault):
    status = 405
    fault = "notAllowed"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__("Method not allowed")
        self.allowed = allowed


class Conflict(PithosFault):
    status = 409
    fault = "conflict"


class MissingBlocks(Conflict):
    """Hashmap PUT naming blocks the store lacks: the body is the bare JSON list (protocol.md 7.3)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("Missing blocks")
        self.missing = missing


class LengthRequired(PithosFault):
    status = 411
    fault = "lengthRequired"


class PreconditionFailed(PithosFault):
    status = 412
    fault = "preconditionFailed"


class RequestEntityTooLarge(PithosFault):
    status = 413
    fault = "requestEntityTooLarge"


class RequestTimeout(PithosFault):
    status = 408
    fault = "requestTimeout"


class RangeNotSatisfiable(PithosFault):
    status = 416
    fault = "rangeNotSatisfiable"


class UnprocessableEntity(PithosFault):
    status = 422
    fault = "unprocessableEntity"


class InsufficientStorage(PithosFault):
    """The server's disk (or the database's) is full: 507 (RFC 4918), as Swift answers."""

    status = 507
    fault = "insufficientStorage"


class ClientDisconnected(Exception):
    """The request body ended before its declared length: nothing may be committed."""
