"""Identity (protocol.md 15.1) and authentication/authorisation (protocol.md 1.2, 9.4)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import ALICE, BOB, User
from tests.server.pithos_http import OCTET, Api, assert_fault


def tokens(server: Any, **kw: Any) -> requests.Response:
    return requests.post(server.identity_url + "/tokens", timeout=30, **kw)


def endpoints(access: dict[str, Any], service_type: str) -> list[dict[str, Any]]:
    found = [s for s in access["serviceCatalog"] if s["type"] == service_type]
    assert len(found) == 1, f"exactly one {service_type} service"
    return found[0]["endpoints"]


def check_access(server: Any, resp: requests.Response, user: tuple[str, str]) -> None:
    assert resp.status_code == 200, resp.text
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    access = resp.json()["access"]
    assert access["token"]["id"] == user[1]
    assert access["token"]["tenant"]["id"] == user[0]
    assert access["user"]["id"] == user[0]
    store = endpoints(access, "object-store")
    assert len(store) == 1
    assert store[0]["publicURL"].rstrip("/").endswith("/v1")
    assert store[0]["publicURL"].rstrip("/") + "/" + user[0] == server.storage_url(user[0])
    image = endpoints(access, "image")
    assert len(image) == 1 and not image[0]["publicURL"].rstrip("/").endswith("v1.0")
    astakos = [s for s in access["serviceCatalog"] if s["name"] == "astakos_account"]
    assert len(astakos) == 1
    v10 = [e for e in astakos[0]["endpoints"] if e.get("versionId") == "v1.0"]
    assert v10 and v10[0]["publicURL"] and v10[0]["SNF:uiURL"]


def test_token_in_json_body(server: Any) -> None:
    body = {"auth": {"token": {"id": ALICE[1]}}}
    check_access(server, tokens(server, json=body), ALICE)


def test_token_in_header_with_no_body(server: Any) -> None:
    check_access(server, tokens(server, headers={"X-Auth-Token": BOB[1]}), BOB)


def test_unknown_token_is_401(server: Any) -> None:
    assert_fault(tokens(server, json={"auth": {"token": {"id": "nope"}}}), 401)
    assert_fault(tokens(server, headers={"X-Auth-Token": "nope"}), 401)


def test_no_token_at_all_is_401(server: Any) -> None:
    assert tokens(server).status_code in (400, 401)


@pytest.mark.parametrize("parts", [(), ("c",), ("c", "o")])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_missing_token_is_401(anon: Api, parts: tuple[str, ...], method: str) -> None:
    assert_fault(anon.request(method, *parts), 401)


def test_missing_token_on_writes_is_401(anon: Api, unique_name: str) -> None:
    assert_fault(anon.put(unique_name), 401)
    assert_fault(anon.put(unique_name, "o", data=b"x", headers={"Content-Type": OCTET}), 401)
    assert_fault(anon.post(headers={"X-Account-Meta-X": "y"}), 401)


def test_wrong_token_is_401(alice: User, cont: str) -> None:
    wrong = Api(alice.storage_url, alice.uuid, "not-a-token")
    assert_fault(wrong.get(cont), 401)


def test_token_as_query_parameter(alice: User, api: Api, cont: str) -> None:
    api.put_object(cont, "q", b"query")
    anon = Api(alice.storage_url, alice.uuid, None)
    resp = anon.get(cont, "q", params={"X-Auth-Token": alice.token})
    assert resp.status_code == 200 and resp.content == b"query"


def test_other_account_private_object_is_403(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "secret", b"s3cr3t")
    for method in ("GET", "HEAD"):
        assert_fault(bob_api.request(method, cont, "secret", account=api.account), 403)
    resp = bob_api.put(
        cont, "secret", account=api.account, data=b"x", headers={"Content-Type": OCTET}
    )
    assert_fault(resp, 403)
    assert_fault(bob_api.delete(cont, "secret", account=api.account), 403)
    assert api.read(cont, "secret") == b"s3cr3t"


def test_other_account_unshared_container_listing_is_403(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "private", b"p")
    resp = bob_api.get(cont, account=api.account, params={"format": "json"})
    assert_fault(resp, 403)


def test_cannot_create_containers_in_another_account(
    api: Api, bob_api: Api, unique_name: str
) -> None:
    assert_fault(bob_api.put(unique_name, account=api.account), 403)
    assert_fault(api.head(unique_name), 404)


def test_cannot_change_another_accounts_meta(api: Api, bob_api: Api) -> None:
    resp = bob_api.post(account=api.account, params="update", headers={"X-Account-Meta-Evil": "1"})
    assert_fault(resp, 403)
    assert "X-Account-Meta-Evil" not in api.head().headers


def test_shared_object_readable_by_grantee(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "shared", b"for bob", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    assert bob_api.read(cont, "shared", account=api.account) == b"for bob"
    head = bob_api.meta(cont, "shared", account=api.account)
    assert head["X-Object-Allowed-To"] == "read"
    assert "X-Object-Public" not in head
