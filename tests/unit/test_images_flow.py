"""The registration flow over the in-memory store and a recording image service:
precedence, "metafile already exists", --no-metafile-upload, locations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.client.images import Image
from pithosfs.images.flow import Registrar, RegistrationError, image_url_for, resolve_object
from pithosfs.images.request import parse_line

ACCOUNT = "fake-account-uuid"


class RecordingImages:
    """Stands in for ImageClient: remembers each register call, returns the image."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def register(self, name: str, location: str, **kw: Any) -> Image:
        self.calls.append({"name": name, "location": location, **kw})
        return Image(
            id="id-1", name=name, location=location, properties=dict(kw["properties"] or {}),
            is_public=bool(kw["is_public"]), disk_format=kw["disk_format"],
            container_format=kw["container_format"],
        )  # fmt: skip


@pytest.fixture
def setup() -> tuple[FakeStore, RecordingImages, Registrar]:
    store = FakeStore()
    store.create_container("pithos")
    store.put_object("pithos", "dir/d.img", b"disk")
    images = RecordingImages()
    return store, images, Registrar(store, images)  # type: ignore[arg-type]


def run(reg: Registrar, line: str, directory: str = "dir") -> Image:
    return reg.register_line(parse_line(line), "pithos", directory)


def test_register_writes_metafile_then_refuses_without_force(setup: Any) -> None:
    store, images, reg = setup
    run(reg, "'Alpha' d.img")
    meta = json.loads(store.read_range("pithos", "dir/d.img.meta", 0, 1 << 16))
    assert meta["name"] == "Alpha" and meta["location"] == f"pithos://{ACCOUNT}/pithos/dir/d.img"
    with pytest.raises(RegistrationError, match="metafile already exists"):
        run(reg, "'Gama' d.img -p OS=Linux")
    assert len(images.calls) == 1  # nothing sent for the refused line
    run(reg, "'Gama' d.img -p OS=Linux -f")
    assert images.calls[-1]["properties"] == {"OS": "Linux"}


def test_no_metafile_upload_needs_no_force_and_writes_nothing(setup: Any) -> None:
    store, images, reg = setup
    run(reg, "'Alpha' d.img")
    before = len(store.list_versions("pithos", "dir/d.img.meta"))
    run(reg, "'Beta' d.img --no-metafile-upload")
    assert images.calls[-1]["name"] == "Beta"
    assert len(store.list_versions("pithos", "dir/d.img.meta")) == before


def test_precedence_name_and_properties(setup: Any, tmp_path: Path) -> None:
    _, images, reg = setup
    local = tmp_path / "m.meta"
    local.write_text(
        json.dumps({"name": "Gama", "properties": {"OS": "Linux", "USER": "root"},
                    "is-public": "True", "disk-format": "raw"})
    )  # fmt: skip
    run(reg, f"Delta d.img --metafile {local} -p USER=admin --no-metafile-upload")
    call = images.calls[-1]
    assert call["name"] == "Delta"
    assert call["properties"] == {"OS": "Linux", "USER": "admin"}
    assert call["is_public"] is True and call["disk_format"] == "raw"
    assert call["container_format"] == "bare"


def test_metafile_relative_in_the_store(setup: Any) -> None:
    store, images, reg = setup
    store.put_object("pithos", "tmpl.json", b'{"name": "T", "properties": {"a": "b"}}')
    reg.register_line(
        parse_line('{"object": "d.img", "metafile": "../tmpl.json"}'), "pithos", "dir"
    )
    assert images.calls[-1]["name"] == "T" and images.calls[-1]["properties"] == {"a": "b"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x missing.img", "does not exist"),
        ("x d.img --metafile nope.meta", "metafile nope.meta does not exist"),
        ("x d.img --metafile /nonexistent/m.meta", "cannot read metafile"),
        ("x pithos://someone-else/pithos/dir/d.img", "only objects of your own account"),
        ("x pithos://broken", "malformed location"),
        ("x ../../d.img", "leaves the container"),
        ("x /abs.img", "relative to the folder"),
        ('{"object": "d.img"}', "no image name"),
    ],
)
def test_refusals_say_why(setup: Any, line: str, reason: str) -> None:
    _, images, reg = setup
    with pytest.raises(RegistrationError, match=reason):
        run(reg, line)
    assert images.calls == []


def test_pithos_location_is_unquoted() -> None:
    loc = f"pithos://{ACCOUNT}/pithos/a%20b.img"
    assert resolve_object(ACCOUNT, "other", "", loc) == ("pithos", "a b.img")


def test_image_url_derived_from_a_storage_url() -> None:
    class Store:
        endpoints = None

        class transport:  # noqa: N801 - shaped like the client's attribute
            base_url = "http://h:1/object-store/v1/uuid"

    assert image_url_for(Store()) == "http://h:1/image/v1.0"
