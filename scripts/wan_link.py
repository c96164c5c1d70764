"""An emulated wide-area link on loopback: a TCP proxy with latency, bandwidth and request counts.

    link = WanLink(upstream_port, rtt_ms=50, mbit=100)   # listens on 127.0.0.1:link.port
    ... point a client at http://127.0.0.1:{link.port}/... ...
    link.requests()   # {"GET": 12, "PUT": 3, ...} HTTP requests seen since start/reset()
    link.close()

Each direction of the link is one shared pipe: a chunk read from one side is sent
after the chunks before it (all connections share the bandwidth, `mbit`), then
arrives `rtt_ms / 2` later. Bounded: at most MAX_CONNECTIONS at once, at most
QUEUE_BYTES waiting per connection and direction (the sender is then not read:
TCP pushes back on it). Loopback only; no root, no tc/netem. Requests are
counted by following the client-to-server byte stream (request heads, then
bodies by Content-Length or chunked encoding); the answers pass as bytes.

Run alone to try it: `python scripts/wan_link.py UPSTREAM_PORT [--rtt-ms 50] [--mbit 100]`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import threading
import time

CHUNK = 64 * 1024
QUEUE_BYTES = 4 * 1024 * 1024  # more than the bandwidth-delay product at 100 Mbit/s, 200 ms
MAX_CONNECTIONS = 512
HEAD_LIMIT = 256 * 1024  # a request head longer than this stops the counting of its stream


class _Pipe:
    """One direction of the link: serialisation at the link's rate, then the delay."""

    def __init__(self, one_way_s: float, bytes_per_s: float) -> None:
        self.delay = one_way_s
        self.rate = bytes_per_s
        self.free_at = 0.0  # when the link finishes sending what it has been given

    def arrival(self, now: float, size: int) -> float:
        start = max(now, self.free_at)
        self.free_at = start + (size / self.rate if self.rate else 0.0)
        return self.free_at + self.delay


class RequestCounter:
    """Counts HTTP/1.1 requests in a client's byte stream (keep-alive, pipelined)."""

    def __init__(self, counts: collections.Counter[str]) -> None:
        self.counts = counts
        self.buf = bytearray()
        self.state = "head"
        self.left = 0  # body or chunk bytes still to skip
        self.lost = False  # the stream is not understood any more: count nothing

    def feed(self, data: bytes) -> None:
        if self.lost:
            return
        self.buf += data
        while self.buf and not self.lost:
            if self.state in ("body", "chunk-data"):
                take = min(self.left, len(self.buf))
                del self.buf[:take]
                self.left -= take
                if self.left:
                    return
                self.state = "head" if self.state == "body" else "chunk-size"
                continue
            end = self.buf.find(b"\r\n\r\n" if self.state == "head" else b"\r\n")
            if end < 0:
                self.lost = len(self.buf) > HEAD_LIMIT
                return
            line = bytes(self.buf[:end])
            del self.buf[: end + (4 if self.state == "head" else 2)]
            if self.state == "head":
                self._head(line)
            elif self.state == "chunk-size":
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.lost = True
                    return
                self.state, self.left = ("trailer", 0) if size == 0 else ("chunk-data", size + 2)
            elif not line:  # the blank line that ends the trailers
                self.state = "head"

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.counts[lines[0].split(b" ", 1)[0].decode("latin-1")] += 1
        headers = {}
        for raw in lines[1:]:
            name, _, value = raw.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get(b"transfer-encoding", b"") == b"chunked":
            self.state = "chunk-size"
        else:
            length = int(headers.get(b"content-length", b"0") or b"0")
            self.state, self.left = ("body", length) if length else ("head", 0)


class WanLink:
    def __init__(self, upstream_port: int, rtt_ms: float = 50.0, mbit: float = 100.0) -> None:
        self.upstream_port = upstream_port
        rate = mbit * 1e6 / 8
        self._up = _Pipe(rtt_ms / 2000.0, rate)
        self._down = _Pipe(rtt_ms / 2000.0, rate)
        self._counts: collections.Counter[str] = collections.Counter()
        self._connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wan-link", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    # -- public ----------------------------------------------------------------
    def requests(self) -> dict[str, int]:
        return dict(self._counts)

    def total(self) -> int:
        return sum(self._counts.values())

    def reset(self) -> None:
        self._counts.clear()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the loop -------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        if self._connections >= MAX_CONNECTIONS:
            c_writer.close()
            return
        self._connections += 1
        try:
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self._connections -= 1
            c_writer.close()
            return
        counter = RequestCounter(self._counts)
        try:
            await asyncio.gather(
                self._carry(c_reader, s_writer, self._up, counter.feed),
                self._carry(s_reader, c_writer, self._down, None),
            )
        except asyncio.CancelledError:
            pass  # the link is closing: the connections go with it
        finally:
            self._connections -= 1
            for w in (c_writer, s_writer):
                w.close()

    async def _carry(self, reader, writer, pipe: _Pipe, observe) -> None:  # type: ignore[no-untyped-def]
        """Move one direction: read, schedule at the link's rate plus delay, deliver in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        slots = QUEUE_BYTES // CHUNK
        room = asyncio.Semaphore(slots)
        dead = []  # set when the receiving side is gone: stop reading the sender

        async def deliver() -> None:
            while True:
                when, data = await queue.get()
                wait = when - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    try:
                        writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
                    return
                try:
                    writer.write(data)
                    await writer.drain()
                except (OSError, RuntimeError):
                    dead.append(True)
                    for _ in range(slots):
                        room.release()
                    return
                room.release()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                await room.acquire()
                if dead:
                    break
                try:
                    data = await reader.read(CHUNK)
                except (OSError, RuntimeError):
                    data = b""
                if observe is not None and data:
                    observe(data)
                queue.put_nowait((pipe.arrival(time.monotonic(), len(data)), data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--mbit", type=float, default=100.0)
    args = parser.parse_args()
    link = WanLink(args.upstream_port, args.rtt_ms, args.mbit)
    print(f"127.0.0.1:{link.port} -> 127.0.0.1:{args.upstream_port}, "
          f"RTT {args.rtt_ms} ms, {args.mbit} Mbit/s; Ctrl-C stops", flush=True)  # fmt: skip
    try:
        while True:
            time.sleep(5)
            print(link.requests(), flush=True)
    except KeyboardInterrupt:
        link.close()


if __name__ == "__main__":
    main()
