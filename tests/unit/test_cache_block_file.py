"""BlockFileWriter: every byte lands in the file, whichever way it is written."""

from __future__ import annotations

import fcntl
import os

import pytest

from pithosfs.cache import block_file
from pithosfs.cache.block_file import ALIGN, BlockFileWriter


def write_file(writer: BlockFileWriter, path, data) -> bytes:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        writer.write(fd, data)
    finally:
        os.close(fd)
    return path.read_bytes()


@pytest.mark.parametrize("length", [ALIGN, 4 * 1024 * 1024, 3 * ALIGN + 1, 1, 0])
def test_content_is_written_whole(tmp_path, length):
    data = os.urandom(length)
    assert write_file(BlockFileWriter(), tmp_path / "f", data) == data


def test_view_into_a_larger_buffer_is_written_without_its_neighbours(tmp_path):
    buf = os.urandom(3 * 2 * ALIGN)
    view = memoryview(buf)[2 * ALIGN : 4 * ALIGN]  # an aligned length at an odd address
    assert write_file(BlockFileWriter(), tmp_path / "f", view) == buf[2 * ALIGN : 4 * ALIGN]


def test_aligned_block_goes_direct_where_the_file_system_allows(tmp_path, monkeypatch):
    seen: list[int] = []
    real_fcntl = fcntl.fcntl

    def spy(fd, cmd, arg=0):
        if cmd == fcntl.F_SETFL:
            seen.append(arg)
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(block_file.fcntl, "fcntl", spy)
    writer = BlockFileWriter()
    data = os.urandom(8 * ALIGN)
    assert write_file(writer, tmp_path / "f", data) == data
    try:  # does this file system take O_DIRECT at all?
        fd = os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
        os.close(fd)
    except OSError:
        pytest.skip("no O_DIRECT here")
    assert any(flags & os.O_DIRECT for flags in seen)
    assert writer.direct


def test_refused_o_direct_falls_back_to_buffered_writes(tmp_path, monkeypatch):
    real_fcntl = fcntl.fcntl

    def refuse_direct(fd, cmd, arg=0):
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(block_file.fcntl, "fcntl", refuse_direct)
    writer = BlockFileWriter()
    data = os.urandom(4 * ALIGN)
    assert write_file(writer, tmp_path / "a", data) == data
    assert not writer.direct  # remembered: the next block does not try again
    assert write_file(writer, tmp_path / "b", data) == data


def test_direct_write_refused_midway_is_finished_buffered(tmp_path, monkeypatch):
    real_write = os.write
    calls = {"n": 0}

    def flaky_write(fd, view):
        calls["n"] += 1
        if calls["n"] == 2:  # the second piece of a direct write fails
            raise OSError(22, "Invalid argument")
        return real_write(fd, view[: 2 * ALIGN] if calls["n"] == 1 else view)

    monkeypatch.setattr(block_file.os, "write", flaky_write)
    data = os.urandom(6 * ALIGN)
    assert write_file(BlockFileWriter(), tmp_path / "f", data) == data


def _direct_possible(tmp_path) -> bool:
    try:
        fd = os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT)
        os.close(fd)
        return True
    except OSError:
        return False


def test_a_page_aligned_block_is_written_from_where_it_is(tmp_path):
    """A block received into an aligned buffer needs no bounce copy; others do."""
    if not _direct_possible(tmp_path):
        pytest.skip("no O_DIRECT here")
    import mmap

    aligned = memoryview(mmap.mmap(-1, 2 * ALIGN))
    aligned[:] = os.urandom(2 * ALIGN)
    writer = BlockFileWriter()
    assert block_file.is_page_aligned(aligned)
    assert write_file(writer, tmp_path / "a", aligned) == bytes(aligned)
    assert getattr(writer._local, "buf", None) is None  # no bounce buffer was needed

    unaligned = memoryview(bytearray(3 * ALIGN))[1 : 2 * ALIGN + 1]
    unaligned[:] = os.urandom(2 * ALIGN)
    assert not block_file.is_page_aligned(unaligned)
    assert write_file(writer, tmp_path / "b", unaligned) == bytes(unaligned)
    assert getattr(writer._local, "buf", None) is not None  # copied to an aligned buffer


def test_read_only_views_count_as_unaligned():
    import mmap

    assert not block_file.is_page_aligned(memoryview(mmap.mmap(-1, ALIGN)).toreadonly())
    assert not block_file.is_page_aligned(memoryview(b""))
