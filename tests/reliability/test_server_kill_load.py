"""kill -9 of `pithosfs serve` at random moments under a concurrent write load.

Every object written carries its own identity (name, generation) in a header
and pseudo-random bytes derived from it, so after each restart we can tell for
every object whether it is exactly one complete version that a writer sent.
Rounds: PITHOSFS_KILL_ROUNDS (default 12, ~17 s); the run prints its figures.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.client.errors import NotFound, PithosError
from pithosfs.client.pithos import PithosClient
from pithosfs.client.transport import RetryPolicy
from pithosfs.server import fsck
from tests.conftest import ALICE
from tests.server.server_process import ServerProcess

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("PITHOSFS_KILL_ROUNDS", "12"))
NAMES = [f"obj-{i}" for i in range(8)]
SIZES = [0, 64, 4096, 4 * 1024 * 1024 + 17, 9 * 1024 * 1024]  # empty, tiny, multi-block


def content(name: str, gen: int) -> bytes:
    size = SIZES[(hash(name) + gen) % len(SIZES)] if gen else 0
    head = f"{name}:{gen}:".encode()
    seed = hashlib.sha256(head).digest()
    body = (seed * (size // len(seed) + 1))[: max(0, size - len(head))]
    return (head + body)[:size] if size >= len(head) else head[:size]


def identify(name: str, data: bytes) -> int | None:
    """The generation whose content `data` is exactly, or None (a partial/foreign object)."""
    if not data:
        return 0
    parts = data.split(b":", 2)
    if len(parts) >= 2 and parts[1].isdigit():
        gen = int(parts[1])
        return gen if content(name, gen) == data else None
    return None


def client(srv: ServerProcess) -> PithosClient:
    quick = RetryPolicy(attempts=1, connect_timeout=2, read_timeout=10)
    return PithosClient.from_storage_url(srv.storage_url, ALICE[1], retry=quick)


def writer(
    srv: ServerProcess, names: list[str], gens: dict[str, int], lock: threading.Lock,
    stop: threading.Event, counts: list[int], rng: random.Random,
) -> None:  # fmt: skip
    """PUT new generations of `names` until stopped; counts [ok, failed]."""
    c = client(srv)
    while not stop.is_set():
        name = rng.choice(names)
        with lock:
            gens[name] += 1
            gen = gens[name]
        try:
            c.put_object("load", name, content(name, gen))
            counts[0] += 1
        except PithosError:
            counts[1] += 1


def test_kill_minus_9_under_write_load_leaves_complete_versions(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", ALICE, tmp_path / "server.log")
    srv.start()
    client(srv).create_container("load")
    gens = {n: 0 for n in NAMES}
    writes_ok = writes_failed = checked = mismatches = 0
    rng = random.Random(int(os.environ.get("PITHOSFS_SEED", time.time())))
    try:
        for _round in range(ROUNDS):
            stop = threading.Event()
            lock = threading.Lock()
            counts = [0, 0]

            threads = [
                threading.Thread(
                    target=writer, args=(srv, NAMES[i::2], gens, lock, stop, counts, rng)
                )
                for i in range(2)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 2.0))
            srv.kill()
            stop.set()
            for t in threads:
                t.join(30)
            writes_ok += counts[0]
            writes_failed += counts[1]
            srv.start()
            c = client(srv)
            for name in NAMES:
                try:
                    info = c.head_object("load", name)
                except NotFound:
                    continue
                data = c.read_range("load", name, 0, info.size) if info.size else b""
                checked += 1
                gen = identify(name, data)
                if gen is None or len(data) != info.size:
                    print(f"MISMATCH {name}: size {info.size} read {len(data)} head {data[:40]!r}")
                    mismatches += 1
                    continue
                assert gen <= gens[name]
                hashes = [
                    protocol.block_hash_hex(data[i : i + 4 * 1024 * 1024])
                    for i in range(0, max(len(data), 1), 4 * 1024 * 1024)
                ] if data else []  # fmt: skip
                if data:
                    assert info.hash == protocol.merkle_root_hex(hashes)
    finally:
        srv.stop()
    report = fsck.check(tmp_path / "data", deep=True)
    print("\n" + report.summary())
    assert not report.missing and not report.corrupt  # SQLite never names a block that is not there
    print(
        f"\nkill -9 rounds={ROUNDS} writes_ok={writes_ok} writes_failed={writes_failed} "
        f"objects_checked={checked} mismatches={mismatches}"
    )
    assert checked > 0 and writes_ok > 0
    assert mismatches == 0
