"""HTTP transport: a pool of requests Sessions, retries, typed errors, counters.

Sessions. A Session is not thread-safe, so each request checks one out of a
small LIFO pool for its whole life (all its retries) and returns it after.
Why not a Session per thread: libfuse 3 starts and ends worker threads as the
load changes, so per-thread sessions meant a new TCP connection for most FUSE
callbacks and a leaked, never-closed session per ended thread. The pool keeps
at most `pool_size` idle sessions (each with its keep-alive connection),
creates one when none is idle and closes what it cannot keep. A streamed
response (`stream=True`) keeps its session until the response is closed: its
connection is still reading the body.

Retry policy (why: the FUSE layer must ride out a server restart or a
congested proxy, but must never apply an append twice):
- Idempotent requests (the default for GET/HEAD/PUT/DELETE/COPY, and any call
  the caller marks `idempotent=True`, e.g. a block POST or an explicit-range
  overwrite) are retried on connection errors, timeouts, 408, 429 and 5xx.
- Non-idempotent requests (MOVE, appends) are retried only when the request
  cannot have been applied: the connection was never established, or the
  server answered 429; and they are resent once, at once, on a fresh
  connection when they died on a stale keep-alive connection (below).
- Backoff is exponential with full jitter: sleep uniform(0, base * 2**attempt),
  capped at `max_backoff`.
- Bounded waits: one try fails when the server sends nothing for
  `read_timeout` seconds (15 by default; a transfer that keeps moving is never
  cut), and no try starts, nor waits past, `deadline` seconds (30 by default,
  `pithosfs mount --timeout`) after the call began. A server that accepts
  connections and then stays silent thus fails the call in about `deadline`
  seconds, not attempts x read_timeout (5 minutes before).
- A server found silent (a call ended with its tries timing out) gets
  SILENT_DEADLINE seconds per call, not `deadline`, until it answers anything
  again or SILENT_WINDOW seconds pass: an `open` then `read` of a file, or the
  journal's retries, each meet the silence once, not at full length each.
- A repeat of a request whose earlier try may have been applied (its reply was
  lost) can get an answer that means "done already": a DELETE retried into
  404. Statuses the caller lists in `ok_after_retry` count as success then.
- A 401 triggers one re-authentication (the `reauthenticate` callback returns
  a fresh token, possibly with a new base URL) and one repeat of the request.

Every request, including each retry, goes through `stats.record` with its body
bytes sent and received.

Stale keep-alive connections. A server closes an idle keep-alive connection
whenever it likes (RFC 9112 9.5); urllib3 checks a pooled connection before
reusing it, but a close that crosses our request on the wire is only seen
after sending. Then a request fails although the server never read it, and an
append must not surface that as an error. A non-idempotent request is resent
once, on a fresh connection, in two cases:
- Its bytes did not all leave (sending failed): the server never saw a
  complete request, so it cannot have applied it (a body shorter than its
  Content-Length is refused, never applied). This holds on any connection.
- It went out on a reused connection, and the server closed it in an orderly
  way (FIN) before any byte of a response: `RemoteDisconnected`, or EPIPE
  when its kernel then refused our bytes. That is what a server closing an
  idle connection looks like: it closes only between requests, so the close
  was decided before our request arrived and the request went unread. A
  server that was working on our request answers (even 5xx), times out, or
  aborts with a reset (ECONNRESET); none of these is resent. What remains
  indistinguishable is a server process that read the whole request, applied
  it and died before answering on a reused connection; hence at most once and
  only on reused connections, the trade-off browsers make for the same race.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import requests
import urllib3.connection
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pithosfs.client.errors import (
    MissingBlocks,
    PithosError,
    TransportError,
    error_for_status,
)
from pithosfs.client.stats import TransferStats

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "COPY", "OPTIONS"})
SEND_BLOCKSIZE = 1024 * 1024
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
TRANS_ID_HEADERS = ("X-Trans-Id", "X-Openstack-Request-Id", "X-Request-Id", "X-Compute-Request-Id")


@runtime_checkable
class RewindableBody(Protocol):
    """A streamed request body (read in pieces by http.client) that a retry can replay."""

    def __len__(self) -> int: ...
    def read(self, size: int = -1) -> bytes: ...
    def rewind(self) -> None: ...


def _body_len(data: bytes | RewindableBody | None) -> int:
    return 0 if data is None else len(data)


# (new token, new base URL or None to keep the current one)
Reauthenticator = Callable[[], tuple[str, str | None]]


DEFAULT_DEADLINE = 30.0  # seconds one call may spend on tries and backoff (see module doc)
SILENT_DEADLINE = 5.0  # the deadline of a call while the server is known silent
SILENT_WINDOW = 60.0  # how long a call that timed out marks the server silent


@dataclass
class RetryPolicy:
    attempts: int = 5  # total tries, including the first
    base_backoff: float = 0.2
    max_backoff: float = 10.0
    connect_timeout: float = 10.0
    read_timeout: float = 15.0  # server silent this long: the try fails
    deadline: float = DEFAULT_DEADLINE  # no try starts or waits past this (0: no deadline)

    @classmethod
    def with_deadline(cls, seconds: float) -> RetryPolicy:
        """The default policy with its waits scaled to a deadline of `seconds`."""
        return cls(
            connect_timeout=min(10.0, seconds / 2),
            read_timeout=min(15.0, seconds / 2),
            deadline=seconds,
        )

    def sleep_for(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff, self.base_backoff * 2**attempt))


# How the last request of this thread went out, noted by _TrackedConnection.
_sent = threading.local()


class FileRegion:
    """`length` bytes of an open file at `offset`: a piece of a streamed request body.

    A body's `read()` may return one instead of bytes. Our connections send it
    with `socket.sendfile` (the kernel moves page-cache pages to the socket:
    no copy through Python, which is a third of the client's CPU for a large
    upload). Any other sender (TLS, a proxy's connection) iterates it and gets
    plain bytes in SEND_BLOCKSIZE pieces.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd = fd
        self.offset = offset
        self.length = length

    def fileno(self) -> int:  # for socket.sendfile; no seek(): our fd has no position to keep
        return self._fd

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        done = 0
        while done < self.length:
            piece = os.pread(self._fd, min(SEND_BLOCKSIZE, self.length - done), self.offset + done)
            if not piece:
                raise OSError(f"file shrank: {self.length - done} bytes short")
            done += len(piece)
            yield piece


class _TrackedConnection:
    """Notes, per thread, whether a request reused a keep-alive connection and was sent whole.

    Mixed into urllib3's connection classes. `_served` counts requests since
    the socket was (re)opened; urllib3 reuses a connection object after
    closing it, which resets the count.
    """

    _served = 0
    sock: Any

    def request(self, *args: Any, **kwargs: Any) -> None:
        _sent.tracked = True
        _sent.reused = self.sock is not None and self._served > 0
        _sent.whole = False
        self._served += 1
        super().request(*args, **kwargs)  # type: ignore[misc]
        _sent.whole = True

    def close(self) -> None:
        self._served = 0
        super().close()  # type: ignore[misc]

    def send(self, data: Any) -> None:
        if not isinstance(data, FileRegion) or isinstance(self.sock, ssl.SSLSocket):
            super().send(data)  # type: ignore[misc]
            return
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]
        sent = self.sock.sendfile(data, data.offset, data.length)
        if sent != data.length:
            raise OSError(f"file shrank: sent {sent} of {data.length} bytes")


class _TrackedHTTPConnection(_TrackedConnection, urllib3.connection.HTTPConnection):
    pass


class _TrackedHTTPSConnection(_TrackedConnection, urllib3.connection.HTTPSConnection):
    pass


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class _BigBlockAdapter(HTTPAdapter):
    """Connections that send streamed bodies in 1 MiB pieces (http.client's default is 16 KiB)
    and note how each request went out (see `_unapplied_on_stale_connection`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blocksize", SEND_BLOCKSIZE)
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _TrackedHTTPPool,
            "https": _TrackedHTTPSPool,
        }


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and the exceptions it wraps (requests and urllib3 nest them in args)."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        todo.extend([*e.args, e.__cause__, e.__context__, getattr(e, "reason", None)])
    return seen


def _unapplied_on_stale_connection(exc: requests.RequestException) -> bool:
    """Whether a failed request certainly or (stale keep-alive) almost certainly went unread.

    See the module docstring for why each case is safe to send once more.
    """
    if not getattr(_sent, "tracked", False):
        return False  # not sent through our connections (e.g. a proxy): know nothing
    if not _sent.whole:
        return True
    if not _sent.reused:
        return False
    return any(
        isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError)) for e in _causes(exc)
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request certainly did not reach the server (safe to repeat anything)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(inner, urllib3.exceptions.NewConnectionError)
    return False


def _trans_id(resp: requests.Response) -> str:
    for name in TRANS_ID_HEADERS:
        if name in resp.headers:
            return resp.headers[name]
    return ""


def _reason(resp: requests.Response) -> str:
    """The fault message of a JSON error body (protocol.md 1.4), else the HTTP reason."""
    try:
        body = resp.json()
    except ValueError:
        text = resp.text.strip()
        return text[:200] if text else (resp.reason or "")
    if isinstance(body, dict) and len(body) == 1:
        fault = next(iter(body.values()))
        if isinstance(fault, dict) and fault.get("message"):
            return str(fault["message"])
    return resp.reason or ""


def _new_session() -> requests.Session:
    sess = requests.Session()
    # One request at a time uses a session (see _SessionPool), so one keep-alive
    # connection per host is all it needs.
    adapter = _BigBlockAdapter(pool_connections=4, pool_maxsize=1, max_retries=0)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    # Stored bytes, never a compressed transfer encoding of them.
    sess.headers["Accept-Encoding"] = "identity"
    return sess


class _SessionPool:
    """Sessions lent to one request at a time; the most recently returned is lent first.

    LIFO so that a burst's extra sessions sink to the bottom and the busy few
    keep warm connections. At most `keep` idle sessions are kept; others are
    closed when returned. No cap on sessions in use: a request never waits
    for another's session.
    """

    def __init__(self, make: Callable[[], requests.Session], keep: int) -> None:
        self._make = make
        self._keep = keep
        self._lock = threading.Lock()
        self._idle: list[requests.Session] = []  # GUARDED_BY(_lock); last = next lent
        self._busy: set[requests.Session] = set()  # GUARDED_BY(_lock)
        self._retired: set[requests.Session] = set()  # busy at close(): close when back
        self.created = 0  # GUARDED_BY(_lock); sessions ever made (tests check reuse)

    def checkout(self) -> requests.Session:
        with self._lock:
            if self._idle:
                sess = self._idle.pop()
            else:
                sess = self._make()
                self.created += 1
            self._busy.add(sess)
            return sess

    def checkin(self, sess: requests.Session) -> None:
        with self._lock:
            if sess not in self._busy:
                return  # returned already (a streamed response closed twice)
            self._busy.discard(sess)
            keep = sess not in self._retired and len(self._idle) < self._keep
            self._retired.discard(sess)
            if keep:
                self._idle.append(sess)
                return
        sess.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._retired |= self._busy
        for sess in idle:
            sess.close()

    def counts(self) -> tuple[int, int]:
        """(idle, in use) sessions right now."""
        with self._lock:
            return len(self._idle), len(self._busy)


def _checkin_when_closed(resp: requests.Response, checkin: Callable[[], None]) -> None:
    """Return a streamed response's session once the caller closes it (or `with resp:` ends)."""
    close = resp.close

    def close_and_checkin() -> None:
        try:
            close()
        finally:
            checkin()

    resp.close = close_and_checkin  # type: ignore[method-assign]


def _drop_pooled_connections(sess: requests.Session) -> None:
    """Close a session's idle connections: they may be as stale as the one that failed."""
    for adapter in sess.adapters.values():
        adapter.close()  # clears the pools; new ones open on demand


class Transport:
    """Sends requests relative to a base URL with the token, retries and counters."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        stats: TransferStats | None = None,
        reauthenticate: Reauthenticator | None = None,
        pool_size: int = 16,  # idle sessions (keep-alive connections) kept for reuse
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retry = retry or RetryPolicy()
        self.stats = stats or TransferStats()
        self._reauthenticate = reauthenticate
        self._sessions = _SessionPool(_new_session, keep=pool_size)
        self._auth_lock = threading.Lock()
        # monotonic time until which the server counts as silent (0: it answers)
        self._silent_until = 0.0
        # (scheme, host:port) -> requests' send() settings from the environment
        self._env_settings: dict[tuple[str, str], Mapping[str, Any]] = {}

    def set_reauthenticator(self, reauthenticate: Reauthenticator | None) -> None:
        self._reauthenticate = reauthenticate

    def can_reauthenticate(self) -> bool:
        return self._reauthenticate is not None

    def close(self) -> None:
        """Close the idle sessions now, and those in use when their requests end."""
        self._sessions.close()

    def request(
        self,
        method: str,
        path: str = "",
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | RewindableBody | None = None,
        idempotent: bool | None = None,
        ok: Iterable[int] = (),
        stream: bool = False,
        absolute_url: str | None = None,
        ok_after_retry: Iterable[int] = (),
    ) -> requests.Response:
        """Send with retries; return the response or raise a PithosError subclass.

        `path` is already percent-encoded and joined to the base URL. Statuses
        below 300 and those in `ok` are returned; others raise. Statuses in
        `ok_after_retry` are returned when they answer a repeat of a try that
        may have been applied (see the module docstring).
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        sess = self._sessions.checkout()
        try:
            resp = self._request(
                sess, method, path, params, headers, data, idempotent, set(ok), stream,
                absolute_url, frozenset(ok_after_retry),
            )  # fmt: skip
        except BaseException:
            self._sessions.checkin(sess)
            raise
        if stream:
            _checkin_when_closed(resp, lambda: self._sessions.checkin(sess))
        else:
            self._sessions.checkin(sess)
        return resp

    def _request(
        self,
        sess: requests.Session,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        data: bytes | RewindableBody | None,
        idempotent: bool,
        accepted: set[int],
        stream: bool,
        absolute_url: str | None,
        ok_after_retry: frozenset[int] = frozenset(),
    ) -> requests.Response:
        """`request` on one checked-out session, all attempts included."""
        reauthed = False
        resent = False  # the one resend of a non-idempotent request (stale connection)
        maybe_applied = False  # an earlier try may have been applied (its reply was lost)
        attempt = 0
        started = time.monotonic()
        deadline = self._deadline(started)
        while True:
            url = absolute_url or (self.base_url + path)
            hdrs = {"X-Auth-Token": self.token, **(headers or {})}
            # bytes first: a Protocol isinstance costs 20 us (timeit), and most bodies are bytes
            if (
                data is not None
                and not isinstance(data, bytes)
                and isinstance(data, RewindableBody)
            ):
                data.rewind()  # a retry sends the body again from its start
            try:
                resp = self._send(
                    sess, method, url, params, hdrs, data, self._timeouts(started, deadline)
                )
                received = 0 if stream else _read_body(resp)
            except requests.RequestException as exc:
                self.stats.record(method, _body_len(data), 0)
                maybe_applied = maybe_applied or not _never_sent(exc)
                stale = not _never_sent(exc) and _unapplied_on_stale_connection(exc)
                if not idempotent and not resent and stale:  # (refused: backoff below)
                    resent = True
                    log.info("%s %s: connection closed under it (%r); resending once on a "
                             "fresh connection", method, _path_of(url), exc)  # fmt: skip
                    self.stats.record_retry()
                    _drop_pooled_connections(sess)
                    continue
                can_retry = idempotent or _never_sent(exc)
                if can_retry and self._may_retry(attempt, started, deadline):
                    self._backoff(method, url, attempt, repr(exc))
                    attempt += 1
                    continue
                if isinstance(exc, requests.Timeout):
                    self._silent_until = time.monotonic() + SILENT_WINDOW
                raise TransportError(
                    f"{type(exc).__name__}: {exc}", method=method, path=_path_of(url)
                ) from exc
            self.stats.record(method, _body_len(data), received)
            self._silent_until = 0.0  # it answers
            status = resp.status_code
            if log.isEnabledFor(logging.DEBUG):  # keep the hot path free of formatting
                log.debug(
                    "%s %s -> %d (%d B out, %d B in)",
                    method, _path_of(url), status, _body_len(data), received,
                )  # fmt: skip
            if status < 300 or status in accepted:
                return resp
            if maybe_applied and status in ok_after_retry:
                log.info("%s %s -> %d on a repeat: the earlier try was applied", method,
                         _path_of(url), status)  # fmt: skip
                return resp
            if stream:  # an answer we do not hand out: read it (for the error) and free it
                try:
                    _read_body(resp)
                except requests.RequestException:
                    pass  # closed by _read_body; the status alone decides what follows
            if status == 401 and not reauthed and self._reauthenticate is not None:
                reauthed = True
                self._renew_token(hdrs["X-Auth-Token"])
                continue
            retryable = status in RETRY_STATUSES and (idempotent or status == 429)
            if retryable and self._may_retry(attempt, started, deadline):
                maybe_applied = maybe_applied or status >= 500  # a gateway may have passed it on
                self._backoff(method, url, attempt, f"HTTP {status}")
                attempt += 1
                continue
            raise self.error(resp, method, url, params)

    def _deadline(self, started: float) -> float:
        """The deadline of a call starting now: shorter while the server is known silent."""
        deadline = self.retry.deadline
        if deadline > 0 and started < self._silent_until:
            return min(deadline, SILENT_DEADLINE)
        return deadline

    def _may_retry(self, attempt: int, started: float, deadline: float) -> bool:
        """Whether another try may start: tries left, and the call's deadline not passed."""
        if attempt + 1 >= self.retry.attempts:
            return False
        return deadline <= 0 or time.monotonic() - started < deadline

    def _timeouts(self, started: float, deadline: float) -> tuple[float, float]:
        """(connect, read) timeouts of the next try: never waiting past the call's deadline."""
        connect, read = self.retry.connect_timeout, self.retry.read_timeout
        if deadline > 0:
            left = max(deadline - (time.monotonic() - started), 1.0)
            connect, read = min(connect, left), min(read, left)
        return connect, read

    def _send(
        self,
        sess: requests.Session,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
        data: bytes | RewindableBody | None,
        timeouts: tuple[float, float] | None = None,
    ) -> requests.Response:
        _sent.tracked = False
        prep = sess.prepare_request(
            requests.Request(method, url, params=params, headers=dict(headers), data=data)
        )
        if "%2E" in url:
            # requests re-quotes the URL and turns %2E back into '.', and urllib3
            # then drops "." and ".." segments: object names like "a/../b" would
            # silently address another object. Restore the path exactly as built.
            query = urlsplit(prep.url or "").query
            prep.url = url + ("?" + query if query else "")
        settings = self._environment_settings(sess, prep.url or url)
        return sess.send(
            prep,
            timeout=timeouts or (self.retry.connect_timeout, self.retry.read_timeout),
            allow_redirects=False,
            **settings,
        )

    def _environment_settings(self, sess: requests.Session, url: str) -> dict[str, Any]:
        """requests' settings from the environment (proxies, CA bundle) for url's origin.

        Why cached: requests reads them again for every request, scanning the
        whole environment twice for proxy variables: 171 us of CPU per request
        measured here (0.6 us cached), paid by every small file a mount commits.
        They depend on the URL only through its scheme and host (no_proxy), and
        a mount's environment does not change while it runs; sessions carry no
        settings of their own (see _new_session), so any session's answer holds.
        """
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        settings = self._env_settings.get(key)
        if settings is None:
            settings = sess.merge_environment_settings(url, {}, True, None, None)
            self._env_settings[key] = settings
        # Copies: nothing requests does to one request's settings may reach the next.
        return {**settings, "proxies": dict(settings.get("proxies") or {})}

    def _backoff(self, method: str, url: str, attempt: int, why: str) -> None:
        delay = self.retry.sleep_for(attempt)
        if self.retry.deadline > 0:
            delay = min(delay, self.retry.deadline / 10)
        log.warning(
            "%s %s failed (%s); retry %d in %.2fs", method, _path_of(url), why, attempt + 1, delay
        )
        self.stats.record_retry()
        time.sleep(delay)

    def replace_token(self, token: str) -> None:
        """Send `token` from the next request on (a token the user renewed)."""
        with self._auth_lock:
            self.token = token

    def _renew_token(self, refused: str) -> None:
        assert self._reauthenticate is not None
        with self._auth_lock:
            if self.token != refused:
                return  # another thread renewed it while we waited: just repeat with it
            log.info("401 from the server: re-authenticating once")
            token, base = self._reauthenticate()
            self.token = token
            if base:
                self.base_url = base.rstrip("/")
            self.stats.record_reauth()

    @staticmethod
    def error(
        resp: requests.Response, method: str, url: str, params: Mapping[str, str] | None = None
    ) -> PithosError:
        """The typed exception for an error response."""
        status = resp.status_code
        kw = {
            "status": status,
            "method": method,
            "path": _path_of(url),
            "trans_id": _trans_id(resp),
        }
        if status == 409 and method == "PUT" and params and "hashmap" in params:
            try:
                missing = json.loads(resp.content or b"[]")
            except ValueError:
                missing = None
            if isinstance(missing, list) and missing:
                return MissingBlocks([str(h) for h in missing], **kw)
        reason = _reason(resp)
        cls = error_for_status(status, reason)
        return cls(reason, **kw)  # type: ignore[arg-type]


def _read_body(resp: requests.Response) -> int:
    """Read the whole body in one urllib3 call and return its length.

    Why not `resp.content`: it joins 10 KiB iter_content chunks, which caps a
    4 MiB block GET at a fraction of the link speed. And `decode_content=False`
    because an object's Content-Encoding is user metadata in Pithos: the
    filesystem wants the stored bytes, never a transparently gunzipped body.
    """
    try:
        body = resp.raw.read(decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        resp.close()
        raise requests.ConnectionError(exc) from exc
    resp._content = body  # noqa: SLF001
    resp._content_consumed = True  # type: ignore[attr-defined]  # noqa: SLF001
    resp.close()  # returns the connection to the pool
    return len(body)


def _path_of(url: str) -> str:
    """The path and query of a URL, for error messages (never the token)."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
