"""The metafile: kamaki's keys out, tolerant but strict-where-it-matters parsing in."""

from __future__ import annotations

import json

import pytest

from pithosfs.client.images import Image
from pithosfs.images.metafile import MetafileError, parse, render

KAMAKI_KEYS = {
    "name", "id", "checksum", "container-format", "disk-format", "is-public", "location",
    "owner", "properties", "size", "status", "created-at", "updated-at", "deleted-at",
}  # fmt: skip


def image() -> Image:
    return Image(
        id="1d", name="Debian Base Alpha", status="available", disk_format="diskdump",
        container_format="bare", size=42, checksum="ab", location="pithos://u/c/o",
        owner="u", is_public=True, properties={"os": "Linux"},
    )  # fmt: skip


def test_render_uses_kamakis_keys() -> None:
    doc = json.loads(render(image()))
    assert set(doc) == KAMAKI_KEYS
    assert doc["properties"] == {"os": "Linux"} and doc["is-public"] is True


def test_round_trip() -> None:
    fields = parse(render(image()))
    assert fields.name == "Debian Base Alpha"
    assert fields.properties == {"os": "Linux"}
    assert fields.is_public is True
    assert (fields.disk_format, fields.container_format) == ("diskdump", "bare")


def test_seed_metafile_with_string_booleans_and_sizes() -> None:
    text = """{"status": "available", "name": "Debian Base Gama", "size": "903471104",
      "properties": {"OS": "Linux", "USER": "root"}, "is-public": "False",
      "disk-format": "diskdump", "deleted-at": "", "container-format": "bare"}"""
    fields = parse(text)
    assert fields.properties == {"OS": "Linux", "USER": "root"}
    assert fields.is_public is False


def test_underscore_keys_accepted() -> None:
    assert parse('{"name": "n", "is_public": true}').is_public is True


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "invalid JSON"),
        ("[1]", "JSON object"),
        ('{"name": ""}', "non-empty"),
        ('{"properties": []}', "'properties' must be"),
        ('{"properties": {"a": {"b": 1}}}', "must be a string"),
        ('{"is-public": "maybe"}', "true or false"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_metafiles_say_why(text: str | bytes, reason: str) -> None:
    with pytest.raises(MetafileError, match=reason):
        parse(text)
