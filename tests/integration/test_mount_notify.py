"""Type=notify on a real mount: READY=1 arrives once the mountpoint is live (fake NOTIFY_SOCKET)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Mount

pytestmark = pytest.mark.mount


def test_ready_once_live_and_stopping_at_unmount(
    mount_factory: Callable[..., Mount], tmp_path: Path
) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(20)
        m = mount_factory(env={"NOTIFY_SOCKET": address})  # `mount -f`: the service's main process
        ready = sock.recv(4096).decode().splitlines()
        assert os.path.ismount(m.path)
        assert ready[0] == "READY=1"
        assert f"MAINPID={m.proc.pid}" in ready and f"STATUS=serving {m.path}" in ready
        from tests.integration.conftest import stop_mount

        stop_mount(m)
        stopping = sock.recv(4096).decode().splitlines()
        assert stopping[0] == "STOPPING=1"
