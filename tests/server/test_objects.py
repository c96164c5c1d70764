"""Object HEAD/GET/PUT/DELETE, ranges (protocol.md 9.7), conditionals (protocol.md 9.6), metadata (protocol.md 9.1)."""

from __future__ import annotations

import re
import time

import pytest

from pithosfs import protocol
from tests.server.pithos_http import (
    OCTET,
    Api,
    assert_fault,
    http_date,
    raw_request,
    target_path,
)

DATA = bytes(range(100))
TEXT_TYPE = "text/plain"


@pytest.fixture
def obj(api: Api, cont: str) -> tuple[str, str]:
    api.put_object(cont, "dir/obj.bin", DATA, "image/png", {"X-Object-Meta-Colour": "red"})
    return cont, "dir/obj.bin"


def test_head_is_200_with_object_headers(api: Api, obj: tuple[str, str]) -> None:
    resp = api.head(*obj)
    assert resp.status_code == 200
    h = resp.headers
    merkle = protocol.object_hash(DATA, protocol.DEFAULT_BLOCK_SIZE)
    assert h["ETag"].strip('"') == merkle and h["X-Object-Hash"] == merkle
    assert h["Content-Length"] == "100"
    assert h["Content-Type"] == "image/png"
    assert re.fullmatch(r"[0-9a-f-]{36}", h["X-Object-UUID"])
    assert h["X-Object-Modified-By"] == api.account
    assert int(h["X-Object-Version"]) > 0
    assert h["X-Object-Version-Timestamp"].endswith("GMT")
    assert h["Last-Modified"].endswith("GMT")
    assert h["X-Object-Meta-Colour"] == "red"
    assert "X-Object-Public" not in h and "X-Object-Sharing" not in h
    assert resp.content == b""


def test_get_returns_data_and_same_headers(api: Api, obj: tuple[str, str]) -> None:
    resp = api.get(*obj)
    assert resp.status_code == 200 and resp.content == DATA
    assert resp.headers["X-Object-Hash"] == api.meta(*obj)["X-Object-Hash"]
    assert resp.headers["Content-Disposition"] == 'inline; filename="dir/obj.bin"'
    assert resp.headers["X-Object-Meta-Colour"] == "red"


def test_disposition_type_attachment(api: Api, obj: tuple[str, str]) -> None:
    resp = api.get(*obj, params={"disposition-type": "attachment"})
    assert resp.headers["Content-Disposition"].startswith("attachment")


def test_put_response_and_replace(api: Api, cont: str) -> None:
    first = api.put_object(cont, "o", b"one", headers={"X-Object-Meta-A": "1"})
    assert first.headers["ETag"].strip('"') == protocol.object_hash(
        b"one", protocol.DEFAULT_BLOCK_SIZE
    )
    uuid = api.meta(cont, "o")["X-Object-UUID"]
    second = api.put_object(cont, "o", b"two", TEXT_TYPE, {"X-Object-Meta-B": "2"})
    assert int(second.headers["X-Object-Version"]) > int(first.headers["X-Object-Version"])
    h = api.meta(cont, "o")
    assert h["X-Object-UUID"] == uuid  # overwrite keeps the uuid
    assert h["Content-Type"] == TEXT_TYPE
    assert "X-Object-Meta-A" not in h and h["X-Object-Meta-B"] == "2"
    assert api.read(cont, "o") == b"two"


def test_put_chunked_without_length(api: Api, cont: str) -> None:
    chunks = (bytes([i]) * 1000 for i in range(50))
    resp = api.put(cont, "chunked", data=chunks, headers={"Content-Type": OCTET})
    assert resp.status_code == 201
    assert api.read(cont, "chunked") == b"".join(bytes([i]) * 1000 for i in range(50))


def test_put_without_content_type_is_411(api: Api, cont: str) -> None:
    resp = api.put(cont, "o", data=b"x")
    assert "Content-Type" not in resp.request.headers
    assert_fault(resp, 411)
    assert_fault(api.head(cont, "o"), 404)


def test_put_without_content_length_is_411(api: Api, cont: str) -> None:
    target = target_path(api, cont, "nolen")
    resp = raw_request(
        api.base_url, "PUT", target, {"X-Auth-Token": api.token or "", "Content-Type": OCTET}
    )
    assert resp.status == 411, resp.body
    assert "lengthRequired" in resp.json()


def test_put_with_invalid_content_length(api: Api, cont: str) -> None:
    headers = {"X-Auth-Token": api.token or "", "Content-Type": OCTET, "Content-Length": "abc"}
    resp = raw_request(api.base_url, "PUT", target_path(api, cont, "badlen"), headers, b"abc")
    assert resp.status in (400, 411), resp.body
    assert api.head(cont, "badlen").status_code == 404


def test_put_etag_mismatch_is_422(api: Api, cont: str) -> None:
    resp = api.put(cont, "o", data=b"abc", headers={"Content-Type": OCTET, "ETag": "0" * 32})
    assert_fault(resp, 422)
    assert_fault(api.head(cont, "o"), 404)


def test_put_matching_md5_etag_is_stored_as_hash(api: Api, cont: str) -> None:
    md5 = "900150983cd24fb0d6963f7d28e17f72"  # md5("abc")
    api.put_object(cont, "o", b"abc", headers={"ETag": md5})
    assert api.listing(cont)[0]["hash"] == md5


def test_empty_object(api: Api, cont: str) -> None:
    api.put_object(cont, "empty", b"")
    h = api.meta(cont, "empty")
    assert h["Content-Length"] == "0" and h["X-Object-Hash"] == protocol.EMPTY_SHA256
    assert api.read(cont, "empty") == b""


def test_delete_object(api: Api, obj: tuple[str, str]) -> None:
    assert api.delete(*obj).status_code == 204
    assert_fault(api.head(*obj), 404)
    assert_fault(api.get(*obj), 404)
    assert_fault(api.delete(*obj), 404)


def test_recreate_after_delete_gets_new_uuid(api: Api, obj: tuple[str, str]) -> None:
    old = api.meta(*obj)["X-Object-UUID"]
    api.delete(*obj)
    api.put_object(*obj, b"again")
    assert api.meta(*obj)["X-Object-UUID"] != old


def test_implicit_directory_head_is_404(api: Api, obj: tuple[str, str]) -> None:
    assert_fault(api.head(obj[0], "dir"), 404)


def test_double_slash_names_an_object_with_leading_slash(api: Api, cont: str) -> None:
    resp = api.session.put(
        f"{api.url(cont)}//lead",
        data=b"L",
        headers={"X-Auth-Token": api.token or "", "Content-Type": OCTET},
    )
    assert resp.status_code == 201
    assert api.names(cont) == ["/lead"]
    assert api.read(cont, "/lead") == b"L"


# --- ranges (protocol.md 9.7) ---


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=90-", 90, 99),
        ("bytes=-10", 90, 99),
        ("bytes=5-5", 5, 5),
        ("bytes = 0 - 3", 0, 3),
        ("bytes=0-99", 0, 99),
    ],
)
def test_single_range(api: Api, obj: tuple[str, str], spec: str, start: int, end: int) -> None:
    resp = api.get(*obj, headers={"Range": spec})
    assert resp.status_code == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/100"
    assert resp.headers["Content-Length"] == str(end - start + 1)
    assert resp.content == DATA[start : end + 1]


@pytest.mark.parametrize("spec", ["bytes=0-100", "bytes=100-", "bytes=-101", "bytes=150-160"])
def test_unsatisfiable_range_is_416(api: Api, obj: tuple[str, str], spec: str) -> None:
    assert_fault(api.get(*obj, headers={"Range": spec}), 416)


@pytest.mark.parametrize(
    "spec", ["items=0-5", "bytes=5-2", "bytes=-", "bytes=x-y", "bytes=0-1,5-2"]
)
def test_ignored_range_gives_full_body(api: Api, obj: tuple[str, str], spec: str) -> None:
    resp = api.get(*obj, headers={"Range": spec})
    assert resp.status_code == 200 and resp.content == DATA


def test_any_range_on_empty_object_is_416(api: Api, cont: str) -> None:
    api.put_object(cont, "e", b"")
    assert_fault(api.get(cont, "e", headers={"Range": "bytes=0-"}), 416)


def test_multipart_ranges(api: Api, obj: tuple[str, str]) -> None:
    resp = api.get(*obj, headers={"Range": "bytes=0-1,10-12,-2"})
    assert resp.status_code == 206
    ctype = resp.headers["Content-Type"]
    match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", ctype)
    assert match, ctype
    boundary = match.group(1).encode()
    body = resp.content
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    parts = body.split(b"--" + boundary)[1:-1]
    got = []
    for part in parts:
        head, _, payload = part.partition(b"\r\n\r\n")
        got.append((re.search(rb"Content-Range: bytes (\S+)", head).group(1), payload[:-2]))  # type: ignore[union-attr]
    assert got == [(b"0-1/100", DATA[0:2]), (b"10-12/100", DATA[10:13]), (b"98-99/100", DATA[98:])]


# --- conditionals (protocol.md 9.6) ---


def test_if_match(api: Api, obj: tuple[str, str]) -> None:
    etag = api.meta(*obj)["ETag"].strip('"')
    assert api.get(*obj, headers={"If-Match": etag}).status_code == 200
    assert api.get(*obj, headers={"If-Match": f'"{etag}"'}).status_code == 200
    assert api.get(*obj, headers={"If-Match": "*"}).status_code == 200
    assert_fault(api.get(*obj, headers={"If-Match": "0" * 64}), 412)
    put = api.put(*obj, data=b"x", headers={"Content-Type": OCTET, "If-Match": "0" * 64})
    assert_fault(put, 412)
    ok = api.put(*obj, data=b"new", headers={"Content-Type": OCTET, "If-Match": etag})
    assert ok.status_code == 201


def test_if_match_on_missing_object_is_412(api: Api, cont: str) -> None:
    resp = api.put(cont, "nope", data=b"x", headers={"Content-Type": OCTET, "If-Match": "*"})
    assert_fault(resp, 412)


def test_if_none_match(api: Api, obj: tuple[str, str]) -> None:
    etag = api.meta(*obj)["ETag"].strip('"')
    not_modified = api.get(*obj, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["ETag"].strip('"') == etag
    assert api.head(*obj, headers={"If-None-Match": "*"}).status_code == 304
    assert api.get(*obj, headers={"If-None-Match": "0" * 64}).status_code == 200
    put = api.put(*obj, data=b"x", headers={"Content-Type": OCTET, "If-None-Match": "*"})
    assert_fault(put, 412)
    assert api.read(*obj) == DATA


def test_if_none_match_star_creates(api: Api, cont: str) -> None:
    resp = api.put(cont, "fresh", data=b"x", headers={"Content-Type": OCTET, "If-None-Match": "*"})
    assert resp.status_code == 201


def test_if_modified_since(api: Api, obj: tuple[str, str]) -> None:
    lm = api.meta(*obj)["Last-Modified"]
    assert api.get(*obj, headers={"If-Modified-Since": lm}).status_code == 304
    future = http_date(time.time() + 3600)
    assert api.head(*obj, headers={"If-Modified-Since": future}).status_code == 304
    past = http_date(time.time() - 3600)
    assert api.get(*obj, headers={"If-Modified-Since": past}).content == DATA
    junk = api.get(*obj, headers={"If-Modified-Since": "not a date"})
    assert junk.status_code == 200


def test_if_unmodified_since(api: Api, obj: tuple[str, str]) -> None:
    past = http_date(time.time() - 3600)
    assert_fault(api.get(*obj, headers={"If-Unmodified-Since": past}), 412)
    future = http_date(time.time() + 3600)
    assert api.get(*obj, headers={"If-Unmodified-Since": future}).status_code == 200


# --- metadata (protocol.md 9.1, 1.5) ---


def test_meta_key_normalisation(api: Api, cont: str) -> None:
    api.put_object(
        cont, "o", b"", headers={"X-Object-Meta-my_KEY": "v", "X-Object-Meta-a-B-c": "w"}
    )
    h = api.meta(cont, "o")
    assert h["X-Object-Meta-My-Key"] == "v" and h["X-Object-Meta-A-B-C"] == "w"
    assert protocol.format_meta_key("my_KEY") == "My-Key"


def test_meta_tilde_dropped_and_unicode_roundtrip(api: Api, cont: str) -> None:
    encoded = protocol.quote_header_value("κόσμε ~x")
    api.put_object(cont, "o", b"", headers={"X-Object-Meta-Word": encoded})
    got = protocol.unquote_header_value(api.meta(cont, "o")["X-Object-Meta-Word"])
    assert got == "κόσμε x"


def test_meta_limits_accepted_at_the_edge(api: Api, cont: str) -> None:
    headers = {f"X-Object-Meta-K{i}": "v" for i in range(32)}
    longest_key = "X-Object-Meta-" + "K" * (protocol.MAX_META_KEY_LENGTH - len("X-Object-Meta-"))
    headers[longest_key] = "v" * protocol.MAX_META_VALUE_LENGTH
    del headers["X-Object-Meta-K0"]
    api.put_object(cont, "edge", b"", headers=headers)
    h = api.meta(cont, "edge")
    assert sum(k.lower().startswith("x-object-meta-") for k in h) == 32


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-Object-Meta-K{i}": "v" for i in range(33)},
        {f"X-Object-Meta-K{i}": "v" for i in range(91)},
        {"X-Object-Meta-" + "k" * 115: "v"},
        {"X-Object-Meta-Long": "v" * 257},
    ],
    ids=["33-items", "91-headers", "key-129", "value-257"],
)
def test_meta_limits_rejected(api: Api, cont: str, headers: dict[str, str]) -> None:
    resp = api.put(cont, "o", data=b"x", headers={"Content-Type": OCTET, **headers})
    assert_fault(resp, 400)
    assert_fault(api.head(cont, "o"), 404)


def test_meta_item_limit_counts_merged_update(api: Api, cont: str) -> None:
    api.put_object(cont, "o", b"", headers={f"X-Object-Meta-A{i}": "v" for i in range(30)})
    more = {f"X-Object-Meta-B{i}": "v" for i in range(3)}
    assert_fault(api.post_meta(cont, "o", more), 400)
    assert "X-Object-Meta-B0" not in api.meta(cont, "o")


def test_content_encoding_and_disposition_are_user_meta(api: Api, cont: str) -> None:
    extra = {"Content-Encoding": "gzip", "Content-Disposition": 'attachment; filename="x"'}
    api.put_object(cont, "o", b"zz", headers=extra)
    h = api.meta(cont, "o")
    assert (
        h["Content-Encoding"] == "gzip" and h["Content-Disposition"] == extra["Content-Disposition"]
    )
