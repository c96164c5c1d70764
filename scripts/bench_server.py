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


# ---- GET CPU per GiB (whole and ranged GETs, as a mount reads) ----------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(
    src: Path | None, data_dir: Path, work: Path, tag: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`pithosfs serve` from this checkout, or from the package tree under `src`."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    port = unused_port()
    cmd = [sys.executable, "-m", "pithosfs", "serve", "--data-dir", str(data_dir)]
    cmd += ["--port", str(port), "--user", f"{USER[0]}={USER[1]}"]
    with (work / f"server-{tag}.log").open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=src or work, env=env, stdout=out, stderr=subprocess.STDOUT)
    storage = f"http://127.0.0.1:{port}/object-store/v1/{USER[0]}"
    wait_listening(storage, proc, {"X-Auth-Token": USER[1]})
    return proc, storage


def evict_page_cache(root: Path) -> None:
    """Drop the page-cache pages of every file under root (POSIX_FADV_DONTNEED; no root needed).

    Written blocks never enter the page cache (O_DIRECT), so the first read after an
    upload, which is what a mount's cold read is, finds none of them cached.
    """
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def get_transfers(url: str, size: int, piece: int | None) -> list[str]:
    """curl arguments for one whole GET, or ranged GETs of `piece` bytes over one connection."""
    common = ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}\\n"]
    common += ["-H", f"X-Auth-Token: {USER[1]}"]
    if piece is None:
        return [*common, url]
    args: list[str] = []
    for start in range(0, size, piece):
        end = min(start + piece, size) - 1
        if args:
            args.append("--next")
        args += [*common, "-r", f"{start}-{end}", url]
    return args


def timed_get(pid: int, url: str, size: int, piece: int | None) -> tuple[float, float, float]:
    """(wall seconds, server CPU seconds, curl CPU seconds) for reading the whole object once."""
    args = get_transfers(url, size, piece)
    cpu0, kids0 = proc_cpu_seconds(pid), os.times()
    start = time.perf_counter()
    out = subprocess.run(["curl", *args], check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    cpu1, kids1 = proc_cpu_seconds(pid), os.times()
    want = "200" if piece is None else "206"
    got = 0
    for line in out.splitlines():
        code, n = line.split()
        if code != want:
            sys.exit(f"GET {url}: HTTP {code}, expected {want}")
        got += int(float(n))
    if got != size:
        sys.exit(f"GET {url}: {got} bytes, expected {size}")
    curl_cpu = (kids1.children_user + kids1.children_system) - (
        kids0.children_user + kids0.children_system
    )
    return wall, cpu1 - cpu0, curl_cpu


class BenchServer:
    """One `pithosfs serve` (this checkout or another tree) holding the big object."""

    def __init__(self, tag: str, src: Path | None, work: Path) -> None:
        self.tag, self.src, self.work = tag, src, work
        self.data = work / f"data-{tag}"
        self.data.mkdir()
        self.proc, self.storage = start_server(src, self.data, work, tag)
        self.url = ""

    def upload(self, path: Path, size: int) -> None:
        auth = f"X-Auth-Token: {USER[1]}"
        requests.put(f"{self.storage}/big", headers={"X-Auth-Token": USER[1]}).raise_for_status()
        ctype = "Content-Type: application/octet-stream"
        curl(["-T", str(path), "-H", ctype, "-H", auth, f"{self.storage}/big/big.bin"], "201", size)
        version = requests.head(
            f"{self.storage}/big/big.bin", headers={"X-Auth-Token": USER[1]}
        ).headers["X-Object-Version"]
        self.url = f"{self.storage}/big/big.bin?version={version}"

    def restart(self) -> None:
        """A fresh process: no memory of blocks served before."""
        version = self.url.rsplit("=", 1)[1]
        self.stop()
        self.proc, self.storage = start_server(self.src, self.data, self.work, self.tag)
        self.url = f"{self.storage}/big/big.bin?version={version}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# name: (ranged GET size or None for one whole GET, first read after upload). In this
# order, the modes after the first reads are the object's 2nd and 3rd read by
# the same server process.
GET_MODES: dict[str, tuple[int | None, bool]] = {
    "first read, whole GET": (None, True),
    "first read, ranged 16 MiB": (16 << 20, True),
    "first read, ranged 4 MiB": (4 << 20, True),
    "2nd read, whole GET": (None, False),
    "3rd read, ranged 16 MiB": (16 << 20, False),
}


def get_cpu_bench(args: argparse.Namespace) -> None:
    """Server CPU per GiB served, this tree vs `--old-src`, interleaved in the same run.

    "first read": the server restarted and the block files dropped from the page
    cache, as when a mount reads a file back after writing it (blocks are written
    with O_DIRECT, so they are not cached). "Nth read": the same server process
    served the object N-1 times before.
    """
    import statistics

    size = args.size_mib * 1024 * 1024
    gib = size / 1024**3
    work = Path(tempfile.mkdtemp(prefix="pithos-getcpu-"))
    servers: list[BenchServer] = []
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    try:
        big = work / "big.bin"
        make_random_file(big, size)
        trees = {"new": None, **({"old": Path(args.old_src)} if args.old_src else {})}
        for tag, src in trees.items():
            servers.append(BenchServer(tag, src, work))
            servers[-1].upload(big, size)
        big.unlink()
        for _ in range(args.runs):
            for mode, (piece, first) in GET_MODES.items():
                for srv in servers:
                    if first:
                        srv.restart()
                        evict_page_cache(srv.data)
                    samples.setdefault((mode, srv.tag), []).append(
                        timed_get(srv.proc.pid, srv.url, size, piece)
                    )
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
        f"{args.size_mib} MiB object, median of {args.runs} interleaved runs; "
        f"load average {' '.join(load0)} before, {' '.join(load1)} after.",
        "",
        "| mode | tree | server CPU s/GiB | curl CPU s/GiB | MiB/s |",
        "|---|---|---|---|---|",
    ]
    for (mode, tag), runs in samples.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        kid = statistics.median(r[2] for r in runs)
        lines.append(
            f"| {mode} | {tag} | {cpu / gib:.2f} | {kid / gib:.2f} | {size / 2**20 / wall:.0f} |"
        )
    if len(servers) == 2:
        lines += ["", "| mode | new/old server CPU | new/old MiB/s |", "|---|---|---|"]
        for mode in GET_MODES:
            new, old = samples[(mode, "new")], samples[(mode, "old")]
            cpu_r = statistics.median(r[1] for r in new) / statistics.median(r[1] for r in old)
            speed_r = statistics.median(r[0] for r in old) / statistics.median(r[0] for r in new)
            lines.append(f"| {mode} | {cpu_r:.2f}x | {speed_r:.2f}x |")
    print("\n".join(lines))
    if not args.no_write:
        section = (
            f"{GET_SECTION}\n\n`scripts/bench_server.py --get-cpu --old-src OLD_TREE`, "
            + "\n".join(lines)
        )
        RESULTS.write_text(main_results() + "\n" + section + "\n" + get_notes())
        log.info("wrote %s", RESULTS)


GET_SECTION = "## GET CPU per GiB (--get-cpu)"
NOTES_MARK = "### Notes"


def main_results() -> str:
    """The results file without its --get-cpu section."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    return text.split(GET_SECTION, 1)[0].rstrip("\n") + "\n"


def get_notes() -> str:
    """Hand-written notes kept below the --get-cpu table across runs."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    section = text.split(GET_SECTION, 1)[1] if GET_SECTION in text else ""
    return ("\n" + NOTES_MARK + section.split(NOTES_MARK, 1)[1]) if NOTES_MARK in section else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="large object size")
    parser.add_argument("--small", type=int, default=1000, help="number of small objects")
    parser.add_argument("--runs", type=int, default=3, help="GET repetitions (best is kept)")
    parser.add_argument("--server-args", default="", help="extra args for pithosfs serve")
    parser.add_argument("--no-write", action="store_true", help="do not update the results file")
    parser.add_argument(
        "--get-cpu", action="store_true", help="only measure server CPU per GiB of GETs"
    )
    parser.add_argument(
        "--old-src", help="with --get-cpu: also run the server from this tree (holds pithosfs/)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.get_cpu:
        get_cpu_bench(args)
        return

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
        kept = RESULTS.read_text() if RESULTS.exists() else ""
        get_part = GET_SECTION + kept.split(GET_SECTION, 1)[1] if GET_SECTION in kept else ""
        RESULTS.write_text(table + ("\n" + get_part if get_part else ""))
        log.info("wrote %s", RESULTS)


if __name__ == "__main__":
    main()
