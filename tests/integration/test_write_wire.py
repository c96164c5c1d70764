"""The write path against the real embedded server over HTTP, counting bytes on the wire.

StagedFile is driven the way the FUSE layer drives it (128 KiB sequential
writes like `cp`, a 1-byte write like `dd conv=notrunc`), with the HTTP
PithosClient and its TransferStats hook counting request bodies both ways.
"""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pithosfs import protocol
from pithosfs.client.errors import PreconditionFailed
from pithosfs.client.pithos import PithosClient
from pithosfs.client.stats import StatsSnapshot
from pithosfs.client.types import ObjectInfo
from pithosfs.fs.writeback.staged_file import StagedFile

MiB = 1024 * 1024
BIG = 256 * MiB  # the size of the wire-counting tests
WRITE_SIZE = 128 * 1024  # what cp(1) writes per call


def chunk(index: int) -> bytes:
    """MiB number `index` of the test content: random, reproducible, never held whole."""
    return random.Random(index).randbytes(MiB)


def wire(diff: StatsSnapshot) -> int:
    return diff.bytes_sent + diff.bytes_received


@pytest.fixture(scope="module")
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(4, "test-upload") as p:
        yield p


def make_client(srv: Any, user: str = "a11ce000-0000-4000-8000-000000000001") -> PithosClient:
    return PithosClient(srv.storage_url(user), srv.users[user])


class Writer:
    """Opens StagedFiles on one container the way the filesystem does."""

    def __init__(self, client: PithosClient, container: str, pool: Any, tmp: Path) -> None:
        self.client = client
        self.container = container
        self.pool = pool
        self.tmp = tmp

    def fetcher(self, name: str, base: ObjectInfo) -> Callable[[int], bytes]:
        bs = self.client.block_params(self.container)[0]

        def fetch(index: int) -> bytes:
            return self.client.read_range(
                self.container, name, index * bs, bs, version=base.version
            )

        return fetch

    def open(self, name: str, new: bool = False, truncate: bool = False, **kw: Any) -> StagedFile:
        base = None if new else self.client.head_object(self.container, name)
        fetch = self.fetcher(name, base) if base is not None else None
        return StagedFile(
            self.client, self.container, name, base, self.tmp, fetch, self.pool,
            truncate=truncate, **kw,
        )  # fmt: skip

    def copy_in(self, f: StagedFile, size: int) -> None:
        """Write `size` bytes of the test content sequentially, like cp."""
        for mib in range(0, size, MiB):
            data = chunk(mib // MiB)[: size - mib]
            for off in range(0, len(data), WRITE_SIZE):
                f.write(mib + off, data[off : off + WRITE_SIZE])


@pytest.fixture(scope="module")
def big(server: Any, pool: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 256 MiB object written through StagedFile; records what its close cost."""
    client = make_client(server)
    container = "wire-" + str(int(time.time() * 1000))
    client.create_container(container)
    w = Writer(client, container, pool, tmp_path_factory.mktemp("stage"))
    f = w.open("big.img", new=True)
    w.copy_in(f, BIG)
    at_close = f.pending_bytes()
    started = time.monotonic()
    info = f.commit()
    close_seconds = time.monotonic() - started
    assert info is not None and info.size == BIG
    result = {
        "writer": w,
        "info": info,
        "pending_at_close": at_close,
        "bg_bytes": f.bg_uploaded_bytes,
        "commit_bytes": f.commit_uploaded_bytes,
        "close_seconds": close_seconds,
    }
    f.discard()
    return result


def expected_hashes(size: int, bs: int) -> list[str]:
    hashes = []
    for start in range(0, size, bs):
        block = b"".join(chunk(m) for m in range(start // MiB, (start + bs) // MiB))
        hashes.append(protocol.block_hash_hex(block[: size - start]))
    return hashes


@pytest.mark.slow
def test_big_copy_is_mostly_uploaded_before_close(big: dict[str, Any]):
    w: Writer = big["writer"]
    bs = w.client.block_params(w.container)[0]
    assert w.client.get_hashmap(w.container, "big.img").hashes == expected_hashes(BIG, bs)
    total = big["bg_bytes"] + big["commit_bytes"]
    assert total == BIG  # every block sent exactly once
    share = 1 - big["pending_at_close"] / BIG
    print(
        f"\n256 MiB copy: {share:.1%} on the server when close() came "
        f"({big['pending_at_close'] / MiB:.1f} MiB pending), commit took "
        f"{big['close_seconds']:.2f}s; {big['bg_bytes'] / BIG:.1%} sent by background tasks"
    )
    # The writer here produces data faster than a disk would; still, a good
    # part must already be up when close() arrives.
    assert share >= 0.25


@pytest.mark.slow
def test_recopy_of_identical_256mib_file_is_under_one_percent_on_the_wire(big: dict[str, Any]):
    w: Writer = big["writer"]
    before = w.client.stats.snapshot()
    f = w.open("big.img", truncate=True)  # cp over the existing file: O_TRUNC
    w.copy_in(f, BIG)
    info = f.commit()
    f.discard()
    diff = w.client.stats.snapshot() - before
    print(f"\nre-copy 256 MiB: {wire(diff)} bytes on the wire in {diff.requests} requests")
    assert info is not None and info.hash == big["info"].hash
    assert diff.count("POST") == 0
    assert wire(diff) <= BIG // 100


@pytest.mark.slow
def test_one_byte_edit_of_256mib_file_moves_at_most_two_blocks(big: dict[str, Any]):
    w: Writer = big["writer"]
    bs = w.client.block_params(w.container)[0]
    w.client.copy_object(w.container, "big.img", w.container, "edit.img")  # server-side
    offset = 123 * MiB + 4321
    before = w.client.stats.snapshot()
    f = w.open("edit.img")  # dd conv=notrunc: no O_TRUNC
    f.write(offset, b"!")
    f.commit()
    f.discard()
    diff = w.client.stats.snapshot() - before
    block_bytes = diff.by_method["POST"].bytes_sent
    print(
        f"\n1-byte edit of 256 MiB: {wire(diff)} bytes on the wire "
        f"({block_bytes} block bytes sent) in {diff.requests} requests"
    )
    # One block fetched to merge the byte into, one sent; besides those, only
    # hashmap JSON (~70 bytes per block): the base's GET and the PUT (plus a
    # second PUT if the server answers 409). Headers-only requests carry no body.
    hashmap_json = 3 * 80 * (BIG // bs)
    assert block_bytes <= bs and diff.count("POST") == 1 and diff.count("PUT") == 1
    assert wire(diff) <= 2 * bs + hashmap_json
    got = w.client.read_range(w.container, "edit.img", offset - 2, 5)
    src = chunk(offset // MiB)
    assert (
        got
        == src[offset % MiB - 2 : offset % MiB] + b"!" + src[offset % MiB + 1 : offset % MiB + 3]
    )


# -- server specifics the fake does not model -------------------------------------------


@pytest.fixture
def small(small_block_server: Any, pool: Any, tmp_path: Path, unique_name: str) -> Writer:
    client = make_client(small_block_server)
    client.create_container(unique_name)
    return Writer(client, unique_name, pool, tmp_path)


def test_extend_after_server_side_truncate_reads_zeros(small: Writer):
    """The quirk of protocol.md 8: a server-side truncate keeps stale bytes inside the last block."""
    c = small.client
    c.put_object(small.container, "q", b"A" * 3000)
    c.truncate(small.container, "q", 1500)  # block 1 keeps "A"s past byte 1500 on the server
    f = small.open("q")
    f.write(2500, b"X")
    info = f.commit()
    assert info is not None
    assert c.read_range(small.container, "q", 0, 10_000) == b"A" * 1500 + bytes(1000) + b"X"


def test_commit_after_partial_updates_uses_the_servers_hash(small: Writer):
    c = small.client
    c.put_object(small.container, "p", b"B" * 2500)
    c.update_range(small.container, "p", 2000, b"cc")  # the server's hash may differ from ours
    f = small.open("p")
    f.write(10, b"dd")
    f.commit()
    assert c.read_range(small.container, "p", 0, 10_000) == (
        b"B" * 10 + b"dd" + b"B" * 1988 + b"cc" + b"B" * 498
    )


def test_concurrent_change_is_a_precondition_failure(small: Writer):
    c = small.client
    c.put_object(small.container, "x", b"base" * 1000)
    f = small.open("x")
    f.write(0, b"mine")
    c.put_object(small.container, "x", b"theirs")
    with pytest.raises(PreconditionFailed):
        f.commit()
    assert c.read_range(small.container, "x", 0, 100) == b"theirs"
    assert f.dirty and f.read(0, 4) == b"mine"


def test_small_blocks_sequential_copy_round_trip(small: Writer):
    f = small.open("seq", new=True, upload_group_bytes=1024)  # a request per 1 KiB block
    data = random.Random(7).randbytes(300_000)
    for off in range(0, len(data), 4096):
        f.write(off, data[off : off + 4096])
    # Given time, the background uploads send every complete block before close.
    deadline = time.monotonic() + 60
    while f.pending_bytes() > len(data) % 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    f.commit()
    assert small.client.read_range(small.container, "seq", 0, 1 << 20) == data
    # Blocks go up with their trailing NULs stripped (they hash the same).
    payloads = [len(data[i : i + 1024].rstrip(b"\0")) for i in range(0, len(data), 1024)]
    assert f.bg_uploaded_bytes == sum(payloads[:-1])
    assert f.commit_uploaded_bytes == payloads[-1]


def test_randomized_sessions_interleaved_with_server_side_partial_updates(small: Writer):
    """Mix StagedFile sessions with the server's own partial writes and truncates.

    The server keeps stale bytes inside blocks after those (protocol.md 8), and its
    hash then differs from a fresh one: the staged commits must still produce
    exactly the model's bytes, with If-Match on the server's reported hash.
    """
    c, cont = small.client, small.container
    rng = random.Random(4242)
    model = bytearray(rng.randbytes(5000))
    c.put_object(cont, "mix", bytes(model))
    for step in range(60):
        if rng.random() < 0.4:  # a foreign writer edits in place on the server
            if rng.random() < 0.5 and len(model) > 10:
                n = rng.randrange(0, len(model))
                c.truncate(cont, "mix", n)
                del model[n:]
            else:
                off = rng.randrange(0, len(model) + 1)
                data = rng.randbytes(rng.randrange(1, 700))
                c.update_range(cont, "mix", off, data)
                model[off : off + len(data)] = data
            continue
        f = small.open("mix")
        for _ in range(rng.randrange(1, 6)):
            if rng.random() < 0.75:
                off = rng.randrange(0, len(model) + 3000)
                data = rng.randbytes(rng.randrange(1, 2500))
                f.write(off, data)
                model.extend(bytes(max(0, off - len(model))))
                model[off : off + len(data)] = data
            else:
                n = rng.randrange(0, len(model) + 3000)
                f.truncate(n)
                del model[n:]
                model.extend(bytes(n - len(model)))
        f.commit()
        f.discard()
        got = c.read_range(cont, "mix", 0, 1 << 20)
        assert got == bytes(model), f"step {step}"
