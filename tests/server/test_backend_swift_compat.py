"""Swift-client compatibility of the server: MD5 ETags for Swift user agents, rclone end to end."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from pithosfs import protocol
from tests.conftest import User


def _put(alice: User, path: str, data: bytes, **headers: str) -> requests.Response:
    hdrs = {"X-Auth-Token": alice.token, "Content-Type": "application/octet-stream", **headers}
    return requests.put(f"{alice.storage_url}/{path}", data=data, headers=hdrs, timeout=30)


@pytest.fixture
def cont(alice: User, unique_name: str) -> str:
    requests.put(f"{alice.storage_url}/{unique_name}", headers={"X-Auth-Token": alice.token})
    return unique_name


def test_swift_user_agent_gets_an_md5_etag(alice: User, cont: str) -> None:
    data = b"swift data" * 1000
    resp = _put(alice, f"{cont}/s", data, **{"User-Agent": "python-swiftclient-4.11.0"})
    assert resp.status_code == 201
    assert resp.headers["ETag"] == hashlib.md5(data).hexdigest()
    head = requests.head(f"{alice.storage_url}/{cont}/s", headers={"X-Auth-Token": alice.token})
    assert head.headers["ETag"] == hashlib.md5(data).hexdigest()
    assert head.headers["X-Object-Hash"] == protocol.object_hash(data, protocol.DEFAULT_BLOCK_SIZE)
    # either identity satisfies If-Match
    for etag in (head.headers["ETag"], head.headers["X-Object-Hash"]):
        r = requests.get(
            f"{alice.storage_url}/{cont}/s", headers={"X-Auth-Token": alice.token, "If-Match": etag}
        )
        assert r.status_code == 200


def test_other_clients_keep_the_merkle_etag(alice: User, cont: str) -> None:
    data = b"pithos data"
    resp = _put(alice, f"{cont}/p", data, **{"User-Agent": "kamaki/0.16"})
    assert resp.headers["ETag"] == protocol.object_hash(data, protocol.DEFAULT_BLOCK_SIZE)


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")
def test_rclone_copy_check_move_and_back(alice: User, cont: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "big.bin").write_bytes(bytes(range(256)) * 20000)
    (src / "sub" / "small.txt").write_text("hello")
    remote = f":swift,storage_url='{alice.storage_url}',auth_token='{alice.token}':{cont}"

    def rclone(*args: str) -> None:
        out = subprocess.run(
            ["rclone", "--retries", "1", *args], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0 and "ERROR" not in out.stderr, out.stderr[-2000:]

    rclone("copy", str(src), remote)
    rclone("check", str(src), remote)
    rclone("moveto", f"{remote}/big.bin", f"{remote}/moved.bin")
    rclone("copy", remote, str(tmp_path / "back"))
    assert (tmp_path / "back" / "moved.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert (tmp_path / "back" / "sub" / "small.txt").read_text() == "hello"
