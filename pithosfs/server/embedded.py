"""EmbeddedServer: the Pithos+ app on cheroot, started in-process on background threads.

cheroot was chosen by measurement (docs/server.md): it streams request bodies
to the application as they arrive and writes response chunks from the worker
thread; waitress, tried with the same app, was 2-4x slower on a 1 GiB PUT
because it receives whole bodies into its own buffers first.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from cheroot import server as cheroot_server

from pithosfs.protocol import DEFAULT_BLOCK_SIZE
from pithosfs.server.app import PithosApp
from pithosfs.server.backend import Backend
from pithosfs.server.controllers.base import Context
from pithosfs.server.fastio import SliceGateway, fast_makefile
from pithosfs.server.front import Front, FrontServer, Limits

log = logging.getLogger(__name__)

MAX_DRAIN = 1024 * 1024
KEEP_ALIVE_CONNECTIONS = 256


class JsonFaultRequest(cheroot_server.HTTPRequest):
    """cheroot rejects some malformed requests itself (e.g. a non-ASCII request line);
    give those the same JSON fault body as every other error (protocol.md 1.4)."""

    def simple_response(self, status: object, msg: str = "") -> None:
        code = str(status)[:3]
        if code.startswith("4") and isinstance(msg, str):
            key = "requestEntityTooLarge" if code in ("413", "414") else "badRequest"
            msg = json.dumps({key: {"code": int(code), "message": msg, "details": ""}})
        super().simple_response(status, msg)

    def parse_request(self) -> None:
        super().parse_request()
        if self.ready:  # headers read: from now on the body's pace is what is bounded
            limits = self.server.limits
            self.conn.rfile.paced.expect_body(limits.body_grace, limits.body_min_rate)

    def send_headers(self) -> None:
        # cheroot drains an unread body in ONE read before reusing the connection;
        # for an upload refused early that could be gigabytes in memory, so close instead.
        if getattr(self.rfile, "remaining", 0) > MAX_DRAIN:
            self.close_connection = True
        # cheroot keeps the connection whatever the application's Connection header says,
        # and would first drain the body the application gave up on (e.g. a too slow one).
        if any(k.lower() == b"connection" and v.lower() == b"close" for k, v in self.outheaders):
            self.close_connection = True
        super().send_headers()


class JsonFaultConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = JsonFaultRequest

    def __init__(self, server: Any, sock: Any, makefile: Any = None) -> None:
        super().__init__(server, sock, fast_makefile)

    def close(self) -> None:
        try:
            super().close()
        finally:
            owner = getattr(self, "front_owner", None)
            if owner is not None:  # the front counts open connections per client
                owner.closed(self)


class EmbeddedServer:
    def __init__(
        self,
        data_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 8080,
        users: dict[str, str] | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        strict: bool = False,
        limits: Limits | None = None,
    ) -> None:
        """`strict`: answer exactly as the reference Pithos+ does, offering and
        advertising no extension (docs/server.md "Strict mode")."""
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.users = dict(users or {})
        self.block_size = block_size
        self.backend = Backend(self.data_dir, block_size)
        self.strict = strict
        self.app = PithosApp(Context(self.backend, self.users, strict=strict))
        self.limits = limits or Limits()
        self._server: FrontServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind (so the port is known and connectable), then serve on a background thread."""
        server = FrontServer(
            (self.host, self.port),
            self.app,
            limits=self.limits,
            request_queue_size=128,
            shutdown_timeout=5,
        )
        server.ConnectionClass = JsonFaultConnection
        server.gateway = SliceGateway
        # cheroot keeps only 10 idle keep-alive connections by default; mounts and
        # parallel uploaders hold more, and each reconnect costs a round trip.
        server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
        server.prepare()
        bound = server.bind_addr
        if isinstance(bound, tuple):
            self.port = int(bound[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve, name="pithos-server", daemon=True)
        self._thread.start()
        log.info("Pithos+ server listening on %s", self.base_url)

    @property
    def front(self) -> Front | None:
        """The connection front while serving (connection counts, see front.py)."""
        return self._server._connections if self._server is not None else None

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def identity_url(self) -> str:
        return self.base_url + "/identity/v2.0"

    def storage_url(self, uuid: str) -> str:
        return f"{self.base_url}/object-store/v1/{uuid}"

    @property
    def image_url(self) -> str:
        return self.base_url + "/image"

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.backend.close()
