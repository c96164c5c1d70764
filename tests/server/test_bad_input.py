"""Bad input never gives a 5xx, never escapes an account or the data dir (protocol.md 1.1, 1.5)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOB
from tests.server.pithos_http import (
    OCTET,
    Api,
    RawResponse,
    assert_client_error,
    assert_fault,
    raw_request,
    send_truncated_body,
    target_path,
)


def raw(api: Api, method: str, target: bytes, body: bytes = b"", **headers: str) -> RawResponse:
    hdrs = {"X-Auth-Token": api.token or "", **headers}
    if method in ("PUT", "POST"):
        hdrs.setdefault("Content-Type", OCTET)
        hdrs.setdefault("Content-Length", str(len(body)))
    return raw_request(api.base_url, method, target, hdrs, body)


def assert_raw_client_error(resp: RawResponse) -> None:
    assert 400 <= resp.status < 500, (resp.status, resp.body[:300])
    if resp.body:
        assert isinstance(resp.json(), dict)


def test_object_name_limit(api: Api, cont: str) -> None:
    api.put_object(cont, "n" * 1024, b"ok")
    resp = api.put(cont, "n" * 1025, data=b"x", headers={"Content-Type": OCTET})
    assert_fault(resp, 400)
    assert_fault(api.get(cont, "n" * 1025), 400)
    assert api.names(cont) == ["n" * 1024]


def test_object_name_limit_counts_characters(api: Api, cont: str) -> None:
    api.put_object(cont, "é" * 1024, b"ok")  # 2048 bytes of UTF-8, 1024 characters
    assert api.read(cont, "é" * 1024) == b"ok"


def test_container_name_limit(api: Api, unique_name: str) -> None:
    ok = unique_name + "c" * (256 - len(unique_name))
    assert api.put(ok).status_code == 201
    assert_fault(api.put(ok + "c"), 400)
    assert api.delete(ok).status_code == 204


@pytest.mark.parametrize("segment", [b"bad%00name", b"bad%FFname", b"bad%C3%28", b"%ED%A0%80"])
def test_nul_and_invalid_utf8_in_object_name(api: Api, cont: str, segment: bytes) -> None:
    target = target_path(api, cont) + b"/" + segment
    assert_raw_client_error(raw(api, "PUT", target, b"x"))
    assert_raw_client_error(raw(api, "GET", target))
    assert api.listing(cont) == []


@pytest.mark.parametrize("segment", [b"c%00", b"c%FF", b"c\xff"])
def test_nul_and_invalid_utf8_in_container_name(api: Api, segment: bytes) -> None:
    target = target_path(api) + b"/" + segment
    assert_raw_client_error(raw(api, "PUT", target))


def test_raw_non_utf8_bytes_in_path(api: Api, cont: str) -> None:
    assert_raw_client_error(raw(api, "PUT", target_path(api, cont) + b"/caf\xe9", b"x"))


def test_non_ascii_header_value_is_400(api: Api, cont: str) -> None:
    target = target_path(api, cont, "o")
    hdrs = [
        ("X-Auth-Token", api.token or ""),
        ("Content-Type", OCTET),
        ("Content-Length", "1"),
        ("X-Object-Meta-Word", "caf\xe9"),
    ]
    resp = raw_request(api.base_url, "PUT", target, hdrs, b"x")
    assert_raw_client_error(resp)


def test_dot_segments_stay_inside_the_account(
    api: Api, bob_api: Api, cont: str, unique_name: str
) -> None:
    bobs = bob_api.make_container(unique_name)
    bob_api.put_object(bobs, "secret", b"BOB-SECRET")
    acc = target_path(api, cont)
    for trick in (
        b"/../../" + BOB[0].encode() + b"/" + bobs.encode() + b"/secret",
        b"/%2E%2E/%2E%2E/" + BOB[0].encode() + b"/" + bobs.encode() + b"/secret",
        b"/..%2F..%2F" + BOB[0].encode() + b"%2F" + bobs.encode() + b"%2Fsecret",
    ):
        resp = raw(api, "GET", acc + trick)
        assert resp.status < 500 and b"BOB-SECRET" not in resp.body, (trick, resp.status)
    for trick in (
        b"/object-store/v1/"
        + api.account.encode()
        + b"/../"
        + BOB[0].encode()
        + b"/"
        + bobs.encode()
        + b"/secret",
    ):
        resp = raw(api, "GET", trick)
        assert resp.status < 500 and b"BOB-SECRET" not in resp.body, (trick, resp.status)


def test_dot_segment_names_are_plain_names(api: Api, cont: str) -> None:
    name = "../../../../../../tmp/escape-" + cont
    # %2E keeps the dots away from urllib3's dot-segment removal; the server decodes them.
    target = target_path(api, cont) + b"/" + name.replace(".", "%2E").encode()
    assert raw(api, "PUT", target, b"inside").status == 201
    assert raw(api, "GET", target).body == b"inside"
    assert not Path("/tmp/escape-" + cont).exists()
    assert api.names(cont) == [name]


def test_dot_segment_writes_do_not_touch_data_dir(server: Any, api: Api, cont: str) -> None:
    target = target_path(api, cont) + b"/../../../../../../../../tmp/raw-escape-" + cont.encode()
    resp = raw(api, "PUT", target, b"raw")
    assert resp.status < 500
    assert not Path("/tmp/raw-escape-" + cont).exists()


def test_encoded_slash_in_container_cannot_reach_other_account(
    api: Api, bob_api: Api, unique_name: str
) -> None:
    bobs = bob_api.make_container(unique_name)
    bob_api.put_object(bobs, "secret", b"BOB-SECRET")
    target = (
        target_path(api) + b"/" + b"%2F".join([b"..", BOB[0].encode(), bobs.encode(), b"secret"])
    )
    resp = raw(api, "GET", target)
    assert resp.status < 500 and b"BOB-SECRET" not in resp.body


def test_bad_limit_is_not_an_error(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"")
    for limit in ("x", "-1", "99999999999999999999999", "1e3"):
        assert api.names(cont, limit=limit) == ["o"]


@pytest.mark.parametrize(
    "value",
    [
        "bytes=999999999999999999999999-",
        "bytes=0-1,,",
        "bytes==",
        "bytes=" + ",".join(f"{i}-{i}" for i in range(200)),
    ],
)
def test_weird_range_headers(api: Api, cont: str, value: str) -> None:
    api.put_object(cont, "o", b"0123456789")
    resp = api.get(cont, "o", headers={"Range": value})
    assert resp.status_code in (200, 206, 416)
    if resp.status_code == 416:
        assert_fault(resp, 416)


@pytest.mark.parametrize(
    "content_range", ["bytes 99999999999999999999-/*", "bytes -5/*", "bytes 1-2/x", "", "bytes */5"]
)
def test_weird_content_range(api: Api, cont: str, content_range: str) -> None:
    api.put_object(cont, "o", b"0123456789")
    resp = api.write_at(cont, "o", b"ab", content_range)
    assert_client_error(resp)
    assert api.read(cont, "o") == b"0123456789"


def test_too_many_meta_headers_on_container_and_account(api: Api, cont: str) -> None:
    many = {f"X-Container-Meta-K{i}": "v" for i in range(91)}
    assert_fault(api.post(cont, params="update", headers=many), 400)
    long_value = {"X-Account-Meta-Long": "v" * 257}
    assert_fault(api.post(params="update", headers=long_value), 400)


def test_unknown_endpoint_is_4xx(api: Api) -> None:
    resp = api.session.get(
        api.base_url + "/object-store/v2/x", headers={"X-Auth-Token": api.token or ""}
    )
    assert_client_error(resp)


def test_body_larger_than_declared(api: Api, cont: str) -> None:
    target = target_path(api, cont, "over")
    resp = raw(api, "PUT", target, b"0123456789EXTRA-BYTES", **{"Content-Length": "10"})
    assert resp.status in (201, 400, 413), resp.status
    got = api.get(cont, "over")
    if resp.status == 201:
        assert got.content == b"0123456789"
    else:
        assert got.status_code == 404
    assert api.head(cont).status_code == 204  # the server is still fine


def test_body_shorter_than_declared_keeps_old_version(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"old version")
    hdrs = {"X-Auth-Token": api.token or "", "Content-Type": OCTET}
    send_truncated_body(api.base_url, target_path(api, cont, "o"), hdrs, 1_000_000, b"x" * 5000)
    send_truncated_body(api.base_url, target_path(api, cont, "new"), hdrs, 1_000_000, b"x" * 5000)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server may still be waiting for the body
        assert api.read(cont, "o") == b"old version"
        assert api.names(cont) == ["o"]
        time.sleep(0.5)
    assert len(api.versions(cont, "o")) == 1
    api.put_object(cont, "o", b"later write works")
    assert api.read(cont, "o") == b"later write works"


def test_block_upload_truncated_keeps_container_usable(api: Api, cont: str) -> None:
    hdrs = {"X-Auth-Token": api.token or "", "Content-Type": OCTET}
    target = target_path(api, cont) + b"?update&format=json"
    send_truncated_body(api.base_url, target, hdrs, 100_000, b"y" * 100, method="POST")
    assert api.head(cont).status_code == 204
    assert api.listing(cont) == []


def test_huge_declared_length_is_rejected_or_waits(api: Api, cont: str) -> None:
    hdrs = {
        "X-Auth-Token": api.token or "",
        "Content-Type": OCTET,
        "Content-Length": str(6 * 1024**3),
    }
    resp = raw_request(api.base_url, "PUT", target_path(api, cont, "huge"), hdrs, b"", timeout=10)
    assert resp.status == 400, resp.status
