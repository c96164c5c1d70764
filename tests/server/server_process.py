"""Run `python -m pithosfs serve` as a real child process (for crash tests and benchmarks)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`pithosfs serve` on a data dir; start(), kill() (SIGKILL) and start() again."""

    def __init__(
        self,
        data_dir: Path,
        user: tuple[str, str],
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        more_users: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.user = user
        self.more_users = more_users
        self.log_path = log_path
        self.extra_args = extra_args
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_url(self) -> str:
        assert self.user is not None
        return f"{self.base_url}/object-store/v1/{self.user[0]}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "pithosfs",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the log is read while it runs
        if self.user:  # in the environment: a command line is visible to every local user
            users = (self.user, *self.more_users)
            env["PITHOSFS_SERVE_USERS"] = " ".join(f"{uuid}={token}" for uuid, token in users)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                requests.head(f"{self.base_url}/object-store/v1/", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("server did not start listening in time")

    def kill(self) -> None:
        """SIGKILL: no cleanup runs, as in a power cut of the process."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
