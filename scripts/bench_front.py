#!/usr/bin/env python3
"""Throughput of the server with its connection front, against an older tree, in the same run.

    .venv/bin/python scripts/bench_front.py --old-src OLD_TREE [--size-mib 512] [--runs 3]

OLD_TREE holds a `pithosfs/` package (e.g. `git archive main pithosfs | tar -x -C DIR`).
Both servers run as `pithosfs serve` child processes on the same disk; every round
measures each of them in turn (interleaved, so machine load hits both alike):

* GET of a large object (curl, warm page cache) and PUT of it (curl -T);
* small objects (1-4 KiB) PUT then GET over one requests.Session (ops/s);
* a small GET while 40 idle connections are held open (the old tree hands each
  one a worker: the GET waits until they time out; here capped at 5 s).

Reports medians per tree and the new/old ratios (for rates >1: the new tree is
faster; for CPU and seconds <1: the new tree spends less). Server CPU is read
from /proc: it is steadier than rates on a loaded machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent))
from bench_server import (  # noqa: E402
    USER,
    BenchServer,
    curl,
    make_random_file,
    proc_cpu_seconds,
)

log = logging.getLogger("bench_front")
HELD = 40
HELD_GET_CAP = 5.0


def small_rates(storage: str, count: int, tag: str, pid: int) -> tuple[float, float, float, float]:
    """(PUT/s, GET/s, server CPU ms per PUT, server CPU ms per GET)."""
    session = requests.Session()
    session.headers["X-Auth-Token"] = USER[1]
    container = f"{storage}/small-{tag}-{time.monotonic_ns()}"
    session.put(container).raise_for_status()
    bodies = [os.urandom(1024 + i * 7 % 3000) for i in range(count)]
    cpu0, start = proc_cpu_seconds(pid), time.perf_counter()
    for i, body in enumerate(bodies):
        reply = session.put(f"{container}/o{i}", data=body, headers={"Content-Type": "x/y"})
        reply.raise_for_status()
    put_rate = count / (time.perf_counter() - start)
    cpu1, start = proc_cpu_seconds(pid), time.perf_counter()
    for i, body in enumerate(bodies):
        reply = session.get(f"{container}/o{i}")
        if reply.content != body:
            sys.exit(f"small GET {i}: wrong bytes")
    get_rate = count / (time.perf_counter() - start)
    cpu2 = proc_cpu_seconds(pid)
    session.close()
    return put_rate, get_rate, (cpu1 - cpu0) * 1000 / count, (cpu2 - cpu1) * 1000 / count


def get_with_idle_connections(storage: str, port: int) -> float:
    """Seconds for a 5-byte GET while HELD idle connections are open (capped)."""
    auth = {"X-Auth-Token": USER[1]}
    requests.put(f"{storage}/held", headers=auth).raise_for_status()
    requests.put(
        f"{storage}/held/five", data=b"hello", headers={**auth, "Content-Type": "x/y"}
    ).raise_for_status()
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(HELD)]
    try:
        start = time.perf_counter()
        try:
            requests.get(f"{storage}/held/five", headers=auth, timeout=HELD_GET_CAP)
        except requests.Timeout:
            return HELD_GET_CAP
        return time.perf_counter() - start
    finally:
        for s in held:
            s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-src", required=True, help="a tree holding the old pithosfs/")
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="pithos-front-"))
    servers: list[BenchServer] = []
    samples: dict[tuple[str, str], list[float]] = {}
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    try:
        big = work / "big.bin"
        make_random_file(big, size)
        for tag, src in (("new", None), ("old", Path(args.old_src).resolve())):
            servers.append(BenchServer(tag, src, work))
            requests.put(
                f"{servers[-1].storage}/big", headers={"X-Auth-Token": USER[1]}
            ).raise_for_status()
        auth = f"X-Auth-Token: {USER[1]}"
        for round_no in range(args.runs):
            for srv in servers if round_no % 2 == 0 else reversed(servers):
                log.info("round %d: %s", round_no + 1, srv.tag)
                cpu0 = proc_cpu_seconds(srv.proc.pid)
                put_s = curl(
                    ["-T", str(big), "-H", "Content-Type: application/octet-stream", "-H", auth]
                    + [f"{srv.storage}/big/r{round_no}"],
                    "201",
                    size,
                )
                cpu1 = proc_cpu_seconds(srv.proc.pid)
                get_s = curl(["-H", auth, f"{srv.storage}/big/r{round_no}"], "200", size)
                cpu2 = proc_cpu_seconds(srv.proc.pid)
                put_rate, get_rate, put_cpu, get_cpu = small_rates(
                    srv.storage, args.small, srv.tag, srv.proc.pid
                )
                port = int(srv.storage.split(":")[2].split("/")[0])
                held_s = get_with_idle_connections(srv.storage, port)
                for name, value in (
                    ("PUT MiB/s", size / 2**20 / put_s),
                    ("GET MiB/s", size / 2**20 / get_s),
                    ("server CPU s per GiB PUT", (cpu1 - cpu0) * 2**30 / size),
                    ("server CPU s per GiB GET", (cpu2 - cpu1) * 2**30 / size),
                    ("small PUT/s", put_rate),
                    ("small GET/s", get_rate),
                    ("server CPU ms per small PUT", put_cpu),
                    ("server CPU ms per small GET", get_cpu),
                    (f"GET with {HELD} idle (s)", held_s),
                ):
                    samples.setdefault((name, srv.tag), []).append(value)
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"\n{args.size_mib} MiB object, {args.small} small objects, median of {args.runs}"
        f" interleaved rounds; load average {' '.join(load0)} before, {' '.join(load1)} after\n"
    )
    print("| measurement | new | old | new/old |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(n for n, _ in samples):
        new = statistics.median(samples[(name, "new")])
        old = statistics.median(samples[(name, "old")])
        print(f"| {name} | {new:.3g} | {old:.3g} | {new / old:.2f}x |")


if __name__ == "__main__":
    main()
