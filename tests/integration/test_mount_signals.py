"""A foreground mount stopped by a signal, and what every mount writes to its log.

Ctrl-C (SIGINT) or SIGTERM (systemd, kill) on `pithosfs mount -f` unmounts as
`umount` does and exits 0; a file still open is committed when it is closed.
Each daemon mount has a log of its own, without libfuse's noise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from tests.conftest import ALICE
from tests.integration.conftest import MOUNT_DEADLINE
from tests.integration.test_mount_command import force_unmount, run
from tests.integration.test_mount_refusals import env  # noqa: F401

pytestmark = pytest.mark.mount

LIBFUSE_NOISE = "Ignoring invalid max threads value"


def foreground(server: object, mp: Path, root: Path) -> subprocess.Popen[bytes]:
    mp.mkdir(parents=True, exist_ok=True)
    out = open(root / "fg.out", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pithosfs", "mount", "-f", str(mp),
         "--url", server.storage_url(ALICE[0]), "--cache-dir", str(root / "cache")],  # type: ignore[attr-defined]
        stdout=out, stderr=subprocess.STDOUT,
        env=dict(os.environ, PITHOS_TOKEN=ALICE[1], XDG_CACHE_HOME=str(root / "xdg")),
    )  # fmt: skip
    deadline = time.monotonic() + MOUNT_DEADLINE
    while not os.path.ismount(mp):
        assert proc.poll() is None, (root / "fg.out").read_text()
        assert time.monotonic() < deadline, "mount not live"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_unmounts_and_exits_0(
    fuse_ok: None, server: object, tmp_path: Path, signum: int
) -> None:
    mp = tmp_path / "mnt"
    proc = foreground(server, mp, tmp_path)
    try:
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0, (tmp_path / "fg.out").read_text()
        assert not os.path.ismount(mp)
        text = (tmp_path / "fg.out").read_text()
        assert "mount failed" not in text and "Traceback" not in text, text
        assert f"stopped by {signal.Signals(signum).name}" in text, text
        assert LIBFUSE_NOISE not in text, text
    finally:
        proc.kill()
        force_unmount(mp)


def test_sigterm_with_a_file_open_commits_it_once_closed(
    fuse_ok: None, server: object, tmp_path: Path, unique_name: str
) -> None:
    mp = tmp_path / "mnt"
    proc = foreground(server, mp, tmp_path)
    try:
        (mp / unique_name).mkdir()
        # bash keeps descriptor 3 open across the signal, then writes again and closes it.
        writer = subprocess.Popen(
            ["bash", "-c", 'exec 3>"$1"; echo first >&3; read -r _; echo second >&3; exec 3>&-',
             "bash", str(mp / unique_name / "open.txt")],
            stdin=subprocess.PIPE,
        )  # fmt: skip
        client = PithosClient.from_storage_url(server.storage_url(ALICE[0]), ALICE[1])  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while not (mp / unique_name / "open.txt").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while os.path.ismount(mp):  # detached at once: the writer still holds its file
            assert time.monotonic() < deadline, "not detached"
            time.sleep(0.05)
        assert proc.poll() is None, "exited before the open file was closed"
        writer.communicate(b"go\n", timeout=30)
        assert writer.returncode == 0
        assert proc.wait(timeout=60) == 0, (tmp_path / "fg.out").read_text()
        got = client.read_range(unique_name, "open.txt", 0, 100)
        assert got == b"first\nsecond\n"
        client.close()
    finally:
        proc.kill()
        force_unmount(mp)


def test_each_daemon_mount_logs_to_its_own_file_without_libfuse_noise(
    fuse_ok: None,
    server: object,
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    env = dict(env, PITHOS_TOKEN=ALICE[1])
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    first, second = tmp_path / "one", tmp_path / "two"
    try:
        for mp in (first, second):
            mp.mkdir()
            done = run("mount", str(mp), "--url", storage, env=env)
            assert done.returncode == 0, done.stderr
        logs = {}
        for mp in (first, second):
            shown = run("status", str(mp), env=env).stdout
            log_line = next(ln for ln in shown.splitlines() if ln.startswith(" log: "))
            logs[mp] = Path(log_line.removeprefix(" log: "))
        assert logs[first] != logs[second]
        for mp, log in logs.items():
            text = log.read_text()
            assert f"on {mp}" in text and LIBFUSE_NOISE not in text, text
            other = second if mp == first else first
            assert f"on {other}" not in text, text
            assert log.stat().st_mode & 0o077 == 0
    finally:
        for mp in (first, second):
            run("umount", str(mp), env=env)
            force_unmount(mp)
