"""`<container>/.snapshots/<time>/`: a read-only past view, on a real mount."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.integration.conftest import Mount


def test_snapshot_shows_the_past_and_restores(mnt: Path, session_mount: Mount) -> None:
    (mnt / "f").write_bytes(b"before\n")
    (mnt / "d").mkdir()
    (mnt / "d" / "g").write_bytes(b"deleted later\n")
    time.sleep(1.1)
    then = int(time.time())
    time.sleep(1.1)  # `until` has whole seconds: the changes below come strictly after
    (mnt / "f").write_bytes(b"after, and longer\n")
    os.unlink(mnt / "d" / "g")
    (mnt / "h").write_bytes(b"new\n")
    iso = datetime.fromtimestamp(then, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in (f"@{then}", iso):
        snap = mnt / ".snapshots" / name
        assert sorted(os.listdir(snap)) == ["d", "f"]
        assert (snap / "f").read_bytes() == b"before\n"
        assert (snap / "d" / "g").read_bytes() == b"deleted later\n"
        assert (snap / "f").stat().st_mode & 0o222 == 0
    assert ".snapshots" not in os.listdir(mnt)
    with pytest.raises(OSError) as info:
        (mnt / ".snapshots" / "yesterday-ish").stat()
    assert info.value.errno == errno.ENOENT
    for attempt in (
        lambda: open(mnt / ".snapshots" / f"@{then}" / "f", "wb"),
        lambda: os.unlink(mnt / ".snapshots" / f"@{then}" / "f"),
        lambda: os.mkdir(mnt / ".snapshots" / f"@{then}" / "x"),
    ):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EROFS
    # Restore a deleted file from the snapshot: the no-data copy path.
    subprocess.run(["cp", f"{mnt}/.snapshots/@{then}/d/g", f"{mnt}/d/g"], check=True, timeout=60)
    assert session_mount.client.read_object(mnt.name, "d/g") == b"deleted later\n"
