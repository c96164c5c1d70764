"""Copy and move: X-Copy-From / X-Move-From PUTs, COPY/MOVE verbs, recursive forms (protocol.md 4.3-4.5)."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import BOB
from tests.server.pithos_http import OCTET, Api, assert_fault


@pytest.fixture
def src(api: Api, cont: str) -> tuple[str, str]:
    api.put_object(cont, "src", b"payload", "text/plain", {"X-Object-Meta-A": "1"})
    return cont, "src"


def verb(
    api: Api, method: str, cont: str, name: str, dest: str, **headers: str
) -> requests.Response:
    return api.request(method, cont, name, headers={"Destination": dest, **headers})


def test_put_copy_from(api: Api, src: tuple[str, str]) -> None:
    cont, name = src
    resp = api.put(cont, "dst", headers={"X-Copy-From": f"/{cont}/{name}", "Content-Length": "0"})
    assert resp.status_code == 201 and int(resp.headers["X-Object-Version"]) > 0
    assert api.read(cont, "dst") == b"payload"
    s, d = api.meta(cont, name), api.meta(cont, "dst")
    assert d["X-Object-UUID"] != s["X-Object-UUID"]
    assert d["Content-Type"] == "text/plain" and d["X-Object-Meta-A"] == "1"
    assert api.read(*src) == b"payload"


def test_put_move_from_keeps_uuid(api: Api, src: tuple[str, str]) -> None:
    cont, name = src
    uuid = api.meta(*src)["X-Object-UUID"]
    resp = api.put(cont, "moved", headers={"X-Move-From": f"/{cont}/{name}", "Content-Length": "0"})
    assert resp.status_code == 201
    assert api.meta(cont, "moved")["X-Object-UUID"] == uuid
    assert api.read(cont, "moved") == b"payload"
    assert_fault(api.head(*src), 404)


def test_copy_verb_merges_meta_and_changes_type(api: Api, src: tuple[str, str]) -> None:
    cont, name = src
    resp = verb(
        api,
        "COPY",
        cont,
        name,
        f"/{cont}/c2",
        **{"Content-Type": "image/gif", "X-Object-Meta-B": "2", "X-Object-Meta-A": ""},
    )
    assert resp.status_code == 201
    h = api.meta(cont, "c2")
    assert h["Content-Type"] == "image/gif" and h["X-Object-Meta-B"] == "2"
    assert "X-Object-Meta-A" not in h
    assert h["X-Object-UUID"] != api.meta(*src)["X-Object-UUID"]


def test_move_verb_across_containers(api: Api, src: tuple[str, str], unique_name: str) -> None:
    other = api.make_container(unique_name + "-b")
    uuid = api.meta(*src)["X-Object-UUID"]
    assert verb(api, "MOVE", *src, f"/{other}/there").status_code == 201
    assert api.meta(other, "there")["X-Object-UUID"] == uuid
    assert_fault(api.head(*src), 404)


def test_copy_onto_same_path_keeps_uuid_and_changes_type(api: Api, src: tuple[str, str]) -> None:
    uuid = api.meta(*src)["X-Object-UUID"]
    resp = api.put(
        *src,
        headers={
            "X-Copy-From": f"/{src[0]}/{src[1]}",
            "Content-Length": "0",
            "Content-Type": "application/json",
        },
    )
    assert resp.status_code == 201
    h = api.meta(*src)
    assert h["X-Object-UUID"] == uuid and h["Content-Type"] == "application/json"


def test_copy_old_version(api: Api, src: tuple[str, str]) -> None:
    old = api.meta(*src)["X-Object-Version"]
    api.put_object(*src, b"newer")
    resp = verb(api, "COPY", *src, f"/{src[0]}/restored", **{"X-Source-Version": old})
    assert resp.status_code == 201
    assert api.read(src[0], "restored") == b"payload"


def test_copy_onto_existing_keeps_history(api: Api, src: tuple[str, str]) -> None:
    api.put_object(src[0], "dst", b"before")
    verb(api, "COPY", *src, f"/{src[0]}/dst")
    assert api.read(src[0], "dst") == b"payload"
    assert len(api.versions(src[0], "dst")) == 2


def test_copy_does_not_copy_sharing(api: Api, cont: str) -> None:
    api.put_object(
        cont, "s", b"x", headers={"X-Object-Sharing": "read=*", "X-Object-Public": "true"}
    )
    verb(api, "COPY", cont, "s", f"/{cont}/t")
    h = api.meta(cont, "t")
    assert "X-Object-Sharing" not in h and "X-Object-Public" not in h


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_missing_destination_is_400(api: Api, src: tuple[str, str], method: str) -> None:
    assert_fault(api.request(method, *src), 400)


@pytest.mark.parametrize("source", ["nolead/src", "/", "/onlycont"])
def test_malformed_copy_source_is_400(api: Api, src: tuple[str, str], source: str) -> None:
    resp = api.put(src[0], "x", headers={"X-Copy-From": source, "Content-Length": "0"})
    assert_fault(resp, 400)


def test_copy_missing_source_is_404(api: Api, cont: str) -> None:
    resp = api.put(cont, "x", headers={"X-Copy-From": f"/{cont}/nothing", "Content-Length": "0"})
    assert_fault(resp, 404)


def test_copy_precondition(api: Api, src: tuple[str, str]) -> None:
    api.put_object(src[0], "dst", b"x")
    resp = verb(api, "COPY", *src, f"/{src[0]}/dst", **{"If-None-Match": "*"})
    assert_fault(resp, 412)
    assert api.read(src[0], "dst") == b"x"


def test_copy_from_shared_object_in_other_account(
    api: Api, bob_api: Api, cont: str, unique_name: str
) -> None:
    api.put_object(cont, "gift", b"for bob", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    mine = bob_api.make_container(unique_name)
    resp = bob_api.put(
        mine,
        "got",
        headers={
            "X-Copy-From": f"/{cont}/gift",
            "X-Source-Account": api.account,
            "Content-Length": "0",
        },
    )
    assert resp.status_code == 201
    assert bob_api.read(mine, "got") == b"for bob"


def test_copy_from_unshared_other_account_is_403(
    api: Api, bob_api: Api, cont: str, unique_name: str
) -> None:
    api.put_object(cont, "private", b"no")
    mine = bob_api.make_container(unique_name)
    resp = bob_api.put(
        mine,
        "got",
        headers={
            "X-Copy-From": f"/{cont}/private",
            "X-Source-Account": api.account,
            "Content-Length": "0",
        },
    )
    assert_fault(resp, 403)


def test_move_from_other_account_is_403_even_with_write(
    api: Api, bob_api: Api, cont: str, unique_name: str
) -> None:
    api.put_object(cont, "w", b"w", headers={"X-Object-Sharing": f"write={BOB[0]}"})
    mine = bob_api.make_container(unique_name)
    resp = bob_api.put(
        mine,
        "took",
        headers={
            "X-Move-From": f"/{cont}/w",
            "X-Source-Account": api.account,
            "Content-Length": "0",
        },
    )
    assert_fault(resp, 403)
    assert api.read(cont, "w") == b"w"


@pytest.fixture
def tree(api: Api, cont: str) -> str:
    api.mkdir(cont, "d")
    for name in ("d/a", "d/sub/b", "dx"):
        api.put_object(cont, name, name.encode())
    return cont


def test_recursive_copy(api: Api, tree: str) -> None:
    resp = api.request(
        "COPY", tree, "d", params={"delimiter": "/"}, headers={"Destination": f"/{tree}/e"}
    )
    assert resp.status_code == 201
    assert api.names(tree, prefix="e") == ["e", "e/a", "e/sub/b"]
    assert api.read(tree, "e/sub/b") == b"d/sub/b"
    assert api.names(tree, prefix="d") == ["d", "d/a", "d/sub/b", "dx"]


def test_recursive_move_keeps_uuids(api: Api, tree: str) -> None:
    uuid = api.meta(tree, "d/sub/b")["X-Object-UUID"]
    resp = api.request(
        "MOVE", tree, "d", params={"delimiter": "/"}, headers={"Destination": f"/{tree}/m"}
    )
    assert resp.status_code == 201
    assert api.names(tree) == ["dx", "m", "m/a", "m/sub/b"]
    assert api.meta(tree, "m/sub/b")["X-Object-UUID"] == uuid


def test_recursive_put_move_from(api: Api, tree: str) -> None:
    resp = api.put(
        tree,
        "n",
        params={"delimiter": "/"},
        headers={"X-Move-From": f"/{tree}/d", "Content-Length": "0"},
    )
    assert resp.status_code == 201
    assert api.names(tree) == ["dx", "n", "n/a", "n/sub/b"]


def test_recursive_delete(api: Api, tree: str) -> None:
    assert api.delete(tree, "d", params={"delimiter": "/"}).status_code == 204
    assert api.names(tree) == ["dx"]


def test_recursive_op_needs_marker(api: Api, cont: str) -> None:
    api.put_object(cont, "implicit/child", b"")
    assert_fault(api.delete(cont, "implicit", params={"delimiter": "/"}), 404)
    resp = api.request(
        "MOVE",
        cont,
        "implicit",
        params={"delimiter": "/"},
        headers={"Destination": f"/{cont}/other"},
    )
    assert_fault(resp, 404)
    assert api.names(cont) == ["implicit/child"]


def test_copy_body_is_ignored_content_length_zero(api: Api, src: tuple[str, str]) -> None:
    resp = api.put(
        src[0],
        "dst",
        headers={"X-Copy-From": f"/{src[0]}/src", "Content-Type": OCTET, "Content-Length": "0"},
    )
    assert resp.status_code == 201 and api.read(src[0], "dst") == b"payload"
