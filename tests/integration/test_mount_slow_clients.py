"""A live mount keeps answering while other clients hold the server's connections.

40 sockets (idle, trickling headers, trickling a body; more than the server's 32
base workers) stay open on the mount's server while `cat` reads a small object
the mount has not seen yet (so it must ask the server).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

from pithosfs.client.pithos import PithosClient
from tests.conftest import ALICE
from tests.integration.conftest import Mount
from tests.server.test_slow_clients import Trickler, _still_open

UUID, TOKEN = ALICE


def test_cat_answers_while_forty_connections_idle_or_trickle(
    mount_factory: Callable[..., Mount], server: object, unique_name: str
) -> None:
    container = unique_name
    client = PithosClient.from_storage_url(server.storage_url(UUID), TOKEN)  # type: ignore[attr-defined]
    try:
        client.create_container(container)
        client.put_object(container, "small.txt", b"hello")  # before the mount looks
    finally:
        client.close()
    mnt = mount_factory().path / container
    port = server.port  # type: ignore[attr-defined]
    idle, headers, bodies = [], [], []
    try:
        for group, first in (
            (idle, b""),
            (headers, f"GET /object-store/v1/{UUID}/{container}/small.txt HTTP/1.1\r\n".encode()),
            (
                bodies,
                (
                    f"PUT /object-store/v1/{UUID}/{container}/slow HTTP/1.1\r\nHost: x\r\n"
                    f"X-Auth-Token: {TOKEN}\r\nContent-Type: text/plain\r\n"
                    "Content-Length: 100000\r\n\r\nab"
                ).encode(),
            ),
        ):
            for _ in range(15 if group is not bodies else 10):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                if first:
                    s.sendall(first)
                group.append(s)
        held = idle + headers + bodies
        trickles = [Trickler(headers, b"X-Slow: y\r\n"), Trickler(bodies, b"c")]
        try:
            started = time.monotonic()
            done = subprocess.run(["cat", str(mnt / "small.txt")], capture_output=True, timeout=120)
            took = time.monotonic() - started
        finally:
            for t in trickles:
                t.stop()
        print(f"\ncat on the mount with {len(held)} connections held: {took:.3f} s")
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"hello"
        assert took < 2.0
        assert all(_still_open(s) for s in held)  # no deadline had to free anything
    finally:
        for s in idle + headers + bodies:
            s.close()
