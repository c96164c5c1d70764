"""`pithosfs mount/umount/status` as a user runs them: daemon mode, refusals, embedded default."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pithosfs.mount.control import SAMPLE_INTERVAL
from tests.conftest import ALICE

pytestmark = pytest.mark.mount


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pithosfs", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean user environment: own HOME, no credentials anywhere."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PITHOS_", "XDG_"))}
    e.update(HOME=str(tmp_path / "home"), KAMAKIRC=str(tmp_path / "home/.kamakirc"))
    (tmp_path / "home").mkdir()
    return e


def force_unmount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["fusermount3", "-u", "-z", str(path)], capture_output=True, timeout=30)


def test_daemon_mount_write_umount(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str], unique_name: str
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    try:
        done = run("mount", str(mp), "--url", storage, "--token", ALICE[1], env=env)
        assert done.returncode == 0, done.stderr
        assert os.path.ismount(mp)  # live when the command returns
        (mp / unique_name).mkdir()
        (mp / unique_name / "f").write_bytes(b"x" * 100_000)
        status = run("status", str(mp), env=env)
        assert str(mp) in status.stdout and "running" in status.stdout
        done = run("umount", str(mp), env=env)
        assert done.returncode == 0, done.stderr
        assert not os.path.ismount(mp)
    finally:
        force_unmount(mp)
    from pithosfs.client.pithos import PithosClient

    client = PithosClient.from_storage_url(storage, ALICE[1])
    assert client.head_object(unique_name, "f").size == 100_000


def test_relative_cache_dir_and_log_file_are_the_callers(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str], unique_name: str
) -> None:
    """`--cache-dir` and `--log-file` relative to where the command runs: the mount
    process runs from / (libfuse), so a path left relative named another place (the
    journal's directory was not found, pending uploads went uncounted)."""
    mp = tmp_path / "mnt"
    mp.mkdir()
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    args = ("--url", storage, "--token", ALICE[1], "--cache-dir", "rel-cache")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pithosfs", "mount", str(mp), *args, "-v",
             "--log-file", "rel.log"],
            capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (mp / unique_name).mkdir()
        (mp / unique_name / "f").write_bytes(b"x" * 1000)
        time.sleep(1.5 * SAMPLE_INTERVAL)  # let the status sampler look at the journal once
        assert run("umount", str(mp), env=env).returncode == 0
    finally:
        force_unmount(mp)
    log = (tmp_path / "rel.log").read_text()
    assert (tmp_path / "rel-cache" / "journal").is_dir()
    assert "status sampling failed" not in log and "'rel-cache" not in log, log[-2000:]


def test_bad_token_is_one_line_and_nonzero(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    (tmp_path / "mnt").mkdir()
    done = run("mount", str(tmp_path / "mnt"), "--url", storage, "--token", "wrong", env=env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("pithosfs: bad token: the server refused it (HEAD ")
    assert not os.path.ismount(tmp_path / "mnt")


def test_unreachable_server(fuse_ok: None, tmp_path: Path, env: dict[str, str]) -> None:
    url = "http://127.0.0.1:9/object-store/v1/someone"
    (tmp_path / "mnt").mkdir()
    done = run("mount", str(tmp_path / "mnt"), "--url", url, "--token", "t", env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pithosfs: cannot connect to 127.0.0.1:9: connection refused"), done.stderr


def test_mountpoint_busy(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    try:
        assert run("mount", str(mp), "--url", storage, "--token", ALICE[1], env=env).returncode == 0
        again = run("mount", str(mp), "--url", storage, "--token", ALICE[1], env=env)
        assert again.returncode == 1
        assert again.stderr.strip().startswith("pithosfs: mountpoint busy")
    finally:
        run("umount", str(mp), env=env)
        force_unmount(mp)


def test_no_credentials_mounts_the_embedded_server(
    fuse_ok: None, tmp_path: Path, env: dict[str, str]
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    state = Path(env["HOME"]) / ".local/share/pithosfs/embedded.json"
    try:
        done = run("mount", str(mp), env=env)
        assert done.returncode == 0, done.stderr
        (mp / "pithos" / "hello.txt").write_text("hello")  # a new account has "pithos"
        first = json.loads(state.read_text())
        assert run("umount", str(mp), env=env).returncode == 0
        assert state.stat().st_mode & 0o077 == 0  # the token is private
        done = run("mount", str(mp), env=env)  # the same account, its server started again
        assert done.returncode == 0, done.stderr
        assert (mp / "pithos" / "hello.txt").read_text() == "hello"
        again = json.loads(state.read_text())
        assert (again["user"], again["token"]) == (first["user"], first["token"])
        assert run("umount", str(mp), env=env).returncode == 0
    finally:
        force_unmount(mp)
        if state.exists() and (pid := json.loads(state.read_text()).get("pid")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)


def test_killed_mount_leaves_no_half_written_object(mount_factory, unique_name: str) -> None:
    m = mount_factory()
    (m.path / unique_name).mkdir()
    target = m.path / unique_name / "f"
    # A slow writer: 4 MiB every 50 ms, far from done when the mount dies.
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time\n"
         "with open(sys.argv[1], 'wb') as f:\n"
         "    for _ in range(200):\n"
         "        f.write(os.urandom(4 << 20)); f.flush(); time.sleep(0.05)\n",
         str(target)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.5)  # several blocks written, some uploaded in the background
    assert writer.poll() is None, "the writer finished before the crash"
    m.proc.kill()  # a crash: no unmount, no commit
    m.proc.wait(10)
    writer.wait(30)
    force_unmount(m.path)
    names = [o.name for o in m.client.list_objects(unique_name, "", None, False)]
    assert names == [], names  # nothing committed, so nothing half-written is visible


def test_umount_of_a_busy_mount_fails_with_a_reason(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str], unique_name: str
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    try:
        assert run("mount", str(mp), "--url", storage, "--token", ALICE[1], env=env).returncode == 0
        (mp / unique_name).mkdir()
        with open(mp / unique_name / "open", "w") as f:
            f.write("still open")
            busy = run("umount", str(mp), env=env)
            assert busy.returncode == 1 and "busy" in busy.stderr.lower(), busy.stderr
            assert os.path.ismount(mp)
        assert run("umount", str(mp), env=env).returncode == 0
    finally:
        force_unmount(mp)


def test_server_gone_gives_eio_not_a_hang(fuse_ok: None, tmp_path: Path, unique_name: str) -> None:
    from pithosfs.server import EmbeddedServer
    from tests.integration.conftest import start_mount, stop_mount

    srv = EmbeddedServer(tmp_path / "data", host="127.0.0.1", port=0, users=dict([ALICE]))
    srv.start()
    m = start_mount(srv, ALICE, tmp_path / "m")
    try:
        (m.path / unique_name).mkdir()
        (m.path / unique_name / "f").write_text("x")
        srv.stop()
        time.sleep(2.5)  # past the attribute timeout: the next stat must ask the server
        started = time.monotonic()
        with pytest.raises(OSError) as info:
            (m.path / unique_name / "g").write_text("y")
        assert info.value.errno == errno.EIO
        assert time.monotonic() - started < 60
        assert m.proc.poll() is None  # the mount survives and keeps answering
    finally:
        stop_mount(m)


def test_mount_helper_for_fstab(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    helper = Path(sys.executable).parent / "mount.pithosfs"
    if not helper.exists():
        pytest.skip("mount.pithosfs not installed (pip install -e .)")
    mp = tmp_path / "mnt"
    mp.mkdir()
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    opts = f"rw,noauto,_netdev,url={storage},token={ALICE[1]},attr_timeout=2"
    try:
        done = subprocess.run([str(helper), "embedded", str(mp), "-o", opts],
                              capture_output=True, text=True, timeout=90, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert os.path.ismount(mp)
        assert run("umount", str(mp), env=env).returncode == 0
    finally:
        force_unmount(mp)


def test_credentials_from_kamakirc_and_environment(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str], unique_name: str
) -> None:
    identity = server.identity_url  # type: ignore[attr-defined]
    Path(env["KAMAKIRC"]).write_text(
        f'[global]\ndefault_cloud = lab\n\n[cloud "lab"]\nurl = {identity}\ntoken = {ALICE[1]}\n'
    )
    from pithosfs.client.pithos import PithosClient

    client = PithosClient.from_storage_url(server.storage_url(ALICE[0]), ALICE[1])  # type: ignore[attr-defined]
    client.create_container(unique_name)
    mp = tmp_path / "mnt"
    mp.mkdir()
    try:
        done = run("mount", str(mp), env=env)  # no flags: ~/.kamakirc's default cloud
        assert done.returncode == 0, done.stderr
        assert unique_name in os.listdir(mp)
        assert run("umount", str(mp), env=env).returncode == 0
        bad_env = dict(env, PITHOS_TOKEN="wrong")  # the environment overrides the file
        done = run("mount", str(mp), env=bad_env)
        assert done.returncode == 1 and "bad token" in done.stderr
    finally:
        force_unmount(mp)
