"""Every JSON request body is bounded in size and nesting: a bad one is 400, never 500.

Deep nesting made Python's decoder raise RecursionError, answered as a 500 with a
traceback in the log, on the hashmap PUT, the token-free identity endpoint, user
catalogs and image members.
"""

from __future__ import annotations

import json

import pytest
import requests

from pithosfs.server import json_input
from tests.conftest import BOB, User
from tests.server.pithos_http import Api, assert_fault
from tests.server.plankton_api import ImageApi
from tests.server.test_plankton_lifecycle import members, registered

DEEP = b"[" * 100_000 + b"]" * 100_000  # past the decoder's recursion limit
DEEPISH = json.dumps(
    {"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
)
NESTING = [DEEP, DEEPISH.encode(), b'{"a":' * 50_000 + b"1" + b"}" * 50_000]


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], "the server logged a traceback"


@pytest.mark.parametrize("body", NESTING, ids=["deep-list", "depth-40", "deep-object"])
def test_hashmap_put(api: Api, cont: str, body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    headers = {"Content-Type": "application/octet-stream"}
    resp = api.put(cont, "o", params={"hashmap": "", "format": "json"}, data=body, headers=headers)
    assert_fault(resp, 400)
    assert api.head(cont, "o").status_code == 404
    _no_traceback(caplog)


@pytest.mark.parametrize("body", NESTING, ids=["deep-list", "depth-40", "deep-object"])
def test_identity_tokens_without_a_token(
    server: object, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.identity_url + "/tokens"  # type: ignore[attr-defined]
    assert_fault(requests.post(url, data=body, timeout=30), 400)
    _no_traceback(caplog)


def test_identity_tokens_body_size(server: object, alice: User) -> None:
    url = server.identity_url + "/tokens"  # type: ignore[attr-defined]
    good = {"auth": {"token": {"id": alice.token}}}
    assert requests.post(url, json=good, timeout=30).status_code == 200
    padded = json.dumps(good).encode() + b" " * json_input.MAX_DEPTH * 4096
    assert_fault(requests.post(url, data=padded, timeout=30), 400)


@pytest.mark.parametrize("body", NESTING, ids=["deep-list", "depth-40", "deep-object"])
def test_user_catalogs(
    server: object, alice: User, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.base_url + "/account/v1.0/user_catalogs"  # type: ignore[attr-defined]
    resp = requests.post(url, data=body, headers={"X-Auth-Token": alice.token}, timeout=30)
    assert_fault(resp, 400)
    _no_traceback(caplog)


def test_user_catalogs_body_size(server: object, alice: User) -> None:
    url = server.base_url + "/account/v1.0/user_catalogs"  # type: ignore[attr-defined]
    auth = {"X-Auth-Token": alice.token}
    body = {"uuids": [alice.uuid] + ["x" * 100] * 11_000}  # over 1 MiB
    assert_fault(requests.post(url, json=body, headers=auth, timeout=30), 400)
    ok = requests.post(url, json={"uuids": [alice.uuid]}, headers=auth, timeout=30)
    assert ok.json()["uuid_catalog"] == {alice.uuid: alice.uuid}


@pytest.fixture
def img(server: object, alice: User) -> ImageApi:
    return ImageApi(server.image_url, alice.token)  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", NESTING, ids=["deep-list", "depth-40", "deep-object"])
def test_image_members(
    api: Api, img: ImageApi, cont: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    image_id = registered(api, img, cont)
    assert_fault(img.request("PUT", f"/images/{image_id}/members", data=body), 400)
    assert members(img, image_id) == [api.account]
    _no_traceback(caplog)


def test_nesting_within_the_bound_is_accepted() -> None:
    doc: object = [BOB[0]]
    for _ in range(json_input.MAX_DEPTH - 1):
        doc = [doc]
    assert json_input.loads(json.dumps(doc)) == doc
    with pytest.raises(ValueError):
        json_input.loads(json.dumps([doc]))
