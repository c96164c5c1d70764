"""pithosfs vs rclone mount behind an emulated wide-area link (latency and bandwidth).

    .venv/bin/python scripts/bench_wan.py [--rtt-ms 20,50] [--mbit 100] [--rounds 3]
        [--files 1000] [--big-mib 64] [--tools pithosfs,rclone] [--strict] [--out FILE]

One `pithosfs serve` (add `--strict` for one answering as the reference Pithos+),
reached by both mounts through scripts/wan_link.py (loopback; RTT and a shared
bandwidth per direction; it counts the HTTP requests). Per RTT and round, each
tool on fresh mounts with empty caches: `ls -l` of 2,000 objects cold; `cp` of
a 64 MiB file in and out; untar of 1,000 small files (40 directories); `grep -r`
and `cp -r` out of those files on a fresh mount; `rsync -a` of the same tree
twice (`--read-ahead-ab`: pithosfs's `grep -r` and `cp -r` also with read-ahead
across files off, PITHOSFS_FILES_AHEAD=0). Reported: seconds (median of the rounds, and their range) and requests.
rclone's `cp`, untar and first rsync return before its data is on the server
(`--vfs-cache-mode writes` uploads after close): its time until the server holds
everything is reported too ("durable"); a pithosfs close returns once it does.
Prints a markdown table; with --out, also writes it there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from bench_mount import Mounted, Server, sh, wait_for  # noqa: E402
from wan_link import WanLink  # noqa: E402

from pithosfs.client.errors import PithosError  # noqa: E402
from pithosfs.client.pithos import PithosClient  # noqa: E402
from pithosfs.mount.launcher import mount_id  # noqa: E402

PY = sys.executable
MiB = 1024 * 1024
LS_OBJECTS = 2000


class Tool:
    """One side of the comparison: how it mounts and what "durable" waits for."""

    def __init__(self, name: str, srv: Server, link: WanLink, work: Path) -> None:
        self.name = name
        self.srv = srv
        self.link = link
        self.work = work
        self.url = f"http://127.0.0.1:{link.port}/object-store/v1/{srv.user}"
        self.count = 0

    mounted = 0  # across all tools and rounds: every mount gets its own empty caches

    def mount(self, **env_extra: str) -> Mounted:
        Tool.mounted += 1
        self.count = Tool.mounted
        where = self.work / f"{self.name}-{self.count}"
        if self.name == "rclone":
            remote = f":swift,storage_url='{self.url}',auth_token='{self.srv.token}':"
            return Mounted(
                ["rclone", "mount", remote, str(where), "--vfs-cache-mode", "writes",
                 "--ignore-checksum", "--no-checksum",  # Pithos ETags are Merkle hashes
                 "--cache-dir", str(self.work / f"rc-cache-{self.count}")],
                where,
            )  # fmt: skip
        env = dict(os.environ, XDG_CACHE_HOME=str(self.work / "xdg"), PITHOSFS_STATUS_INTERVAL="0.1")
        env.update(env_extra)
        return Mounted(
            [PY, "-m", "pithosfs", "mount", "-f", str(where), "--url", self.url,
             "--token", self.srv.token, "--cache-dir", str(self.work / f"p-cache-{self.count}"),
             "--log-file", str(self.work / f"{self.name}-{self.count}.log")],
            where, env=env, cwd=self.work,
        )  # fmt: skip


def direct(srv: Server) -> PithosClient:
    """A client of the server itself, not through the link (to prepare and to check)."""
    return PithosClient.from_storage_url(srv.url, srv.token)


def size_on_server(client: PithosClient, container: str, name: str) -> int:
    try:
        return client.head_object(container, name).size
    except PithosError:
        return -1


def objects_under(client: PithosClient, container: str, prefix: str) -> int:
    """Files (not directory markers) the server holds under `prefix`."""
    return sum(
        1
        for item in client.list_objects(container, prefix, None, with_meta=False)
        if getattr(item, "size", None) is not None and not item.is_directory  # type: ignore[union-attr]
    )


def settle(m: Mounted) -> None:
    """Wait until a pithosfs mount owes the server nothing (its status file says so)."""
    state_file = m.path.parent / "xdg" / "pithosfs" / "mounts" / f"{mount_id(m.path)}.json"
    asked = time.time()

    def quiet() -> bool:
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return False
        return state.get("updated", 0) > asked and not state.get("background")

    wait_for(quiet, 60)


def make_tree(where: Path, files: int) -> Path:
    """`files` small files (512 B to 4.5 KiB) in 40 directories, and a tar of them."""
    src = where / "tree"
    for i in range(files):
        d = src / f"d{i % 40:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(b"line %d\n" % i + os.urandom(256).hex().encode() * (1 + i % 8))
    tar = where / "tree.tar"
    with tarfile.open(tar, "w") as t:
        t.add(src, arcname="tree")
    return src


def run_round(tool: Tool, rnd: int, args: argparse.Namespace, tree: Path, big: Path) -> dict[str, dict[str, float]]:
    """One round of every workload for one tool: {workload: {"s", "requests", "durable"}}."""
    out: dict[str, dict[str, float]] = {}
    client = direct(tool.srv)
    cont = f"{tool.name}-{rnd}"
    client.create_container(cont)
    files = args.files

    m: Mounted

    def measure(workload: str, action: Callable[[], object], durable: Callable[[], bool] | None = None) -> None:
        tool.link.reset()
        start = time.monotonic()
        action()
        took = time.monotonic() - start
        entry = {"s": took}
        if durable is not None and tool.name == "rclone":
            wait_for(durable, 3600)
            entry["durable"] = time.monotonic() - start
        else:
            entry["durable"] = took
        if tool.name == "pithosfs":
            settle(m)  # held directory metadata and files read ahead: counted in
        entry["requests"] = tool.link.total()
        out[workload] = entry
        print(f"{tool.name:8} rtt {tool.link_rtt:>3} ms round {rnd} {workload:<22} "
              f"{took:8.2f} s (durable {entry['durable']:.2f} s) {tool.link.requests()}", flush=True)  # fmt: skip

    m = tool.mount()
    try:
        measure("ls -l 2,000 cold", lambda: sh(f"ls -l {m.path}/ls2k > /dev/null"))
        measure(
            "cp 64 MiB in", lambda: sh(f"cp {big} {m.path}/{cont}/big"),
            lambda: size_on_server(client, cont, "big") == big.stat().st_size,
        )
        (m.path / cont / "untar").mkdir()
        measure(
            f"untar {files} files", lambda: sh(f"tar -C {m.path}/{cont}/untar -xf {tree.parent}/tree.tar"),
            lambda: objects_under(client, cont, "untar/") == files,
        )
    finally:
        m.stop()
    # A 64 MiB object no cache has seen, uploaded beside the link.
    client.upload_file(cont, "cold", big)
    m = tool.mount()
    try:
        local = tool.work / "out"
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir()
        measure("cp 64 MiB out", lambda: sh(f"cp {m.path}/{cont}/cold {local}/cold"))
    finally:
        m.stop()
    walks = [("", {})]
    if args.read_ahead_ab and tool.name == "pithosfs":  # the same walks without read-ahead
        walks.append((", no read-ahead", {"PITHOSFS_FILES_AHEAD": "0"}))
    for note, env in walks:
        m = tool.mount(**env)
        try:
            grep = f"grep -r -c line {m.path}/{cont}/untar > /dev/null"
            measure(f"grep -r {files} files{note}", lambda cmd=grep: sh(cmd))
        finally:
            m.stop()
        m = tool.mount(**env)
        try:
            shutil.rmtree(tool.work / "out", ignore_errors=True)
            copy = f"cp -r {m.path}/{cont}/untar {tool.work}/out"
            measure(f"cp -r {files} files out{note}", lambda cmd=copy: sh(cmd))
        finally:
            m.stop()
    m = tool.mount()
    try:
        target = m.path / cont / "rsync"
        target.mkdir()
        measure(
            "rsync -a, first", lambda: sh(f"rsync -a {tree}/ {target}/"),
            lambda: objects_under(client, cont, "rsync/") == files,
        )
        measure("rsync -a, again", lambda: sh(f"rsync -a {tree}/ {target}/"))
    finally:
        m.stop()
    client.close()
    return out


def server_put_ms(srv: Server, count: int = 30) -> float:
    """Median time of a small PUT straight to the server (no link): what each write
    costs besides the round trip, on this machine at this moment."""
    client = direct(srv)
    client.create_container("probe")
    took = []
    for i in range(count):
        start = time.monotonic()
        client.put_object("probe", f"p{i}", os.urandom(1000), meta={"Pithosfs-Mode": "644"})
        took.append(time.monotonic() - start)
    client.close()
    return statistics.median(took) * 1000


def summarise(results: dict[tuple[str, int], list[dict[str, dict[str, float]]]], rtts: list[int]) -> list[str]:
    lines = [
        "| RTT | workload | pithosfs s (range) | requests | rclone s (range) | rclone durable s | requests | pithosfs / rclone durable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    workloads: list[str] = []
    for runs in results.values():
        for run in runs:
            workloads += [w for w in run if w not in workloads]
    for rtt in rtts:
        for w in workloads:
            cells = [f"{rtt} ms", w]
            med: dict[str, float] = {}
            for name in ("pithosfs", "rclone"):
                runs = [r[w] for r in results.get((name, rtt), []) if w in r]
                if not runs:
                    cells += ["-", "-"] if name == "pithosfs" else ["-", "-", "-"]
                    continue
                s = [r["s"] for r in runs]
                d = [r["durable"] for r in runs]
                q = [r["requests"] for r in runs]
                med[name] = statistics.median(d)
                cells.append(f"{statistics.median(s):.2f} ({min(s):.2f}-{max(s):.2f})")
                if name == "rclone":
                    cells.append(f"{statistics.median(d):.2f} ({min(d):.2f}-{max(d):.2f})")
                cells.append(f"{statistics.median(q):.0f}")
            ratio = med["rclone"] / med["pithosfs"] if len(med) == 2 and med["pithosfs"] else 0
            cells.append(f"{ratio:.1f}x faster" if ratio else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", default="20,50")
    parser.add_argument("--mbit", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--big-mib", type=int, default=64)
    parser.add_argument("--tools", default="pithosfs,rclone")
    parser.add_argument("--strict", action="store_true", help="a server answering as the reference")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--read-ahead-ab", action="store_true",
        help="pithosfs: grep -r and cp -r also with read-ahead across files off",
    )  # fmt: skip
    args = parser.parse_args()
    rtts = [int(x) for x in args.rtt_ms.split(",")]
    work = Path(tempfile.mkdtemp(prefix="pithosfs-wan-"))
    srv = Server(work, *(["--strict"] if args.strict else []))
    load_before = os.getloadavg()[0]
    results: dict[tuple[str, int], list[dict[str, dict[str, float]]]] = {}
    put_ms: list[float] = []
    try:
        tree = make_tree(work, args.files)
        big = work / "big.bin"
        sh(f"head -c {args.big_mib * MiB} /dev/urandom > {big}")
        client = direct(srv)
        client.create_container("ls2k")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: client.put_object("ls2k", f"f{i:05d}", b"x"), range(LS_OBJECTS)))
        client.close()
        for rtt in rtts:
            put_ms.append(server_put_ms(srv))
            link = WanLink(srv.port, rtt_ms=rtt, mbit=args.mbit)
            try:
                for rnd in range(args.rounds):
                    for name in args.tools.split(","):
                        tool = Tool(name, srv, link, work)
                        tool.link_rtt = rtt  # type: ignore[attr-defined]
                        results.setdefault((name, rtt), []).append(
                            run_round(tool, rtt * 100 + rnd, args, tree, big)
                        )
            finally:
                link.close()
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    lines = [
        f"`scripts/bench_wan.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
        f"{'strict' if args.strict else 'default'} embedded server behind scripts/wan_link.py at "
        f"{args.mbit:g} Mbit/s; medians of {args.rounds} rounds (range in brackets); "
        f"load average {load_before:.1f} before, {load_after:.1f} after; a small PUT "
        f"straight to the server (no link) took {', '.join(f'{x:.0f}' for x in put_ms)} ms "
        f"(median of 30, before each RTT).", "",
        *summarise(results, rtts),
    ]  # fmt: skip
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")
        (args.out.with_suffix(".json")).write_text(
            json.dumps({f"{k[0]}@{k[1]}": v for k, v in results.items()}, indent=1)
        )


if __name__ == "__main__":
    main()
