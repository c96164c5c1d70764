"""Memory soak: a long mixed workload on a mount of an embedded server; RSS must stay flat.

    .venv/bin/python scripts/soak.py                        # 1 hour, RSS checked after 5 min
    .venv/bin/python scripts/soak.py --seconds 120 --warmup 40 --json out.json
    .venv/bin/python scripts/soak.py --seconds 600 --trace /tmp/soak-trace   # find a leak

It starts `pithosfs serve` and `pithosfs mount -f` as child processes (fresh data,
cache and mount directories under a temporary directory), then runs worker threads
that each own a directory and keep a model of its files: create and write (a few
bytes to several blocks), read back and compare, overwrite in place, append,
truncate, rename, unlink, mkdir/rmdir, stat, list, extended attributes, fsync, and
list a file's `.versions/`. Every read is compared with the model (mismatches are
counted, and fail the run). The workers keep a bounded number of files, so the
data the mount and the server must remember does not grow with the run's length:
what grows is a leak.

RSS (VmRSS of /proc/PID/status) of the mount and the server is sampled every
`--sample` seconds. The verdict compares the last sample with the first one at or
after `--warmup` seconds: each process must end within `--tolerance` (default 20%)
of it. The exit status is 0 only if both do and no read mismatched.

`--trace DIR` runs both processes under tracemalloc from the end of the warm-up
(through a sitecustomize.py in DIR on their PYTHONPATH, so nothing in the package
changes) and writes, every `--sample` seconds, the 25 source lines whose
allocations grew most since then to DIR/mount.txt and DIR/server.txt. That is how a leak is
found, not guessed: the biggest growers name the table or cache that keeps things.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid as uuidlib
from pathlib import Path

PY = sys.executable
MIB = 1024 * 1024
MAX_FILES = 24  # per worker: the data kept stays bounded however long the run

_TRACER = '''
import os, threading, time, tracemalloc

_out = os.environ.get("SOAK_TRACE_OUT")
if _out and os.environ.get("SOAK_CENSUS"):
    import collections, ctypes, gc, sys

    class _Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    def _malloc():
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        m = libc.mallinfo2()
        return {k: getattr(m, k) >> 20 for k in ("arena", "hblkhd", "uordblks", "fordblks")}

    def _types():
        return collections.Counter(type(o).__name__ for o in gc.get_objects())

    def _census(out=_out, warmup=float(os.environ["SOAK_TRACE_WARMUP"]),
                every=float(os.environ["SOAK_TRACE_EVERY"])):
        time.sleep(warmup)
        base, base_blocks = _types(), sys.getallocatedblocks()
        while True:
            time.sleep(every)
            now = _types()
            grew = sorted(((now[k] - base.get(k, 0), k) for k in now), reverse=True)[:25]
            lines = [f"{time.ctime()} python blocks {sys.getallocatedblocks()} "
                     f"(+{sys.getallocatedblocks() - base_blocks}) threads "
                     f"{threading.active_count()} malloc MiB {_malloc()}"]
            lines += [f"{d:+8d} {now[k]:8d} {k}" for d, k in grew]
            with open(out + ".tmp", "w") as f:
                f.write("\\n".join(lines) + "\\n")
            os.replace(out + ".tmp", out)

    threading.Thread(target=_census, daemon=True, name="soak-census").start()
elif _out:

    def _loop(out=_out, warmup=float(os.environ["SOAK_TRACE_WARMUP"]),
              every=float(os.environ["SOAK_TRACE_EVERY"])):
        time.sleep(warmup)
        tracemalloc.start(8)  # after the warm-up: what is allocated from here on, and kept
        base = tracemalloc.take_snapshot()
        while True:
            time.sleep(every)
            snap = tracemalloc.take_snapshot()
            top = snap.compare_to(base, "lineno")[:25]
            current, peak = tracemalloc.get_traced_memory()
            lines = [f"{time.ctime()} traced {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f})"]
            lines += [str(s) for s in top]
            with open(out + ".tmp", "w") as f:
                f.write("\\n".join(lines) + "\\n")
            os.replace(out + ".tmp", out)

    threading.Thread(target=_loop, daemon=True, name="soak-tracer").start()
'''


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A /proc/PID/status figure in KiB: VmRSS (all), RssAnon (heap, stacks) or RssFile."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """The server and the mount, as children of this script."""

    def __init__(
        self, root: Path, trace: Path | None, warmup: float, every: float, census: bool = False
    ) -> None:
        self.root = root
        self.user = (str(uuidlib.uuid4()), secrets.token_urlsafe(16))
        self.port = free_port()
        self.mnt = root / "mnt"
        self.mnt.mkdir()
        self.env = dict(os.environ, XDG_CACHE_HOME=str(root / "xdg"), PYTHONUNBUFFERED="1")
        self.env.pop("PITHOS_URL", None)
        self.env.pop("PITHOS_TOKEN", None)
        self.trace = trace
        if trace is not None:
            trace.mkdir(parents=True, exist_ok=True)
            (trace / "sitecustomize.py").write_text(_TRACER)
            self.env["PYTHONPATH"] = os.pathsep.join(
                [str(trace), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
            self.env["SOAK_TRACE_WARMUP"] = str(warmup)
            self.env["SOAK_TRACE_EVERY"] = str(every)
            if census:
                self.env["SOAK_CENSUS"] = "1"
        self.server: subprocess.Popen[bytes] | None = None
        self.mount: subprocess.Popen[bytes] | None = None

    def _env(self, name: str) -> dict[str, str]:
        env = dict(self.env)
        if self.trace is not None:
            env["SOAK_TRACE_OUT"] = str(self.trace / f"{name}.txt")
        return env

    def start(self) -> None:
        env = self._env("server")
        env["PITHOSFS_SERVE_USERS"] = f"{self.user[0]}={self.user[1]}"
        with open(self.root / "server.log", "wb") as out:
            self.server = subprocess.Popen(
                [PY, "-m", "pithosfs", "serve", "--data-dir", str(self.root / "data"),
                 "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        base = f"http://127.0.0.1:{self.port}"
        _wait(lambda: _answers(f"{base}/object-store/v1/"), 60, "the server to listen")
        env = self._env("mount")
        env["PITHOSFS_TOKEN"] = self.user[1]
        with open(self.root / "mount.out", "wb") as out:
            self.mount = subprocess.Popen(
                [PY, "-m", "pithosfs", "mount", "-f", str(self.mnt),
                 "--url", f"{base}/object-store/v1/{self.user[0]}",
                 "--cache-dir", str(self.root / "cache"), "--cache-size", "256M",
                 "--log-file", str(self.root / "mount.log")],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        _wait(lambda: os.path.ismount(self.mnt), 60, "the mount to be live")

    def stop(self) -> None:
        if self.mount is not None and self.mount.poll() is None:
            subprocess.run(["fusermount3", "-u", str(self.mnt)], capture_output=True)
            try:
                self.mount.wait(60)
            except subprocess.TimeoutExpired:
                self.mount.kill()
                subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], capture_output=True)
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _wait(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"soak: timed out waiting for {what}")
        time.sleep(0.1)


def _payload(rng: random.Random, largest: int) -> bytes:
    pick = rng.random()
    if pick < 0.70:
        size = rng.randint(0, 16 * 1024)
    elif pick < 0.97:
        size = rng.randint(16 * 1024, MIB)
    else:
        size = rng.randint(4 * MIB, 9 * MIB)  # several 4 MiB blocks
    return rng.randbytes(min(size, largest))


class Worker(threading.Thread):
    """One directory, a model of its files, random operations checked against the model."""

    def __init__(self, root: Path, seed: int, stop: threading.Event, largest: int) -> None:
        super().__init__(daemon=True, name=f"soak-{seed}")
        self.largest = largest
        self.dir = root / f"w{seed}"
        self.rng = random.Random(seed)
        self.stop_event = stop
        self.model: dict[str, bytes] = {}
        self.ops = 0
        self.mismatches: list[str] = []
        self.errors: list[str] = []
        self.serial = 0

    def _new_name(self) -> str:
        self.serial += 1
        return f"f{self.serial}.bin"

    def run(self) -> None:
        self.dir.mkdir()
        steps = [
            (self.create, 18), (self.read, 30), (self.overwrite, 8), (self.append, 6),
            (self.truncate, 4), (self.rename, 5), (self.unlink, 6), (self.dirs, 3),
            (self.listing, 8), (self.xattrs, 4), (self.versions, 2), (self.fsync, 3),
        ]  # fmt: skip
        funcs = [f for f, _ in steps]
        weights = [w for _, w in steps]
        while not self.stop_event.is_set():
            step = self.rng.choices(funcs, weights)[0]
            try:
                step()
            except OSError as exc:  # counted and shown; a mismatch is what fails the run
                self.errors.append(f"{step.__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a broken step must not end the worker
                self.mismatches.append(f"{step.__name__}: {exc!r}")
            self.ops += 1

    def _check(self, name: str, got: bytes) -> None:
        want = self.model[name]
        if got != want:
            self.mismatches.append(f"{self.dir.name}/{name}: {len(got)} B, expected {len(want)} B")

    def _some(self) -> str | None:
        return self.rng.choice(sorted(self.model)) if self.model else None

    def create(self) -> None:
        if len(self.model) >= MAX_FILES:
            self.unlink()
        name = self._new_name()
        data = _payload(self.rng, self.largest)
        (self.dir / name).write_bytes(data)
        self.model[name] = data

    def read(self) -> None:
        name = self._some()
        if name is not None:
            self._check(name, (self.dir / name).read_bytes())

    def overwrite(self) -> None:
        name = self._some()
        if name is None:
            return
        old = self.model[name]
        offset = self.rng.randint(0, len(old))
        piece = self.rng.randbytes(self.rng.randint(1, 64 * 1024))
        fd = os.open(self.dir / name, os.O_WRONLY)
        try:
            os.pwrite(fd, piece, offset)
        finally:
            os.close(fd)
        new = bytearray(old)
        new[offset : offset + len(piece)] = piece
        self.model[name] = bytes(new)

    def append(self) -> None:
        name = self._some()
        if name is None:
            return
        piece = self.rng.randbytes(self.rng.randint(1, 8 * 1024))
        with open(self.dir / name, "ab") as f:
            f.write(piece)
        self.model[name] += piece

    def truncate(self) -> None:
        name = self._some()
        if name is None:
            return
        length = self.rng.randint(0, len(self.model[name]) + 4096)
        os.truncate(self.dir / name, length)
        self.model[name] = self.model[name][:length].ljust(length, b"\0")

    def rename(self) -> None:
        name = self._some()
        if name is None:
            return
        new = self._new_name()
        os.rename(self.dir / name, self.dir / new)
        self.model[new] = self.model.pop(name)

    def unlink(self) -> None:
        name = self._some()
        if name is not None:
            os.unlink(self.dir / name)
            del self.model[name]

    def dirs(self) -> None:
        sub = self.dir / f"d{self.serial}"
        sub.mkdir()
        (sub / "x").write_bytes(b"x")
        if (sub / "x").read_bytes() != b"x":
            self.mismatches.append(f"{sub}: content")
        os.unlink(sub / "x")
        sub.rmdir()

    def listing(self) -> None:
        names = {n for n in os.listdir(self.dir) if not n.startswith(".")}
        if names != set(self.model):
            self.mismatches.append(f"{self.dir.name}: listing {sorted(names ^ set(self.model))}")
        for name in list(self.model)[:8]:
            os.stat(self.dir / name)

    def xattrs(self) -> None:
        name = self._some()
        if name is None:
            return
        value = self.rng.randbytes(16).hex().encode()
        os.setxattr(self.dir / name, "user.soak", value)
        if os.getxattr(self.dir / name, "user.soak") != value:
            self.mismatches.append(f"{self.dir.name}/{name}: xattr")

    def versions(self) -> None:
        name = self._some()
        if name is None:
            return
        try:
            os.listdir(self.dir / ".versions" / name)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    def fsync(self) -> None:
        name = self._some()
        if name is None:
            return
        piece = self.rng.randbytes(512)
        fd = os.open(self.dir / name, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, piece)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.model[name] += piece


def soak(args: argparse.Namespace) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="pithosfs-soak-", dir=args.tmp))
    procs = Processes(root, args.trace, args.warmup, args.sample, args.census)
    samples: list[tuple[float, int, int, int]] = []  # (seconds, mount KiB, server KiB, ops)
    workers: list[Worker] = []
    stop = threading.Event()

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM too: the mount and the server are stopped below

    signal.signal(signal.SIGTERM, interrupted)
    try:
        procs.start()
        assert procs.mount is not None and procs.server is not None
        container = procs.mnt / "soak"
        container.mkdir()
        workers = [Worker(container, i, stop, args.largest) for i in range(args.threads)]
        start = time.monotonic()
        for w in workers:
            w.start()
        while (elapsed := time.monotonic() - start) < args.seconds:
            if procs.mount.poll() is not None or procs.server.poll() is not None:
                raise SystemExit("soak: the mount or the server exited")
            ops = sum(w.ops for w in workers)
            samples.append((elapsed, rss_kib(procs.mount.pid), rss_kib(procs.server.pid), ops))
            if args.verbose:
                anon = [rss_kib(p.pid, "RssAnon") / 1024 for p in (procs.mount, procs.server)]
                print(f"{elapsed:7.0f} s  mount {samples[-1][1] / 1024:6.1f} MiB "
                      f"(anon {anon[0]:.1f})  server {samples[-1][2] / 1024:6.1f} MiB "
                      f"(anon {anon[1]:.1f})  ops {ops}", flush=True)  # fmt: skip
            time.sleep(min(args.sample, max(args.seconds - elapsed, 0.1)))
        stop.set()
        for w in workers:
            w.join(120)
        samples.append(
            (time.monotonic() - start, rss_kib(procs.mount.pid), rss_kib(procs.server.pid),
             sum(w.ops for w in workers))
        )  # fmt: skip
    finally:
        stop.set()
        procs.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    after = next(s for s in samples if s[0] >= args.warmup) if samples[-1][0] >= args.warmup else samples[-1]
    end = samples[-1]
    growth = {
        "mount": end[1] / after[1] - 1 if after[1] else 0.0,
        "server": end[2] / after[2] - 1 if after[2] else 0.0,
    }
    later = [x for x in samples if x[0] >= after[0]]
    slope = {
        "mount": _slope(later, 1),
        "server": _slope(later, 2),
    }
    mismatches = [m for w in workers for m in w.mismatches]
    errors = [e for w in workers for e in w.errors]
    return {
        "seconds": round(end[0], 1),
        "threads": args.threads,
        "operations": end[3],
        "mismatches": len(mismatches),
        "mismatch_examples": mismatches[:5],
        "errors": len(errors),
        "error_examples": errors[:5],
        "warmup_seconds": round(after[0], 1),
        "rss_mib_at_start": {"mount": samples[0][1] / 1024, "server": samples[0][2] / 1024},
        "rss_mib_after_warmup": {"mount": after[1] / 1024, "server": after[2] / 1024},
        "rss_mib_at_end": {"mount": end[1] / 1024, "server": end[2] / 1024},
        "rss_mib_peak": {
            "mount": max(s[1] for s in samples) / 1024,
            "server": max(s[2] for s in samples) / 1024,
        },
        "growth_after_warmup": growth,
        "mib_per_10k_ops_after_warmup": slope,
        "tolerance": args.tolerance,
        "samples": [[round(s[0], 1), s[1], s[2], s[3]] for s in samples],
        "ok": not mismatches and all(g <= args.tolerance for g in growth.values()),
    }


def _slope(samples: list[tuple[float, int, int, int]], column: int) -> float:
    """Least-squares slope of RSS (MiB) over operations, per 10,000 operations.

    What a leak looks like whatever the machine's speed: memory per work done. The one
    this script was written to find grew by about 9 MiB per 10,000 operations.
    """
    points = [(s[3] / 10_000, s[column] / 1024) for s in samples]
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0, help="length of the run")
    ap.add_argument("--warmup", type=float, default=300.0, help="RSS baseline taken here")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--tolerance", type=float, default=0.20, help="allowed RSS growth")
    ap.add_argument(
        "--largest", type=int, default=9 * MIB,
        help="largest file in bytes (smaller: buffer pools fill at once, a short run "
        "sees only what grows with the work)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, help="write the full result here")
    ap.add_argument("--trace", type=Path, help="run under tracemalloc, reports in this dir")
    ap.add_argument(
        "--census", action="store_true",
        help="with --trace: count live objects by type and malloc's arenas instead (cheap)",
    )  # fmt: skip
    ap.add_argument("--tmp", help="parent of the temporary directory")
    ap.add_argument("--keep", action="store_true", help="keep data, cache and logs")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every sample")
    args = ap.parse_args()
    result = soak(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    shown = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(shown, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
