"""White-box tests of the pure server rules: listing, ranges, Content-Range, meta, sharing."""

from __future__ import annotations

import pytest

from pithosfs.server.errors import BadRequest, RangeNotSatisfiable
from pithosfs.server.http_util import collect_meta, parse_content_range, parse_range, parse_until
from pithosfs.server.listing import Batch, Entry, Subdir, iter_grouped, parse_meta_filters
from pithosfs.server.sharing import parse_sharing


def grouped(*args):
    """The listing iter_grouped makes, all at once."""
    return list(iter_grouped(*args))


NAMES = ["a", "d", "d/", "d/x", "d/y/z", "dz", "e/f", "f"]


def fetcher(names: list[str], visible=lambda name: True, reads: list[int] | None = None):
    """A fetch over `names` that hides the rows `visible` rejects, as the backend's
    access and meta filters do; `reads` collects the size of each read."""
    ordered = sorted(names)

    def fetch(after: str | None, n: int) -> Batch[str]:
        if reads is not None:
            reads.append(n)
        rows = [x for x in ordered if after is None or x > after][:n]
        seen = [Entry(x, x) for x in rows if visible(x)]
        return Batch(seen, rows[-1] if rows else None, len(rows) == n)

    return fetch


def listing(
    prefix: str = "",
    delimiter: str | None = None,
    virtual: bool = True,
    marker: str | None = None,
    limit: int = 100,
) -> list[str]:
    out = grouped(
        fetcher([n for n in NAMES if n >= prefix]), prefix, delimiter, virtual, marker, limit
    )
    return [f"<{e.name}>" if isinstance(e, Subdir) else e for e in out]  # type: ignore[union-attr]


def test_delimiter_folds_subtrees_once() -> None:
    assert listing(delimiter="/") == ["a", "d", "d/", "<d/>", "dz", "<e/>", "f"]


def test_prefix_and_delimiter() -> None:
    assert listing(prefix="d/", delimiter="/") == ["d/", "d/x", "<d/y/>"]


def test_path_style_listing_drops_virtual_entries() -> None:
    assert listing(prefix="d/", delimiter="/", virtual=False) == ["d/", "d/x"]


def test_limit_and_marker_page_through() -> None:
    assert listing(limit=3) == ["a", "d", "d/"]
    assert listing(marker="d/", limit=3) == ["d/x", "d/y/z", "dz"]
    # [QUIRK] kept: a page after marker "d/" repeats the subdir
    assert listing(delimiter="/", marker="d/")[0] == "<d/>"


def test_hidden_rows_neither_end_the_listing_nor_repeat() -> None:
    """Whole reads of hidden rows (2,500 names another user may not see) used to end
    the walk: a read that returned fewer rows than asked looked like the end."""
    names = [f"h{i:05d}" for i in range(2500)] + ["v1", "v2/x", "v3"]
    reads: list[int] = []
    out = grouped(
        fetcher(names, lambda name: name.startswith("v"), reads), "", "/", True, None, 100
    )
    assert [f"<{e.name}>" if isinstance(e, Subdir) else e for e in out] == ["v1", "<v2/>", "v3"]
    # the reads grow (a streamed answer starts early) and each row is read about once
    assert reads[0] < reads[-1] and sum(reads) < 2503 + 2 * max(reads)


def test_limit_counts_subdirs_in_a_stream() -> None:
    names = [f"d{i}/x" for i in range(5)] + ["f"]
    out = grouped(fetcher(names), "", "/", True, None, 3)
    assert [e.name for e in out] == ["d0/", "d1/", "d2/"]  # type: ignore[union-attr]


def test_meta_filters() -> None:
    f = parse_meta_filters("color,!gone,size>=10")
    assert f is not None
    assert f.match({"Color": "x", "Size": "20"})
    assert not f.match({"Color": "x", "Size": "09"})  # string comparison, as SQL does
    assert not f.match({"Size": "20", "Gone": "1"})
    assert parse_meta_filters(" , ") is None


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-3", 10, [(0, 3)]),
        ("bytes=-3", 10, [(7, 9)]),
        ("bytes=5-", 10, [(5, 9)]),
        ("bytes=0-1,4-5", 10, [(0, 1), (4, 5)]),
        ("items=0-1", 10, None),
        ("bytes=5-2", 10, None),
        ("bytes=-", 10, None),
        ("bytes=x-1", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=0-10", "bytes=10-", "bytes=-11", "bytes=0-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    size = 0 if header == "bytes=0-0" else 10
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_content_range_grammar() -> None:
    assert parse_content_range("bytes */*").start is None
    r = parse_content_range("bytes 3-5/10")
    assert (r.start, r.end, r.total) == (3, 5, 10)
    assert parse_content_range("bytes 3-/*").end is None
    for bad in ("bytes=0-1/*", "bytes 5-2/*", "bytes0-1/*", "bytes a-b/*"):
        with pytest.raises(RangeNotSatisfiable):
            parse_content_range(bad)
    with pytest.raises(BadRequest):
        parse_content_range(None)


def test_meta_collection_normalises_and_limits() -> None:
    meta = collect_meta({"x-object-meta-my_key": "v~al ", "content-type": "x"}, "X-Object-Meta-")
    assert meta == {"My-Key": "val"}
    with pytest.raises(BadRequest):
        collect_meta({"x-object-meta-" + "k" * 120: "v"}, "X-Object-Meta-")
    with pytest.raises(BadRequest):
        collect_meta({"x-object-meta-k": "v" * 257}, "X-Object-Meta-")


def test_until_quirk() -> None:
    assert parse_until("100") == 100
    assert parse_until("1.5") is None and parse_until("-1") is None and parse_until(None) is None


def test_sharing_parse_and_render() -> None:
    s = parse_sharing("read=U1, u2 ,acc:grp;write=u2,u3")
    assert s.read == ["u1", "acc:grp"] and s.write == ["u2", "u3"]
    assert s.render() == "read=u1,acc:grp; write=u2,u3"
    assert parse_sharing("").empty()
    for bad in ("read=", "foo=u1", "u1,u2", "read"):
        with pytest.raises(BadRequest):
            parse_sharing(bad)


def test_paths_decode_once_and_reject_bad_bytes() -> None:
    from pithosfs.server.app import decode_path

    assert (
        decode_path({"REQUEST_URI": "/object-store/v1/a/c/x%2Fy?z=1"}) == "/object-store/v1/a/c/x/y"
    )
    assert decode_path({"REQUEST_URI": "/a/%C3%A9"}) == "/a/é"
    for bad in ("/a/%FF", "/a/%00", "/a/%ED%A0%80"):
        with pytest.raises(BadRequest):
            decode_path({"REQUEST_URI": bad})


def test_fault_bodies() -> None:
    import json

    from pithosfs.server.app import fault_response
    from pithosfs.server.errors import MethodNotAllowed, MissingBlocks, NotFound

    r = fault_response(NotFound("gone"))
    assert r.status == 404 and json.loads(r.body) == {  # type: ignore[arg-type]
        "itemNotFound": {"code": 404, "message": "gone", "details": ""}
    }
    assert json.loads(fault_response(MissingBlocks(["ab"])).body) == ["ab"]  # type: ignore[arg-type]
    assert ("Allow", "GET") in fault_response(MethodNotAllowed(["GET"])).headers
    assert b'<itemNotFound code="404">' in fault_response(NotFound("x"), xml=True).body  # type: ignore[operator]
