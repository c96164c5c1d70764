"""Slow and idle clients against the real server: the connection front (server/front.py).

Idle sockets, sockets that trickle their headers or their body, and pipelined
leftovers must never keep other clients waiting; deadlines and the per-client
cap close what would otherwise stay open forever.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from pithosfs.server import EmbeddedServer
from pithosfs.server.front import Limits
from tests.conftest import ALICE

UUID, TOKEN = ALICE
HOLD = 40  # more than the 32 base workers


def _url(srv: object, path: str = "") -> str:
    return srv.storage_url(UUID) + path  # type: ignore[attr-defined]


def _object(srv: object, container: str, name: str = "small.txt", data: bytes = b"hello") -> str:
    auth = {"X-Auth-Token": TOKEN}
    requests.put(_url(srv, f"/{container}"), headers=auth, timeout=30).raise_for_status()
    requests.put(
        _url(srv, f"/{container}/{name}"),
        data=data,
        headers={**auth, "Content-Type": "text/plain"},
        timeout=30,
    ).raise_for_status()
    return f"/{container}/{name}"


def _connect(srv: object) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=30)  # type: ignore[attr-defined]


def _still_open(sock: socket.socket) -> bool:
    """Open and not answered: nothing to read yet and no end of stream."""
    usual = sock.gettimeout()
    sock.settimeout(0)  # with a timeout, Python would wait for data before the recv
    try:
        sock.recv(1, socket.MSG_PEEK)
        return False  # an answer or the end of the stream
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(usual)


def _wait_closed(sock: socket.socket, within: float = 30.0) -> bytes:
    """What the server sends before it closes the connection (waits for the close)."""
    sock.settimeout(within)
    got = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return got
        if not data:
            return got
        got += data


def _wait_for(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class Trickler:
    """Sends one more byte on each socket every `every` seconds until stopped."""

    def __init__(self, socks: list[socket.socket], piece: bytes, every: float = 0.5) -> None:
        self.socks, self.piece, self.every = socks, piece, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for s in self.socks:
                try:
                    s.send(self.piece)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def _hold(srv: object, socks: list[socket.socket], first: bytes) -> None:
    for _ in range(HOLD):
        s = _connect(srv)
        if first:
            s.sendall(first)
        socks.append(s)


def _timed_get(srv: object, path: str) -> float:
    started = time.monotonic()
    reply = requests.get(_url(srv, path), headers={"X-Auth-Token": TOKEN}, timeout=60)
    assert reply.status_code == 200 and reply.content == b"hello"
    return time.monotonic() - started


def test_idle_connections_hold_no_worker(
    server: object, held: list[socket.socket], unique_name: str
) -> None:
    path = _object(server, unique_name)
    _hold(server, held, b"")
    took = _timed_get(server, path)
    print(f"\nGET with {HOLD} idle connections open: {took:.3f} s")
    assert all(_still_open(s) for s in held)  # answered without closing any of them


def test_trickled_headers_hold_no_worker(
    server: object, held: list[socket.socket], unique_name: str
) -> None:
    path = _object(server, unique_name)
    _hold(server, held, f"GET /object-store/v1/{UUID}{path} HTTP/1.1\r\n".encode())
    trickle = Trickler(held, b"X-Slow: y\r\n")
    try:
        took = _timed_get(server, path)
    finally:
        trickle.stop()
    print(f"\nGET with {HOLD} connections trickling headers: {took:.3f} s")
    assert all(_still_open(s) for s in held)


def test_trickled_bodies_do_not_exhaust_the_workers(
    server: object, held: list[socket.socket], unique_name: str
) -> None:
    """A body needs a worker while it arrives; the pool grows past its base for them."""
    path = _object(server, unique_name)
    head = (
        f"PUT /object-store/v1/{UUID}/{unique_name}/slow HTTP/1.1\r\nHost: x\r\n"
        f"X-Auth-Token: {TOKEN}\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\nab"
    )
    _hold(server, held, head.encode())
    trickle = Trickler(held, b"c")
    try:
        took = _timed_get(server, path)
    finally:
        trickle.stop()
    print(f"\nGET with {HOLD} connections trickling bodies: {took:.3f} s")
    assert all(_still_open(s) for s in held)


def test_pipelined_requests_are_answered_in_order(server: object, unique_name: str) -> None:
    path = _object(server, unique_name)
    one = f"GET /object-store/v1/{UUID}{path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN}\r\n\r\n"
    with _connect(server) as s:
        s.sendall(one.encode() * 2 + one.encode()[:20])  # two whole requests, a third begun
        s.settimeout(30)
        got = b""
        while got.count(b"hello") < 2:
            data = s.recv(65536)
            assert data, got
            got += data
        assert got.count(b"HTTP/1.1 200") == 2
        s.sendall(one.encode()[20:].replace(b"Host: x", b"Host: x\r\nConnection: close"))
        rest = _wait_closed(s)
        assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"hello")


# ---- deadlines and caps, on servers with short limits -----------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Callable[..., EmbeddedServer]]:
    started: list[EmbeddedServer] = []

    def _make(**limits: float) -> EmbeddedServer:
        srv = EmbeddedServer(
            tmp_path / f"d{len(started)}", port=0, users=dict([ALICE]), limits=Limits(**limits)
        )
        srv.start()
        started.append(srv)
        return srv

    yield _make
    for srv in started:
        srv.stop()


def test_headers_not_complete_in_time_get_408(limited: Callable[..., EmbeddedServer]) -> None:
    srv = limited(header_deadline=1.0)
    path = _object(srv, "c")
    with _connect(srv) as s:
        s.sendall(f"GET /object-store/v1/{UUID}{path} HTTP/1.1\r\n".encode())
        trickle = Trickler([s], b"X-Slow: y\r\n", every=0.2)  # bytes keep coming: still late
        try:
            reply = _wait_closed(s)
        finally:
            trickle.stop()
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b'"requestTimeout"' in reply


def test_idle_keep_alive_connections_are_closed(limited: Callable[..., EmbeddedServer]) -> None:
    srv = limited(idle_timeout=1.0)
    path = _object(srv, "c")
    one = f"GET /object-store/v1/{UUID}{path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN}\r\n\r\n"
    with _connect(srv) as s:
        s.sendall(one.encode())
        reply = _wait_closed(s)  # answered, then closed silently once idle too long
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello")


def test_a_body_slower_than_the_floor_gets_408(limited: Callable[..., EmbeddedServer]) -> None:
    srv = limited(body_grace=1.0, body_min_rate=100.0)
    _object(srv, "c")
    head = (
        f"PUT /object-store/v1/{UUID}/c/slow HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN}\r\n"
        "Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
    )
    with _connect(srv) as s:
        s.sendall(head.encode() + b"x" * 10)  # then nothing: the floor is 100 bytes/s
        reply = _wait_closed(s)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b'"requestTimeout"' in reply
    missing = requests.head(_url(srv, "/c/slow"), headers={"X-Auth-Token": TOKEN}, timeout=30)
    assert missing.status_code == 404  # nothing committed
    # A body at a decent pace goes through on the same limits.
    data = b"y" * 300_000
    ok = requests.put(
        _url(srv, "/c/fast"),
        data=data,
        headers={"X-Auth-Token": TOKEN, "Content-Type": "text/plain"},
        timeout=30,
    )
    assert ok.status_code == 201


def test_per_client_cap_closes_the_longest_waiting(
    limited: Callable[..., EmbeddedServer], held: list[socket.socket]
) -> None:
    srv = limited(per_client=4)
    path = _object(srv, "c")
    for _ in range(4):
        held.append(_connect(srv))
        _wait_for(lambda: srv.front.open_from("127.0.0.1") == len(held))  # type: ignore[union-attr]
    # Connection 5 is taken in; the connection that waited longest makes room.
    _timed_get(srv, path)
    assert _wait_closed(held[0]) == b""
    assert all(_still_open(s) for s in held[1:])


def test_per_client_cap_refuses_when_every_connection_is_busy(
    limited: Callable[..., EmbeddedServer], held: list[socket.socket]
) -> None:
    srv = limited(per_client=3)
    _object(srv, "c")
    head = (
        f"PUT /object-store/v1/{UUID}/c/slow HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN}\r\n"
        "Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\nab"
    )
    front = srv.front
    assert front is not None
    _wait_for(lambda: front.open_from("127.0.0.1") == 0)  # the set-up requests' connections
    for _ in range(3):
        s = _connect(srv)
        s.sendall(head.encode())
        held.append(s)
    # Each one goes to a worker (receiving its body) once the front has its headers.
    _wait_for(lambda: front.open_from("127.0.0.1") == 3 and front.waiting == 0)
    with _connect(srv) as extra:
        reply = _wait_closed(extra)
    assert reply.startswith(b"HTTP/1.1 503 ") and b"Too many connections" in reply
    assert all(_still_open(s) for s in held)
