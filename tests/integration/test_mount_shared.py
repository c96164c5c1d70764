"""`.shared/` between two users of the embedded server, each with a real mount."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB
from tests.integration.conftest import Mount


def test_bob_reads_alices_share_but_cannot_write(
    mnt: Path, session_mount: Mount, mount_factory: Callable[..., Mount]
) -> None:
    (mnt / "docs").mkdir()
    (mnt / "docs" / "report.txt").write_text("alice's report\n")
    (mnt / "private.txt").write_text("not for bob\n")
    os.setxattr(mnt / "docs" / "report.txt", "user.pithos.sharing", f"read={BOB[0]}".encode())
    bob = mount_factory(user=BOB)
    shared = bob.path / ".shared"
    assert ".shared" not in os.listdir(bob.path)  # hidden
    assert ALICE[0] in os.listdir(shared)
    mine = shared / ALICE[0] / mnt.name
    assert mnt.name in os.listdir(shared / ALICE[0])
    assert os.listdir(mine) == ["docs"]  # only what is shared
    report = mine / "docs" / "report.txt"
    assert report.read_text() == "alice's report\n"
    assert stat.S_IMODE(report.stat().st_mode) & 0o222 == 0  # read permission only
    for attempt in (
        lambda: report.write_text("bob was here"),
        lambda: (mine / "docs" / "new.txt").write_text("x"),
        lambda: os.unlink(report),
    ):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EACCES
    assert session_mount.client.read_object(mnt.name, "docs/report.txt") == b"alice's report\n"
    with pytest.raises(OSError) as info:
        (mine / "private.txt").read_text()
    assert info.value.errno in (errno.ENOENT, errno.EACCES)
    with pytest.raises(OSError) as info:
        os.rename(report, bob.path / "stolen")
    assert info.value.errno == errno.EXDEV


def test_bob_writes_where_granted(
    mnt: Path, session_mount: Mount, mount_factory: Callable[..., Mount]
) -> None:
    (mnt / "board.txt").write_text("v1\n")
    os.setxattr(mnt / "board.txt", "user.pithos.sharing", f"write={BOB[0]}".encode())
    bob = mount_factory(user=BOB)
    board = bob.path / ".shared" / ALICE[0] / mnt.name / "board.txt"
    assert stat.S_IMODE(board.stat().st_mode) & 0o200
    with open(board, "a") as f:
        f.write("bob's line\n")
    assert session_mount.client.read_object(mnt.name, "board.txt") == b"v1\nbob's line\n"
    assert board.read_text() == "v1\nbob's line\n"
    assert os.getxattr(board, "user.pithos.sharing") == f"write={BOB[0]}".encode()
