"""The embedded server's life: started by the first mount that needs it, stopped by the
end of the last mount that uses it (umount, a signal, or `umount` of a killed mount), or
by `pithosfs serve --stop`; a new account gets the `pithos` container."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pithosfs.processes import pid_alive
from tests.integration.conftest import MOUNT_DEADLINE
from tests.integration.test_mount_command import force_unmount, run
from tests.integration.test_mount_refusals import env  # noqa: F401

pytestmark = pytest.mark.mount

STOP_DEADLINE = 40.0  # the server gets 30 s to finish its requests before it is killed


def server_pid(state: Path) -> int:
    return int(json.loads(state.read_text()).get("pid") or 0)


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + STOP_DEADLINE
    while pid_alive(pid):
        assert time.monotonic() < deadline, f"server {pid} still running"
        time.sleep(0.05)


def test_the_last_umount_stops_the_embedded_server(
    fuse_ok: None,
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    state = Path(env["HOME"]) / ".local/share/pithosfs/embedded.json"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    try:
        assert run("mount", str(one), env=env).returncode == 0
        pid = server_pid(state)
        assert pid_alive(pid)
        assert os.listdir(one) == ["pithos"]  # as kamaki's users find on the clouds
        (one / "pithos" / "kept.txt").write_text("kept")
        assert run("mount", str(two), env=env).returncode == 0
        assert server_pid(state) == pid  # one server for both mounts
        refused = run("serve", "--stop", env=env)  # mounts still use it
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr.count("\n") == 1 and str(one) in refused.stderr
        assert pid_alive(pid)
        assert run("umount", str(one), env=env).returncode == 0
        assert pid_alive(pid), "stopped while a mount still uses it"
        assert run("umount", str(two), env=env).returncode == 0
        wait_gone(pid)
        assert server_pid(state) == 0
        assert run("mount", str(one), env=env).returncode == 0  # started again, same account
        assert (one / "pithos" / "kept.txt").read_text() == "kept"
        assert os.listdir(one) == ["pithos"]
        again = server_pid(state)
        assert again != pid and pid_alive(again)
        assert run("umount", str(one), env=env).returncode == 0
        wait_gone(again)
    finally:
        for mp in (one, two):
            force_unmount(mp)
        if state.exists() and (pid := server_pid(state)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def test_a_killed_mount_and_a_stopped_foreground_mount_stop_it_too(
    fuse_ok: None,
    tmp_path: Path,
    env: dict[str, str],  # noqa: F811
) -> None:
    state = Path(env["HOME"]) / ".local/share/pithosfs/embedded.json"
    mp = tmp_path / "mnt"
    mp.mkdir()
    try:
        assert run("mount", str(mp), env=env).returncode == 0
        pid = server_pid(state)
        mount_pid = json.loads(next((Path(env["HOME"]) / ".cache/pithosfs/mounts").glob("*.json"))
                               .read_text())["pid"]  # fmt: skip
        os.kill(mount_pid, signal.SIGKILL)  # a crash: it cannot stop the server itself
        deadline = time.monotonic() + 10
        while pid_alive(mount_pid):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert pid_alive(pid)
        done = run("umount", str(mp), env=env)  # detaches the dead mount
        assert done.returncode == 0, done.stderr
        wait_gone(pid)

        fg = subprocess.Popen([sys.executable, "-m", "pithosfs", "mount", "-f", str(mp)],
                              env=env, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + MOUNT_DEADLINE
        while not os.path.ismount(mp):
            assert fg.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        pid = server_pid(state)
        assert pid_alive(pid)
        fg.send_signal(signal.SIGINT)  # Ctrl-C
        assert fg.wait(timeout=60) == 0
        wait_gone(pid)
    finally:
        force_unmount(mp)
        if state.exists() and (pid := server_pid(state)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def test_serve_stop_stops_the_server_of_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    users = tmp_path / "users.txt"
    users.write_text("u1=token-one-0123456789\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pithosfs", "serve", "--data-dir", str(data), "--port", "0",
         "--users-file", str(users)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "listening on" in proc.stdout.readline()
        done = run("serve", "--stop", "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        assert f"(pid {proc.pid})" in done.stdout
        assert proc.wait(timeout=STOP_DEADLINE) == 0
        again = run("serve", "--stop", "--data-dir", str(data))
        assert again.returncode == 0 and "no server was running" in again.stdout
    finally:
        proc.kill()
