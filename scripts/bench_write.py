"""Write-side benchmark: sequential write until durable and untar, pithosfs vs raw PUT vs rclone.

    .venv/bin/python scripts/bench_write.py [--size-mib 1024] [--repeat 3] [--files 2000]
                                            [--no-rclone] [--skip-write] [--skip-untar]
                                            [--base-code DIR]

One `pithosfs serve` subprocess serves every contender, so the ratios compare
like with like; each measurement is repeated and the median printed, with the
load average before and after (other work on the machine skews absolute
numbers). The untar also reports the mount's requests per file, read from the
mount's own client counters (its status file), so a change in the per-file
request pattern shows up even when timings are noisy. `--base-code DIR` adds a
second pithosfs mount running the package in DIR (e.g. `git archive` of an
older commit), interleaved with the first, for before/after ratios measured
under the same load. Reuses the mount and server helpers of bench_mount.py
(the full benchmark).
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
    PY,
    MiB,
    Mounted,
    Server,
    children_cpu,
    cpu_seconds,
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
        from pithosfs.mount import launcher

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


def base_mount(srv: Server, work: Path, code: Path) -> Mounted:
    """A pithosfs mount running another checkout's code (PYTHONPATH), for before/after runs."""
    cache = work / "cache-base"
    return Mounted(
        [PY, "-m", "pithosfs", "mount", "-f", str(work / "base"), "--url", srv.url,
         "--token", srv.token, "--cache-dir", str(cache), "--log-file", str(work / "base.log")],
        work / "base",
        env=dict(os.environ, XDG_CACHE_HOME=str(work / "xdg-base"), PYTHONPATH=str(code)),
        cwd=code,  # `python -m` puts the working directory before PYTHONPATH on sys.path
    )  # fmt: skip


def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="pithosfs-bench-write-"))
    # The mounts' status files carry the request counters; refreshed often enough to read.
    os.environ["PITHOSFS_STATUS_INTERVAL"] = "0.5"
    size = args.size_mib * MiB
    mbs = args.size_mib
    src = work / "src.bin"
    print(f"load average before: {loadavg()}", flush=True)
    srv = Server(work)
    mounts: list[Mounted] = []
    try:
        srv.request("PUT", "/bench")
        # (label, mount, XDG_CACHE_HOME of a pithosfs mount or None for rclone)
        contenders: list[tuple[str, Mounted, Path | None]] = []
        m = pithosfs_mount(srv, work, "p1")
        mounts.append(m)
        contenders.append(("pithosfs", m, work / "xdg"))
        if args.base_code:
            b = base_mount(srv, work, args.base_code)
            mounts.append(b)
            contenders.append(("pithosfs (base code)", b, work / "xdg-base"))
        if not args.no_rclone:
            r = rclone_mount(srv, work, "r1")
            mounts.append(r)
            contenders.append(("rclone", r, None))
        if not args.skip_write:
            raw: list[float] = []
            speeds: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
            # CPU-s per GiB written, per process: (writer = curl or cp, mount, server)
            cpu: dict[str, list[tuple[float, float, float]]] = {"raw curl PUT": []}
            cpu.update({label: [] for label, _, _ in contenders})
            gib = size / 1024**3
            for i in range(args.repeat):
                # Fresh random content for each copy, so dedup cannot help anyone.
                sh(f"head -c {size} /dev/urandom > {src}")
                before = children_cpu(), cpu_seconds(srv.proc.pid)
                t = timed(
                    lambda i=i: srv.curl(
                        f"-T {src} -H 'Content-Type: application/octet-stream' "
                        f"{srv.url}/bench/raw{i}"
                    )
                )
                raw.append(mbs / t)
                cpu["raw curl PUT"].append(
                    ((children_cpu() - before[0]) / gib, 0.0,
                     (cpu_seconds(srv.proc.pid) - before[1]) / gib)
                )  # fmt: skip
                order = list(enumerate(contenders))
                for n, (label, mounted, xdg) in order if i % 2 == 0 else order[::-1]:
                    sh(f"head -c {size} /dev/urandom > {src}")
                    name = f"w{n}-{i}"
                    pids = (mounted.proc.pid, srv.proc.pid)
                    before = children_cpu(), *(cpu_seconds(p) for p in pids)
                    start = time.monotonic()
                    sh(f"cp {src} {mounted.path}/bench/{name}")
                    # pithosfs is durable when cp's close() returns; rclone uploads after it.
                    while srv.size_of("bench", name) != size:
                        assert xdg is None, f"{label}: not on the server after close()"
                        time.sleep(0.05)
                    speeds[label].append(mbs / (time.monotonic() - start))
                    after = children_cpu(), *(cpu_seconds(p) for p in pids)
                    used = [(a - b) / gib for a, b in zip(after, before, strict=True)]
                    cpu[label].append((used[0], used[1], used[2]))
            raw_put = median_row("raw curl PUT", raw, "MiB/s")
            medians = {
                label: median_row(f"{label} write until durable", v, "MiB/s")
                for label, v in speeds.items()
            }
            for label, rows in cpu.items():
                writer, mount, server = (statistics.median(r[k] for r in rows) for k in range(3))
                print(
                    f"  CPU-s per GiB, {label}: writer {writer:.2f}, mount {mount:.2f}, "
                    f"server {server:.2f} (medians)",
                    flush=True,
                )
            for label, med in medians.items():
                ratios = f"{med / raw_put:.2f}x raw PUT"
                if "rclone" in medians and label != "rclone":
                    ratios += f", {med / medians['rclone']:.2f}x rclone"
                print(f"  {label}: {ratios}", flush=True)
        if not args.skip_untar:
            tar = make_tree(work, args.files)
            times: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
            per_file: dict[str, list[float]] = {label: [] for label, _, x in contenders if x}
            counts: dict[str, dict[str, int]] = {}
            for i in range(args.repeat):
                # Alternate the order: whoever goes first meets different server state.
                order = list(enumerate(contenders))
                for n, (label, mounted, xdg) in order if i % 2 == 0 else order[::-1]:
                    dest = mounted.path / "bench" / f"untar{n}-{i}"
                    dest.mkdir()
                    before = status_counters(mounted.path, xdg, time.time()) if xdg else {}
                    times[label].append(timed(lambda dest=dest: sh(f"tar -C {dest} -xf {tar}")))
                    if xdg:
                        after = status_counters(mounted.path, xdg, time.time())
                        counts[label] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                        per_file[label].append(sum(counts[label].values()) / args.files)
            for label, v in times.items():
                note = "(local cache; uploads after)" if label == "rclone" else ""
                median_row(f"{label} untar of {args.files} files", v, "s", note)
            for label, v in per_file.items():
                median_row(f"{label} requests per file", v, "")
                print(f"  last run by method: {counts[label]}", flush=True)
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
    ap.add_argument(
        "--base-code",
        type=Path,
        help="also mount with the pithosfs package found in this directory (before/after)",
    )
    bench(ap.parse_args())


if __name__ == "__main__":
    main()
