"""Versioning (protocol.md 6): policies, ?version=list, ?version=N, history across delete, purge."""

from __future__ import annotations

from tests.server.pithos_http import Api, assert_fault, wait_for_next_second


def test_version_list_shape(api: Api, cont: str) -> None:
    v1 = int(api.put_object(cont, "o", b"one").headers["X-Object-Version"])
    v2 = int(api.put_object(cont, "o", b"two").headers["X-Object-Version"])
    resp = api.get(cont, "o", params={"version": "list", "format": "json"})
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["versions"]
    assert [v[0] for v in body["versions"]] == [v1, v2]
    for serial, stamp in body["versions"]:
        assert isinstance(serial, int) and isinstance(stamp, str) and float(stamp) > 1e9
    assert api.get(cont, "o", params="version=list").json() == body  # json is the default


def test_every_write_is_a_new_global_serial(api: Api, cont: str) -> None:
    a = int(api.put_object(cont, "a", b"x").headers["X-Object-Version"])
    b = int(api.put_object(cont, "b", b"x").headers["X-Object-Version"])
    meta = api.post_meta(cont, "a", {"X-Object-Meta-K": "v"})
    assert a < b < int(meta.headers["X-Object-Version"])
    assert len(api.versions(cont, "a")) == 2


def test_sharing_change_makes_no_version(api: Api, cont: str) -> None:
    api.put_object(cont, "a", b"x")
    api.post_meta(cont, "a", {"X-Object-Sharing": "read=*"})
    api.post_meta(cont, "a", {"X-Object-Public": "true"})
    assert len(api.versions(cont, "a")) == 1


def test_read_old_version(api: Api, cont: str) -> None:
    old = api.put_object(cont, "o", b"old data", "text/plain", {"X-Object-Meta-Gen": "1"})
    api.put_object(cont, "o", b"new", "image/png", {"X-Object-Meta-Gen": "2"})
    serial = old.headers["X-Object-Version"]
    resp = api.get(cont, "o", params={"version": serial})
    assert resp.status_code == 200 and resp.content == b"old data"
    assert resp.headers["X-Object-Version"] == serial
    assert resp.headers["X-Object-Meta-Gen"] == "1"
    head = api.head(cont, "o", params={"version": serial}).headers
    assert head["Content-Length"] == "8" and head["Content-Type"] == "text/plain"
    ranged = api.get(cont, "o", params={"version": serial}, headers={"Range": "bytes=4-7"})
    assert ranged.status_code == 206 and ranged.content == b"data"
    assert api.read(cont, "o") == b"new"


def test_bad_version_is_404(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"x")
    other = api.put_object(cont, "other", b"y").headers["X-Object-Version"]
    for version in (other, "abc", "999999999"):
        assert_fault(api.get(cont, "o", params={"version": version}), 404)


def test_history_survives_delete_and_recreate(api: Api, cont: str) -> None:
    v1 = api.put_object(cont, "o", b"life one").headers["X-Object-Version"]
    api.delete(cont, "o")
    versions = api.versions(cont, "o")
    assert [v[0] for v in versions] == [int(v1)]  # deleted markers excluded
    assert api.read(cont, "o", params={"version": v1}) == b"life one"
    v2 = api.put_object(cont, "o", b"life two").headers["X-Object-Version"]
    assert [v[0] for v in api.versions(cont, "o")] == [int(v1), int(v2)]


def test_versioning_none_keeps_no_history(api: Api, unique_name: str) -> None:
    cont = api.make_container(unique_name, {"X-Container-Policy-Versioning": "none"})
    old = api.put_object(cont, "o", b"one").headers["X-Object-Version"]
    api.put_object(cont, "o", b"two")
    assert len(api.versions(cont, "o")) == 1
    assert_fault(api.get(cont, "o", params={"version": old}), 404)


def test_delete_until_purges_object_history(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"one")
    api.put_object(cont, "o", b"two")
    api.delete(cont, "o")
    resp = api.delete(cont, "o", params={"until": str(wait_for_next_second() + 1)})
    assert resp.status_code == 204
    assert api.versions(cont, "o") == []


def test_delete_until_in_the_past_is_noop(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"one")
    api.put_object(cont, "o", b"two")
    assert api.delete(cont, "o", params={"until": "1000000"}).status_code == 204
    assert len(api.versions(cont, "o")) == 2 and api.read(cont, "o") == b"two"


def test_purge_keeps_newer_current_version(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"old")
    cutoff = wait_for_next_second() + 1
    wait_for_next_second()
    api.put_object(cont, "o", b"current")
    api.delete(cont, "o", params={"until": str(cutoff)})
    assert api.read(cont, "o") == b"current"
    assert len(api.versions(cont, "o")) == 1


def test_until_ignores_non_integer(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"x")
    assert api.names(cont, until="1392487853.86") == ["o"]
    assert api.names(cont, until="-1") == ["o"]
