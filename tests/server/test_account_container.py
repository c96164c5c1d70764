"""Account (protocol.md 2.2-2.4) and container (protocol.md 3) HEAD/GET/PUT/POST/DELETE."""

from __future__ import annotations

import pytest

from tests.conftest import BOB
from tests.server.pithos_http import OCTET, Api, assert_fault, wait_for_next_second


def account_meta(api: Api) -> dict[str, str]:
    resp = api.head()
    assert resp.status_code == 204
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("x-account-meta-")}


def container_meta(api: Api, cont: str) -> dict[str, str]:
    resp = api.head(cont)
    assert resp.status_code == 204
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("x-container-meta-")}


def test_account_head_counts_and_quota(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"12345")
    resp = api.head()
    assert resp.status_code == 204
    assert int(resp.headers["X-Account-Container-Count"]) >= 1
    assert int(resp.headers["X-Account-Bytes-Used"]) >= 5
    assert int(resp.headers["X-Account-Policy-Quota"]) >= 0
    assert "Last-Modified" in resp.headers


def test_account_get_lists_containers_in_all_formats(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"123")
    items = {i["name"]: i for i in api.get(params={"format": "json"}).json()}
    item = items[cont]
    assert item["count"] == 1 and item["bytes"] == 3
    assert item["last_modified"].endswith("+00:00")
    assert item["x_container_policy"]["versioning"] == "auto"
    assert item["x_container_policy"]["quota"] == "0"
    text = api.get()
    assert text.status_code == 200 and text.headers["Content-Type"].startswith("text/plain")
    assert cont in text.text.splitlines() and text.text.endswith("\n")
    xml = api.get(params={"format": "xml"})
    assert xml.headers["Content-Type"].startswith("application/xml") and cont in xml.text


def test_account_listing_limit_and_marker(api: Api, unique_name: str) -> None:
    names = [api.make_container(f"{unique_name}-{i}") for i in range(3)]
    page = api.get(params={"format": "json", "marker": names[0], "limit": 1}).json()
    assert [i["name"] for i in page] == [names[1]]


def test_account_post_replaces_meta_without_update(api: Api) -> None:
    assert (
        api.post(headers={"X-Account-Meta-One": "1", "X-Account-Meta-Two": "2"}).status_code == 202
    )
    assert api.post(headers={"X-Account-Meta-Three": "3"}).status_code == 202
    assert account_meta(api) == {"X-Account-Meta-Three": "3"}
    assert api.post().status_code == 202  # no meta sent: everything goes
    assert account_meta(api) == {}


def test_account_post_update_merges_and_empty_deletes(api: Api) -> None:
    api.post(headers={"X-Account-Meta-Keep": "k", "X-Account-Meta-Drop": "d"})
    resp = api.post(params="update", headers={"X-Account-Meta-New": "n", "X-Account-Meta-Drop": ""})
    assert resp.status_code == 202
    assert account_meta(api) == {"X-Account-Meta-Keep": "k", "X-Account-Meta-New": "n"}


def test_account_groups_lowercased_and_deletable(api: Api) -> None:
    resp = api.post(params="update", headers={"X-Account-Group-TeamA": f"{BOB[0]},someone"})
    assert resp.status_code == 202
    members = api.head().headers["X-Account-Group-Teama"]
    assert set(members.split(",")) == {BOB[0], "someone"}
    api.post(params="update", headers={"X-Account-Group-TeamA": ""})
    assert "X-Account-Group-Teama" not in api.head().headers


def test_account_post_without_group_headers_keeps_groups(api: Api) -> None:
    api.post(params="update", headers={"X-Account-Group-Keepme": BOB[0]})
    api.post(headers={"X-Account-Meta-Only": "m"})
    assert api.head().headers["X-Account-Group-Keepme"] == BOB[0]


@pytest.mark.parametrize("group", ["bad-name", "bad_name"])
def test_group_names_with_dash_or_underscore_rejected(api: Api, group: str) -> None:
    assert_fault(api.post(params="update", headers={f"X-Account-Group-{group}": BOB[0]}), 400)


def test_account_head_preconditions(api: Api) -> None:
    assert (
        api.head(headers={"If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"}).status_code == 304
    )
    resp = api.head(headers={"If-Unmodified-Since": "Sun, 01 Jan 1995 00:00:00 GMT"})
    assert resp.status_code == 412


def test_container_put_created_then_accepted(api: Api, unique_name: str) -> None:
    assert api.put(unique_name).status_code == 201
    assert api.put(unique_name).status_code == 202


def test_container_head_headers(api: Api, cont: str) -> None:
    api.put_object(cont, "a", b"abc", headers={"X-Object-Meta-Colour": "red"})
    h = api.head(cont).headers
    assert h["X-Container-Object-Count"] == "1"
    assert h["X-Container-Bytes-Used"] == "3"
    assert h["X-Container-Block-Size"] == str(4 * 1024 * 1024)
    assert h["X-Container-Block-Hash"] == "sha256"
    assert h["X-Container-Policy-Versioning"] == "auto"
    assert h["X-Container-Policy-Quota"] == "0"
    assert "Colour" in h["X-Container-Object-Meta"].split(",")
    assert "Last-Modified" in h


def test_missing_container_is_404(api: Api, unique_name: str) -> None:
    assert_fault(api.head(unique_name), 404)
    assert_fault(api.get(unique_name, params={"format": "json"}), 404)
    assert_fault(api.put(unique_name, "o", data=b"x", headers={"Content-Type": OCTET}), 404)


def test_container_put_policy_and_merge_meta(api: Api, unique_name: str) -> None:
    api.make_container(unique_name, {"X-Container-Meta-A": "1", "X-Container-Policy-Quota": "50"})
    api.make_container(unique_name, {"X-Container-Meta-B": "2"})
    assert container_meta(api, unique_name) == {
        "X-Container-Meta-A": "1",
        "X-Container-Meta-B": "2",
    }
    assert api.head(unique_name).headers["X-Container-Policy-Quota"] == "50"


@pytest.mark.parametrize(
    "header",
    [
        ("X-Container-Policy-Versioning", "manual"),
        ("X-Container-Policy-Quota", "-5"),
        ("X-Container-Policy-Quota", "lots"),
        ("X-Container-Policy-Colour", "red"),
    ],
)
def test_invalid_container_policy_is_400(
    api: Api, unique_name: str, header: tuple[str, str]
) -> None:
    assert_fault(api.put(unique_name, headers=dict([header])), 400)


def test_container_post_replace_vs_update(api: Api, cont: str) -> None:
    api.post(cont, headers={"X-Container-Meta-A": "1", "X-Container-Meta-B": "2"})
    assert api.post(cont, params="update", headers={"X-Container-Meta-B": ""}).status_code == 202
    assert container_meta(api, cont) == {"X-Container-Meta-A": "1"}
    assert api.post(cont, headers={"X-Container-Meta-C": "3"}).status_code == 202
    assert container_meta(api, cont) == {"X-Container-Meta-C": "3"}


def test_container_post_policy(api: Api, cont: str) -> None:
    resp = api.post(cont, params="update", headers={"X-Container-Policy-Versioning": "none"})
    assert resp.status_code == 202
    assert api.head(cont).headers["X-Container-Policy-Versioning"] == "none"


def test_delete_non_empty_container_is_409(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"x")
    assert_fault(api.delete(cont), 409)
    assert api.read(cont, "o") == b"x"


def test_delete_empty_container(api: Api, cont: str) -> None:
    assert api.delete(cont).status_code == 204
    assert_fault(api.head(cont), 404)
    assert_fault(api.delete(cont), 404)


def test_delete_with_delimiter_empties_container(api: Api, cont: str) -> None:
    for name in ("a", "d/b", "d/e/f"):
        api.put_object(cont, name, b"x")
    assert api.delete(cont, params={"delimiter": "/"}).status_code == 204
    assert api.head(cont).status_code == 204
    assert api.listing(cont) == []
    assert api.delete(cont).status_code == 204


def test_delete_container_until_purges_history(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"v1")
    api.put_object(cont, "o", b"v2")
    api.put_object(cont, "gone", b"g")
    api.delete(cont, "gone")
    assert len(api.versions(cont, "o")) == 2
    resp = api.delete(cont, params={"until": str(wait_for_next_second() + 1)})
    assert resp.status_code == 204
    assert api.read(cont, "o") == b"v2"
    assert [v[0] for v in api.versions(cont, "o")] == [int(api.meta(cont, "o")["X-Object-Version"])]
    assert api.versions(cont, "gone") == []


def test_container_quota_413(api: Api, unique_name: str) -> None:
    cont = api.make_container(unique_name, {"X-Container-Policy-Quota": "100"})
    api.put_object(cont, "fits", b"x" * 100)
    api.delete(cont, "fits")
    assert_fault(api.put(cont, "big", data=b"x" * 101, headers={"Content-Type": OCTET}), 413)
    assert_fault(api.head(cont, "big"), 404)


def test_container_quota_counts_appends(api: Api, unique_name: str) -> None:
    cont = api.make_container(unique_name, {"X-Container-Policy-Quota": "10"})
    api.put_object(cont, "o", b"x" * 8)
    assert_fault(api.write_at(cont, "o", b"yyy", "bytes */*"), 413)
    assert api.read(cont, "o") == b"x" * 8


def test_container_until_shows_past_state(api: Api, cont: str) -> None:
    api.put_object(cont, "old", b"1")
    before = wait_for_next_second()
    api.put_object(cont, "new", b"2")
    past = api.listing(cont, until=str(before + 1))
    assert [i["name"] for i in past] == ["old"]
    head = api.head(cont, params={"until": str(before + 1)})
    assert head.headers["X-Container-Object-Count"] == "1"
    assert "X-Container-Until-Timestamp" in head.headers


def test_non_owner_cannot_use_until(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "s", b"1", headers={"X-Object-Sharing": "read=*"})
    assert_fault(bob_api.head(cont, account=api.account, params={"until": "2000000000"}), 403)


def test_unsupported_method_is_405_with_allow(api: Api, cont: str) -> None:
    resp = api.request("PATCH", cont)
    assert_fault(resp, 405)
    assert "DELETE" in resp.headers["Allow"]


def test_non_owner_account_head_is_reduced(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "s", b"1", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    api.post(params="update", headers={"X-Account-Meta-Private": "p"})
    resp = bob_api.head(account=api.account)
    assert resp.status_code == 204 and "Last-Modified" in resp.headers
    leaked = [
        k for k in resp.headers if k.lower().startswith(("x-account-meta", "x-account-group"))
    ]
    assert not leaked and "X-Account-Bytes-Used" not in resp.headers


def test_non_owner_container_head_is_reduced(api: Api, bob_api: Api, cont: str) -> None:
    api.post(cont, params="update", headers={"X-Container-Meta-Private": "p"})
    api.put_object(cont, "s", b"1", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    resp = bob_api.head(cont, account=api.account)
    assert resp.status_code == 204
    assert resp.headers["X-Container-Block-Size"] == str(4 * 1024 * 1024)
    assert "X-Container-Meta-Private" not in resp.headers
    assert "X-Container-Object-Count" not in resp.headers


def test_every_response_is_uncacheable(api: Api, cont: str) -> None:
    for resp in (api.head(cont), api.get(cont, params={"format": "json"}), api.head(cont, "nope")):
        assert "no-cache" in resp.headers["Cache-Control"]
        assert "X-Auth-Token" in resp.headers["Vary"]


def test_account_until(api: Api, unique_name: str) -> None:
    api.make_container(unique_name + "-old")
    before = wait_for_next_second()
    api.make_container(unique_name + "-new")
    names = [c["name"] for c in api.get(params={"format": "json", "until": str(before + 1)}).json()]
    assert unique_name + "-old" in names and unique_name + "-new" not in names
    head = api.head(params={"until": str(before + 1)})
    assert "X-Account-Until-Timestamp" in head.headers
