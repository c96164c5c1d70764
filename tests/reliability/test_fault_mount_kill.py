"""kill -9 of the mount process: mid-write and mid-upload.

* The mountpoint then reports ENOTCONN ("Transport endpoint is not connected"), never an
  empty directory that would look like data loss.
* Data committed before the kill is intact on the server and seen by the next mount.
* A file whose close() failed (server refusing uploads) was parked in the upload journal;
  after the kill and a new mount on the same cache directory, it reaches the server.
* `pithosfs mount` on the dead mountpoint recovers it (no manual `fusermount3 -u -z`).
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.conftest import Mount, start_mount, stop_mount
from tests.reliability.fault_harness import ProxiedServer, env_int, journal_records, wait_until
from tests.reliability.fault_proxy import Fault

pytestmark = [pytest.mark.slow, pytest.mark.mount]

MIB = 1024 * 1024


def _kill(m: Mount) -> None:
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait(timeout=10)


def _assert_dead_mount(path: Path) -> None:
    """Listing fails with ENOTCONN at once; so does stat once the kernel's cached
    attributes of the mountpoint (the attribute timeout, 1 s here) have expired."""
    with pytest.raises(OSError) as caught:
        os.listdir(path)
    assert caught.value.errno == errno.ENOTCONN, caught.value
    time.sleep(1.2)
    with pytest.raises(OSError) as caught:
        os.stat(path)
    assert caught.value.errno == errno.ENOTCONN, caught.value


def _dead_or_mounted(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return os.path.ismount(path)


def _lazy_unmount(path: Path) -> None:
    for args in (["-u"], ["-u", "-z"]):
        if _dead_or_mounted(path):
            subprocess.run(["fusermount3", *args, str(path)], capture_output=True, timeout=30)


def test_kill_mid_write_gives_enotconn_and_committed_data_survives(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    m = start_mount(proxied, ALICE, tmp_path / "m1")
    committed = os.urandom(5 * MIB + 3)
    (m.path / unique_name).mkdir()
    (m.path / unique_name / "done.bin").write_bytes(committed)
    f = open(m.path / unique_name / "open.bin", "wb")  # noqa: SIM115 (left open on purpose)
    try:
        f.write(os.urandom(3 * MIB))
        _kill(m)
        _assert_dead_mount(m.path)
    finally:
        try:
            f.close()
        except OSError:
            pass  # the mount is gone: ENOTCONN on the last flush
        _lazy_unmount(m.path)
        m.client.close()
    assert proxied.server_bytes(unique_name, "done.bin") == committed
    m2 = start_mount(proxied, ALICE, tmp_path / "m2", "--cache-dir", str(tmp_path / "m1/cache"))
    try:
        assert (m2.path / unique_name / "done.bin").read_bytes() == committed
        (m2.path / unique_name / "after.txt").write_bytes(b"the new mount writes")
        assert proxied.server_bytes(unique_name, "after.txt") == b"the new mount writes"
    finally:
        stop_mount(m2)
    assert "Traceback" not in m2.log_text(), m2.log_text()[-4000:]


def test_kill_with_a_parked_upload_resumes_it_on_the_next_mount(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    direct = proxied.direct()
    direct.create_container(unique_name)
    direct.close()
    m = start_mount(proxied, ALICE, tmp_path / "m1")
    cache = tmp_path / "m1" / "cache"
    data = os.urandom(6 * MIB + 11)
    for method in ("PUT", "POST"):  # the server refuses every upload: close() cannot commit
        proxied.proxy.add(Fault("status", method=method, status=503, times=-1))
    try:
        with pytest.raises(OSError) as caught:
            with open(m.path / unique_name / "pending.bin", "wb") as f:
                f.write(data)
        assert caught.value.errno == errno.EIO
        wait_until(lambda: bool(journal_records(cache)), deadline=30)
        (record,) = journal_records(cache)
        assert (cache / "journal" / f"{record['id']}.data").read_bytes() == data
        _kill(m)  # with the upload still pending
        _assert_dead_mount(m.path)
    finally:
        _lazy_unmount(m.path)
        m.client.close()
    assert proxied.server_bytes(unique_name, "pending.bin") is None
    proxied.proxy.clear()  # the server accepts uploads again
    m2 = start_mount(proxied, ALICE, tmp_path / "m2", "--cache-dir", str(cache))
    try:
        wait_until(lambda: proxied.server_bytes(unique_name, "pending.bin") == data, 30)
        wait_until(lambda: not journal_records(cache), deadline=10)
        time.sleep(1.1)  # past the attribute timeout
        assert (m2.path / unique_name / "pending.bin").read_bytes() == data
    finally:
        stop_mount(m2)
    assert "Traceback" not in m2.log_text(), m2.log_text()[-4000:]


def test_kill_mid_upload_leaves_old_or_new_object(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    """The commit's hashmap PUT is held up in the proxy; the mount dies meanwhile. The PUT
    then reaches the server whole or cut: either way the object is old or new, never part."""
    direct = proxied.direct()
    direct.create_container(unique_name)
    old, new = os.urandom(6 * MIB), os.urandom(9 * MIB + 5)
    direct.put_object(unique_name, "f.bin", old)
    direct.close()
    m = start_mount(proxied, ALICE, tmp_path / "m1")
    delay = proxied.proxy.add(Fault("delay", method="PUT", path="/f.bin", seconds=2.0))
    outcome: list[object] = []

    def write() -> None:
        try:
            with open(m.path / unique_name / "f.bin", "wb") as f:
                f.write(new)
            outcome.append("closed")
        except OSError as exc:
            outcome.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        wait_until(lambda: delay.fired > 0, deadline=60, step=0.01)  # the commit is in flight
        _kill(m)
        writer.join(timeout=30)
        assert outcome and outcome[0] != "closed", outcome  # close() never claimed success
    finally:
        _lazy_unmount(m.path)
        m.client.close()
    time.sleep(3)  # the delayed PUT has gone through (or been cut) by now
    assert proxied.server_bytes(unique_name, "f.bin") in (old, new)
    m2 = start_mount(proxied, ALICE, tmp_path / "m2", "--cache-dir", str(tmp_path / "m1/cache"))
    try:
        assert (m2.path / unique_name / "f.bin").read_bytes() in (old, new)
    finally:
        stop_mount(m2)
    assert "Traceback" not in m2.log_text(), m2.log_text()[-4000:]


def _cli_mount(srv: ProxiedServer, m: Mount, log: Path) -> subprocess.CompletedProcess[str]:
    """`pithosfs mount MOUNTPOINT` (daemon mode, as a user runs it) on the same mountpoint."""
    cmd = [
        sys.executable, "-m", "pithosfs", "mount", str(m.path),
        "--url", srv.storage_url(ALICE[0]), "--token", ALICE[1],
        "--cache-dir", str(m.path.parent / "cache"), "--log-file", str(log),
    ]  # fmt: skip
    return subprocess.run(cmd, env=m.env, capture_output=True, text=True, timeout=90)


def test_pithosfs_mount_on_a_dead_mountpoint_recovers_it(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    m = start_mount(proxied, ALICE, tmp_path / "m1")
    (m.path / unique_name).mkdir()
    (m.path / unique_name / "kept.txt").write_bytes(b"still here")
    _kill(m)
    m.client.close()
    _assert_dead_mount(m.path)
    try:
        done = _cli_mount(proxied, m, tmp_path / "m1" / "remount.log")
        assert done.returncode == 0, done.stderr
        assert os.path.ismount(m.path)
        assert (m.path / unique_name / "kept.txt").read_bytes() == b"still here"
    finally:
        _lazy_unmount(m.path)  # the daemon, if one started, exits once unmounted


def test_kill_right_after_a_failed_close_loses_nothing_and_remounts_a_second_later(
    fuse_ok: None, proxied: ProxiedServer, tmp_path: Path, unique_name: str
) -> None:
    """The crash window between a failed close() and its release: close() journals before
    it returns, so kill -9 at once loses nothing. `pithosfs mount` 1 s after the kill works
    although the kernel still holds the dead mount's attributes (attribute timeout 30 s)."""
    direct = proxied.direct()
    direct.create_container(unique_name)
    direct.close()
    trials = env_int("PITHOSFS_CRASH_TRIALS", 3)
    lost = 0
    for trial in range(trials):
        m = start_mount(proxied, ALICE, tmp_path / f"t{trial}", "--attr-timeout", "30")
        data = os.urandom(random.randint(1, 6 * MIB))
        name = f"f{trial}.bin"
        for method in ("PUT", "POST"):  # every upload refused: close() cannot commit
            proxied.proxy.add(Fault("status", method=method, status=503, times=-1))
        try:
            os.stat(m.path)  # the kernel caches the mountpoint's attributes
            with pytest.raises(OSError) as caught:
                with open(m.path / unique_name / name, "wb") as f:
                    f.write(data)
            assert caught.value.errno == errno.EIO
            _kill(m)  # at once: the release after close() never runs
            time.sleep(1.0)
            proxied.proxy.clear()
            done = _cli_mount(proxied, m, tmp_path / f"t{trial}" / "remount.log")
            assert done.returncode == 0, done.stderr  # not "mountpoint busy"
            assert os.path.ismount(m.path)
            wait_until(lambda n=name: proxied.server_bytes(unique_name, n) is not None, 60)
            lost += proxied.server_bytes(unique_name, name) != data
        finally:
            _lazy_unmount(m.path)
            m.client.close()
    print(f"\ncrash windows tried: {trials}, files lost: {lost}")
    assert lost == 0
