"""Object POST: partial data updates (protocol.md 8) and metadata updates (protocol.md 4.6)."""

from __future__ import annotations

import pytest

from tests.server.pithos_http import OCTET, Api, assert_fault

BASE = b"0123456789"


@pytest.fixture
def obj(api: Api, cont: str) -> tuple[str, str]:
    api.put_object(cont, "f", BASE, "text/plain", {"X-Object-Meta-Keep": "yes"})
    return cont, "f"


def test_append(api: Api, obj: tuple[str, str]) -> None:
    before = int(api.meta(*obj)["X-Object-Version"])
    resp = api.write_at(*obj, b"abc", "bytes */*")
    assert resp.status_code == 204
    assert int(resp.headers["X-Object-Version"]) > before and resp.headers["ETag"]
    assert api.read(*obj) == BASE + b"abc"
    h = api.meta(*obj)
    assert h["Content-Type"] == "text/plain"  # never changed by POST
    assert h["X-Object-Meta-Keep"] == "yes"  # ?update keeps meta


@pytest.mark.parametrize(
    ("content_range", "data", "expected"),
    [
        ("bytes 2-4/*", b"abc", b"01abc56789"),
        ("bytes 8-11/*", b"abcd", b"01234567abcd"),
        ("bytes 10-12/*", b"abc", BASE + b"abc"),  # offset == size is allowed
        ("bytes 3-/*", b"XY", b"012XY56789"),
        ("bytes 0-9/10", b"a" * 10, b"a" * 10),
        ("bytes 5-/10", b"zz", b"01234zz789"),
    ],
)
def test_write_in_place(
    api: Api, obj: tuple[str, str], content_range: str, data: bytes, expected: bytes
) -> None:
    assert api.write_at(*obj, data, content_range).status_code == 204
    assert api.read(*obj) == expected


@pytest.mark.parametrize(
    ("content_range", "data"),
    [
        ("bytes 11-12/*", b"ab"),  # offset beyond size: no sparse writes
        ("bytes=0-1/*", b"ab"),
        ("bytes0-1/*", b"ab"),
        ("bytes 5-2/*", b"ab"),
        ("bytes a-b/*", b"ab"),
        ("chunks 0-1/*", b"ab"),
        ("bytes 0-1/11", b"ab"),  # total must equal current size
        ("bytes 9-10/10", b"ab"),  # in-place form may not grow
    ],
)
def test_bad_content_range_is_416(
    api: Api, obj: tuple[str, str], content_range: str, data: bytes
) -> None:
    assert_fault(api.write_at(*obj, data, content_range), 416)
    assert api.read(*obj) == BASE


def test_missing_content_range_is_400(api: Api, obj: tuple[str, str]) -> None:
    resp = api.post(*obj, params="update", headers={"Content-Type": OCTET}, data=b"x")
    assert_fault(resp, 400)
    assert api.read(*obj) == BASE


def test_range_length_must_match_body(api: Api, obj: tuple[str, str]) -> None:
    assert_fault(api.write_at(*obj, b"abc", "bytes 0-1/*"), 400)
    assert api.read(*obj) == BASE


def test_partial_update_of_missing_object_is_404(api: Api, cont: str) -> None:
    assert_fault(api.write_at(cont, "nothing", b"x", "bytes */*"), 404)


def test_partial_update_precondition(api: Api, obj: tuple[str, str]) -> None:
    assert_fault(api.write_at(*obj, b"x", "bytes */*", **{"If-Match": "0" * 64}), 412)
    assert api.read(*obj) == BASE


def test_truncate_with_x_object_bytes(api: Api, obj: tuple[str, str]) -> None:
    resp = api.write_at(*obj, b"", "bytes 0-/*", **{"X-Object-Bytes": "4"})
    assert resp.status_code == 204
    assert api.read(*obj) == b"0123" and api.meta(*obj)["Content-Length"] == "4"


def test_x_object_bytes_cannot_extend(api: Api, obj: tuple[str, str]) -> None:
    api.write_at(*obj, b"", "bytes 0-/*", **{"X-Object-Bytes": "50"})
    assert api.read(*obj) == BASE


def test_x_object_bytes_must_be_integer(api: Api, obj: tuple[str, str]) -> None:
    assert_fault(api.write_at(*obj, b"", "bytes 0-/*", **{"X-Object-Bytes": "four"}), 400)
    assert api.read(*obj) == BASE


def test_truncate_kamaki_style(api: Api, obj: tuple[str, str]) -> None:
    hdrs = {"X-Source-Object": f"/{obj[0]}/{obj[1]}", "X-Object-Bytes": "3"}
    resp = api.post(
        *obj,
        params="update",
        headers={"Content-Type": "text/plain", "Content-Range": "bytes 0-3/*", **hdrs},
    )
    assert resp.status_code == 204
    assert api.read(*obj) == b"012"


def test_truncate_then_append_has_no_stale_bytes(api: Api, obj: tuple[str, str]) -> None:
    api.write_at(*obj, b"", "bytes 0-/*", **{"X-Object-Bytes": "2"})
    api.write_at(*obj, b"ab", "bytes */*")
    assert api.read(*obj) == b"01ab"


def test_splice_from_source_object(api: Api, obj: tuple[str, str]) -> None:
    api.put_object(obj[0], "src", b"SOURCE")
    resp = api.post(
        *obj,
        params="update",
        headers={"Content-Range": "bytes 2-/*", "X-Source-Object": f"/{obj[0]}/src"},
    )
    assert resp.status_code == 204
    assert api.read(*obj) == b"01SOURCE89"


def test_splice_from_source_version(api: Api, obj: tuple[str, str]) -> None:
    old = api.put_object(obj[0], "src", b"OLD").headers["X-Object-Version"]
    api.put_object(obj[0], "src", b"NEW")
    resp = api.post(
        *obj,
        params="update",
        headers={
            "Content-Range": "bytes */*",
            "X-Source-Object": f"/{obj[0]}/src",
            "X-Source-Version": old,
        },
    )
    assert resp.status_code == 204
    assert api.read(*obj) == BASE + b"OLD"


def test_restore_old_version_recipe(api: Api, obj: tuple[str, str]) -> None:
    old = api.meta(*obj)
    api.put_object(*obj, b"something much longer than before", "text/plain")
    resp = api.post(
        *obj,
        params="update",
        headers={
            "X-Source-Object": f"/{obj[0]}/{obj[1]}",
            "X-Source-Version": old["X-Object-Version"],
            "Content-Range": "bytes 0-/*",
            "X-Object-Bytes": old["Content-Length"],
        },
    )
    assert resp.status_code == 204
    assert api.read(*obj) == BASE


def test_splice_source_errors(api: Api, obj: tuple[str, str]) -> None:
    def splice(source: str, content_range: str = "bytes */*") -> int:
        resp = api.post(
            *obj,
            params="update",
            headers={"Content-Range": content_range, "X-Source-Object": source},
        )
        return resp.status_code

    api.put_object(obj[0], "tiny", b"ab")
    assert splice(f"{obj[0]}/tiny") == 400  # must start with /
    assert splice(f"/{obj[0]}/missing") == 404
    assert splice(f"/{obj[0]}/tiny", "bytes 0-5/*") == 400  # source shorter than the range
    assert api.read(*obj) == BASE


def test_post_data_without_update_replaces_meta(api: Api, obj: tuple[str, str]) -> None:
    resp = api.post(
        *obj,
        headers={"Content-Type": OCTET, "Content-Range": "bytes */*", "X-Object-Meta-Fresh": "1"},
        data=b"!",
    )
    assert resp.status_code == 204
    h = api.meta(*obj)
    assert "X-Object-Meta-Keep" not in h and h["X-Object-Meta-Fresh"] == "1"


def test_post_meta_update_merges(api: Api, obj: tuple[str, str]) -> None:
    before = int(api.meta(*obj)["X-Object-Version"])
    resp = api.post_meta(*obj, {"X-Object-Meta-New": "n"})
    assert resp.status_code == 202
    assert int(resp.headers["X-Object-Version"]) > before
    h = api.meta(*obj)
    assert h["X-Object-Meta-Keep"] == "yes" and h["X-Object-Meta-New"] == "n"
    assert api.read(*obj) == BASE


def test_post_meta_update_empty_value_deletes(api: Api, obj: tuple[str, str]) -> None:
    api.post_meta(*obj, {"X-Object-Meta-Keep": ""})
    assert "X-Object-Meta-Keep" not in api.meta(*obj)


def test_post_meta_replace_wipes(api: Api, obj: tuple[str, str]) -> None:
    assert api.post_meta(*obj, {}, update=False).status_code == 202
    h = api.meta(*obj)
    assert not [k for k in h if k.lower().startswith("x-object-meta-")]
    assert api.read(*obj) == BASE


def test_post_with_charset_octet_stream_is_metadata_only(api: Api, obj: tuple[str, str]) -> None:
    resp = api.post(
        *obj,
        params="update",
        data=b"ignored",
        headers={"Content-Type": "application/octet-stream; charset=utf-8", "X-Object-Meta-M": "1"},
    )
    assert resp.status_code == 202
    assert api.read(*obj) == BASE and api.meta(*obj)["X-Object-Meta-M"] == "1"


def test_post_meta_cannot_change_content_type(api: Api, obj: tuple[str, str]) -> None:
    api.post(*obj, params="update", headers={"Content-Type": "image/gif"})
    assert api.meta(*obj)["Content-Type"] == "text/plain"


def test_post_to_missing_object_is_404(api: Api, cont: str) -> None:
    assert_fault(api.post_meta(cont, "ghost", {"X-Object-Meta-A": "1"}), 404)
