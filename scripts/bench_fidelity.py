"""The mount against the reference-faithful (strict) server and the default one.

    .venv/bin/python scripts/bench_fidelity.py [--size-mib 256] [--delay-ms 10]
        [--baseline-src DIR] [--out FILE]

Two parts, in one run:

1. Requests and bytes per user-visible case (the scenarios of
   tests/integration/test_mount_fidelity.py, run by pytest with
   PITHOSFS_FIDELITY_NUMBERS): chmod 755 + ls -lR + a fresh mount + cp -a out,
   rsync -a after ls -lR, the same cache dir again, a 32 MiB first copy and its
   re-copy from a brand-new mount, a read-only shared folder; strict vs default.
2. Dedup without hurting new data: a first copy of `--size-mib` of new random
   data through a fresh mount (MiB/s), and a re-copy of the same bytes from
   another fresh mount (bytes sent, seconds), on loopback and behind a proxy that
   delays every request by `--delay-ms`; with `--baseline-src` (a checkout of the
   code before the change) the same measurements with that code, alternating,
   so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from bench_mount import Server, wait_for  # noqa: E402 - the same embedded server as there


def sh(cmd: str, **kw: object) -> None:
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL, timeout=3600, **kw)  # type: ignore[call-overload]


# -- part 1 -------------------------------------------------------------------------------
def scenario_numbers(work: Path) -> list[dict[str, object]]:
    out = work / "numbers.jsonl"
    env = dict(os.environ, PITHOSFS_FIDELITY_NUMBERS=str(out))
    subprocess.run(
        [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/integration/test_mount_fidelity.py"],
        cwd=ROOT, env=env, check=True, timeout=3600,
    )  # fmt: skip
    return [json.loads(line) for line in out.read_text().splitlines()]


def deltas(records: list[dict[str, object]]) -> list[tuple[str, str, dict[str, int], int, int]]:
    """(server, case, requests, sent, received) of each step, against the step before it
    in the same group (the case name before its colon; `...: before` starts a group)."""
    rows = []
    last: dict[tuple[str, str], dict[str, object]] = {}
    for rec in records:
        server, case = str(rec["server"]), str(rec["case"])
        group = case.split(":")[0]
        prev = last.get((server, group))
        last[(server, group)] = rec
        if case.endswith(": before"):
            continue
        assert prev is not None, case
        before = prev["requests"]
        reqs = {
            k: v - before.get(k, 0)  # type: ignore[union-attr]
            for k, v in rec["requests"].items()  # type: ignore[union-attr]
            if v - before.get(k, 0)  # type: ignore[union-attr]
        }
        sent = int(rec["bytes_sent"]) - int(prev["bytes_sent"])  # type: ignore[call-overload]
        got = int(rec["bytes_received"]) - int(prev["bytes_received"])  # type: ignore[call-overload]
        rows.append((server, case, reqs, sent, got))
    return rows


def fmt_reqs(reqs: dict[str, int]) -> str:
    return " ".join(f"{k} {v}" for k, v in sorted(reqs.items())) or "none"


# -- part 2 -------------------------------------------------------------------------------
@contextmanager
def mounted(url: str, token: str, work: Path, name: str, src: Path | None) -> Iterator[Path]:
    mnt, cache = work / name, work / f"cache-{name}"
    mnt.mkdir()
    env = dict(os.environ, XDG_CACHE_HOME=str(work / f"xdg-{name}"), PITHOSFS_STATUS_INTERVAL="0.1")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    proc = subprocess.Popen(
        [PY, "-m", "pithosfs", "mount", "-f", str(mnt), "--url", url, "--token", token,
         "--cache-dir", str(cache), "--log-file", str(work / f"{name}.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=work,
    )  # fmt: skip  (cwd: `-m` puts it first on sys.path, before PYTHONPATH)
    wait_for(lambda: os.path.ismount(mnt) or proc.poll() is not None)
    try:
        yield mnt
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        proc.wait(300)


def sent_bytes(work: Path, name: str) -> int:
    """Bytes the mount `name` sent, from its status file (written every 0.1 s)."""
    from pithosfs.mount import launcher

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(work / f"xdg-{name}")
    try:
        state_file = launcher.state_path(work / name)
    finally:
        if old is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = old
    now = time.time()
    while True:  # written by the mount soon after it is live, then every 0.1 s
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("updated", 0) > now:
            return int(state["bytes_sent"])
        time.sleep(0.05)


def copies(
    url: str, token: str, work: Path, data: Path, label: str, src: Path | None
) -> tuple[float, float, int]:
    """(first copy MiB/s, re-copy seconds, re-copy bytes sent) through fresh mounts."""
    size = data.stat().st_size
    tag = f"{label}-{secrets.token_hex(3)}"
    fresh = work / f"new-{tag}.bin"
    sh(f"head -c {size} /dev/urandom > {fresh}")
    with mounted(url, token, work, f"first-{tag}", src) as mnt:
        started = time.monotonic()
        sh(f"cp {fresh} {mnt}/bench/{tag}-a")
        first = size / MiB / (time.monotonic() - started)
    with mounted(url, token, work, f"again-{tag}", src) as mnt:
        before = sent_bytes(work, f"again-{tag}")
        started = time.monotonic()
        sh(f"cp {fresh} {mnt}/bench/{tag}-b")
        again = time.monotonic() - started
        sent = sent_bytes(work, f"again-{tag}") - before
    fresh.unlink()
    return first, again, sent


def throughput(args: argparse.Namespace, work: Path) -> list[str]:
    from tests.reliability.fault_proxy import Fault, FaultProxy

    srv = Server(work)
    path = "/" + srv.url.split("/", 3)[3]  # /object-store/v1/<account>
    lines = []
    proxy = FaultProxy(("127.0.0.1", srv.port))
    proxy.add(Fault("delay", seconds=args.delay_ms / 1000, times=-1))
    data = work / "sample.bin"
    sh(f"head -c {args.size_mib * MiB} /dev/urandom > {data}")
    try:
        srv.request("PUT", "/bench")
        codes: list[tuple[str, Path | None]] = [("this tree", None)]
        if args.baseline_src:
            codes.append(("baseline", args.baseline_src))
        for where, base in (("loopback", f"http://127.0.0.1:{srv.port}"), (
                f"+{args.delay_ms} ms/request", proxy.url)):  # fmt: skip
            results: dict[str, list[tuple[float, float, int]]] = {c: [] for c, _ in codes}
            for _ in range(args.rounds):
                for code, src in codes:
                    run = copies(base + path, srv.token, work, data, code.replace(" ", ""), src)
                    print(f"{where} {code}: {run[0]:.1f} MiB/s, re-copy {run[1]:.2f} s, "
                          f"{run[2]} B", file=sys.stderr, flush=True)  # fmt: skip
                    results[code].append(run)
            for code, runs in results.items():
                first = sorted(r[0] for r in runs)[len(runs) // 2]
                again = sorted(r[1] for r in runs)[len(runs) // 2]
                sent = max(r[2] for r in runs)
                lines.append(
                    f"| {where} | {code} | {first:.1f} MiB/s | {again:.2f} s | "
                    f"{sent} B ({100 * sent / (args.size_mib * MiB):.3f}%) |"
                )
            if args.baseline_src:
                new = sorted(r[0] for r in results["this tree"])[args.rounds // 2]
                old = sorted(r[0] for r in results["baseline"])[args.rounds // 2]
                lines.append(f"| {where} | first copy, this tree / baseline | {new / old:.2f}x | | |")
    finally:
        proxy.stop()
        srv.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", type=Path, help="the pithosfs tree to compare with")
    parser.add_argument("--skip-scenarios", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pithosfs-fidelity-"))
    report: list[str] = []
    try:
        if not args.skip_scenarios:
            report += ["| case | server | requests | sent | received |", "|---|---|---|---|---|"]
            for server, case, reqs, sent, got in deltas(scenario_numbers(work)):
                report.append(f"| {case} | {server} | {fmt_reqs(reqs)} | {sent} | {got} |")
            report.append("")
        if not args.skip_throughput:
            report += [
                f"| network | code | first copy of {args.size_mib} MiB of new data | "
                "re-copy from a fresh mount | bytes the re-copy sent |",
                "|---|---|---|---|---|",
                *throughput(args, work),
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
