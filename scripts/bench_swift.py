"""pithosfs vs rclone on the same OpenStack Swift server (the benchmark's Swift column).

    eval "$(scripts/swift/start.sh)"; export PITHOSFS_SWIFT_AUTH PITHOSFS_SWIFT_USER PITHOSFS_SWIFT_KEY
    .venv/bin/python scripts/bench_swift.py [--size-mib 128] [--objects 2000] [--repeat 3]

Both mount the account by storage URL + token (one tempauth login at the start);
rclone is Debian's, swift backend, `--vfs-cache-mode writes`. Baselines from the
same run: curl PUT/GET of the same file and one raw container listing. Each
figure is the median of --repeat runs, each on a fresh mount with empty caches:

* sequential write until durable: `cp` of a random file; pithosfs is durable when
  cp's close() returns, rclone when the object has its full size on Swift;
* cold read: `cat` of an object written by curl;
* `ls -l` of a folder of --objects small objects, cold;
* with --segment-mib, the write again in segments of that size (pithosfs: SLO via
  PITHOSFS_SWIFT_SEGMENT_SIZE; rclone: --swift-chunk-size).

Results (with `cat /proc/loadavg` before and after) go to scripts/bench_swift_results.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mount import Mounted, sh, timed, wait_for  # noqa: E402 - a sibling script

PY = sys.executable
NOTE = (
    "rclone uploads a written file after its `--vfs-write-back` delay (5 s by default), which is "
    "part of its time until durable; its `ls -l` stats each object with a HEAD (Swift listings "
    "lack the modification time rclone wants), pithosfs uses the listing's fields. The machine "
    "was shared with other jobs (load above), so absolute figures are noisy; ratios come from "
    "the same run."
)
ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def login() -> tuple[str, str]:
    auth = os.environ.get("PITHOSFS_SWIFT_AUTH")
    if not auth:
        sys.exit("bench_swift: set PITHOSFS_SWIFT_AUTH/_USER/_KEY (scripts/swift/start.sh)")
    req = urllib.request.Request(auth, headers={
        "X-Auth-User": os.environ.get("PITHOSFS_SWIFT_USER", "test:tester"),
        "X-Auth-Key": os.environ.get("PITHOSFS_SWIFT_KEY", "testing"),
    })  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]


class Swift:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def request(self, method: str, path: str, data: bytes | None = None) -> bytes:
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"X-Auth-Token": self.token}
        )
        with urllib.request.urlopen(req, timeout=600) as resp:
            return bytes(resp.read())

    def head(self, container: str, name: str) -> dict[str, str]:
        """The object's headers ({} if absent)."""
        try:
            req = urllib.request.Request(
                f"{self.url}/{container}/{name}", method="HEAD",
                headers={"X-Auth-Token": self.token},
            )  # fmt: skip
            with urllib.request.urlopen(req, timeout=30) as resp:
                return dict(resp.headers.items())
        except OSError:
            return {}

    def size_of(self, container: str, name: str) -> int:
        return int(self.head(container, name).get("Content-Length", -1))

    def empty_and_delete(self, container: str) -> None:
        """Remove a container and its objects (bulk deletes of up to 1,000 names)."""
        while True:
            try:
                names = self.request("GET", f"/{container}?limit=1000").decode().split("\n")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return
                raise
            names = [n for n in names if n]
            if not names:
                break
            body = "\n".join(urllib.parse.quote(f"{container}/{n}") for n in names).encode()
            req = urllib.request.Request(
                self.url + "?bulk-delete", data=body, method="POST",
                headers={"X-Auth-Token": self.token, "Content-Type": "text/plain"},
            )  # fmt: skip
            with urllib.request.urlopen(req, timeout=600) as resp:
                resp.read()
        try:
            self.request("DELETE", f"/{container}")
        except urllib.error.HTTPError as exc:  # 409: listing not settled yet; space is freed
            print(f"bench_swift: container {container} kept ({exc.code})", file=sys.stderr)

    def curl(self, args: str) -> None:
        sh(f"curl -sf -o /dev/null -H 'X-Auth-Token: {self.token}' {args}")


def pithosfs_mount(sw: Swift, work: Path, name: str, segment: int = 0) -> Mounted:
    cache = work / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, XDG_CACHE_HOME=str(work / "xdg"), PITHOS_TOKEN=sw.token)
    if segment:
        env["PITHOSFS_SWIFT_SEGMENT_SIZE"] = str(segment)
    return Mounted(
        [PY, "-m", "pithosfs", "mount", "-f", str(work / name), "--url", sw.url,
         "--cache-dir", str(cache), "--log-file", str(work / f"{name}.log")],
        work / name, env=env,
    )  # fmt: skip


def rclone_mount(sw: Swift, work: Path, name: str, segment: int = 0) -> Mounted:
    remote = f":swift,storage_url='{sw.url}',auth_token='{sw.token}':"
    cache = work / f"rclone-cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    chunks = ["--swift-chunk-size", f"{segment // MiB}M"] if segment else []
    return Mounted(
        ["rclone", "mount", remote, str(work / name), "--vfs-cache-mode", "writes",
         "--cache-dir", str(cache), "--dir-cache-time", "1s", *chunks],
        work / name,
    )  # fmt: skip


def median_of(repeat: int, run: Callable[[int], float]) -> tuple[float, list[float]]:
    values = [run(i) for i in range(repeat)]
    return statistics.median(values), values


def bench(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    url, token = login()
    sw = Swift(url, token)
    work = Path(tempfile.mkdtemp(prefix="pithosfs-bench-swift-"))
    size, mbs = args.size_mib * MiB, args.size_mib
    src = work / "src.bin"
    sh(f"head -c {size} /dev/urandom > {src}")
    rows: list[tuple[str, str, str]] = []
    run_id = uuid.uuid4().hex[:8]  # fresh containers: earlier runs' objects would skew the figures
    bench_c, many_c = f"bench-{run_id}", f"many-{run_id}"

    def row(what: str, value: float, unit: str, runs: list[float], note: str = "") -> float:
        shown = ", ".join(f"{v:.2f}" for v in runs)
        rows.append((what, f"{value:.2f} {unit}", f"runs {shown}" + (f"; {note}" if note else "")))
        print(f"{what:<45} {value:9.2f} {unit:<6} [{shown}] {note}", flush=True)
        return value

    try:
        sw.request("PUT", f"/{bench_c}")
        put, runs = median_of(args.repeat, lambda i: mbs / timed(
            lambda: sw.curl(f"-T {src} {sw.url}/{bench_c}/raw{i}")))  # fmt: skip
        raw_put = row("curl PUT (baseline)", put, "MiB/s", runs)
        get, runs = median_of(args.repeat, lambda i: mbs / timed(
            lambda: sw.curl(f"{sw.url}/{bench_c}/raw{i}")))  # fmt: skip
        raw_get = row("curl GET (baseline)", get, "MiB/s", runs)

        def p_write(i: int, segment: int = 0) -> float:
            m = pithosfs_mount(sw, work, f"pw{segment}-{i}", segment)
            name = f"p{segment}-{i}"
            try:  # durable when cp's close() returns
                t = timed(lambda: sh(f"cp {src} {m.path}/{bench_c}/{name}"))
            finally:
                m.stop()
            head = sw.head(bench_c, name)
            assert int(head.get("Content-Length", -1)) == size
            assert bool(segment) == (head.get("X-Static-Large-Object") == "True"), head
            return mbs / t

        def r_write(i: int, segment: int = 0) -> float:
            m = rclone_mount(sw, work, f"rw{segment}-{i}", segment)
            name = f"r{segment}-{i}"
            try:
                t = timed(lambda: (sh(f"cp {src} {m.path}/{bench_c}/{name}"),
                                   wait_for(lambda: sw.size_of(bench_c, name) == size, 600)))  # fmt: skip
            finally:
                m.stop()
            return mbs / t

        def read_with(
            mount: Callable[[Swift, Path, str], Mounted], tag: str
        ) -> Callable[[int], float]:
            def run(i: int) -> float:
                m = mount(sw, work, f"{tag}{i}")
                try:
                    return mbs / timed(lambda: sh(f"cat {m.path}/{bench_c}/raw{i} > /dev/null"))
                finally:
                    m.stop()

            return run

        pw, runs = median_of(args.repeat, p_write)
        row("pithosfs write until durable", pw, "MiB/s", runs, f"{pw / raw_put:.2f}x curl PUT")
        rw, runs = median_of(args.repeat, r_write)
        row("rclone write until durable", rw, "MiB/s", runs, f"{rw / raw_put:.2f}x curl PUT")
        seg = args.segment_mib * MiB
        if seg:  # both segmented: pithosfs SLO, rclone its own segments
            label = f"in {args.segment_mib} MiB segments"
            spw, runs = median_of(args.repeat, lambda i: p_write(i, seg))
            row(f"pithosfs write {label}", spw, "MiB/s", runs, f"{spw / raw_put:.2f}x curl PUT")
            srw, runs = median_of(args.repeat, lambda i: r_write(i, seg))
            row(f"rclone write {label}", srw, "MiB/s", runs, f"{srw / raw_put:.2f}x curl PUT")
        pr, runs = median_of(args.repeat, read_with(pithosfs_mount, "pr"))
        row("pithosfs cold read", pr, "MiB/s", runs, f"{pr / raw_get:.2f}x curl GET")
        rr, runs = median_of(args.repeat, read_with(rclone_mount, "rr"))
        row("rclone cold read", rr, "MiB/s", runs, f"{rr / raw_get:.2f}x curl GET")

        n = args.objects
        sw.request("PUT", f"/{many_c}")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: sw.request("PUT", f"/{many_c}/f{i:05d}", b"x"), range(n)))
        time.sleep(3)  # the container updater settles the counts
        raw, runs = median_of(args.repeat, lambda i: timed(
            lambda: sw.request("GET", f"/{many_c}?format=json&limit={n}")))  # fmt: skip
        row(f"raw listing of {n:,} objects (baseline)", raw, "s", runs)

        def ls_with(
            mount: Callable[[Swift, Path, str], Mounted], tag: str
        ) -> Callable[[int], float]:
            def run(i: int) -> float:
                m = mount(sw, work, f"{tag}{i}")
                try:
                    return timed(lambda: sh(f"ls -l {m.path}/{many_c} > /dev/null"))
                finally:
                    m.stop()

            return run

        pl, runs = median_of(args.repeat, ls_with(pithosfs_mount, "pl"))
        row(f"pithosfs ls -l of {n:,} objects, cold", pl, "s", runs, f"{pl / raw:.1f}x raw")
        rl, runs = median_of(args.repeat, ls_with(rclone_mount, "rl"))
        row(f"rclone ls -l of {n:,} objects, cold", rl, "s", runs, f"{rl / raw:.1f}x raw")
        segmented = f", segmented write {spw / srw:.2f}x" if seg else ""
        rows.append(("pithosfs / rclone",
                     f"write {pw / rw:.2f}x{segmented}, read {pr / rr:.2f}x, "
                     f"ls -l {rl / pl:.2f}x faster", "higher is better for pithosfs"))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for container in (bench_c, f"{bench_c}_segments", many_c):  # ~2 GiB per run
            sw.empty_and_delete(container)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--segment-mib", type=int, default=32,
                        help="also write in segments of this size (0: skip)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "scripts/bench_swift_results.md")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().strip()
    rows = bench(args)
    load_after = Path("/proc/loadavg").read_text().strip()
    lines = [
        "# pithosfs vs rclone on one OpenStack Swift (scripts/bench_swift.py)",
        "",
        f"Single-node Swift on loopback (scripts/swift/start.sh), {args.size_mib} MiB file, "
        f"{args.objects:,} objects, median of {args.repeat} runs, each on a fresh mount "
        f"with empty caches. Load average before: `{load_before}`, after: `{load_after}` "
        f"({os.cpu_count()} CPUs).",
        "",
        NOTE,
        "",
        "| measurement | median | runs / ratio |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
