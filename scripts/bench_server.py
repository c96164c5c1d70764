#!/usr/bin/env python3
"""Benchmark the embedded Pithos+ server against same-disk baselines measured in the same run.

    .venv/bin/python scripts/bench_server.py [--size-mib 1024] [--small 1000]

(a) curl GET of a large object from `pithosfs serve` vs curl GET of the same file
    from `python3 -m http.server` (same disk, both warm in the page cache);
(b) curl PUT (upload-file) of the large file vs `cp` on the same disk, both
    followed by `sync` and timed with it (and also reported without it);
(c) small-object PUTs then GETs over one requests.Session (ops/s);
(d) server RSS (VmRSS, VmHWM) after the small phase and after the large transfers.

Results go to stdout and to scripts/bench_server_results.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

log = logging.getLogger("bench_server")

USER = ("be7c4000-0000-4000-8000-00000000be7c", "bench-token")
GET_TARGET = 0.6
PUT_TARGET = 0.5
RESULTS = Path(__file__).with_name("bench_server_results.md")


@dataclass
class Row:
    name: str
    value: str
    baseline: str
    ratio: str
    note: str = ""


def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(url: str, proc: subprocess.Popen[bytes], headers: dict[str, str]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"process exited early: {proc.args}")
        try:
            requests.head(url, headers=headers, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    sys.exit(f"not listening: {url}")


def spawn(cmd: list[str], cwd: Path, log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as out:
        return subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def make_random_file(path: Path, size: int) -> None:
    chunk = 16 * 1024 * 1024
    with path.open("wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def sync() -> float:
    start = time.perf_counter()
    os.sync()
    return time.perf_counter() - start


def curl(args: list[str], expect_code: str, expect_bytes: int | None = None) -> float:
    """Run curl; returns wall time in seconds (curl's own time_total)."""
    fmt = "%{http_code} %{time_total} %{size_download} %{size_upload}"
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", fmt, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    code, total, down, up = out[0], float(out[1]), float(out[2]), float(out[3])
    if code != expect_code:
        sys.exit(f"curl {args[-1]}: HTTP {code}, expected {expect_code}")
    if expect_bytes is not None and expect_bytes not in (int(down), int(up)):
        sys.exit(f"curl {args[-1]}: moved {down}/{up} bytes, expected {expect_bytes}")
    return total


def best_of(runs: int, fn: object) -> float:
    times = [fn() for _ in range(runs)]  # type: ignore[operator]
    log.info("runs: %s", ", ".join(f"{t:.2f}s" for t in times))
    return min(times)


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB from /proc/PID/status (the server's own process)."""
    mem = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            mem[key] = int(value.split()[0])
    return mem


def small_objects(storage: str, count: int) -> tuple[float, float]:
    """PUT then GET `count` small objects; returns (put ops/s, get ops/s)."""
    session = requests.Session()
    session.headers["X-Auth-Token"] = USER[1]
    assert session.put(f"{storage}/small").status_code in (201, 202)
    bodies = [os.urandom(1024 + i % 3000) for i in range(count)]
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        r = session.put(
            f"{storage}/small/obj-{i:05d}",
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        if r.status_code != 201:
            sys.exit(f"small PUT {i}: {r.status_code} {r.text[:200]}")
    put_rate = count / (time.perf_counter() - start)
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        r = session.get(f"{storage}/small/obj-{i:05d}")
        if r.status_code != 200 or r.content != body:
            sys.exit(f"small GET {i}: {r.status_code}")
    return put_rate, count / (time.perf_counter() - start)


def mib_s(size: int, seconds: float) -> str:
    return f"{size / 1024 / 1024 / seconds:.0f} MiB/s ({seconds:.2f} s)"


def ratio(base_seconds: float, seconds: float) -> float:
    """Throughput ratio server/baseline (>1 means the server is faster)."""
    return base_seconds / seconds


def render(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| measurement | server | baseline | ratio | note |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.name} | {r.value} | {r.baseline} | {r.ratio} | {r.note} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="large object size")
    parser.add_argument("--small", type=int, default=1000, help="number of small objects")
    parser.add_argument("--runs", type=int, default=3, help="GET repetitions (best is kept)")
    parser.add_argument("--server-args", default="", help="extra args for pithosfs serve")
    parser.add_argument("--no-write", action="store_true", help="do not update the results file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="pithos-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        src_dir, data_dir, cp_dir = work / "src", work / "data", work / "cp"
        for d in (src_dir, data_dir, cp_dir):
            d.mkdir()
        big = src_dir / "big.bin"
        log.info("creating %d MiB of random bytes in %s", args.size_mib, big)
        make_random_file(big, size)

        port = unused_port()
        server = spawn(
            [
                sys.executable,
                "-m",
                "pithosfs",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--user",
                f"{USER[0]}={USER[1]}",
                *args.server_args.split(),
            ],
            work,
            work / "server.log",
        )
        procs.append(server)
        storage = f"http://127.0.0.1:{port}/object-store/v1/{USER[0]}"
        auth = {"X-Auth-Token": USER[1]}
        wait_listening(storage, server, auth)
        base_port = unused_port()
        baseline = spawn(
            [sys.executable, "-m", "http.server", str(base_port), "--bind", "127.0.0.1"],
            src_dir,
            work / "http_server.log",
        )
        procs.append(baseline)
        wait_listening(f"http://127.0.0.1:{base_port}/", baseline, {})

        log.info("(c) %d small objects", args.small)
        put_rate, get_rate = small_objects(storage, args.small)
        mem_small = proc_memory(server.pid)

        log.info("(b) PUT %d MiB vs cp", args.size_mib)
        requests.put(f"{storage}/big", headers=auth).raise_for_status()
        sync()
        put_s = curl(
            [
                "-T",
                str(big),
                "-H",
                "Content-Type: application/octet-stream",
                "-H",
                f"X-Auth-Token: {USER[1]}",
                f"{storage}/big/big.bin",
            ],
            "201",
            size,
        )
        put_sync = put_s + sync()
        start = time.perf_counter()
        subprocess.run(["cp", str(big), str(cp_dir / "big.bin")], check=True)
        cp_s = time.perf_counter() - start
        cp_sync = cp_s + sync()

        log.info("(a) GET %d MiB vs http.server", args.size_mib)
        get_args = ["-H", f"X-Auth-Token: {USER[1]}", f"{storage}/big/big.bin"]
        get_s = best_of(args.runs, lambda: curl(get_args, "200", size))
        base_args = [f"http://127.0.0.1:{base_port}/big.bin"]
        base_s = best_of(args.runs, lambda: curl(base_args, "200", size))
        mem_large = proc_memory(server.pid)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    get_ratio = ratio(base_s, get_s)
    put_ratio = ratio(cp_sync, put_sync)
    hwm_growth = (mem_large["VmHWM"] - mem_small["VmHWM"]) / 1024
    rows = [
        Row(
            f"(a) GET {args.size_mib} MiB (curl)",
            mib_s(size, get_s),
            "http.server " + mib_s(size, base_s),
            f"{get_ratio:.2f}x",
            f"target >= {GET_TARGET}x: {'PASS' if get_ratio >= GET_TARGET else 'FAIL'}",
        ),
        Row(
            f"(b) PUT {args.size_mib} MiB (curl -T) + sync",
            mib_s(size, put_sync),
            "cp + sync " + mib_s(size, cp_sync),
            f"{put_ratio:.2f}x",
            f"target >= {PUT_TARGET}x: {'PASS' if put_ratio >= PUT_TARGET else 'FAIL'}",
        ),
        Row(
            f"(b') PUT {args.size_mib} MiB without sync",
            mib_s(size, put_s),
            "cp " + mib_s(size, cp_s),
            f"{ratio(cp_s, put_s):.2f}x",
            "informational",
        ),
        Row(
            f"(c) {args.small} small PUTs",
            f"{put_rate:.0f} ops/s",
            "-",
            "-",
            "requests.Session, 1-4 KiB",
        ),
        Row(f"(c) {args.small} small GETs", f"{get_rate:.0f} ops/s", "-", "-", "requests.Session"),
        Row(
            "(d) RSS after small objects",
            f"VmRSS {mem_small['VmRSS'] // 1024} MiB",
            f"VmHWM {mem_small['VmHWM'] // 1024} MiB",
            "-",
            "",
        ),
        Row(
            "(d) RSS after large transfers",
            f"VmRSS {mem_large['VmRSS'] // 1024} MiB",
            f"VmHWM {mem_large['VmHWM'] // 1024} MiB",
            "-",
            f"peak grew {hwm_growth:.0f} MiB for a {args.size_mib} MiB object",
        ),
    ]
    header = (
        f"# bench_server results\n\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, size {args.size_mib} MiB, {args.small} small objects, "
        f"GET best of {args.runs}; page cache warm for both GETs; PUT timed with a trailing sync "
        f"in both server and cp rows (b), and without it (b'). Ratio = server throughput / baseline."
    )
    table = render(rows, header)
    print(table)
    if not args.no_write:
        RESULTS.write_text(table)
        log.info("wrote %s", RESULTS)


if __name__ == "__main__":
    main()
