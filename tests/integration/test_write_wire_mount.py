"""The write path through a real FUSE mount: blocks go up while the file is still open.

The mount's own client counters (its status file) show what crossed the wire
before close() was called, which is the point of background uploads: a `cp`
of a large file is mostly on the server when close() arrives.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Mount

MiB = 1024 * 1024
SIZE = 64 * MiB
BLOCK = 4 * MiB  # the session server's block size


def sent(m: Mount) -> int:
    return int(m.status(after=time.time())["bytes_sent"])  # type: ignore[call-overload]


@pytest.mark.slow
def test_sequential_write_is_uploaded_before_close(mnt: Path, session_mount: Mount) -> None:
    rng = random.Random(99)
    before = sent(session_mount)
    fd = os.open(mnt / "stream.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(SIZE // MiB):
            chunk = rng.randbytes(MiB)
            for off in range(0, MiB, 128 * 1024):
                os.write(fd, chunk[off : off + 128 * 1024])
        at_last_write = sent(session_mount) - before  # status lags ~0.1 s: indicative
        # Every complete block is queued by now; give the uploads a moment, then
        # check they happened with the file still open (no flush, no fsync).
        deadline = time.monotonic() + 60
        while sent(session_mount) - before < SIZE - BLOCK and time.monotonic() < deadline:
            time.sleep(0.1)
        before_close = sent(session_mount) - before
    finally:
        started = time.monotonic()
        os.close(fd)
        close_seconds = time.monotonic() - started
    total = sent(session_mount) - before
    print(
        f"\n64 MiB through the mount: {at_last_write / SIZE:.0%} sent by the last write, "
        f"{before_close / SIZE:.0%} before close(), "
        f"close took {close_seconds:.2f} s, {total} bytes sent in all"
    )
    assert before_close >= SIZE - BLOCK  # all but (at most) the last block
    assert total <= SIZE + 64 * 1024  # and nothing sent twice
    info = session_mount.client.head_object(mnt.name, "stream.bin")
    assert info.size == SIZE
    rng = random.Random(99)
    expected_tail = b"".join(rng.randbytes(MiB) for _ in range(SIZE // MiB))[-100:]
    assert session_mount.client.read_range(mnt.name, "stream.bin", SIZE - 100, 100) == expected_tail
