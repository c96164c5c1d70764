"""Sharing (protocol.md 9.4, 2.1) and public links (protocol.md 9.5)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import OCTET, Api, assert_fault

CAROL = ("ca201000-0000-4000-8000-000000000003", "carol-token")


def share(api: Api, cont: str, name: str, value: str) -> None:
    assert api.post_meta(cont, name, {"X-Object-Sharing": value}).status_code == 202


def parse_sharing(value: str) -> dict[str, set[str]]:
    """`read=a,b; write=c` -> {"read": {"a", "b"}, "write": {"c"}} (order is not part of the protocol)."""
    parts = (p.strip().split("=", 1) for p in value.split(";"))
    return {kind: set(members.split(",")) for kind, members in parts}


def as_bob_put(bob_api: Api, owner: Api, cont: str, name: str, data: bytes) -> requests.Response:
    return bob_api.put(
        cont, name, account=owner.account, data=data, headers={"Content-Type": OCTET}
    )


def test_sharing_header_normalised(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"")
    share(api, cont, "o", f"read=X, {BOB[0].upper()};write= Someone ")
    value = api.meta(cont, "o")["X-Object-Sharing"]
    assert "; " in value
    assert parse_sharing(value) == {"read": {"x", BOB[0]}, "write": {"someone"}}


def test_user_in_both_lists_kept_in_write(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"")
    share(api, cont, "o", f"read={BOB[0]};write={BOB[0]}")
    assert parse_sharing(api.meta(cont, "o")["X-Object-Sharing"]) == {"write": {BOB[0]}}


@pytest.mark.parametrize("value", ["bob", "read=", "read=a;nope=b", "delete=a"])
def test_bad_sharing_value_is_400(api: Api, cont: str, value: str) -> None:
    api.put_object(cont, "o", b"")
    assert_fault(api.post_meta(cont, "o", {"X-Object-Sharing": value}), 400)


def test_empty_sharing_removes_permissions(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"x", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    share(api, cont, "o", "")
    assert "X-Object-Sharing" not in api.meta(cont, "o")
    assert_fault(bob_api.get(cont, "o", account=api.account), 403)


def test_read_share_does_not_allow_write(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"orig", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    assert_fault(as_bob_put(bob_api, api, cont, "o", b"evil"), 403)
    assert_fault(bob_api.write_at(cont, "o", b"!", "bytes */*", account=api.account), 403)
    assert api.read(cont, "o") == b"orig"


def test_write_share_allows_put_and_post_but_not_delete_or_sharing(
    api: Api, bob_api: Api, cont: str
) -> None:
    api.put_object(cont, "o", b"orig", headers={"X-Object-Sharing": f"write={BOB[0]}"})
    assert as_bob_put(bob_api, api, cont, "o", b"by bob").status_code == 201
    assert bob_api.write_at(cont, "o", b"!", "bytes */*", account=api.account).status_code == 204
    assert api.read(cont, "o") == b"by bob!"
    assert api.meta(cont, "o")["X-Object-Modified-By"] == BOB[0]
    assert_fault(bob_api.delete(cont, "o", account=api.account), 403)
    resp = bob_api.post_meta(cont, "o", {"X-Object-Sharing": "read=*"}, account=api.account)
    assert_fault(resp, 403)
    assert bob_api.meta(cont, "o", account=api.account)["X-Object-Allowed-To"] == "write"


def test_everyone_share(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"all", headers={"X-Object-Sharing": "read=*"})
    assert bob_api.read(cont, "o", account=api.account) == b"all"


def test_group_share(api: Api, bob_api: Api, cont: str, unique_name: str) -> None:
    group = unique_name.replace("-", "")
    api.post(params="update", headers={f"X-Account-Group-{group}": BOB[0]})
    api.put_object(cont, "o", b"grp", headers={"X-Object-Sharing": f"read={api.account}:{group}"})
    assert bob_api.read(cont, "o", account=api.account) == b"grp"
    api.post(params="update", headers={f"X-Account-Group-{group}": "nobody"})
    assert_fault(bob_api.get(cont, "o", account=api.account), 403)


def test_inheritance_through_directory_marker(api: Api, bob_api: Api, cont: str) -> None:
    api.mkdir(cont, "docs")
    api.put_object(cont, "docs/deep/file", b"inherited")
    share(api, cont, "docs", f"read={BOB[0]}")
    assert bob_api.read(cont, "docs/deep/file", account=api.account) == b"inherited"
    head = bob_api.meta(cont, "docs/deep/file", account=api.account)
    assert head["X-Object-Shared-By"] == f"{api.account}/{cont}/docs"
    assert head["X-Object-Allowed-To"] == "read"


def test_no_inheritance_through_plain_object(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "plain", b"")
    api.put_object(cont, "plain/child", b"hidden")
    share(api, cont, "plain", f"read={BOB[0]}")
    assert_fault(bob_api.get(cont, "plain/child", account=api.account), 403)


def test_delete_clears_sharing_and_public(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(
        cont, "o", b"x", headers={"X-Object-Sharing": f"read={BOB[0]}", "X-Object-Public": "true"}
    )
    link = api.meta(cont, "o")["X-Object-Public"]
    api.delete(cont, "o")
    api.put_object(cont, "o", b"y")
    h = api.meta(cont, "o")
    assert "X-Object-Sharing" not in h and "X-Object-Public" not in h
    assert_fault(bob_api.get(cont, "o", account=api.account), 403)
    assert requests.get(public_url(api, link), timeout=30).status_code == 404


def test_sharing_accounts_listing(make_server: Any) -> None:
    srv = make_server(users=dict([ALICE, BOB, CAROL]))
    alice, bob, carol = (Api(srv.storage_url(u), u, t) for u, t in (ALICE, BOB, CAROL))
    assert (
        carol.session.get(carol.root + "/", headers={"X-Auth-Token": CAROL[1]}).status_code == 204
    )
    cont = alice.make_container("c")
    alice.put_object(cont, "o", b"", headers={"X-Object-Sharing": f"read={CAROL[0]}"})
    resp = carol.session.get(
        carol.root + "/", params={"format": "json"}, headers={"X-Auth-Token": CAROL[1]}
    )
    assert resp.status_code == 200
    assert [a["name"] for a in resp.json()] == [ALICE[0]]
    text = carol.session.get(carol.root + "/", headers={"X-Auth-Token": CAROL[1]})
    assert text.text == ALICE[0] + "\n"
    containers = carol.get(account=ALICE[0], params={"format": "json"})
    assert [c["name"] for c in containers.json()] == ["c"]
    assert bob.session.get(bob.root + "/", headers={"X-Auth-Token": BOB[1]}).status_code == 204


def test_top_level_needs_token(api: Api) -> None:
    assert_fault(requests.get(api.root + "/", timeout=30), 401)


# --- public links ---


def public_url(api: Api, link: str) -> str:
    """The server's public link, re-rooted on the test server (the host part may differ)."""
    assert "/public/" in link
    return api.base_url + "/public/" + link.rsplit("/public/", 1)[1]


def publish(api: Api, cont: str, name: str) -> str:
    assert api.post_meta(cont, name, {"X-Object-Public": "true"}).status_code == 202
    return public_url(api, api.meta(cont, name)["X-Object-Public"])


def test_public_link_serves_without_token(api: Api, cont: str) -> None:
    api.put_object(cont, "pub", b"public bytes", "text/plain", {"X-Object-Meta-Secret": "s"})
    url = publish(api, cont, "pub")
    token = url.rsplit("/", 1)[1]
    assert len(token) == 16 and token.isalnum()
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200 and resp.content == b"public bytes"
    assert resp.headers["Content-Type"] == "text/plain"
    assert not [k for k in resp.headers if k.lower().startswith("x-object-")]
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.headers["Content-Length"] == "12"
    ranged = requests.get(url, headers={"Range": "bytes=0-5"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == b"public"


def test_public_link_is_stable_then_new_after_republish(api: Api, cont: str) -> None:
    api.put_object(cont, "pub", b"v1")
    first = publish(api, cont, "pub")
    api.put_object(cont, "pub", b"v2")
    assert publish(api, cont, "pub") == first
    assert requests.get(first, timeout=30).content == b"v2"
    assert api.post_meta(cont, "pub", {"X-Object-Public": "false"}).status_code == 202
    assert_fault(requests.get(first, timeout=30), 404)
    assert publish(api, cont, "pub") != first


def test_bad_public_value_is_400(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"")
    assert_fault(api.post_meta(cont, "o", {"X-Object-Public": "maybe"}), 400)


def test_unknown_public_token_is_404(api: Api) -> None:
    assert_fault(requests.get(api.base_url + "/public/AAAAAAAAAAAAAAAA", timeout=30), 404)


def test_public_header_only_for_owner(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(
        cont, "o", b"", headers={"X-Object-Public": "true", "X-Object-Sharing": "read=*"}
    )
    assert "X-Object-Public" in api.meta(cont, "o")
    assert "X-Object-Public" not in bob_api.meta(cont, "o", account=api.account)
