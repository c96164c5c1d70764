"""The connection front: what a client socket gets before (and between) worker threads.

cheroot parks idle keep-alive connections in a selector, but it hands every
newly accepted connection, and every parked one that turns readable, straight
to a worker thread, which then blocks reading the request line and headers
with only a per-read timeout. A socket that sends nothing holds a worker for
the whole timeout, and one that sends a byte now and then holds it forever:
32 such sockets stopped the server. Here, in the selector thread:

* Request headers are gathered with non-blocking reads into a per-connection
  buffer; a worker gets the connection only once they are complete (the bytes
  are handed over in front of the socket, `fastio.PacedSocketIO`). Idle and
  trickling sockets never hold a worker.
* Deadlines (`Limits`): headers must be complete within `header_deadline` of
  their first byte (of the accept, for a new connection), else 408 and close;
  a kept-alive connection with nothing sent is closed after `idle_timeout`.
  Bodies are paced in the worker (`body_grace` + `body_min_rate`), see
  `fastio.PacedSocketIO`.
* At most `per_client` open connections per client address. At the cap, the
  address's longest-waiting parked connection is closed to make room; if all
  of its connections are in workers, the new one gets 503 and is closed. At
  most `max_connections` in all, the same way.
* Workers: a base of `workers`, grown on demand (a body or a response to a slow
  reader keeps a worker busy) up to `max_workers`, idle extras retired again.
  Pool changes happen on a keeper thread that looks four times a second:
  cheroot's grow() waits for each new thread, which must not stall the selector,
  and counting idle workers on every request would cost each request.
"""

from __future__ import annotations

import errno
import json
import logging
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cheroot import connections, wsgi

log = logging.getLogger(__name__)

RECV_SIZE = 64 * 1024
KEEPER_TICK = 0.25


@dataclass(frozen=True)
class Limits:
    header_deadline: float = 20.0  # request line + headers, from their first byte
    idle_timeout: float = 60.0  # a kept-alive connection waiting for its next request
    body_grace: float = 20.0  # a body may take this long, plus 1 s per body_min_rate bytes
    body_min_rate: float = 1024.0
    write_timeout: float = 60.0  # each socket write of a response (at most one block)
    per_client: int = 64  # open connections per client address
    max_connections: int = 1024
    workers: int = 32  # base worker threads
    max_workers: int = 256
    spare_workers: int = 4  # free workers kept ready: fewer, and the pool grows
    max_header_bytes: int = 256 * 1024


def _fault(status: int, key: str, message: str) -> bytes:
    body = json.dumps({key: {"code": status, "message": message, "details": ""}}).encode()
    reason = {408: "Request Timeout", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


TIMED_OUT = _fault(408, "requestTimeout", "Request headers not received in time")
TOO_MANY = _fault(503, "serviceUnavailable", "Too many connections from this address")


def headers_complete(buf: bytearray, searched: int) -> bool:
    """Whether the buffer holds a blank line ending the headers (CRLF or bare LF).

    `searched`: bytes already looked at, so each byte is scanned about once."""
    start = max(0, searched - 2)
    return buf.find(b"\n\r\n", start) >= 0 or buf.find(b"\n\n", start) >= 0


class _Selector(Protocol):
    """cheroot's _ThreadsafeSelector as used here (its stub types `connections` as None)."""

    def __len__(self) -> int: ...
    @property
    def connections(self) -> Iterator[tuple[int, Any]]: ...
    def register(self, fileobj: Any, events: int, data: Any = None) -> Any: ...
    def unregister(self, fileobj: Any) -> Any: ...
    def select(self, timeout: float | None = None) -> Iterable[tuple[int, Any]]: ...


class Front(connections.ConnectionManager):
    """cheroot's connection manager with the header intake, deadlines and caps above."""

    if TYPE_CHECKING:  # cheroot's own members this class builds on, absent from its stub
        _selector: _Selector
        _stop_requested: bool

        def _remove_invalid_sockets(self) -> None: ...
        def _from_server_socket(self, server_socket: socket.socket) -> Any: ...

    def __init__(self, server: Any, limits: Limits) -> None:
        super().__init__(server)
        self.limits = limits
        self._count_lock = threading.Lock()
        self._per_client: Counter[str] = Counter()
        self._open = 0
        self._stopping = threading.Event()
        self._keeper = threading.Thread(target=self._keep_pool, name="pithos-pool", daemon=True)
        self._keeper.start()

    # ---- bookkeeping of open connections -------------------------------------------

    def _admit(self, conn: Any) -> bool:
        """Count a new connection in, making room at a cap; False if it must be refused."""
        addr = str(getattr(conn, "remote_addr", "") or "")
        while True:
            with self._count_lock:
                full_client = self._per_client[addr] >= self.limits.per_client
                full = self._open >= self.limits.max_connections
                if not (full_client or full):
                    self._per_client[addr] += 1
                    self._open += 1
                    conn.front_addr = addr
                    conn.front_owner = self
                    return True
            victim = self._longest_parked(addr if full_client else None)
            if victim is None:
                return False
            log.info("connection cap reached for %s: closing a waiting connection", addr or "*")
            self._drop(*victim)

    def closed(self, conn: Any) -> None:
        """Called once per connection when it closes, from whatever thread closes it."""
        addr = getattr(conn, "front_addr", None)
        if addr is None:
            return
        conn.front_addr = None
        with self._count_lock:
            self._open -= 1
            self._per_client[addr] -= 1
            if self._per_client[addr] <= 0:
                del self._per_client[addr]

    def open_from(self, addr: str) -> int:
        """Open connections from a client address (for status and tests)."""
        with self._count_lock:
            return self._per_client.get(addr, 0)

    @property
    def waiting(self) -> int:
        """Connections parked here: idle, or with their headers still arriving."""
        return len(self._selector) - 1

    def _longest_parked(self, addr: str | None) -> tuple[Any, int] | None:
        """(connection, fd) of the parked connection (of `addr`) that waited longest."""
        parked = [
            (conn, fd)
            for fd, conn in self._selector.connections
            if conn is not self.server and (addr is None or conn.front_addr == addr)
        ]
        return min(parked, key=lambda pair: pair[0].front_since, default=None)

    def _drop(self, conn: Any, fd: int | None = None, reply: bytes = b"") -> None:
        """Close a connection the front holds (parked, or just accepted)."""
        try:
            self._selector.unregister(conn.socket.fileno() if fd is None else fd)
        except (KeyError, ValueError, OSError):
            pass  # not parked (just accepted), or already taken out
        if conn.socket.fileno() < 0:  # closed already earlier in this round
            return
        if reply:
            try:
                conn.socket.send(reply, socket.MSG_DONTWAIT)
            except OSError:
                pass
        conn.close()

    # ---- parking and intake ----------------------------------------------------------

    def _park(self, conn: Any, deadline: float) -> None:
        conn.front_deadline = deadline
        conn.front_since = time.monotonic()
        self._selector.register(conn.socket.fileno(), selectors.EVENT_READ, data=conn)

    def put(self, conn: Any) -> None:
        """A worker finished a request and keeps the connection: wait for the next one here."""
        conn.last_used = time.time()
        conn.rfile.paced.unpaced()
        leftover = conn.rfile.take_unread()  # a pipelined request read with the last one
        conn.front_intake = bytearray(leftover)
        conn.front_searched = 0
        now = time.monotonic()
        if leftover:
            if self._intake_done(conn):
                self._dispatch(conn, now + self.limits.header_deadline)
                return
            self._park(conn, now + self.limits.header_deadline)
        else:
            self._park(conn, now + self.limits.idle_timeout)

    def _accepted(self, conn: Any) -> None:
        if not self._admit(conn):
            log.warning(
                "refusing a connection from %s: every one of its connections is busy",
                getattr(conn, "remote_addr", "?"),
            )
            conn.socket.setblocking(False)
            self._drop(conn, reply=TOO_MANY)
            return
        conn.front_intake = bytearray()
        conn.front_searched = 0
        self._park(conn, time.monotonic() + self.limits.header_deadline)

    def _readable(self, fd: int, conn: Any) -> None:
        if getattr(conn, "front_addr", None) is None:  # closed earlier in this round
            return
        try:
            data = conn.socket.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                log.debug("read error on a waiting connection: %s", exc)
            data = b""
        if not data:  # the client closed (or reset) the connection
            self._drop(conn, fd)
            return
        if not conn.front_intake:  # first byte of a request: the header deadline starts
            conn.front_deadline = time.monotonic() + self.limits.header_deadline
        conn.front_intake += data
        if self._intake_done(conn):
            self._selector.unregister(fd)
            self._dispatch(conn, conn.front_deadline)

    def _intake_done(self, conn: Any) -> bool:
        buf = conn.front_intake
        if len(buf) > self.limits.max_header_bytes:
            return True  # cheroot's parser answers 413/414 from what is there
        done = headers_complete(buf, conn.front_searched)
        conn.front_searched = len(buf)
        return done

    def _dispatch(self, conn: Any, deadline: float) -> None:
        conn.rfile.paced.prime(bytes(conn.front_intake))
        conn.rfile.paced.expect_headers(deadline)
        conn.front_intake = bytearray()
        self.server.process_conn(conn)

    # ---- the selector loop -----------------------------------------------------------

    def _run(self, expiration_interval: float) -> None:
        last_check = time.monotonic()
        while not self._stop_requested:
            try:
                ready = list(self._selector.select(timeout=expiration_interval))
            except OSError:
                self._remove_invalid_sockets()
                continue
            for fd, conn in ready:
                if conn is self.server:
                    new = self._from_server_socket(self.server.socket)
                    if new is not None:
                        self._accepted(new)
                else:
                    self._readable(fd, conn)
            now = time.monotonic()
            if now - last_check > expiration_interval:
                self._expire_waiting(now)
                last_check = now

    def _expire_waiting(self, now: float) -> None:
        late = [
            (conn, fd)
            for fd, conn in self._selector.connections
            if conn is not self.server and conn.front_deadline < now
        ]
        for conn, fd in late:
            # Idle keep-alive connections are closed silently (RFC 9112 9.5); a request
            # whose headers did not arrive in time gets its 408.
            self._drop(conn, fd, TIMED_OUT if conn.front_intake else b"")

    def _expire(self, threshold: float) -> None:  # cheroot's hook; deadlines are per connection
        self._expire_waiting(time.monotonic())

    # ---- the worker pool -------------------------------------------------------------

    def _keep_pool(self) -> None:
        """Grow the pool while fewer than `spare_workers` are free; retire extras when idle."""
        pool = self.server.requests
        calm = 0
        while not self._stopping.wait(KEEPER_TICK):
            if not self.server.ready:
                continue
            free = pool.idle - pool.qsize
            if free < self.limits.spare_workers:
                calm = 0
                pool.grow(self.limits.spare_workers - free)
            elif free > self.limits.spare_workers:
                calm += 1
                if calm >= 4:  # one a second at most: a burst does not make the pool flap
                    calm = 0
                    pool.shrink(1)

    def stop(self) -> None:
        self._stopping.set()
        super().stop()


class FrontServer(wsgi.Server):
    """cheroot's WSGI server with `Front` as its connection manager."""

    _connections: Any  # cheroot's connection manager (absent from its stub); prepare() sets a Front

    def __init__(self, bind_addr: Any, wsgi_app: Any, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(
            bind_addr,
            wsgi_app,
            numthreads=limits.workers,
            max=max(limits.workers, limits.max_workers),
            # a socket timeout, which may be a float (the stub says int)
            timeout=limits.write_timeout,  # type: ignore[arg-type]
            **kwargs,
        )
        self.limits = limits
        self.max_request_header_size = limits.max_header_bytes

    def prepare(self) -> None:
        super().prepare()
        plain = self._connections
        self._connections = Front(self, self.limits)
        plain.close()  # its selector; it never held a connection
