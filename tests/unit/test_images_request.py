"""Parsing `.register` lines: kamaki's arguments shell-quoted, and the JSON form."""

from __future__ import annotations

import pytest

from pithosfs.images.request import RequestError, parse_line


def test_quoted_name_and_object() -> None:
    req = parse_line("'Debian Base Alpha' debian_base3.diskdump")
    assert (req.name, req.object) == ("Debian Base Alpha", "debian_base3.diskdump")
    assert not req.force and not req.public and req.properties == {}


def test_all_options() -> None:
    req = parse_line(
        "'Gama' pithos://u/pithos/d.img -p OS=Linux -p user=someuser -f --public "
        "--metafile=ignored --metafile m.meta --no-metafile-upload "
        "--disk-format raw --container-format bare --property=k=v=w --checksum=ab "
        "--size 42 --owner-name someone"
    )
    assert req.object == "pithos://u/pithos/d.img"
    assert req.properties == {"OS": "Linux", "user": "someuser", "k": "v=w"}
    assert req.force and req.public and req.no_metafile_upload
    assert req.metafile == "m.meta"
    assert (req.disk_format, req.container_format) == ("raw", "bare")  # the server judges them
    assert (req.checksum, req.size) == ("ab", "42")


def test_kamakis_name_and_location_options() -> None:
    req = parse_line("--name 'Debian Base' --location /pithos/d.img -f")
    assert (req.name, req.object, req.force) == ("Debian Base", "/pithos/d.img", True)
    assert parse_line("--location=d.img N").name == "N"


def test_metafile_equals_form() -> None:
    assert parse_line("n o --metafile=x.meta").metafile == "x.meta"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("'unbalanced o", "cannot split"),
        ("onlyname", "expected NAME and OBJECT"),
        ("a b c", "expected NAME and OBJECT"),
        ("n o -p novalue", "is not KEY=VAL"),
        ("n o -p", "-p needs a value"),
        ("n o --bogus", "unknown option"),
        ("n o --upload-image-file /tmp/x", "not for a mount: copy the file"),
        ("n o -C pithos", "not for a mount"),
        ("--name n", "expected NAME and OBJECT"),
        ("'' o", "name is empty"),
        ("   ", "empty line"),
        ("{not json", "invalid JSON"),
        ('{"name": "x"}', "'object'"),
        ('{"object": "o", "colour": 1}', "unknown keys"),
        ('{"object": "o", "properties": [1]}', "'properties' must be an object"),
        ('{"object": "o", "metafile": ["x"]}', "'metafile' must be a string"),
        (
            '{"object": "o", "properties": ' + '{"a": ' * 100 + "1" + "}" * 101,
            "nests deeper than 32",
        ),
        ("n o " + "x" * 70000, "longer than 65536 bytes"),
    ],
)
def test_bad_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_line(line)


def test_json_form() -> None:
    req = parse_line('{"name": "Ünï", "object": "d.img", "properties": {"a": 1}, "force": true}')
    assert (req.name, req.object, req.properties, req.force) == ("Ünï", "d.img", {"a": "1"}, True)


def test_metafile_option_keeps_the_metafile_name_optional() -> None:
    req = parse_line('{"object": "d.img", "metafile": "d.img.meta", "no-metafile-upload": true}')
    assert req.name is None and req.no_metafile_upload
