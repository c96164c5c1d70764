#!/usr/bin/env python3
"""Time Plankton image registration on the embedded server, against baselines from the same run.

    .venv/bin/python scripts/bench_plankton.py [--images 200] [--rounds 3]

Starts an in-process EmbeddedServer on a temporary data dir, uploads N small objects,
then over one requests.Session (real HTTP, loopback) times:
  (a) N registrations `POST /image/v1.0/images/` with a name, location and two properties
      (each writes a new object version and resets the object's permissions);
  (b) baseline: N object metadata updates `POST ...?update` (also a new version each);
  (c) baseline: N object HEADs;
  (d) one `GET /images/detail` listing all N images.
Each phase runs `--rounds` times, interleaved (re-registration is an override, so rounds are alike);
the median round is reported as ms per request and as a ratio to the baselines.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

from pithosfs.server import EmbeddedServer

log = logging.getLogger("bench_plankton")

USER = ("be7c4000-0000-4000-8000-00000000be7c", "bench-token")


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n = args.images
    with tempfile.TemporaryDirectory() as tmp:
        srv = EmbeddedServer(Path(tmp), port=0, users=dict([USER]))
        srv.start()
        try:
            run(srv, n, args.rounds)
        finally:
            srv.stop()


def run(srv: EmbeddedServer, n: int, rounds: int) -> None:
    s = requests.Session()
    s.headers["X-Auth-Token"] = USER[1]
    store = srv.storage_url(USER[0])
    s.put(f"{store}/images").raise_for_status()
    names = [f"image-{i:04d}.diskdump" for i in range(n)]
    for name in names:
        s.put(
            f"{store}/images/{name}",
            data=b"disk image " * 100,
            headers={"Content-Type": "application/octet-stream"},
        ).raise_for_status()

    def register() -> None:
        for name in names:
            r = s.post(
                f"{srv.image_url}/v1.0/images/",
                headers={
                    "X-Image-Meta-Name": name,
                    "X-Image-Meta-Location": f"pithos://{USER[0]}/images/{name}",
                    "X-Image-Meta-Property-OS": "debian",
                    "X-Image-Meta-Property-USERS": "root",
                },
            )
            assert r.status_code == 200, r.text

    def meta_post() -> None:
        for name in names:
            r = s.post(
                f"{store}/images/{name}", params="update", headers={"X-Object-Meta-Os": "debian"}
            )
            assert r.status_code == 202, r.text

    def head() -> None:
        for name in names:
            assert s.head(f"{store}/images/{name}").status_code == 200

    def listing() -> None:
        r = s.get(f"{srv.image_url}/v1.0/images/detail")
        assert len(r.json()["images"]) == n

    phases = {"register": register, "meta POST": meta_post, "HEAD": head, "list detail": listing}
    # Rounds interleave the phases so machine load hits baselines and registration alike.
    samples: dict[str, list[float]] = {name: [] for name in phases}
    for _ in range(rounds):
        for name, fn in phases.items():
            samples[name].append(timed(fn))
    results = {name: statistics.median(times) for name, times in samples.items()}
    per = {name: results[name] / n * 1000 for name in ("register", "meta POST", "HEAD")}
    print(f"{n} images, median of {rounds} rounds, one requests.Session over loopback")
    for name, ms in per.items():
        print(f"  {name:<12} {ms:7.2f} ms/request  ({results[name]:.2f} s total)")
    print(f"  list detail  {results['list detail'] * 1000:7.1f} ms for all {n} images")
    print(f"  register / meta POST = {per['register'] / per['meta POST']:.2f}x")
    print(f"  register / HEAD      = {per['register'] / per['HEAD']:.2f}x")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
