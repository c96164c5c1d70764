"""kill -9 of `pithosfs serve` mid-request: the previous version survives, the server restarts clean."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import ALICE
from tests.server.pithos_http import OCTET, Api
from tests.server.server_process import ServerProcess

pytestmark = pytest.mark.slow

DECLARED = 64 * 1024 * 1024
SENT = 12 * 1024 * 1024 + 12345  # several whole blocks and a partial one


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data", ALICE, tmp_path / "server.log")
    srv.start()
    yield srv
    srv.stop()


def api_for(srv: ServerProcess) -> Api:
    return Api(srv.storage_url, ALICE[0], ALICE[1])


def start_request(
    srv: ServerProcess, method: str, path: str, headers: dict[str, str]
) -> socket.socket:
    """Send headers declaring DECLARED bytes and the first SENT of them; leave the socket open."""
    sock = socket.create_connection(("127.0.0.1", srv.port), 30)
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: localhost",
        f"X-Auth-Token: {ALICE[1]}",
        f"Content-Length: {DECLARED}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    chunk = b"\xab" * (1024 * 1024)
    remaining = SENT
    while remaining:
        sock.sendall(chunk[: min(remaining, len(chunk))])
        remaining -= min(remaining, len(chunk))
    return sock


def crash_during(
    srv: ServerProcess, method: str, api: Api, *parts: str, query: str = "", **headers: str
) -> None:
    path = urlsplit(api.url(*parts)).path + query
    sock = start_request(srv, method, path, {"Content-Type": OCTET, **headers})
    time.sleep(0.5)  # let the server consume what was sent
    srv.kill()
    sock.close()
    srv.start()


def assert_healthy(api: Api, cont: str) -> None:
    """Later requests of every kind still work after the restart."""
    api.put_object(cont, "after", b"after crash")
    assert api.read(cont, "after") == b"after crash"
    assert api.write_at(cont, "after", b"!", "bytes */*").status_code == 204
    big = bytes(range(256)) * 40_000
    api.put_object(cont, "big-after", big)
    assert api.read(cont, "big-after") == big


def test_kill_mid_put_over_existing(proc: ServerProcess) -> None:
    api = api_for(proc)
    cont = api.make_container("c")
    api.put_object(cont, "obj", b"previous version")
    crash_during(proc, "PUT", api, cont, "obj")
    api = api_for(proc)
    assert api.read(cont, "obj") == b"previous version"
    assert len(api.versions(cont, "obj")) == 1
    assert api.head(cont).headers["X-Container-Bytes-Used"] == str(len(b"previous version"))
    assert_healthy(api, cont)


def test_kill_mid_put_of_new_object(proc: ServerProcess) -> None:
    api = api_for(proc)
    cont = api.make_container("c")
    crash_during(proc, "PUT", api, cont, "new")
    api = api_for(proc)
    assert api.head(cont, "new").status_code == 404
    assert api.names(cont) == []
    assert_healthy(api, cont)


def test_kill_mid_append(proc: ServerProcess) -> None:
    api = api_for(proc)
    cont = api.make_container("c")
    api.put_object(cont, "log", b"line one\n")
    crash_during(proc, "POST", api, cont, "log", query="?update", **{"Content-Range": "bytes */*"})
    api = api_for(proc)
    assert api.read(cont, "log") == b"line one\n"
    assert_healthy(api, cont)


def test_kill_mid_block_upload(proc: ServerProcess) -> None:
    api = api_for(proc)
    cont = api.make_container("c")
    crash_during(proc, "POST", api, cont, query="?update&format=json")
    api = api_for(proc)
    assert api.listing(cont) == []
    assert_healthy(api, cont)


def test_restart_keeps_everything_committed(proc: ServerProcess) -> None:
    api = api_for(proc)
    cont = api.make_container("c", {"X-Container-Meta-Kept": "yes"})
    api.put_object(cont, "a", b"one", headers={"X-Object-Meta-M": "1"})
    api.put_object(cont, "a", b"two")
    uuid = api.meta(cont, "a")["X-Object-UUID"]
    proc.kill()
    proc.start()
    api = api_for(proc)
    assert api.read(cont, "a") == b"two"
    assert api.meta(cont, "a")["X-Object-UUID"] == uuid
    assert len(api.versions(cont, "a")) == 2
    assert api.head(cont).headers["X-Container-Meta-Kept"] == "yes"
