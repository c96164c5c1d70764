"""sd_notify over a fake $NOTIFY_SOCKET: what systemd would receive, and silence without it."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from pithosfs.mount import systemd_notify as notify


def _receiver(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_path_socket_receives_the_message(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with _receiver(path) as sock:
        assert notify.notify("READY=1\nSTATUS=x", env={"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"READY=1\nSTATUS=x"


def test_abstract_socket() -> None:
    name = f"pithosfs-test-{uuid.uuid4().hex}"
    with _receiver(b"\0" + name.encode()) as sock:
        assert notify.notify("STOPPING=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"STOPPING=1"


@pytest.mark.parametrize("value", ["", "vsock:2:1234", "relative/name"])
def test_nothing_to_notify_is_a_no_op(value: str) -> None:
    assert notify.notify("READY=1", env={"NOTIFY_SOCKET": value} if value else {}) is False


def test_gone_socket_is_logged_not_raised(tmp_path: Path) -> None:
    assert notify.notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_ready_only_once_the_mountpoint_is_a_mount(tmp_path: Path, monkeypatch) -> None:
    path = str(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    live = {"now": False}
    monkeypatch.setattr(notify.os.path, "ismount", lambda p: live["now"])
    with _receiver(path) as sock:
        sock.settimeout(0.3)
        thread = notify.notify_when_live(tmp_path, timeout=10)
        assert thread is not None
        with pytest.raises(TimeoutError):  # not live yet: nothing sent
            sock.recv(4096)
        live["now"] = True
        sock.settimeout(5)
        message = sock.recv(4096).decode()
        thread.join(5)
    assert message.splitlines() == [
        "READY=1",
        f"STATUS=serving {tmp_path}",
        f"MAINPID={os.getpid()}",
    ]


def test_no_thread_without_systemd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.notify_when_live(tmp_path) is None
