"""FaultProxy: an HTTP/1.1 proxy between a mount and the server that injects faults on demand.

Tests point the mount at `proxy.url` and add `Fault`s; each fault matches requests by
method and path (a regex on the request target) and fires a limited number of times:

* `reset`: the client's connection is reset (RST) before the request is forwarded;
* `delay`: the request is forwarded after `seconds`;
* `status`: the proxy answers `status` itself (500, 503, ...) without forwarding;
* `truncate`: the server's answer is forwarded with its full headers but only the first
  `after_bytes` of its body, then the connection is closed (a short read for the client);
* `cut_upload`: the request head and the first `after_bytes` of its body reach the server,
  then both connections are reset (an upload cut off mid-body; when `after_bytes` covers the
  whole body, the server gets all of it and only its answer is lost);
* `lose_answer`: the whole request reaches the server and its whole answer is read (so the
  request was certainly applied), then the client's connection is reset without it.

The upstream can be changed (`retarget`) while the proxy runs, so a test can kill the server
and start it again on another port while the mount keeps its URL. When the upstream
refuses, the client's connection is reset: to the client the server is simply gone.

Why a parser and not a byte pipe: faults are per request, and keep-alive connections carry
many requests, so the proxy must know where each request and answer ends. It understands
Content-Length and chunked bodies in both directions; anything else is passed through until
the server closes.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

PIECE = 256 * 1024
HEAD_LIMIT = 256 * 1024
_NO_BODY_STATUSES = (204, 304)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class Fault:
    kind: str  # reset | delay | status | truncate | cut_upload | lose_answer
    method: str = ""  # "" matches every method
    path: str = ""  # regex searched in the request target; "" matches every path
    times: int = 1  # how often it fires; -1: every time
    status: int = 503
    seconds: float = 0.0
    after_bytes: int = 0
    min_body: int = 0  # only requests with at least this many body bytes (cut_upload)
    fired: int = 0

    def matches(self, method: str, target: str, body_len: int) -> bool:
        if self.times >= 0 and self.fired >= self.times:
            return False
        if self.method and self.method != method:
            return False
        if self.path and not re.search(self.path, target):
            return False
        return body_len >= self.min_body


class _Closed(Exception):
    """A peer closed or reset the connection: drop this client connection."""


class _Stream:
    """Buffered reads from a socket: lines, exact counts and pieces."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        try:
            data = self.sock.recv(PIECE)
        except OSError as exc:
            raise _Closed(str(exc)) from exc
        if not data:
            raise _Closed("eof")
        self.buf += data

    def head(self) -> bytes:
        """Up to and including the blank line ending an HTTP head."""
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > HEAD_LIMIT:
                raise _Closed("head too large")
            self._fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def piece(self, limit: int) -> bytes:
        """At most `limit` bytes, as soon as some are available."""
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:limit], self.buf[limit:]
        return out

    def rest(self) -> bytes | None:
        """The next bytes until EOF, or None at EOF (a body delimited by close)."""
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        try:
            data = self.sock.recv(PIECE)
        except OSError:
            return None
        return data or None


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    fields: dict[str, str] = {}
    for raw in lines[1:]:
        if ":" in raw:
            name, value = raw.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


def _body_kind(fields: dict[str, str]) -> tuple[str, int]:
    """("chunked", 0), ("length", n) or ("none", 0) for a request head."""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return "chunked", 0
    if "content-length" in fields:
        return "length", int(fields["content-length"])
    return "none", 0


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0), as a crashed peer or middlebox."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError as exc:
        raise _Closed(str(exc)) from exc


def _copy_length(src: _Stream, dst: socket.socket, length: int, budget: int = -1) -> bool:
    """Copy `length` body bytes; with budget >= 0 stop after that many. True if all copied."""
    left = length
    while left > 0:
        want = min(left, PIECE) if budget < 0 else min(left, PIECE, budget)
        if want == 0:
            return False
        data = src.piece(want)
        _send(dst, data)
        left -= len(data)
        if budget >= 0:
            budget -= len(data)
    return True


def _copy_chunked(src: _Stream, dst: socket.socket, budget: int = -1) -> bool:
    """Copy a chunked body through; with budget >= 0 stop after that many data bytes."""
    while True:
        size_line = src.line()
        size = int(size_line.split(b";")[0].strip(), 16)
        if budget >= 0 and size > budget:
            _send(dst, size_line)
            _copy_length(src, dst, size, budget)
            return False
        _send(dst, size_line)
        if size == 0:
            while True:  # trailers, up to the blank line
                trailer = src.line()
                _send(dst, trailer)
                if trailer == b"\r\n":
                    return True
        _copy_length(src, dst, size)
        _send(dst, src.line())  # the CRLF after the chunk data
        if budget >= 0:
            budget -= size


@dataclass
class FaultProxy:
    """Listen on 127.0.0.1:<free port>, forward to `upstream`, inject the faults added."""

    upstream: tuple[str, int]
    faults: list[Fault] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control ---------------------------------------------------------------
    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def retarget(self, upstream: tuple[str, int]) -> None:
        """Send new connections to another server; established ones are reset."""
        with self._lock:
            self.upstream = upstream
        self.drop_connections()

    def drop_connections(self) -> None:
        """Reset every connection in flight (both sides), as a network cut would."""
        with self._lock:
            socks, self._open = list(self._open), set()
        for sock in socks:
            _reset(sock)

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close() alone does not
        except OSError:
            pass
        self._listener.close()
        self.drop_connections()
        self._thread.join(timeout=5)

    # -- forwarding ------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _pick(self, method: str, target: str, body_len: int) -> Fault | None:
        with self._lock:
            self.requests += 1
            for fault in self.faults:
                if fault.matches(method, target, body_len):
                    fault.fired += 1
                    self.injected[fault.kind] += 1
                    return fault
        return None

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        upstream: socket.socket | None = None
        try:
            reader = _Stream(client)
            while True:
                head = reader.head()
                request_line, fields = _headers(head)
                method, target = (request_line.split(" ") + ["", ""])[:2]
                kind, length = _body_kind(fields)
                fault = self._pick(method, target, length)
                if fault is not None and fault.kind == "reset":
                    _reset(client)
                    return
                if fault is not None and fault.kind == "status":
                    self._answer_status(client, reader, fault.status, kind, length)
                    continue
                if fault is not None and fault.kind == "delay":
                    time.sleep(fault.seconds)
                if upstream is None:
                    upstream = self._connect()
                    if upstream is None:
                        _reset(client)
                        return
                _send(upstream, head)
                if fault is not None and fault.kind == "cut_upload":
                    budget = fault.after_bytes
                    if kind == "length":
                        _copy_length(reader, upstream, length, budget)
                    elif kind == "chunked":
                        _copy_chunked(reader, upstream, budget)
                    _reset(upstream)
                    _reset(client)
                    return
                if kind == "length":
                    _copy_length(reader, upstream, length)
                elif kind == "chunked":
                    _copy_chunked(reader, upstream)
                if fault is not None and fault.kind == "lose_answer":
                    self._relay_answer(upstream, _Sink(), method, -1)  # type: ignore[arg-type]
                    _reset(client)
                    upstream.close()
                    return
                budget = fault.after_bytes if fault is not None and fault.kind == "truncate" else -1
                if not self._relay_answer(upstream, client, method, budget):
                    client.close()
                    upstream.close()
                    return
        except _Closed:
            pass
        finally:
            with self._lock:
                self._open.discard(client)
                if upstream is not None:
                    self._open.discard(upstream)
            client.close()
            if upstream is not None:
                upstream.close()

    def _connect(self) -> socket.socket | None:
        with self._lock:
            where = self.upstream
        try:
            sock = socket.create_connection(where, timeout=10)
        except OSError:
            return None
        sock.settimeout(None)
        self._track(sock)
        return sock

    @staticmethod
    def _answer_status(
        client: socket.socket, reader: _Stream, status: int, kind: str, length: int
    ) -> None:
        """Answer an error ourselves; read the request body first so the connection stays usable."""
        if kind == "length":
            left = length
            while left > 0:
                left -= len(reader.piece(min(left, PIECE)))
        elif kind == "chunked":
            sink = _Sink()
            _copy_chunked(reader, sink)  # type: ignore[arg-type]
        body = b'{"serviceUnavailable": {"code": %d, "message": "injected fault"}}' % status
        reason = _REASONS.get(status, "Error")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        _send(client, head.encode() + body)

    @staticmethod
    def _relay_answer(
        upstream: socket.socket, client: socket.socket, method: str, budget: int
    ) -> bool:
        """Forward one answer; False if the connection must end (truncated or close-delimited)."""
        reader = _Stream(upstream)
        while True:
            head = reader.head()
            status_line, fields = _headers(head)
            status = int(status_line.split(" ")[1])
            _send(client, head)
            if status >= 200 or status == 101:
                break  # 1xx interim answers (100 Continue) are followed by the real one
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            complete = True
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            complete = _copy_chunked(reader, client, budget)
        elif "content-length" in fields:
            complete = _copy_length(reader, client, int(fields["content-length"]), budget)
        else:
            while (data := reader.rest()) is not None:
                _send(client, data)
            return False
        if reader.buf:
            return False  # bytes after the answer: cannot keep this connection in sync
        keep = "close" not in fields.get("connection", "").lower()
        return complete and keep


class _Sink:
    """A socket stand-in that discards what is sent (to read a body we do not forward)."""

    def sendall(self, data: bytes) -> None:
        pass
