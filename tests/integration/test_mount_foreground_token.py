"""A foreground mount given --token runs with it in its environment, not in its argv (ps)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ALICE
from tests.integration.conftest import Mount


def test_foreground_mount_keeps_the_token_out_of_its_argv(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    m = mount_factory()  # `pithosfs mount -f MNT --url U --token T ...` (conftest.start_mount)
    cmdline = Path(f"/proc/{m.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"mount" in cmdline and b"-f" in cmdline  # the same process, exec'd again
    assert not any(ALICE[1].encode() in arg for arg in cmdline), cmdline
    # /proc/<pid>/environ does hold it, as for the daemon: that file is readable by its owner only.
    assert Path(f"/proc/{m.proc.pid}/environ").stat().st_mode & 0o077 == 0
    (m.path / unique_name).mkdir()
    (m.path / unique_name / "f").write_bytes(b"authenticated")
    assert m.client.read_range(unique_name, "f", 0, 100) == b"authenticated"
