"""Side-by-side benchmark on one embedded server: pithosfs mount vs raw curl vs rclone mount.

    .venv/bin/python scripts/bench_mount.py [--size-mib 1024] [--rss-gib 4] [--out FILE]
    .venv/bin/python scripts/bench_mount.py --only ls --no-rclone --size-mib 1 --rss-gib 0 \
        --repeat 5 [--baseline-src DIR]   # ls -l only: medians, A/B against another tree

Everything runs in this one invocation against one `pithosfs serve` subprocess,
so the ratios compare like with like (absolute times depend on the machine).
Measured: sequential write until durable on the server, cold read, `ls -l` of
10,000 objects cold, untar of a 2,000-file tree, identical re-copy, 1-byte edit,
and the mount's peak RSS while copying a big file; plus the read ceiling of an
in-memory mfusepy filesystem. rclone: Debian's, swift backend with storage URL +
token, `--vfs-cache-mode writes`. Results are printed and written to
scripts/bench_results.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def timed(fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU time of this process's finished children (curl, cat, ls and their shells)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def metered(fn: Callable[[], object], in_process: bool = False, **pids: int) -> tuple[float, str]:
    """Wall time of fn, and the CPU seconds each named process (and the tool) spent.

    On a machine shared with other work the wall time swings with the load; the CPU
    each side needs per run does not, so it is printed next to every transfer. The
    tool is the child commands fn runs, or this process when `in_process`.
    """
    tool_clock = time.process_time if in_process else children_cpu
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    tool = tool_clock()
    wall = timed(fn)
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    spent["tool"] = tool_clock() - tool
    return wall, "cpu s: " + ", ".join(f"{name} {sec:.2f}" for name, sec in spent.items())


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, timeout=3600)


def wait_for(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


class Server:
    def __init__(self, work: Path, *serve_args: str) -> None:
        """`serve_args`: more options of `pithosfs serve` (e.g. `--strict`)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.user, self.token = str(uuidlib.uuid4()), secrets.token_urlsafe(16)
        self.proc = subprocess.Popen(
            [PY, "-m", "pithosfs", "serve", "--data-dir", str(work / "data"),
             "--port", str(self.port), "--user", f"{self.user}={self.token}", *serve_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}/object-store/v1/{self.user}"
        wait_for(self._alive, 30)

    def _alive(self) -> bool:
        try:
            self.request("HEAD", "")
            return True
        except OSError:
            return False

    def request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("X-Auth-Token", self.token)
        if data is not None:
            req.add_header("Content-Type", "application/octet-stream")
        with urllib.request.urlopen(req, timeout=600) as resp:
            return resp.read()

    def size_of(self, container: str, name: str) -> int:
        req = urllib.request.Request(f"{self.url}/{container}/{name}", method="HEAD")
        req.add_header("X-Auth-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return int(resp.headers["Content-Length"])
        except OSError:
            return -1

    def curl(self, args: str) -> None:
        sh(f"curl -sf -o /dev/null -H 'X-Auth-Token: {self.token}' {args}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


class Mounted:
    """A mount subprocess (pithosfs, rclone or the null fs), unmounted on stop()."""

    def __init__(
        self,
        cmd: list[str],
        mountpoint: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        mountpoint.mkdir(parents=True, exist_ok=True)
        self.path = mountpoint
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd
        )
        wait_for(lambda: os.path.ismount(mountpoint) or self.proc.poll() is not None, 60)
        if not os.path.ismount(mountpoint):
            raise RuntimeError(f"mount failed: {' '.join(cmd)}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        subprocess.run(["fusermount3", "-u", str(self.path)], capture_output=True)
        try:
            self.proc.wait(300)  # a mount commits what is pending before it exits
        except subprocess.TimeoutExpired:
            self.proc.kill()


def pithosfs_mount(srv: Server, work: Path, name: str, src: Path | None = None) -> Mounted:
    """A cold pithosfs mount; `src`: run the pithosfs package found there instead."""
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)  # cold: empty block cache
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "xdg"))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return Mounted(
        [PY, "-m", "pithosfs", "mount", "-f", str(work / name), "--url", srv.url,
         "--token", srv.token, "--cache-dir", str(cache), "--log-file", str(work / f"{name}.log")],
        work / name, env=env, cwd=work,
    )  # fmt: skip


def rclone_mount(srv: Server, work: Path, name: str) -> Mounted:
    remote = f":swift,storage_url='{srv.url}',auth_token='{srv.token}':"
    return Mounted(
        ["rclone", "mount", remote, str(work / name), "--vfs-cache-mode", "writes",
         "--ignore-checksum", "--no-checksum",  # Pithos ETags are Merkle hashes, not MD5s
         "--cache-dir", str(work / f"rclone-cache-{name}"), "--dir-cache-time", "1s"],
        work / name,
    )  # fmt: skip


def fill_many(srv: Server) -> None:
    """10,000 one-byte objects in container `many`."""
    from concurrent.futures import ThreadPoolExecutor

    srv.request("PUT", "/many")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: srv.request("PUT", f"/many/f{i:05d}", b"x"), range(10_000)))


# The raw listing, and the same listing as the mount asks for it (one level, with metadata).
RAW_LISTING = "/many?format=json&limit=10000"
MOUNT_LISTING = "/many?format=json&limit=10000&delimiter=%2F&include_meta=1"


def median_of(runs: list[tuple[float, str]]) -> tuple[float, str]:
    """The run with the median wall time (its CPU note with it)."""
    return sorted(runs)[len(runs) // 2]


def ls_cold(srv: Server, work: Path, name: str, src: Path | None) -> tuple[float, str]:
    """`ls -l` of the 10,000 objects on a fresh mount: wall time and CPU per process."""
    m = pithosfs_mount(srv, work, name, src)
    try:
        return metered(lambda: sh(f"ls -l {m.path}/many > /dev/null"),
                       mount=m.proc.pid, server=srv.proc.pid)  # fmt: skip
    finally:
        m.stop()


@contextlib.contextmanager
def profiled(m: Mounted, out_dir: Path | None, name: str) -> Iterator[None]:
    """Sample the mount with py-spy while the block runs (when asked: it costs CPU)."""
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [shutil.which("py-spy") or str(Path(PY).parent / "py-spy"), "record", "--threads", "--idle", "--rate", "250", "-p", str(m.proc.pid),
         "-o", str(out_dir / f"{name}.txt"), "-f", "raw"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def make_tree(path: Path, files: int) -> Path:
    src = path / "tree"
    for i in range(files):
        d = src / f"d{i % 40:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(os.urandom(512 + (i * 37) % 4000))
    tar = path / "tree.tar"
    with tarfile.open(tar, "w") as t:
        t.add(src, arcname="tree")
    return tar


def bench(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    work = Path(tempfile.mkdtemp(prefix="pithosfs-bench-"))
    size = args.size_mib * MiB
    src = work / "src.bin"
    sh(f"head -c {size} /dev/urandom > {src}")
    srv = Server(work)
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: float, unit: str, note: str = "") -> float:
        rows.append((what, f"{value:.2f} {unit}", note))
        print(f"{what:<55} {value:10.2f} {unit:<6} {note}", flush=True)
        return value

    mbs = args.size_mib
    only = set(args.only.split(",")) if args.only else None

    def wanted(section: str) -> bool:
        return only is None or section in only

    rclone_in = set(args.rclone_only.split(",")) if args.rclone_only else None

    def rclone_wanted(section: str) -> bool:
        """rclone's side of a section (slow: its ls -l costs a request per file)."""
        return not args.no_rclone and (rclone_in is None or section in rclone_in)

    def fresh_object(name: str) -> None:
        """Upload `size` new random bytes as bench/<name>, for a cold read of its own.

        Why not read bench/raw again: blocks are content-addressed, so a second reader
        of the same bytes reads the same block files, which the server may have in its
        page cache by then (it caches a block from its 2nd recent read): not cold.
        """
        fresh = work / "fresh.bin"
        sh(f"head -c {size} /dev/urandom > {fresh}")
        srv.curl(f"-T {fresh} -H 'Content-Type: application/octet-stream' {srv.url}/bench/{name}")
        fresh.unlink()

    try:
        srv.request("PUT", "/bench")
        # -- raw curl --------------------------------------------------------
        t, cpu = metered(
            lambda: srv.curl(
                f"-T {src} -H 'Content-Type: application/octet-stream' {srv.url}/bench/raw"
            ),
            server=srv.proc.pid,
        )
        raw_put = row("raw curl PUT", mbs / t, "MiB/s", cpu)
        t, cpu = metered(lambda: srv.curl(f"{srv.url}/bench/raw"), server=srv.proc.pid)
        raw_get = row("raw curl GET", mbs / t, "MiB/s", cpu)
        ceiling = raw_get_ratio = 0.0
        p_write = p_read = r_write = r_read = 0.0
        # -- null FUSE ceiling -----------------------------------------------
        if wanted("read"):
            null = Mounted(
                [PY, str(ROOT / "scripts/null_fuse.py"), str(work / "null"), str(size)],
                work / "null",
            )
            t, cpu = metered(lambda: sh(f"cat {work}/null/zeros > /dev/null"), fs=null.proc.pid)
            ceiling = row("null mfusepy fs read (ceiling)", mbs / t, "MiB/s", cpu)
            null.stop()
        # -- pithosfs --------------------------------------------------------
        if wanted("write"):
            m = pithosfs_mount(srv, work, "p1")
            with profiled(m, args.profile, "write"):  # durable when close() returns
                t, cpu = metered(lambda: sh(f"cp {src} {m.path}/bench/p"),
                                 mount=m.proc.pid, server=srv.proc.pid)  # fmt: skip
            assert srv.size_of("bench", "p") == size
            p_write = row("pithosfs write until durable", mbs / t, "MiB/s",
                          f"{mbs / t / raw_put:.2f}x raw PUT; {cpu}")  # fmt: skip
            t = timed(lambda: sh(f"cp {src} {m.path}/bench/p-again"))
            row("pithosfs identical re-copy", t, "s")
            t = timed(
                lambda: sh(
                    f"printf Z | dd of={m.path}/bench/p bs=1 seek={size // 2} "
                    "conv=notrunc status=none"
                )  # fmt: skip
            )
            row("pithosfs 1-byte edit (dd conv=notrunc)", t, "s")
            m.stop()
        if wanted("read"):
            fresh_object("p-cold")
            m = pithosfs_mount(srv, work, "p2")
            with profiled(m, args.profile, "read"):
                t, cpu = metered(lambda: sh(f"cat {m.path}/bench/p-cold > /dev/null"),
                                 mount=m.proc.pid, server=srv.proc.pid)  # fmt: skip
            raw_get_ratio = mbs / t / raw_get
            p_read = row("pithosfs cold read", mbs / t, "MiB/s",
                         f"{mbs / t / ceiling:.2f}x null fs, {raw_get_ratio:.2f}x raw GET; {cpu}")  # fmt: skip
            m.stop()
        # -- rclone ----------------------------------------------------------
        if wanted("write") and rclone_wanted("write"):
            r = rclone_mount(srv, work, "r1")
            t = timed(lambda: (sh(f"cp {src} {r.path}/bench/r"),
                               wait_for(lambda: srv.size_of("bench", "r") == size, 1800)))  # fmt: skip
            r_write = row("rclone write until durable", mbs / t, "MiB/s")
            r.stop()
        if wanted("read") and rclone_wanted("read"):
            fresh_object("r-cold")
            r = rclone_mount(srv, work, "r2")
            t, cpu = metered(lambda: sh(f"cat {r.path}/bench/r-cold > /dev/null"),
                             rclone=r.proc.pid, server=srv.proc.pid)  # fmt: skip
            r_read = row("rclone cold read", mbs / t, "MiB/s", cpu)
            r.stop()
        ratios = [f"{what} {p / r:.2f}x" for what, p, r in
                  (("write", p_write, r_write), ("read", p_read, r_read)) if p and r]  # fmt: skip
        if ratios:
            rows.append(("pithosfs / rclone", ", ".join(ratios), ""))
        # -- listing ---------------------------------------------------------
        tar = make_tree(work, 2000) if wanted("untar") else None
        if wanted("ls"):
            fill_many(srv)
            n = args.repeat
            raw = [metered(lambda: srv.request("GET", RAW_LISTING), in_process=True,
                           server=srv.proc.pid) for _ in range(n)]  # fmt: skip
            t_raw, cpu = median_of(raw)
            row("raw listing of 10,000 objects", t_raw, "s", f"median of {n}; {cpu}")
            t, cpu = median_of([metered(lambda: srv.request("GET", MOUNT_LISTING),
                                        in_process=True, server=srv.proc.pid)
                                for _ in range(n)])  # fmt: skip
            row("raw listing as the mount asks it (delimiter, metadata)", t, "s",
                f"median of {n}; {t / t_raw:.2f}x raw listing; {cpu}")  # fmt: skip
            if args.profile is not None:  # one more mount, sampled (py-spy costs CPU)
                m = pithosfs_mount(srv, work, "p3-profiled")
                try:
                    with profiled(m, args.profile, "ls"):
                        sh(f"ls -l {m.path}/many > /dev/null")
                finally:
                    m.stop()  # a failed profile must not leave a mount behind
            # Alternate with the baseline tree, if any, so that load changes hit both.
            ours, base = [], []
            for i in range(n):
                ours.append(ls_cold(srv, work, f"p3-{i}", None))
                if args.baseline_src is not None:
                    base.append(ls_cold(srv, work, f"p3-base-{i}", args.baseline_src))
            t, cpu = median_of(ours)
            row("pithosfs ls -l of 10,000 objects, cold", t, "s",
                f"median of {n}; {t / t_raw:.2f}x raw listing; {cpu}")  # fmt: skip
            if base:
                t, cpu = median_of(base)
                row(f"baseline ({args.baseline_src}) ls -l, cold", t, "s",
                    f"median of {n}; {t / t_raw:.2f}x raw listing; {cpu}")  # fmt: skip
        if wanted("untar"):
            m = pithosfs_mount(srv, work, "p3")
            if tar is not None:
                (m.path / "bench" / "untar-p").mkdir()
                t = timed(lambda: sh(f"tar -C {m.path}/bench/untar-p -xf {tar}"))
                row("pithosfs untar of 2,000 files", t, "s")
            m.stop()
        if wanted("ls") or wanted("untar"):
            if rclone_wanted("ls") or rclone_wanted("untar"):
                r = rclone_mount(srv, work, "r3")
                if wanted("ls") and rclone_wanted("ls"):
                    t = timed(lambda: sh(f"ls -l {r.path}/many > /dev/null"))
                    row("rclone ls -l of 10,000 objects, cold", t, "s")
                if tar is not None and rclone_wanted("untar"):
                    (r.path / "bench" / "untar-r").mkdir()
                    t = timed(lambda: sh(f"tar -C {r.path}/bench/untar-r -xf {tar}"))
                    row("rclone untar of 2,000 files (local cache; uploads after)", t, "s")
                r.stop()
        # -- memory ----------------------------------------------------------
        if args.rss_gib and wanted("rss"):
            big = work / "rss.bin"
            src.unlink()
            sh(f"head -c {args.rss_gib * 1024 * MiB} /dev/urandom > {big}")
            m = pithosfs_mount(srv, work, "p4")
            peak = [0.0]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], m.rss_mib())
                    time.sleep(0.1)

            threading.Thread(target=sample, daemon=True).start()
            sh(f"cp {big} {m.path}/bench/big")
            done.set()
            row(f"pithosfs peak RSS while copying {args.rss_gib} GiB", peak[0], "MiB")
            m.stop()
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rss-gib", type=int, default=4, help="0 skips the RSS measurement")
    parser.add_argument("--out", type=Path, help="default scripts/bench_results.md (full runs)")
    parser.add_argument("--only", default="", help="comma list of read,write,ls,untar,rss")
    parser.add_argument("--no-rclone", action="store_true", help="skip the rclone mounts")
    parser.add_argument(
        "--rclone-only", default="", help="comma list: run rclone in these sections only"
    )
    parser.add_argument("--profile", type=Path, help="py-spy flame graphs of the mount here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="ls: runs (fresh mount each), median reported"
    )
    parser.add_argument(
        "--baseline-src", type=Path, help="ls: also mount the pithosfs package in this dir"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = bench(args)
    load_after = os.getloadavg()[0]
    lines = [
        "# pithosfs benchmark (latest run)", "",
        f"`scripts/bench_mount.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
        f"embedded server on localhost; load average {load_before:.1f} before, "
        f"{load_after:.1f} after (other work on the machine skews absolute numbers).", "",
        "| measurement | value | note |", "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]  # fmt: skip
    out = args.out or (None if args.only else ROOT / "scripts" / "bench_results.md")
    if out is not None:
        out.write_text("\n".join(lines) + "\n")
        print(json.dumps({"written": str(out)}))


if __name__ == "__main__":
    main()
