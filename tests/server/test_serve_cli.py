"""`pithosfs serve` with no --user: one user is created on first start and kept in the data dir."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.server.server_process import ServerProcess

pytestmark = pytest.mark.slow

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def identity(srv: ServerProcess, output: str) -> tuple[str, str]:
    """Find the printed token: the one word of the output the identity endpoint accepts."""
    for word in set(re.split(r"[\s,;=]+", output)):
        word = word.strip("'\"()[]<>")
        if len(word) < 8 or word.startswith("http"):
            continue
        resp = requests.post(
            f"{srv.base_url}/identity/v2.0/tokens", headers={"X-Auth-Token": word}, timeout=10
        )
        if resp.status_code == 200:
            return resp.json()["access"]["user"]["id"], word
    raise AssertionError(f"no working token in the output:\n{output}")


def test_first_start_creates_a_user_and_keeps_it(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    srv = ServerProcess(tmp_path / "data", None, log)
    srv.start()
    try:
        first = log.read_text()
        assert f"127.0.0.1:{srv.port}" in first and "/identity/v2.0" in first
        uuid, token = identity(srv, first)
        assert uuid in first and UUID_RE.search(first)
        storage = f"{srv.base_url}/object-store/v1/{uuid}"
        assert (
            requests.put(f"{storage}/c", headers={"X-Auth-Token": token}, timeout=10).status_code
            == 201
        )
    finally:
        srv.stop()
    log.write_text("")
    srv.start()
    try:
        assert identity(srv, log.read_text()) == (uuid, token)
        storage = f"{srv.base_url}/object-store/v1/{uuid}"  # new port after the restart
        resp = requests.head(f"{storage}/c", headers={"X-Auth-Token": token}, timeout=10)
        assert resp.status_code == 204
    finally:
        srv.stop()


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """`pithosfs serve` on a free port; (process, storage base URL, its first output lines)."""
    import os
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "pithosfs", "serve", "--data-dir", str(tmp_path / "data"),
         "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "listening on" in first, first + (proc.stderr.read() if proc.poll() else "")
    base = first.split("listening on ", 1)[1].strip()
    lines = [proc.stdout.readline() for _ in range(4)]  # URL, data dir, block size, user
    return proc, base, first + "".join(lines)


def _stop(proc) -> str:  # type: ignore[no-untyped-def]
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    return str(err)


def _containers(base: str, uuid: str, token: str) -> list[str]:
    resp = requests.get(f"{base}/object-store/v1/{uuid}", headers={"X-Auth-Token": token},
                        params={"format": "json"}, timeout=10)  # fmt: skip
    assert resp.status_code in (200, 204), resp.status_code
    return [c["name"] for c in resp.json()] if resp.status_code == 200 else []


@pytest.mark.parametrize("how", ["json file", "lines file", "environment"])
def test_tokens_come_from_a_file_or_the_environment_and_stay_out_of_argv(
    tmp_path: Path, how: str
) -> None:
    uuid, token = "5e1f0000-0000-4000-8000-000000000001", "secret-token-from-elsewhere"
    args: tuple[str, ...] = ()
    env = {}
    if how == "json file":
        (tmp_path / "users.json").write_text(f'{{"{uuid}": "{token}"}}')
        args = ("--users-file", str(tmp_path / "users.json"))
    elif how == "lines file":
        (tmp_path / "users").write_text(f"# who may use it\n{uuid}={token}\n")
        args = ("--users-file", str(tmp_path / "users"))
    else:
        env = {"PITHOSFS_SERVE_USERS": f"{uuid}={token}"}
    proc, base, shown = _serve(tmp_path, *args, env=env)
    try:
        assert token not in Path(f"/proc/{proc.pid}/cmdline").read_text()
        assert token not in shown  # masked in the output, which often goes to a log
        assert uuid in shown
        assert _containers(base, uuid, token) == ["pithos"]
    finally:
        err = _stop(proc)
    assert "warning" not in err


def test_a_token_on_the_command_line_still_works_but_warns(tmp_path: Path) -> None:
    uuid, token = "5e1f0000-0000-4000-8000-000000000002", "visible-in-ps-token"
    proc, base, _ = _serve(tmp_path, "--user", f"{uuid}={token}")
    try:
        assert _containers(base, uuid, token) == ["pithos"]
    finally:
        err = _stop(proc)
    assert "pithosfs: warning: --user puts tokens in the process list (ps)" in err, err


def test_only_a_new_account_gets_the_pithos_container(tmp_path: Path) -> None:
    first, second = ("5e1f0000-0000-4000-8000-00000000000a", "tok-a-0123456789"), (
        "5e1f0000-0000-4000-8000-00000000000b", "tok-b-0123456789")  # fmt: skip
    users = {"PITHOSFS_SERVE_USERS": "=".join(first)}
    proc, base, _ = _serve(tmp_path, env=users)
    try:
        assert _containers(base, *first) == ["pithos"]
        resp = requests.delete(f"{base}/object-store/v1/{first[0]}/pithos",
                               headers={"X-Auth-Token": first[1]}, timeout=10)  # fmt: skip
        assert resp.status_code == 204
    finally:
        _stop(proc)
    both = {"PITHOSFS_SERVE_USERS": f"{'='.join(first)} {'='.join(second)}"}
    proc, base, _ = _serve(tmp_path, env=both)
    try:
        assert _containers(base, *first) == []  # its owner deleted it: not given again
        assert _containers(base, *second) == ["pithos"]
    finally:
        _stop(proc)
    proc, base, _ = _serve(tmp_path, "--default-container", "", env={"PITHOSFS_SERVE_USERS": "c=tok-c-0123456789"})
    try:
        assert _containers(base, "c", "tok-c-0123456789") == []
    finally:
        _stop(proc)
