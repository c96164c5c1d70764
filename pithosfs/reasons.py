"""One-line reasons for the failures a user's settings cause, each naming what to fix.

`mount` and `config` print these after "pithosfs: " instead of the client's
exception text (which for a refused connection is urllib3's nested repr, and
for a wrong URL path said that the identity service "refused the token").
"""

from __future__ import annotations

import http
import re
from urllib.parse import urlsplit

from pithosfs.client.errors import PithosError, TransportError, Unauthorized

CHECK_URL = "check the URL (`pithosfs config` shows where it comes from)"
CHECK_TOKEN = "check the token (--token, $PITHOS_TOKEN or the kamakirc cloud's token)"
_HOST_PORT = re.compile(r"host='([^']*)', port=(\d+)")
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_UNRESOLVED = ("Name or service not known", "Failed to resolve", "name resolution",
               "nodename nor servname", "No address associated")  # fmt: skip


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _host_port(exc: PithosError) -> str:
    """HOST:PORT the failed request went to, from urllib3's text or the request URL."""
    found = _HOST_PORT.search(str(exc))
    if found:
        return f"{found.group(1)}:{found.group(2)}"
    parts = urlsplit(exc.path)
    if parts.hostname:
        default = 443 if parts.scheme == "https" else 80
        return f"{parts.hostname}:{parts.port or default}"
    return exc.path or "the server"


def connection(exc: PithosError) -> str:
    """A request that got no HTTP answer: refused, unresolvable, timed out, reset."""
    text = str(exc)
    where = _host_port(exc)
    if "Connection refused" in text:
        return f"cannot connect to {where}: connection refused (is the server running?); {CHECK_URL}"
    if any(marker in text for marker in _UNRESOLVED):
        host = where.rsplit(":", 1)[0]
        return f"cannot resolve the host name {host}; {CHECK_URL}"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return f"no answer from {where} in time (timed out); {CHECK_URL}, or the network"
    found = _ERRNO_TEXT.search(text)
    why = found.group(1).strip() if found else "no HTTP answer"
    return f"cannot reach {where}: {why}; {CHECK_URL}"


def refusal(exc: PithosError) -> str:
    """What the server's answer (or its absence) means for the user's settings."""
    if isinstance(exc, TransportError) or (exc.status == 0 and _HOST_PORT.search(str(exc))):
        return connection(exc)
    status = exc.status
    request = f"{exc.method} {exc.path}".strip()
    answered = f"{request} answered {status} {_phrase(status)}" if status else str(exc)
    if isinstance(exc, Unauthorized) and "login" in exc.reason.lower():
        return f"login refused: {exc.reason} ({answered}); check the user name and key"
    if status == 401:
        return f"bad token: the server refused it ({answered}); {CHECK_TOKEN}"
    if exc.path.endswith("/tokens") and status in (400, 404, 405):
        identity = exc.path.removesuffix("/tokens")
        return (
            f"no identity service at {identity} ({answered}); {CHECK_URL}: an identity URL "
            "ends in /identity/v2.0 (Astakos) or /v2.0 (Keystone)"
        )
    if status in (400, 404, 405):
        return (
            f"no storage account there ({answered}); {CHECK_URL}: a storage URL ends in "
            "/v1/ACCOUNT, an identity URL in /v2.0"
        )
    if status == 403:
        return f"the token may not use that account ({answered}); check the account in the URL"
    if status >= 500:
        return f"the server failed ({answered}); try again later, or see the server's log"
    if status:
        return f"unexpected answer ({answered}: {exc.reason})"
    return f"unusable answer from the server: {exc.reason}"
