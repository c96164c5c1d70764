"""`pithosfs config` reads the embedded server's state through the launcher's reader."""

from __future__ import annotations

import json
import socket

import pytest

from pithosfs.config_cmd import resolve_embedded
from pithosfs.mount import launcher


@pytest.fixture
def state_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = launcher.embedded_state_path()
    path.parent.mkdir(parents=True)
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("text", ["[1, 2]", '"text"', '{"port": "x", "user": "u"}', "{"])
def test_a_damaged_state_file_reads_as_not_started(state_file, text):
    state_file.write_text(text)
    assert launcher.recorded_embedded() is None
    got = resolve_embedded()  # a JSON list here used to crash config with AttributeError
    assert got.server == "embedded" and got.object_store == "-"
    assert got.url.startswith("(not started")


def test_a_recorded_server_that_is_down(state_file):
    port = closed_port()
    state_file.write_text(json.dumps({"port": port, "user": "u1", "token": "t" * 20, "pid": 7}))
    account = launcher.recorded_embedded()
    assert account is not None and account.user == "u1" and account.pid == 7
    got = resolve_embedded()
    base = f"http://127.0.0.1:{port}"
    assert got.object_store == f"{base}/object-store/v1/u1" == account.storage_url
    assert got.url == f"{base}/identity/v2.0 (not running; a mount restarts it)"
    assert got.images == f"{base}/image/v1.0" and got.user == "u1"
    assert got.token_from == str(state_file) and "t" * 20 not in got.token
