"""A full server disk (a 24 MiB tmpfs as the data dir): 507 with a JSON fault, never a
500 with a traceback, for Pithos+ and Swift clients alike; nothing half-written stays,
and deleting + purging makes room again."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from swiftclient import client as swift
from swiftclient.exceptions import ClientException

from pithosfs.server import EmbeddedServer
from tests.conftest import ALICE
from tests.server.pithos_http import Api, fault_key
from tests.tmpfs import small_tmpfs

MIB = 1024 * 1024
DISK_MIB = 24


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", DISK_MIB) as where:
        yield where


@pytest.fixture
def full_srv(small_disk: Path) -> Iterator[EmbeddedServer]:
    srv = EmbeddedServer(small_disk / "data", port=0, users=dict([ALICE]), block_size=MIB)
    srv.start()
    yield srv
    srv.stop()


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_full_disk_answers_507(
    full_srv: EmbeddedServer, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api(full_srv.storage_url(ALICE[0]), ALICE[0], ALICE[1])
    cont = api.make_container("c")
    free = _free(small_disk)
    resp = api.put(cont, "big", data=os.urandom(DISK_MIB * MIB), headers={"Content-Type": "x/y"})
    assert resp.status_code == 507, (resp.status_code, resp.text[:300])
    assert fault_key(resp) == "insufficientStorage"
    assert api.head(cont, "big").status_code == 404
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not list((small_disk / "data" / "blocks" / "tmp").iterdir())  # no temp left
    # What was staged for the refused upload is gone: the space is back.
    assert _free(small_disk) >= free - MIB
    # Block uploads for a hashmap PUT: the same answer.
    resp = api.upload_blocks(cont, os.urandom(DISK_MIB * MIB))
    assert resp.status_code == 507 and fault_key(resp) == "insufficientStorage"
    # A write that fits still goes through.
    api.put_object(cont, "small", b"still room for this")
    assert api.read(cont, "small") == b"still room for this"


def test_swift_clients_see_507(full_srv: EmbeddedServer) -> None:
    conn = swift.Connection(
        preauthurl=full_srv.storage_url(ALICE[0]), preauthtoken=ALICE[1], retries=0
    )
    try:
        conn.put_container("s")
        with pytest.raises(ClientException) as caught:
            conn.put_object("s", "big", os.urandom(DISK_MIB * MIB), content_type="x/y")
        assert caught.value.http_status == 507
    finally:
        conn.close()


def test_deleting_and_purging_makes_room(full_srv: EmbeddedServer, small_disk: Path) -> None:
    api = Api(full_srv.storage_url(ALICE[0]), ALICE[0], ALICE[1])
    cont = api.make_container("c")
    first = os.urandom(14 * MIB)
    api.put_object(cont, "first", first)
    second = os.urandom(14 * MIB)
    resp = api.put(cont, "second", data=second, headers={"Content-Type": "x/y"})
    assert resp.status_code == 507  # 28 MiB do not fit on 24
    assert api.delete(cont, "first").status_code == 204
    resp = api.put(cont, "second", data=second, headers={"Content-Type": "x/y"})
    assert resp.status_code == 507  # deleted, but still in the history
    assert api.delete(cont, params={"until": str(int(time.time()) + 1)}).status_code == 204
    deadline = time.monotonic() + 60
    while api.put(cont, "second", data=second, headers={"Content-Type": "x/y"}).status_code != 201:
        assert time.monotonic() < deadline, "the purged blocks were never collected"
        time.sleep(0.2)
    assert api.read(cont, "second") == second


def test_uncommitted_uploads_make_room_when_the_disk_is_full(full_srv: EmbeddedServer) -> None:
    """Blocks uploaded for a hashmap PUT that never came are kept an hour, except when
    the disk is full: then the collector removes them at once."""
    api = Api(full_srv.storage_url(ALICE[0]), ALICE[0], ALICE[1])
    cont = api.make_container("c")
    assert api.upload_blocks(cont, os.urandom(16 * MIB)).status_code == 202  # no PUT follows
    data = os.urandom(12 * MIB)
    first = api.put(cont, "f", data=data, headers={"Content-Type": "x/y"})
    assert first.status_code == 507
    deadline = time.monotonic() + 60
    while api.put(cont, "f", data=data, headers={"Content-Type": "x/y"}).status_code != 201:
        assert time.monotonic() < deadline, "the orphan uploads were never collected"
        time.sleep(0.2)
    assert api.read(cont, "f") == data


def test_the_free_disk_is_an_advertised_extension(
    full_srv: EmbeddedServer, small_disk: Path, make_server: Any
) -> None:
    """Named in X-Pithosfs-Extensions; a strict server sends neither."""
    api = Api(full_srv.storage_url(ALICE[0]), ALICE[0], ALICE[1])
    head = api.head()
    assert "disk-available" in head.headers["X-Pithosfs-Extensions"]
    assert abs(int(head.headers["X-Pithosfs-Disk-Available"]) - _free(small_disk)) < MIB
    strict = make_server(strict=True)
    reply = Api(strict.storage_url(ALICE[0]), ALICE[0], ALICE[1]).head()
    assert "X-Pithosfs-Disk-Available" not in reply.headers
