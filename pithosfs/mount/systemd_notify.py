"""systemd readiness (`Type=notify`): tell the service manager when the mount is live.

The protocol is one datagram of `KEY=VALUE` lines to the AF_UNIX socket named by
$NOTIFY_SOCKET (a path, or an abstract name written with a leading `@`), sent by
the service's main process. Without $NOTIFY_SOCKET (not under systemd, or another
service type) every call is a no-op, so the mount code can call it unconditionally.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0  # seconds to wait for the mount before giving up on READY=1


def _address(env: Mapping[str, str]) -> str | bytes | None:
    name = env.get("NOTIFY_SOCKET", "")
    if not name or name[0] not in "/@":
        return None  # unset, or a transport we do not speak (vsock:...)
    return b"\0" + name[1:].encode() if name[0] == "@" else name


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `message` (e.g. "READY=1\\nSTATUS=...") if under systemd; True if it was sent."""
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify systemd at %r: %s", address, exc)
        return False
    return True


def notify_when_live(mountpoint: Path, timeout: float = READY_TIMEOUT) -> threading.Thread | None:
    """READY=1 once `mountpoint` is a mount (the FUSE loop is about to serve it).

    Runs on a thread because the mount call blocks the caller for the mount's life.
    Returns the thread, or None when there is no one to notify.
    """
    if _address(os.environ) is None:
        return None

    def wait_and_notify() -> None:
        deadline = time.monotonic() + timeout
        while not os.path.ismount(mountpoint):
            if time.monotonic() > deadline:
                log.warning("not live after %.0f s: READY=1 not sent", timeout)
                return
            time.sleep(0.05)
        notify(f"READY=1\nSTATUS=serving {mountpoint}\nMAINPID={os.getpid()}")

    thread = threading.Thread(target=wait_and_notify, name="sd-notify", daemon=True)
    thread.start()
    return thread


def notify_stopping(pending_bytes: int = 0) -> bool:
    """STOPPING=1 as the FUSE loop ends (uploads may still be committing)."""
    status = f"committing {pending_bytes} bytes" if pending_bytes else "unmounted"
    return notify(f"STOPPING=1\nSTATUS={status}")
