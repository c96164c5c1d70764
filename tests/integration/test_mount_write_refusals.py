"""Writes the server refuses for good fail at close() with an errno and are never retried:
a read-only share (root passes the mode check, the server does not), rights revoked after
open, and nothing kept in the journal for any of them."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB
from tests.integration.conftest import Mount, start_mount, stop_mount
from tests.integration.test_mount_options import _SETPRIV, as_nobody

pytestmark = pytest.mark.mount


def _journal_files(m: Mount) -> list[Path]:
    """Every journal and failed/ file of a mount's cache dir (shared accounts included)."""
    cache = m.path.parent / "cache"
    return [
        p
        for area in ("journal", "failed")
        for p in [*cache.glob(f"{area}/*"), *cache.glob(f"shared/*/{area}/*")]
    ]


@pytest.fixture
def bob_mount(fuse_ok: None, server: object, public_root: Path) -> Iterator[Mount]:
    m = start_mount(server, BOB, public_root / "bob", "-o", "allow_other")
    os.chmod(public_root / "bob", 0o755)
    yield m
    stop_mount(m)


@pytest.mark.skipif(os.geteuid() != 0 or not _SETPRIV, reason="needs root and setpriv")
def test_echo_into_a_read_only_shared_file_fails_as_root_and_as_a_user(
    mnt: Path, session_mount: Mount, bob_mount: Mount
) -> None:
    (mnt / "s.txt").write_text("alice's\n")
    os.setxattr(mnt / "s.txt", "user.pithos.sharing", f"read={BOB[0]}".encode())
    shared = bob_mount.path / ".shared" / ALICE[0] / mnt.name / "s.txt"
    assert shared.read_text() == "alice's\n"
    log_start = bob_mount.log_size()
    as_root = subprocess.run(
        ["bash", "-c", f"echo evil > '{shared}'"], capture_output=True, text=True, timeout=120
    )
    # Root passes the mode check: the mount refuses the writing open itself (the share's
    # rights), and whatever slips past that is refused at close (next test), never kept.
    assert as_root.returncode != 0, as_root
    assert "Permission denied" in as_root.stderr, as_root.stderr
    as_user = as_nobody("bash", "-c", f"echo evil > '{shared}'", env={})
    assert as_user.returncode != 0 and "Permission denied" in as_user.stderr, as_user.stderr
    time.sleep(2.5)  # a retrier would have tried again by now (first retry after 1 s)
    assert _journal_files(bob_mount) == []
    log = bob_mount.log_text(log_start)
    assert "still pending" not in log and "in the journal" not in log, log
    refusals = [line for line in log.splitlines() if "s.txt" in line]
    assert len(refusals) <= 2 and all("EACCES" in line for line in refusals), log  # says why
    assert session_mount.client.read_object(mnt.name, "s.txt") == b"alice's\n"


def test_rights_revoked_after_open_fail_at_close_and_are_not_kept(
    mnt: Path, session_mount: Mount, mount_factory: Callable[..., Mount]
) -> None:
    (mnt / "board.txt").write_text("v1\n")
    os.setxattr(mnt / "board.txt", "user.pithos.sharing", f"write={BOB[0]}".encode())
    bob = mount_factory(user=BOB)
    board = bob.path / ".shared" / ALICE[0] / mnt.name / "board.txt"
    f = open(board, "r+b")  # noqa: SIM115 - the close is what is checked
    f.write(b"v2: written while allowed\n")
    f.flush()  # the write reaches the mount (staged; nothing is sent before close)
    os.setxattr(mnt / "board.txt", "user.pithos.sharing", b"")  # alice revokes
    f.write(b"and after the revocation\n")
    with pytest.raises(OSError) as caught:
        f.close()
    assert caught.value.errno == errno.EACCES
    time.sleep(2.5)
    assert _journal_files(bob) == []
    assert "still pending" not in bob.log_text() and "in the journal" not in bob.log_text()
    assert session_mount.client.read_object(mnt.name, "board.txt") == b"v1\n"
