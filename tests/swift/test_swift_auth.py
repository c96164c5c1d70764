"""`pithosfs mount --url <Swift auth URL>`: tempauth login with a user and key from the
environment, the key never in argv, one-line refusal of a wrong key, and re-login when
the token stops being valid (tempauth keeps tokens in memcached: deleting the token's
entry there is exactly what its expiry does)."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from pithosfs.client.config import load_config
from pithosfs.client.errors import Unauthorized
from tests.integration.conftest import Mount, stop_mount
from tests.swift.conftest import (
    CONTAINER,
    SECOND_USER,
    auth_settings,
    fresh_client,
    memcached_address,
    start_auth_mount,
)


def _expire_token(token: str) -> None:
    """Drop tempauth's memcached entry for `token` (key: md5 of `AUTH_/token/<token>`)."""
    key = hashlib.md5(f"AUTH_/token/{token}".encode()).hexdigest()
    with socket.create_connection(memcached_address(), timeout=5) as conn:
        conn.sendall(f"delete {key}\r\n".encode())
        reply = conn.recv(100)
    assert reply.startswith(b"DELETED"), reply


@pytest.fixture
def auth_mount(fuse_ok: None, tmp_path: Path) -> Mount:  # noqa: F811
    client = fresh_client(SECOND_USER)
    client.create_container(CONTAINER)
    client.close()
    m = start_auth_mount(tmp_path)
    assert isinstance(m, Mount)
    yield m
    stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


def test_load_config_logs_in_with_tempauth(tmp_path: Path) -> None:
    auth, user, key = auth_settings()
    env = {"ST_AUTH": auth, "ST_USER": user, "ST_KEY": key}
    cfg = load_config(env=env, kamakirc=tmp_path / "none")
    assert cfg.is_storage_url and cfg.auth_kind == "tempauth" and cfg.auth_url == auth
    assert "/v1/AUTH_" in cfg.url and cfg.token.startswith("AUTH_")
    with pytest.raises(Unauthorized):
        load_config(env={**env, "ST_KEY": key + "-wrong"}, kamakirc=tmp_path / "none")


def test_mount_with_auth_url_user_and_key(auth_mount: Mount, unique_name: str) -> None:
    d = auth_mount.path / CONTAINER / unique_name
    d.mkdir()
    (d / "hello").write_bytes(b"logged in")
    assert auth_mount.client.read_object(CONTAINER, f"{unique_name}/hello") == b"logged in"
    argv = (Path("/proc") / str(auth_mount.proc.pid) / "cmdline").read_bytes().split(b"\0")
    assert SECOND_USER[1].encode() not in argv  # the key travels in the environment only


def test_mount_a_kamakirc_cloud_with_user_and_key(fuse_ok: None, tmp_path: Path) -> None:  # noqa: F811
    client = fresh_client(SECOND_USER)
    client.create_container(CONTAINER)
    rc = tmp_path / "kamakirc"
    rc.write_text(
        f'[global]\ndefault_cloud = okeanos\n\n[cloud "okeanos"]\nurl = https://unused/v2.0\n'
        f"token = unused\n\n"
        f'[cloud "swift"]\nurl = {auth_settings()[0]}\nuser = {SECOND_USER[0]}\n'
        f"key = {SECOND_USER[1]}\n"
    )
    rc.chmod(0o600)
    m = start_auth_mount(
        tmp_path, source=("--cloud", "swift"),
        env_extra={"KAMAKIRC": str(rc), "PITHOS_AUTH_USER": "", "PITHOS_AUTH_KEY": ""},
    )  # fmt: skip
    assert isinstance(m, Mount)
    try:
        (m.path / CONTAINER / "from-kamakirc").write_bytes(b"cloud")
        assert client.read_object(CONTAINER, "from-kamakirc") == b"cloud"
    finally:
        stop_mount(m)
        client.close()


def test_mount_refuses_a_wrong_key_in_one_line(fuse_ok: None, tmp_path: Path) -> None:  # noqa: F811
    proc = start_auth_mount(tmp_path, env_extra={"PITHOS_AUTH_KEY": "wrong"}, wait=False)
    assert not isinstance(proc, Mount)
    assert proc.wait(timeout=60) == 1
    out = (tmp_path / "mount.out").read_text() + (tmp_path / "mount.log").read_text()
    assert "pithosfs: " in out and "Traceback" not in out
    assert not os.path.ismount(tmp_path / "mnt")


def test_expired_token_is_renewed_by_logging_in_again(auth_mount: Mount, unique_name: str) -> None:
    d = auth_mount.path / CONTAINER / unique_name
    d.mkdir()
    (d / "before").write_bytes(b"one")
    # tempauth hands every login of a user the same live token: this is the mount's
    _expire_token(fresh_client(SECOND_USER).transport.token)
    (d / "after").write_bytes(b"two")  # the mount meets a 401, logs in again, retries
    assert sorted(os.listdir(d)) == ["after", "before"]
    assert fresh_client(SECOND_USER).read_object(CONTAINER, f"{unique_name}/after") == b"two"
    assert "re-authenticating" in auth_mount.log_text()
