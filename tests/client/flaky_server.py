"""A scripted, misbehaving HTTP server for the client's failure tests.

Each incoming request pops the next action from `script`; when the script is
empty, `default` answers. Actions:
    ("reply", status, headers, body)
    ("reset",)                    close the socket with RST, no response
    ("sleep", seconds, action)    wait, then perform `action`
    ("default",)                  let `default` answer this one
    ("close",)                    close the connection (FIN) after reading the request,
                                  without a response (a server dying mid-request)
    ("chunked", status, headers, parts, gate)
                                  a chunked body: the first part, then each later
                                  one only once `gate` (a threading.Event) is set
                                  (10 s at most); `sent_parts` counts parts begun
    ("close_unread",)             act as a server whose keep-alive idle timeout fires
                                  as the next request arrives: close the connection
                                  (FIN) without reading that request; counted in
                                  `unread`, not recorded in `requests`
Every request read is recorded in `requests` as (method, path, headers, body).
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Action = tuple[Any, ...]
Responder = Callable[[str, str, dict[str, str], bytes], Action]


def ok_responder(method: str, path: str, headers: dict[str, str], body: bytes) -> Action:
    return ("reply", 200, {"Content-Type": "text/plain"}, b"ok")


class FlakyServer:
    def __init__(self, default: Responder = ok_responder) -> None:
        self.script: list[Action] = []
        self.default = default
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.unread = 0  # requests met by ("close_unread",)
        self.connections = 0  # TCP connections accepted
        self.sent_parts = 0  # parts of ("chunked", ...) bodies begun so far
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def setup(self) -> None:
                with outer._lock:
                    outer.connections += 1
                super().setup()

            def handle_one_request(self) -> None:
                with outer._lock:
                    close = bool(outer.script) and outer.script[0] == ("close_unread",)
                if not close:
                    super().handle_one_request()
                    return
                # Wait for the request's first bytes, then close without reading them.
                select.select([self.connection], [], [], 10)
                with outer._lock:
                    outer.script.pop(0)
                    outer.unread += 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_WR)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                with outer._lock:
                    outer.requests.append((self.command, self.path, headers, body))
                    action = outer.script.pop(0) if outer.script else None
                if action is None or action[0] == "default":
                    action = outer.default(self.command, self.path, headers, body)
                self._perform(action)

            def _perform(self, action: Action) -> None:
                kind = action[0]
                if kind == "sleep":
                    time.sleep(action[1])
                    self._perform(action[2])
                elif kind == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_WR)
                elif kind == "chunked":
                    self._chunked(*action[1:])
                elif kind == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                else:
                    _, status, headers, body = action
                    try:
                        self.send_response(status)
                        for k, v in headers.items():
                            self.send_header(k, v)
                        if "Content-Length" not in headers:
                            self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        if self.command != "HEAD":
                            self.wfile.write(body)
                    except OSError:
                        pass  # the client gave up (timeout test)

            def _chunked(
                self, status: int, headers: dict[str, str], parts: list[bytes], gate: Any
            ) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, part in enumerate(parts):
                    if i:
                        gate.wait(10)
                    with outer._lock:  # counted first: the client may read it at once
                        outer.sent_parts += 1
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_COPY = do_MOVE = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def count(self, method: str | None = None, path_part: str = "") -> int:
        with self._lock:
            return sum(
                1
                for m, p, _, _ in self.requests
                if (method is None or m == method) and path_part in p
            )

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
