"""Object listings: protocol.md 5 (parameters, delimiter semantics, JSON items) and include_meta."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from pithosfs import protocol
from pithosfs.client.types import LISTING_META_PARAM
from tests.conftest import BOB
from tests.server.pithos_http import DIRECTORY, Api, assert_fault

TREE = ["a", "b/c", "b/d", "b/e/f", "c", "c/x", "photos/1", "photosX"]


@pytest.fixture
def tree(api: Api, cont: str) -> str:
    """A container holding TREE; `c` is a directory marker, the rest hold their own name."""
    for name in TREE:
        if name == "c":
            api.mkdir(cont, name)
        else:
            api.put_object(cont, name, name.encode())
    return cont


def test_json_item_has_every_spec_field(api: Api, cont: str) -> None:
    api.put_object(cont, "photos/me.jpg", b"x" * 2048, "image/jpeg")
    [item] = api.listing(cont)
    head = api.meta(cont, "photos/me.jpg")
    assert item["name"] == "photos/me.jpg"
    assert item["bytes"] == 2048
    assert item["content_type"] == "image/jpeg"
    assert item["hash"] == ""
    assert item["x_object_hash"] == protocol.object_hash(b"x" * 2048, protocol.DEFAULT_BLOCK_SIZE)
    assert item["x_object_uuid"] == head["X-Object-UUID"]
    assert item["x_object_version"] == int(head["X-Object-Version"])
    assert isinstance(item["x_object_version_timestamp"], str)
    assert float(item["x_object_version_timestamp"]) > 1e9
    assert item["x_object_modified_by"] == api.account
    assert item["last_modified"].endswith("+00:00") and "T" in item["last_modified"]
    assert "x_object_meta" not in item


def test_plain_listing_is_sorted(api: Api, tree: str) -> None:
    assert api.names(tree) == sorted(TREE)


def test_prefix(api: Api, tree: str) -> None:
    assert api.names(tree, prefix="b/") == ["b/c", "b/d", "b/e/f"]
    assert api.names(tree, prefix="/b/") == ["b/c", "b/d", "b/e/f"]  # leading / stripped


def test_delimiter_gives_subdirs(api: Api, tree: str) -> None:
    items = api.listing(tree, delimiter="/")
    assert items[0]["name"] == "a"
    listed = [i.get("name") or i["subdir"] for i in items]
    assert listed == ["a", "b/", "c", "c/", "photos/", "photosX"]
    assert {"subdir": "b/"} in items and {"subdir": "c/"} in items


def test_prefix_with_delimiter_appends_delimiter(api: Api, tree: str) -> None:
    assert api.names(tree, prefix="b", delimiter="/") == ["b/c", "b/d", "b/e/"]
    assert api.names(tree, prefix="photos", delimiter="/") == ["photos/1"]


def test_path_lists_direct_children_without_subdirs(api: Api, tree: str) -> None:
    assert api.names(tree, path="b") == ["b/c", "b/d"]


def test_object_ending_in_delimiter_is_an_object(api: Api, cont: str) -> None:
    api.put_object(cont, "dir/", b"")
    api.put_object(cont, "dir/child", b"")
    top = api.listing(cont, delimiter="/")
    assert [i for i in top if i.get("name") == "dir/"], top  # listed as an object
    assert not [i for i in top if i.get("name") == "dir/child"], top
    assert api.names(cont, prefix="dir/", delimiter="/") == ["dir/", "dir/child"]


def test_marker_and_limit(api: Api, tree: str) -> None:
    assert api.names(tree, marker="b/d", limit=2) == ["b/e/f", "c"]
    assert api.names(tree, limit=1) == ["a"]


def test_paging_past_a_limit_visits_everything(api: Api, cont: str) -> None:
    names = [f"p/{i:03d}" for i in range(25)] + [f"q{i}" for i in range(5)]
    for name in names:
        api.put_object(cont, name, b"")
    seen: list[str] = []
    marker = ""
    while True:
        page = api.names(cont, limit=7, marker=marker)
        if not page:
            break
        assert len(page) <= 7
        seen += page
        marker = page[-1]
    assert seen == sorted(names)


def test_paging_with_delimiter_on_subdir_boundary(api: Api, tree: str) -> None:
    first = api.listing(tree, delimiter="/", limit=2)
    assert first == [api.listing(tree, delimiter="/")[0], {"subdir": "b/"}]
    rest = api.names(tree, delimiter="/", marker="b/" + "\uffff")
    assert rest == ["c", "c/", "photos/", "photosX"]


@pytest.mark.parametrize("limit", ["abc", "-3", ""])
def test_bad_limit_falls_back_to_default(api: Api, tree: str, limit: str) -> None:
    assert api.names(tree, limit=limit) == sorted(TREE)


def test_text_listing_one_name_per_line(api: Api, tree: str) -> None:
    resp = api.get(tree, params={"delimiter": "/"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == "a\nb/\nc\nc/\nphotos/\nphotosX\n"


def test_empty_listings(api: Api, cont: str) -> None:
    text = api.get(cont)
    assert text.status_code == 204 and text.content == b""
    as_json = api.get(cont, params={"format": "json"})
    assert as_json.status_code == 200 and as_json.json() == []
    as_xml = api.get(cont, params={"format": "xml"})
    assert as_xml.status_code == 200
    ET.fromstring(as_xml.content)


def test_xml_listing(api: Api, tree: str) -> None:
    resp = api.get(tree, params={"format": "xml", "delimiter": "/"})
    assert resp.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    objects = [o.findtext("name") for o in root.iter("object")]
    subdirs = [s.get("name") for s in root.iter("subdir")]
    assert objects == ["a", "c", "photosX"]
    assert subdirs == ["b/", "c/", "photos/"]


def test_format_from_accept_header(api: Api, tree: str) -> None:
    resp = api.get(tree, headers={"Accept": "application/json"})
    assert [i["name"] for i in resp.json()] == sorted(TREE)


def test_directory_marker_type_in_listing(api: Api, tree: str) -> None:
    items = {i["name"]: i for i in api.listing(tree, prefix="c")}
    assert items["c"]["content_type"].split(";")[0] == DIRECTORY
    assert items["c"]["bytes"] == 0


def test_meta_filters(api: Api, cont: str) -> None:
    api.put_object(cont, "red", b"", headers={"X-Object-Meta-Colour": "red"})
    api.put_object(cont, "blue", b"", headers={"X-Object-Meta-Colour": "blue"})
    api.put_object(cont, "plain", b"")
    assert api.names(cont, meta="colour") == ["blue", "red"]
    assert api.names(cont, meta="!Colour") == ["plain"]
    assert api.names(cont, meta="Colour=red") == ["red"]
    assert api.names(cont, meta="Colour!=red") == ["blue"]
    assert api.names(cont, meta="Colour<c") == ["blue"]


def test_meta_filter_past_a_thousand_unmatched_objects(api: Api, cont: str) -> None:
    """The server reads rows in batches of up to 1,000: a batch with no match is not the end."""
    for i in range(1100):
        api.put_object(cont, f"plain{i:05d}", b"")
    api.put_object(cont, "zed", b"", headers={"X-Object-Meta-Colour": "red"})
    assert api.names(cont, meta="colour") == ["zed"]
    assert api.names(cont, meta="colour", delimiter="/") == ["zed"]


def test_json_listing_streams_in_growing_chunks(api: Api, cont: str) -> None:
    """Chunked, first chunk small: a client parses entries while the server reads the rest."""
    names = [f"o{i:04d}" for i in range(300)]
    for name in names:
        api.put_object(cont, name, b"")
    resp = api.get(cont, params={"format": "json"}, stream=True)
    assert resp.status_code == 200
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in resp.headers
    chunks = list(resp.raw.read_chunked(decode_content=False))
    assert len(chunks) > 1 and chunks[0].count(b'"name"') < len(names)
    assert [i["name"] for i in json.loads(b"".join(chunks))] == names


def test_an_empty_json_listing_is_an_empty_array(api: Api, cont: str) -> None:
    assert api.get(cont, params={"format": "json"}).json() == []
    assert api.get(cont, params={"format": "json", "prefix": "none/"}).json() == []


def test_shared_and_public_filters(api: Api, cont: str) -> None:
    api.put_object(cont, "shared", b"", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    api.put_object(cont, "public", b"", headers={"X-Object-Public": "true"})
    api.mkdir(cont, "sdir")
    api.post_meta(cont, "sdir", {"X-Object-Sharing": "read=*"})
    api.put_object(cont, "sdir/inner", b"")
    api.put_object(cont, "private", b"")
    assert api.names(cont, shared="") == ["sdir", "sdir/inner", "shared"]
    assert api.names(cont, public="") == ["public"]
    items = {i["name"]: i for i in api.listing(cont)}
    assert items["shared"]["x_object_sharing"] == f"read={BOB[0]}"
    assert "/public/" in items["public"]["x_object_public"]
    assert "x_object_sharing" not in items["private"]


def test_public_listing_by_non_owner_is_403(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "s", b"", headers={"X-Object-Sharing": "read=*"})
    resp = bob_api.get(cont, account=api.account, params={"public": "", "format": "json"})
    assert_fault(resp, 403)


def test_non_owner_listing_shows_only_shared(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "mine", b"")
    api.put_object(cont, "yours", b"", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    resp = bob_api.get(cont, account=api.account, params={"format": "json"})
    assert resp.status_code == 200
    [item] = resp.json()
    assert item["name"] == "yours" and item["x_object_allowed_to"] == "read"
    assert "x_object_public" not in item


def test_include_meta_extension(api: Api, cont: str) -> None:
    api.put_object(cont, "m", b"", headers={"X-Object-Meta-Mode": "644", "X-Object-Meta-A_b": "x"})
    api.put_object(cont, "bare", b"")
    items = {i["name"]: i for i in api.listing(cont, **{LISTING_META_PARAM: "1"})}
    assert items["m"]["x_object_meta"] == {"Mode": "644", "A-B": "x"}
    assert items["bare"]["x_object_meta"] == {}


def test_listing_conditional_get(api: Api, tree: str) -> None:
    lm = api.head(tree).headers["Last-Modified"]
    resp = api.get(tree, params={"format": "json"}, headers={"If-Modified-Since": lm})
    assert resp.status_code == 304


def test_deleted_objects_not_listed(api: Api, tree: str) -> None:
    assert api.delete(tree, "a").status_code == 204
    assert "a" not in api.names(tree)
