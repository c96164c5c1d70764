"""Process plumbing of `pithosfs mount`: the embedded default server and mount state files.

With no credentials anywhere, `mount` starts (or reuses) a detached
`pithosfs serve` with its data under `~/.local/share/pithosfs/` and remembers
its port, user and token in `embedded.json` there (mode 0600), so the next
mount finds it again, even after a reboot (a new port, the same account).
Each mount process using it leaves a file named by its pid in `mounts-using/`;
when the last one ends (unmounted, or stopped by a signal) it stops the server.
`umount` of a mount that was killed does the same on its behalf.

Each live mount writes `<cache>/mounts/<id>.json` (pid, mountpoint, log file)
and refreshes a status file next to it, which `umount` and `status` read; a
daemon mount logs to `<cache>/mounts/<id>.log` unless given --log-file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pithosfs.client.errors import PithosError
from pithosfs.client.pithos import PithosClient
from pithosfs.client.transport import RetryPolicy
from pithosfs.embedded_leases import data_home, embedded_data_dir, leases_dir, live_leases
from pithosfs.fs.options import default_cache_dir

log = logging.getLogger(__name__)

SERVER_START_TIMEOUT = 30.0


class LaunchError(RuntimeError):
    """A one-line reason why the mount cannot start."""


def embedded_state_path() -> Path:
    """Where the embedded server's port, user, token and pid are kept (mode 0600)."""
    return data_home() / "embedded.json"


@dataclass(frozen=True)
class EmbeddedAccount:
    user: str
    storage_url: str
    identity_url: str
    image_url: str
    token: str
    pid: int


def _write_private(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise concurrent `mount` commands that might both start the server."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _alive(storage_url: str, token: str) -> bool:
    probe = RetryPolicy(attempts=1, connect_timeout=2.0, read_timeout=5.0)
    client = PithosClient.from_storage_url(storage_url, token, retry=probe)
    try:
        client.account_info()
        return True
    except PithosError:
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _account(port: int, user: str, token: str, pid: int) -> EmbeddedAccount:
    base = f"http://127.0.0.1:{port}"
    return EmbeddedAccount(
        user=user, storage_url=f"{base}/object-store/v1/{user}",
        identity_url=f"{base}/identity/v2.0", image_url=f"{base}/image/v1.0",
        token=token, pid=pid,
    )  # fmt: skip


def recorded_embedded() -> EmbeddedAccount | None:
    """The embedded server's account as its state file records it, without asking the
    server (it may not be running); None before the first credential-less mount, or
    when the file is unreadable."""
    state = _read_json(embedded_state_path()) or {}
    try:
        port, pid = int(state.get("port") or 0), int(state.get("pid") or 0)
    except (TypeError, ValueError):
        return None
    user = str(state.get("user") or "")
    if not port or not user:
        return None
    return _account(port, user, str(state.get("token") or ""), pid)


def ensure_embedded_server(holder: int, mountpoint: Path) -> EmbeddedAccount:
    """The running embedded server's account, starting the server if needed.

    `holder` (a mount process, on `mountpoint`) is recorded as using the server, under
    the same lock as the check that it runs, so a last mount stopping it at that moment
    (`release_embedded`) cannot stop it under a mount that is starting.
    """
    home = data_home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_path = embedded_state_path()
    with _locked(home / "embedded.lock"):
        leases_dir().mkdir(exist_ok=True, mode=0o700)
        (leases_dir() / str(holder)).write_text(str(mountpoint))
        state = _read_json(state_path) or {}
        user = str(state.get("user") or uuidlib.uuid4())
        token = str(state.get("token") or secrets.token_urlsafe(24))
        if state.get("port") and state.get("pid"):
            account = _account(int(state["port"]), user, token, int(state["pid"]))
            if _alive(account.storage_url, token):
                return account
        port = _free_port()
        pid = _start_server(home, port, user, token)
        _write_private(state_path, {"port": port, "user": user, "token": token, "pid": pid})
        return _account(port, user, token, pid)


def release_embedded(holder: int) -> bool:
    """`holder` no longer uses the embedded server; the last user stops it (True if it
    was stopped). Also called by `umount` for a mount that died without releasing."""
    from pithosfs.server.command import stop_servers

    home = data_home()
    if not home.is_dir():
        return False
    with _locked(home / "embedded.lock"):
        (leases_dir() / str(holder)).unlink(missing_ok=True)
        if live_leases():
            return False
        stopped = stop_servers(embedded_data_dir())
        state = _read_json(embedded_state_path())
        if state is not None and state.get("pid"):
            _write_private(embedded_state_path(), {**state, "pid": 0})
    if stopped:
        log.info("embedded server stopped (pid %s): no mount uses it any more",
                 ", ".join(map(str, stopped)))  # fmt: skip
    return bool(stopped)


def _start_server(home: Path, port: int, user: str, token: str) -> int:
    log_path = home / "server.log"
    cmd = [sys.executable, "-m", "pithosfs", "serve", "--data-dir", str(embedded_data_dir()),
           "--port", str(port)]  # fmt: skip
    env = {**os.environ, "PITHOSFS_SERVE_USERS": f"{user}={token}"}  # not argv: ps shows argv
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, env=env
        )
    storage = _account(port, user, token, proc.pid).storage_url
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LaunchError(f"the embedded server exited at start; see {log_path}")
        if _alive(storage, token):
            log.info("embedded server started on port %d (pid %d)", port, proc.pid)
            return proc.pid
        time.sleep(0.1)
    raise LaunchError(f"the embedded server did not answer within {SERVER_START_TIMEOUT:.0f} s")


# -- mount state files ---------------------------------------------------------
def mounts_dir() -> Path:
    path = default_cache_dir() / "mounts"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def mount_id(mountpoint: Path) -> str:
    return hashlib.sha1(str(mountpoint.resolve()).encode()).hexdigest()[:16]


def mount_log_path(mountpoint: Path) -> Path:
    """The log of a daemon mount without --log-file: one per mount point, next to its state."""
    return mounts_dir() / f"{mount_id(mountpoint)}.log"


def state_path(mountpoint: Path) -> Path:
    return mounts_dir() / f"{mount_id(mountpoint)}.json"


def write_state(mountpoint: Path, **fields: Any) -> None:
    _write_private(state_path(mountpoint), {"mountpoint": str(mountpoint.resolve()), **fields})


def read_state(mountpoint: Path) -> dict[str, Any] | None:
    return _read_json(state_path(mountpoint))


def all_states() -> list[dict[str, Any]]:
    return [s for p in sorted(mounts_dir().glob("*.json")) if (s := _read_json(p))]
