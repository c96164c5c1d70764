"""The metafile in kamaki 0.16's form: written from the register reply's headers, read
the way `kamaki image register --metafile` reads it (tests/integration/
test_images_kamaki_parity.py checks both against the real CLI)."""

from __future__ import annotations

import json

import pytest

from pithosfs.client.images import Image, image_from_headers
from pithosfs.images.metafile import MetafileError, flag, parse, render

# A register reply of the embedded server, as headers (what kamaki's metafile is made of).
REPLY = {
    "X-Image-Meta-Id": "1d",
    "X-Image-Meta-Name": "Debian%20Base%20%CE%91",
    "X-Image-Meta-Status": "AVAILABLE",
    "X-Image-Meta-Checksum": "ab",
    "X-Image-Meta-Container-Format": "bare",
    "X-Image-Meta-Disk-Format": "diskdump",
    "X-Image-Meta-Size": "42",
    "X-Image-Meta-Location": "pithos://u/c/a%20b.img",
    "X-Image-Meta-Owner": "u",
    "X-Image-Meta-Is-Public": "True",
    "X-Image-Meta-Is-Snapshot": "False",
    "X-Image-Meta-Description": "",
    "X-Image-Meta-Created-At": "2026-01-01 10:00:00",
    "X-Image-Meta-Updated-At": "2026-01-01 10:00:00",
    "X-Image-Meta-Deleted-At": "",
    "X-Image-Meta-Property-Os": "Linux",
    "X-Image-Meta-Property-User-X": "some%20one",
    "Content-Length": "0",
}
KAMAKI_KEYS = {
    "id", "name", "status", "checksum", "container-format", "disk-format", "size", "location",
    "owner", "is-public", "is-snapshot", "description", "created-at", "updated-at",
    "deleted-at", "properties",
}  # fmt: skip


def test_render_is_kamakis_form_of_the_reply() -> None:
    text = render(image_from_headers(REPLY), owner_name="alice")
    doc = json.loads(text)
    assert set(doc) == KAMAKI_KEYS
    assert doc["name"] == "Debian Base Α"  # unquoted, as kamaki unquotes the name
    assert doc["location"] == "pithos://u/c/a b.img"  # and the location
    assert doc["is-public"] == "True" and doc["size"] == "42"  # header text, not JSON types
    assert doc["owner"] == "u (alice)"
    assert doc["properties"] == {"os": "Linux", "user_x": "some one"}
    assert text.isascii() and "\\u0391" in text  # \u escapes, as Python 2's json.dumps
    assert not text.endswith("\n") and text.startswith('{\n  "')  # indent 2, no final newline


def test_render_of_a_listed_image_has_the_same_keys() -> None:
    image = Image(id="1d", name="n", size=3, is_public=False, owner="u", properties={"a": "b"})
    doc = json.loads(render(image))
    assert set(doc) == KAMAKI_KEYS
    assert (doc["is-public"], doc["size"], doc["owner"]) == ("False", "3", "u")


def test_parse_reads_what_kamaki_reads() -> None:
    meta = parse(render(image_from_headers(REPLY), owner_name="alice"))
    assert meta.name == "Debian Base Α" and meta.location == "pithos://u/c/a b.img"
    assert meta.params["owner"] == "u (alice)" and meta.params["is_public"] == "True"
    assert meta.params["disk_format"] == "diskdump" and meta.params["container_format"] == "bare"
    assert meta.properties == {"OS": "Linux", "USER_X": "some one"}  # upper-cased, '-' -> '_'


def test_values_become_kamakis_text() -> None:
    meta = parse(
        '{"Is_Public": true, "size": 5, "owner": null, "properties": '
        '{"n": 1.5, "b": false, "gone": null, "my-key": "v"}}'
    )
    assert meta.params == {"is_public": "True", "size": "5", "owner": "None"}
    assert meta.properties == {"N": "1.5", "B": "False", "GONE": "", "MY_KEY": "v"}


def test_flag() -> None:
    assert flag("True", "k") and flag("true", "k")
    assert not flag("False", "k") and not flag("", "k") and not flag(None, "k")
    assert not flag(parse('{"is-public": null}').params["is_public"], "k")
    with pytest.raises(MetafileError, match="True or False"):
        flag("maybe", "is-public")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "invalid JSON"),
        ("fileFormatVersion: 2\nguid: 0123\n", "invalid JSON"),  # a Unity .meta
        ("[1]", "JSON object"),
        ('{"properties": []}', "'properties' must be"),
        ('{"properties": "str"}', "'properties' must be"),
        ('{"properties": {"a": {"b": 1}}}', "must be a string"),
        ('{"owner": {"x": 1}}', "must be a string"),
        ('{"a b": 1}', "no spaces"),
        (b"\xff\xfe", "not UTF-8"),
        ("[" * 40 + "]" * 40, "nests deeper than 32"),
        ('{"p": "' + "x" * (1 << 20) + '"}', "over the limit"),
    ],
)
def test_bad_metafiles_say_why(text: str | bytes, reason: str) -> None:
    with pytest.raises(MetafileError, match=reason):
        parse(text)
