"""StagingFile: small files in memory, the move to a real file, and direct block writes."""

from __future__ import annotations

import mmap
import os
import random
from pathlib import Path

import pytest

from pithosfs.fs.writeback import staging
from pithosfs.fs.writeback.staging import StagingFile


def staging_files(tmp: Path) -> list[str]:
    return [p for p in os.listdir(tmp) if p.startswith(".pithosfs-stage-")]


def test_small_content_stays_in_memory_and_moves_to_a_file_when_it_grows(tmp_path: Path):
    model = bytearray()
    f = StagingFile(tmp_path, memory_limit=1000)
    rng = random.Random(5)
    for _ in range(200):  # random writes, reads and shrinks below and across the limit
        op = rng.random()
        if op < 0.5:
            off = rng.randrange(0, 1300)
            data = rng.randbytes(rng.randrange(1, 60))
            f.write(off, data)
            model.extend(bytes(max(0, off + len(data) - len(model))))
            model[off : off + len(data)] = data
        elif op < 0.6:
            n = rng.randrange(0, len(model) + 1)
            f.shrink(n)
            del model[n:]
        else:
            off, n = rng.randrange(0, 1400), rng.randrange(0, 300)
            want = bytes(model[off : off + n])
            assert f.read(off, n) == want + bytes(n - len(want))
    assert f.read(0, len(model)) == bytes(model)
    f.close()


def test_no_file_is_created_for_a_small_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    created = []
    real = staging.tempfile.TemporaryFile

    def spy(*args: object, **kwargs: object) -> object:
        created.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(staging.tempfile, "TemporaryFile", spy)
    f = StagingFile(tmp_path, memory_limit=4096)
    f.write(0, b"x" * 4000)
    f.writev(4000, [memoryview(b"y" * 96)])
    assert f.read(0, 4096) == b"x" * 4000 + b"y" * 96 and not created
    assert f.allocated_bytes() == 4096
    f.write(4096, b"z")  # past the limit: the content moves to a file
    assert len(created) == 1 and f.read(4090, 10) == b"y" * 6 + b"z" + bytes(3)
    f.close()


def test_direct_block_writes_read_back_through_the_page_cache(tmp_path: Path):
    f = StagingFile(tmp_path, memory_limit=0)
    block = 64 * 1024
    data = [random.Random(i).randbytes(block) for i in range(4)]
    f.write(0, b"head")  # buffered bytes around the direct ones
    for i, d in enumerate(data):
        aligned = memoryview(mmap.mmap(-1, block))  # as writeback_memory gathers a block
        aligned[:] = d
        f.write_direct((i + 1) * block, [aligned])
    f.write_direct(5 * block + 7, [memoryview(b"unaligned")])  # falls back to a plain write
    assert f.read(0, 4) == b"head"
    for i, d in enumerate(data):
        assert f.read((i + 1) * block, block) == d
    assert f.read(5 * block + 7, 9) == b"unaligned"
    f.close()
