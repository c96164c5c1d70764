"""Multi-range GETs are bounded: overlapping ranges are merged, too many are refused.

A few hundred bytes of `Range` used to make the server send the object once per
listed range (a 605-byte header, 251 MB of reply), on object GETs and public links.
"""

from __future__ import annotations

import os
import re

import pytest
import requests

from pithosfs.server.http_util import MAX_RANGES, coalesce
from tests.server.pithos_http import Api
from tests.server.test_sharing_public import publish

SIZE = 256 * 1024
OVERLAPPING = "bytes=" + ",".join(["0-"] * 200)  # 605 bytes: the whole object 200 times


def _parts(resp: requests.Response) -> list[tuple[str, bytes]]:
    match = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", resp.headers["Content-Type"])
    assert match, resp.headers["Content-Type"]
    got = []
    for part in resp.content.split(b"--" + match.group(1).encode())[1:-1]:
        head, _, payload = part.partition(b"\r\n\r\n")
        where = re.search(rb"Content-Range: bytes (\S+)", head)
        assert where
        got.append((where.group(1).decode(), payload[:-2]))
    return got


@pytest.fixture
def data(api: Api, cont: str) -> bytes:
    body = os.urandom(SIZE)
    api.put_object(cont, "o", body)
    return body


def test_overlapping_ranges_send_the_object_once(api: Api, cont: str, data: bytes) -> None:
    assert len(OVERLAPPING) == 605
    resp = api.get(cont, "o", headers={"Range": OVERLAPPING})
    assert resp.status_code == 206
    assert resp.headers["Content-Range"] == f"bytes 0-{SIZE - 1}/{SIZE}"
    assert resp.content == data  # not 200 copies


def test_overlapping_ranges_on_a_public_link(api: Api, cont: str, data: bytes) -> None:
    link = publish(api, cont, "o")
    resp = requests.get(link, headers={"Range": OVERLAPPING}, timeout=60)
    assert resp.status_code == 206
    assert len(resp.content) == SIZE and resp.content == data


def test_overlapping_and_touching_ranges_are_merged(api: Api, cont: str, data: bytes) -> None:
    resp = api.get(cont, "o", headers={"Range": "bytes=20-29,0-9,5-14,15-16,100-"})
    assert resp.status_code == 206
    assert _parts(resp) == [
        ("0-16/262144", data[0:17]),
        ("20-29/262144", data[20:30]),
        (f"100-{SIZE - 1}/262144", data[100:]),
    ]


def test_too_many_ranges_are_refused(api: Api, cont: str, data: bytes) -> None:
    allowed = ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(MAX_RANGES))
    resp = api.get(cont, "o", headers={"Range": "bytes=" + allowed})
    assert resp.status_code == 206 and len(_parts(resp)) == MAX_RANGES
    one_more = allowed + f",{MAX_RANGES * 10}-{MAX_RANGES * 10 + 1}"
    resp = api.get(cont, "o", headers={"Range": "bytes=" + one_more})
    assert resp.status_code == 416
    assert "Too many ranges" in resp.text


@pytest.mark.parametrize(
    ("ranges", "merged"),
    [
        ([(0, 1), (10, 12), (98, 99)], [(0, 1), (10, 12), (98, 99)]),
        ([(98, 99), (0, 1)], [(98, 99), (0, 1)]),  # disjoint: the order asked for
        ([(5, 9), (0, 5)], [(0, 9)]),
        ([(0, 4), (5, 9)], [(0, 9)]),  # touching
        ([(0, 4), (6, 9)], [(0, 4), (6, 9)]),
        ([(50, 60), (0, 99), (10, 20)], [(0, 99)]),
        ([(30, 40), (0, 1), (35, 50)], [(0, 1), (30, 50)]),
    ],
)
def test_coalesce(ranges: list[tuple[int, int]], merged: list[tuple[int, int]]) -> None:
    assert coalesce(ranges) == merged
