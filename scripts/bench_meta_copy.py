"""`cp -r` of a folder with 1,000 non-image `*.meta` files into a mount: time and requests.

    .venv/bin/python scripts/bench_meta_copy.py [--metas 1000] [--latency-ms 0,20] [--rounds 2]

The baseline is the same folder with every `.meta` renamed `.mdat` (so nothing about it
looks like an image metafile), copied by the same mount in the same run; the two are
copied alternately, `--rounds` times each. Each latency runs against a fresh embedded
server behind a proxy that holds every request for that long (tests/reliability/
fault_proxy.py), so the cost of any extra round trip shows. The mount runs with the
default attribute and directory timeouts (5 s). Printed: wall time and the
mount's requests by method (its own counters, image service included), per copy, and
the ratios .meta / baseline; plus how many images exist afterwards (must stay 0).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pithosfs.client.images import ImageClient  # noqa: E402
from pithosfs.server import EmbeddedServer  # noqa: E402
from tests.conftest import ALICE  # noqa: E402
from tests.integration.conftest import start_mount, stop_mount  # noqa: E402
from tests.integration.meta_trees import build_tree  # noqa: E402
from tests.reliability.fault_proxy import Fault, FaultProxy  # noqa: E402


class ProxiedServer:
    """What start_mount needs of a server, with the storage URL through the proxy."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy

    def storage_url(self, uuid: str) -> str:
        return f"{self.proxy.url}/object-store/v1/{uuid}"


def renamed_copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    for path in list(dst.rglob("*.meta")):
        path.rename(path.with_suffix(".mdat"))


def one_latency(
    work: Path, metas: int, latency_ms: int, rounds: int
) -> dict[str, list[tuple[float, dict[str, int]]]]:
    server = EmbeddedServer(work / "data", host="127.0.0.1", port=0, users=dict([ALICE]))
    server.start()
    proxy = FaultProxy(upstream=("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    if latency_ms:
        proxy.add(Fault("delay", times=-1, seconds=latency_ms / 1000))
    # The defaults (start_mount's are 1 s, for tests): the image listing is kept that long.
    timeouts = ("--attr-timeout", "5", "--dir-timeout", "5")
    mount = start_mount(ProxiedServer(proxy), ALICE, work / "m", *timeouts)
    images = ImageClient(server.image_url + "/v1.0", ALICE[1])
    results: dict[str, list[tuple[float, dict[str, int]]]] = {"baseline": [], ".meta": []}
    try:
        trees = {".meta": work / "project"}
        build_tree(trees[".meta"], metas, ALICE[0])
        trees["baseline"] = work / "project-renamed"
        renamed_copy(trees[".meta"], trees["baseline"])
        mount.client.create_container("bench")
        target = mount.path / "bench"
        for i in range(rounds):
            for kind in ("baseline", ".meta"):
                before = mount.counters(time.time())
                start = time.monotonic()
                subprocess.run(["cp", "-r", str(trees[kind]), str(target / f"{kind}-{i}")],
                               check=True, timeout=3600)  # fmt: skip
                wall = time.monotonic() - start
                after = mount.counters(time.time())
                spent = {m: after.get(m, 0) - before.get(m, 0) for m in after}
                results[kind].append((wall, {m: n for m, n in spent.items() if n}))
        registered = len(images.list())
        print(f"latency {latency_ms} ms: images registered afterwards: {registered}")
    finally:
        images.close()
        stop_mount(mount)
        proxy.stop()
        server.stop()
    return results


def report(latency_ms: int, results: dict[str, list[tuple[float, dict[str, int]]]]) -> None:
    for kind, runs in results.items():
        for wall, spent in runs:
            total = sum(spent.values())
            print(f"  {kind:9} {wall:6.1f} s  {total:5d} requests  {dict(sorted(spent.items()))}")
    walls = {k: sorted(w for w, _ in runs)[len(runs) // 2] for k, runs in results.items()}
    reqs = {
        k: sorted(sum(s.values()) for _, s in runs)[len(runs) // 2] for k, runs in results.items()
    }
    print(f"  latency {latency_ms} ms, medians: .meta/baseline time {walls['.meta'] / walls['baseline']:.2f}, "
          f"requests {reqs['.meta'] / reqs['baseline']:.3f} ({reqs['.meta']} vs {reqs['baseline']})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--metas", type=int, default=1000)
    parser.add_argument("--latency-ms", default="0,20")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for latency in (int(x) for x in args.latency_ms.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-meta-") as tmp:
            results = one_latency(Path(tmp), args.metas, latency, args.rounds)
        report(latency, results)


if __name__ == "__main__":
    main()
