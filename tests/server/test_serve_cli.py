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
