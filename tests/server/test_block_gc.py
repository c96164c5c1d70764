"""Block garbage collection (server/block_gc.py) on a real server.

Purged versions free their blocks on disk; blocks of current versions, of the
versions a purge keeps, of uploads not yet committed and of uploads running while
the collector sweeps are never removed.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pithosfs.server import fsck
from tests.conftest import ALICE
from tests.server.pithos_http import Api

BLOCK = 64 * 1024


@pytest.fixture
def srv(make_server: Callable[..., Any]) -> Any:
    return make_server(block_size=BLOCK)


@pytest.fixture
def gc_api(srv: Any) -> Api:
    return Api(srv.storage_url(ALICE[0]), ALICE[0], ALICE[1])


def random_bytes(n: int) -> bytes:
    """Random bytes without NULs: a block ending in NULs is stored shorter (blocks.py),
    which would make the byte counts below off by a few."""
    return os.urandom(n).replace(b"\0", b"\1")


def block_bytes(srv: Any) -> int:
    """Bytes of block files on disk (the collector may remove some while we count)."""
    total = 0
    for path in Path(srv.data_dir, "blocks").glob("??/*"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def wait_until(condition: Callable[[], bool], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def settled(srv: Any) -> Callable[[], bool]:
    """True once the collector has nothing released left to look at."""

    def check() -> bool:
        row = srv.backend.db.conn().execute("SELECT COUNT(*) FROM released_blocks").fetchone()
        return int(row[0]) == 0

    return check


def test_a_purge_frees_the_blocks_of_the_purged_versions(srv: Any, gc_api: Api) -> None:
    cont = gc_api.make_container("c")
    old = random_bytes(40 * BLOCK)
    new = random_bytes(40 * BLOCK)
    gc_api.put_object(cont, "f", old)
    gc_api.put_object(cont, "f", new)  # `old` is history now: its blocks stay
    gc_api.put_object(cont, "keep", old[: 10 * BLOCK])  # shares 10 of old's blocks
    before = block_bytes(srv)
    assert before >= len(old) + len(new)
    assert gc_api.delete(cont, params={"until": str(int(time.time()) + 1)}).status_code == 204
    wait_until(lambda: block_bytes(srv) <= before - 30 * BLOCK)
    wait_until(settled(srv))
    after = block_bytes(srv)
    print(f"\nblock bytes on disk: {before} before the purge, {after} after")
    assert after == before - 30 * BLOCK  # old's blocks, except those "keep" still names
    assert gc_api.read(cont, "f") == new
    assert gc_api.read(cont, "keep") == old[: 10 * BLOCK]
    report = fsck.check(Path(srv.data_dir), block_size=BLOCK, deep=True)
    assert not report.missing and not report.corrupt


def test_purging_an_object_and_deleting_a_container_free_blocks(srv: Any, gc_api: Api) -> None:
    cont = gc_api.make_container("c")
    data = random_bytes(20 * BLOCK)
    gc_api.put_object(cont, "f", data)
    assert block_bytes(srv) == len(data)
    assert gc_api.delete(cont, "f", params={"until": str(int(time.time()) + 1)}).status_code == 204
    wait_until(lambda: block_bytes(srv) == 0)
    other = gc_api.make_container("d")
    gc_api.put_object(other, "g", data)
    assert gc_api.delete(other, "g").status_code == 204  # deleted: still in history
    assert block_bytes(srv) == len(data)
    assert gc_api.delete(other, params={"until": str(int(time.time()) + 1)}).status_code == 204
    assert gc_api.delete(other).status_code == 204
    wait_until(lambda: block_bytes(srv) == 0)


def test_overwrites_in_an_unversioned_container_free_the_old_blocks(srv: Any, gc_api: Api) -> None:
    cont = gc_api.make_container("c", headers={"X-Container-Policy-Versioning": "none"})
    for _ in range(5):
        gc_api.put_object(cont, "f", random_bytes(8 * BLOCK))
    wait_until(lambda: block_bytes(srv) == 8 * BLOCK)


def test_uploaded_blocks_wait_for_their_hashmap(srv: Any, gc_api: Api) -> None:
    """409, then the blocks are uploaded, then a collection, then the PUT: it succeeds."""
    cont = gc_api.make_container("c")
    data = random_bytes(4 * BLOCK)
    hashes = [hashlib.sha256(data[i : i + BLOCK]).hexdigest() for i in range(0, len(data), BLOCK)]
    assert gc_api.put_hashmap(cont, "f", len(data), hashes).status_code == 409
    assert gc_api.upload_blocks(cont, data).status_code == 202
    result = srv.backend.collector.collect(everything=True)
    assert result.kept == 4 and result.removed == 0
    assert gc_api.put_hashmap(cont, "f", len(data), hashes).status_code == 201
    assert gc_api.read(cont, "f") == data


def test_unreferenced_blocks_are_collected_after_the_upload_grace(
    srv: Any, gc_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    cont = gc_api.make_container("c")
    monkeypatch.setattr(srv.backend.blocks.guard, "grace", 0.0)
    assert gc_api.upload_blocks(cont, random_bytes(3 * BLOCK)).status_code == 202
    result = srv.backend.collector.collect(everything=True)
    assert result.removed == 3 and result.freed_bytes == 3 * BLOCK
    assert block_bytes(srv) == 0


def test_uploads_running_while_collections_sweep_are_never_corrupted(srv: Any, gc_api: Api) -> None:
    """Writers (plain PUTs, 409-upload-PUT, partial updates) reuse blocks that purges
    keep releasing, while the collector sweeps everything it can in a loop."""
    cont = gc_api.make_container("c")
    shared = [os.urandom(BLOCK) for _ in range(8)]  # content every writer keeps reusing
    stop = threading.Event()
    errors: list[str] = []
    written: dict[str, bytes] = {}
    lock = threading.Lock()
    sweeps = [0]

    def content(seed: int) -> bytes:
        return b"".join(shared[(seed + k) % len(shared)] for k in range(3)) + os.urandom(100)

    def writer(kind: str, wid: int) -> None:
        api = Api(gc_api.base_url + f"/object-store/v1/{ALICE[0]}", ALICE[0], ALICE[1])
        n = 0
        while not stop.is_set():
            name, data = f"{kind}-{wid}-{n % 3}", content(wid + n)
            n += 1
            if kind == "put":
                resp = api.put(cont, name, data=data, headers={"Content-Type": "x/y"})
                ok = resp.status_code == 201
            else:
                hashes = [
                    hashlib.sha256(data[i : i + BLOCK].rstrip(b"\0")).hexdigest()
                    for i in range(0, len(data), BLOCK)
                ]
                resp = api.put_hashmap(cont, name, len(data), hashes)
                tries = 0
                while resp.status_code == 409 and tries < 3:  # a client's loop (protocol.md 7.3)
                    tries += 1
                    api.upload_blocks(cont, data)
                    resp = api.put_hashmap(cont, name, len(data), hashes)
                ok = resp.status_code == 201
            if not ok:
                errors.append(f"{kind} {name}: {resp.status_code} {resp.text[:200]}")
                continue
            with lock:
                written[name] = data

    def purger() -> None:
        while not stop.is_set():
            gc_api.delete(cont, params={"until": str(int(time.time()) + 1)})
            srv.backend.collector.collect(everything=True)
            sweeps[0] += 1

    threads = [
        threading.Thread(target=writer, args=(k, i)) for k in ("put", "hashmap") for i in range(3)
    ]
    threads.append(threading.Thread(target=purger))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (sweeps[0] < 20 or len(written) < 18):
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    assert sweeps[0] >= 5 and len(written) == 18
    for name, data in written.items():
        assert gc_api.read(cont, name) == data, name
    report = fsck.check(Path(srv.data_dir), block_size=BLOCK, deep=True)
    assert not report.missing and not report.corrupt
    print(f"\n{sweeps[0]} collections during {len(threads) - 1} writers' uploads")
