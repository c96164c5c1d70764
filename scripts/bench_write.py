"""Write-side benchmark: sequential write until durable and untar, pithosfs vs raw PUT vs rclone.

    .venv/bin/python scripts/bench_write.py [--size-mib 1024] [--repeat 3] [--files 2000]
                                            [--no-rclone] [--skip-write] [--skip-untar]

One `pithosfs serve` subprocess serves every contender, so the ratios compare
like with like; each measurement is repeated and the median printed, with the
load average before and after (other work on the machine skews absolute
numbers). The untar also reports the mount's requests per file, read from the
mount's own client counters (its status file), so a change in the per-file
request pattern shows up even when timings are noisy. Reuses the mount and
server helpers of bench_mount.py (the full benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mount import (  # noqa: E402 - a sibling script, not a package
    MiB,
    Mounted,
    Server,
    make_tree,
    pithosfs_mount,
    rclone_mount,
    sh,
    timed,
)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def status_counters(mountpoint: Path, xdg: Path, after: float) -> dict[str, int]:
    """Request counts per method of a pithosfs mount (its status file, written after `after`)."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(xdg)
    try:
        from pithosfs.fs import launcher

        path = launcher.state_path(mountpoint)
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = old
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            state = json.loads(path.read_text())
            if state.get("updated", 0) > after:
                return {k: int(v) for k, v in state.get("by_method", {}).items()}
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError("mount status file not refreshed")


def median_row(what: str, values: list[float], unit: str, note: str = "") -> float:
    med = statistics.median(values)
    runs = ", ".join(f"{v:.2f}" for v in values)
    print(f"{what:<48} {med:9.2f} {unit:<6} [{runs}] {note}", flush=True)
    return med


def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="pithosfs-bench-write-"))
    os.environ["PITHOSFS_STATUS_INTERVAL"] = "0.1"
    size = args.size_mib * MiB
    mbs = args.size_mib
    src = work / "src.bin"
    print(f"load average before: {loadavg()}", flush=True)
    srv = Server(work)
    mounts: list[Mounted] = []
    try:
        srv.request("PUT", "/bench")
        m = pithosfs_mount(srv, work, "p1")
        mounts.append(m)
        xdg = work / "xdg"
        r = None
        if not args.no_rclone:
            r = rclone_mount(srv, work, "r1")
            mounts.append(r)
        if not args.skip_write:
            sh(f"head -c {size} /dev/urandom > {src}")
            raw, pfs, rcl = [], [], []
            for i in range(args.repeat):
                # Fresh random content per round, so dedup cannot help pithosfs.
                sh(f"head -c {size} /dev/urandom > {src}")
                t = timed(
                    lambda i=i: srv.curl(
                        f"-T {src} -H 'Content-Type: application/octet-stream' "
                        f"{srv.url}/bench/raw{i}"
                    )
                )
                raw.append(mbs / t)
                sh(f"head -c {size} /dev/urandom > {src}")
                t = timed(lambda i=i: sh(f"cp {src} {m.path}/bench/p{i}"))
                assert srv.size_of("bench", f"p{i}") == size
                pfs.append(mbs / t)
                if r is not None:
                    sh(f"head -c {size} /dev/urandom > {src}")
                    name = f"r{i}"
                    start = time.monotonic()
                    sh(f"cp {src} {r.path}/bench/{name}")
                    # rclone uploads after close: durable once the server has it all.
                    while srv.size_of("bench", name) != size:
                        time.sleep(0.05)
                    rcl.append(mbs / (time.monotonic() - start))
            raw_put = median_row("raw curl PUT", raw, "MiB/s")
            p = median_row("pithosfs write until durable", pfs, "MiB/s")
            print(f"  pithosfs / raw PUT = {p / raw_put:.2f}x", flush=True)
            if rcl:
                rc = median_row("rclone write until durable", rcl, "MiB/s")
                print(f"  pithosfs / rclone = {p / rc:.2f}x", flush=True)
        if not args.skip_untar:
            tar = make_tree(work, args.files)
            times, per_file, rtimes = [], [], []
            counts: dict[str, int] = {}
            for i in range(args.repeat):
                dest = m.path / "bench" / f"untar-p{i}"
                dest.mkdir()
                before = status_counters(m.path, xdg, time.time())
                times.append(timed(lambda dest=dest: sh(f"tar -C {dest} -xf {tar}")))
                after = status_counters(m.path, xdg, time.time())
                counts = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                per_file.append(sum(counts.values()) / args.files)
                if r is not None:
                    dest = r.path / "bench" / f"untar-r{i}"
                    dest.mkdir()
                    rtimes.append(timed(lambda dest=dest: sh(f"tar -C {dest} -xf {tar}")))
            median_row(f"pithosfs untar of {args.files} files", times, "s")
            median_row("pithosfs requests per file", per_file, "")
            print(f"  last run's requests by method: {counts}", flush=True)
            if rtimes:
                median_row("rclone untar (local cache; uploads after)", rtimes, "s")
    finally:
        for mounted in mounts:
            mounted.stop()
        srv.stop()
        print(f"load average after: {loadavg()}", flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--no-rclone", action="store_true")
    ap.add_argument("--skip-write", action="store_true")
    ap.add_argument("--skip-untar", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    bench(ap.parse_args())


if __name__ == "__main__":
    main()
