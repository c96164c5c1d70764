"""PithosClient operations beyond the ObjectStore contract, on the embedded server."""

from __future__ import annotations

import pytest

from pithosfs.client import PithosClient
from pithosfs.client.errors import Forbidden, NotFound


def test_append_goes_to_the_current_end(client, cont):
    client.put_object(cont, "log", b"one\n", meta={"k": "v"})
    info = client.append(cont, "log", b"two\n")
    assert client.read_object(cont, "log") == b"one\ntwo\n"
    assert info.size == 8 and info.meta == {"K": "v"}


def test_splice_from_another_object_and_version(client, cont):
    client.put_object(cont, "dst", b"0123456789")
    v1 = client.put_object(cont, "src", b"ABC")
    client.put_object(cont, "src", b"XYZW")
    client.splice(cont, "dst", 2, cont, "src", length=3, src_version=v1.version)
    assert client.read_object(cont, "dst") == b"01ABC56789"
    client.splice(cont, "dst", 10, cont, "src")
    assert client.read_object(cont, "dst") == b"01ABC56789XYZW"


def test_restore_version_without_reupload(client, cont):
    v1 = client.put_object(cont, "doc", b"original" * 1000)
    client.put_object(cont, "doc", b"edited")
    before = client.stats.snapshot()
    restored = client.restore_version(cont, "doc", v1.version)
    sent = (client.stats.snapshot() - before).bytes_sent
    assert restored.size == 8000 and restored.uuid == v1.uuid
    assert client.read_object(cont, "doc") == b"original" * 1000
    assert sent < 100


def test_read_empty_object_without_range(client, cont):
    client.put_object(cont, "e", b"")
    assert client.read_range(cont, "e", 0, 10) == b""
    assert client.read_range(cont, "e", 0, 10, size=0) == b""
    assert client.read_object(cont, "e") == b""


def test_read_old_version_by_range(client, cont):
    v1 = client.put_object(cont, "r", b"abcdef")
    client.put_object(cont, "r", b"xy")
    assert client.read_range(cont, "r", 2, 100, version=v1.version) == b"cdef"


def test_shared_object_is_readable_by_the_grantee_only(client, cont, server, bob):
    client.put_object(cont, "shared", b"for bob")
    client.put_object(cont, "private", b"not for bob")
    client.set_sharing(cont, "shared", f"read={bob.uuid}")
    as_bob = PithosClient.from_storage_url(client.storage_url, bob.token)
    assert as_bob.read_range(cont, "shared", 0, 100) == b"for bob"
    info = as_bob.head_object(cont, "shared")
    assert info.allowed_to == "read"
    with pytest.raises((Forbidden, NotFound)):
        as_bob.read_range(cont, "private", 0, 100)
    with pytest.raises(Forbidden):
        as_bob.delete_object(cont, "shared")


def test_container_quota_and_meta(client, cont):
    client.set_container_meta(cont, {"purpose": "tests"})
    client.set_container_quota(cont, 1000)
    info = client.container_info(cont)
    assert info.quota == 1000 and info.meta == {"Purpose": "tests"}
    assert info.block_size > 0 and info.block_hash == "sha256"


def test_public_link_serves_without_a_token(client, cont):
    import requests

    client.put_object(cont, "pub", b"hello world")
    url = client.set_public(cont, "pub", True)
    assert requests.get(url, timeout=10).content == b"hello world"


def test_grantee_sees_the_sharing_account(client, cont, bob):
    client.put_object(cont, "s", b"x")
    client.set_sharing(cont, "s", f"read={bob.uuid}")
    bob_client = PithosClient.from_storage_url(
        client.storage_url.rsplit("/", 1)[0] + "/" + bob.uuid, bob.token
    )
    assert client.account in bob_client.list_sharing_accounts()
    assert bob_client.for_account(client.account).read_range(cont, "s", 0, 5) == b"x"


def test_many_threads_share_one_client(client, cont):
    import threading

    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(10):
                data = f"{n}-{i}".encode() * 100
                client.put_object(cont, f"t{n}", data)
                assert client.read_range(cont, f"t{n}", 0, len(data)) == data
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert client.container_info(cont).count == 8
