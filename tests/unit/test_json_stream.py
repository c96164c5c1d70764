"""iter_json_array: every element of any valid JSON array however it is cut; typed errors else."""

from __future__ import annotations

import json
import random
from itertools import pairwise

import pytest

from pithosfs.client.json_stream import JsonStreamCut, JsonStreamError, iter_json_array

DOCUMENTS = [
    [],
    [1],
    [1, 2.5, -3e-5, 12345, True, False, None, "a,]\n", {"x": [1, {"y": "é中\u2028"}]}, [], {}],
    [{"name": f"f{i:05d}", "bytes": i, "x_object_meta": {}} for i in range(300)],
]
SPACINGS = [
    {"separators": (",", ":")},
    {"separators": (", ", ": ")},
    {"indent": 2},
    {"indent": 2, "ensure_ascii": False},
]


def cut_at(raw: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *sorted(points), len(raw)]
    return [raw[a:b] for a, b in pairwise(edges)]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=["empty", "one", "mixed", "listing"])
@pytest.mark.parametrize("spacing", SPACINGS, ids=["tight", "spaced", "indented", "utf8"])
def test_any_cut_gives_what_json_loads_gives(doc: list[object], spacing: dict) -> None:
    raw = b" \r\n" + json.dumps(doc, **spacing).encode() + b"\n"
    rng = random.Random(len(raw))  # fixed cuts per case: a failure replays
    assert list(iter_json_array([raw])) == doc
    assert list(iter_json_array(raw[i : i + 1] for i in range(len(raw)))) == doc
    for _ in range(30):
        points = rng.sample(range(len(raw) + 1), min(len(raw), rng.randint(1, 12)))
        assert list(iter_json_array(cut_at(raw, points))) == doc


def test_numbers_cut_mid_way_are_not_read_short() -> None:
    for raw in (b"[2.5]", b"[1e-9]", b"[-12]", b"[123456,7]"):
        for i in range(1, len(raw)):
            assert list(iter_json_array([raw[:i], raw[i:]])) == json.loads(raw)


def test_elements_come_out_before_the_array_ends() -> None:
    def chunks():
        yield b'[{"a": 1},'
        raise AssertionError("read past what the first element needed")

    assert next(iter_json_array(chunks())) == {"a": 1}


@pytest.mark.parametrize(
    "raw", [b"", b"  ", b"[", b"[1", b"[1,", b'["ab', b"[tru", b"[12", b"[-", b"[{", b'[{"a": 1']
)
def test_a_body_that_stops_early_is_a_cut(raw: bytes) -> None:
    with pytest.raises(JsonStreamCut):
        list(iter_json_array([raw]))


@pytest.mark.parametrize(
    "raw",
    [b"{}", b"1", b"[1,]", b"[,1]", b"[1 2]", b"[1]]", b"[1] x", b"[1}", b"\xff[]", b'["\xc3"]'],
)
def test_malformed_input_is_an_error_in_any_cut(raw: bytes) -> None:
    for chunks in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
        with pytest.raises(JsonStreamError):
            list(iter_json_array(chunks))
