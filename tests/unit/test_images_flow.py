"""The registration flow over the in-memory store and a recording image service: what
reaches the image service from the line and the metafile (kamaki 0.16's rules), "metafile
already exists", --no-metafile-upload, locations, local metafile bounds."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.client.images import Image
from pithosfs.client.pithos import PithosClient
from pithosfs.images import metafile
from pithosfs.images.flow import Registrar, RegistrationError, image_url_for, resolve_object
from pithosfs.images.metafile import parse
from pithosfs.images.request import parse_line

ACCOUNT = "fake-account-uuid"


class RecordingImages:
    """Stands in for ImageClient: remembers each register call, returns the image (a
    missing object is the image service's 404, as the real one answers)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.calls: list[dict[str, Any]] = []

    def register(self, name: str, location: str, **kw: Any) -> Image:
        _, container, obj = location[len("pithos://") :].split("/", 2)
        self.store.head_object(container, unquote(obj))  # NotFound, as the server's 404
        self.calls.append({"name": name, "location": location, **kw})
        return Image(
            id="id-1", name=name, location=location, owner=ACCOUNT,
            properties={k.lower(): v for k, v in (kw["properties"] or {}).items() if v},
            is_public=bool(kw["is_public"]), disk_format=kw["disk_format"] or "diskdump",
            container_format=kw["container_format"] or "bare",
        )  # fmt: skip


@pytest.fixture
def setup() -> tuple[FakeStore, RecordingImages, Registrar]:
    store = FakeStore()
    store.create_container("pithos")
    store.put_object("pithos", "dir/d.img", b"disk")
    images = RecordingImages(store)
    names = {ACCOUNT: "alice@example.org"}
    return store, images, Registrar(store, images, lambda uuids: names)  # type: ignore[arg-type]


def run(reg: Registrar, line: str, directory: str = "dir") -> Image:
    return reg.register_line(parse_line(line), "pithos", directory)


def test_register_writes_kamakis_metafile_then_refuses_without_force(setup: Any) -> None:
    store, images, reg = setup
    store.set_sharing("pithos", "dir/d.img", f"read={ACCOUNT},*")
    run(reg, "'Alpha' d.img")
    meta = json.loads(store.read_range("pithos", "dir/d.img.meta", 0, 1 << 16))
    assert meta["name"] == "Alpha" and meta["location"] == f"pithos://{ACCOUNT}/pithos/dir/d.img"
    assert meta["owner"] == f"{ACCOUNT} (alice@example.org)"
    info = store.head_object("pithos", "dir/d.img.meta")
    assert info.content_type == "application/octet-stream"
    assert info.sharing == store.head_object("pithos", "dir/d.img").sharing != ""
    with pytest.raises(RegistrationError, match="metafile already exists"):
        run(reg, "'Gama' d.img -p OS=Linux")
    assert len(images.calls) == 1  # nothing sent for the refused line
    run(reg, "'Gama' d.img -p OS=Linux -p user-x=root -f")
    assert images.calls[-1]["properties"] == {"OS": "Linux", "USER_X": "root"}  # kamaki's keys


def test_no_metafile_upload_needs_no_force_and_writes_nothing(setup: Any) -> None:
    store, images, reg = setup
    run(reg, "'Alpha' d.img")
    before = len(store.list_versions("pithos", "dir/d.img.meta"))
    run(reg, "'Beta' d.img --no-metafile-upload")
    assert images.calls[-1]["name"] == "Beta"
    assert len(store.list_versions("pithos", "dir/d.img.meta")) == before


TEMPLATE = {
    "name": "Gama", "location": "pithos://someone/else/x.img", "id": "other-id",
    "properties": {"OS": "Linux", "USER": "root", "my-key": 1},
    "is-public": "True", "disk-format": "raw", "container-format": "ovf",
    "checksum": "00", "size": "7", "owner": "u (someone)", "status": "QUEUED",
    "description": "d", "is-snapshot": "True", "store": "pithos",
}  # fmt: skip


def test_command_line_decides_formats_checksum_size_and_public(setup: Any, tmp_path: Path) -> None:
    """kamaki 0.16: the metafile's is-public, formats, checksum and size never count."""
    _, images, reg = setup
    local = tmp_path / "m.meta"
    local.write_text(json.dumps(TEMPLATE))
    run(reg, f"Delta d.img --metafile {local} -p USER=admin --no-metafile-upload")
    call = images.calls[-1]
    assert call["name"] == "Delta" and call["location"].endswith("/pithos/dir/d.img")
    assert call["properties"] == {"OS": "Linux", "USER": "admin", "MY_KEY": "1"}
    assert (call["is_public"], call["disk_format"], call["container_format"]) == (None,) * 3
    assert (call["checksum"], call["size"]) == (None, None)
    assert (call["owner"], call["store"]) == ("u (someone)", "pithos")  # what survives a metafile
    run(reg, f"Delta d.img --metafile={local} --public --disk-format extdump --size 4 "
             "--checksum ab --container-format bare --no-metafile-upload")  # fmt: skip
    call = images.calls[-1]
    assert (call["is_public"], call["disk_format"], call["container_format"]) == (
        True, "extdump", "bare",
    )  # fmt: skip
    assert (call["checksum"], call["size"]) == ("ab", "4")


def test_a_saved_metafile_is_its_own_command_line(setup: Any) -> None:
    _, images, reg = setup
    reg.register_from_metafile("pithos", "dir/d.img.meta", parse(json.dumps(TEMPLATE)))
    call = images.calls[-1]
    assert call["name"] == "Gama" and call["location"].endswith("/pithos/dir/d.img")
    assert (call["is_public"], call["disk_format"], call["container_format"]) == (
        True, "raw", "ovf",
    )  # fmt: skip
    assert (call["checksum"], call["size"]) == (None, None)  # the object decides them
    with pytest.raises(RegistrationError, match="True or False"):
        reg.register_from_metafile("pithos", "dir/d.img.meta", parse('{"name": "n", '
                                   '"is-public": "perhaps"}'))  # fmt: skip


def test_metafile_relative_in_the_store(setup: Any) -> None:
    store, images, reg = setup
    store.put_object("pithos", "tmpl.json", b'{"name": "T", "properties": {"a": "b"}}')
    reg.register_line(
        parse_line('{"object": "d.img", "metafile": "../tmpl.json"}'), "pithos", "dir"
    )
    assert images.calls[-1]["name"] == "T" and images.calls[-1]["properties"] == {"A": "b"}


def test_kamakis_container_path_form(setup: Any) -> None:
    _, images, reg = setup
    run(reg, "--name K --location /pithos/dir/d.img --no-metafile-upload", directory="")
    assert images.calls[-1]["location"] == f"pithos://{ACCOUNT}/pithos/dir/d.img"


def test_local_metafiles_are_bounded_and_regular_only(setup: Any, tmp_path: Path) -> None:
    _, images, reg = setup
    big = tmp_path / "big.meta"
    with open(big, "wb") as f:
        f.truncate(metafile.MAX_BYTES + 1)
    with pytest.raises(RegistrationError, match="larger than") as err:
        run(reg, f"x d.img --metafile {big}")
    assert err.value.errno == errno.EFBIG
    fifo = tmp_path / "fifo.meta"
    os.mkfifo(fifo)
    with pytest.raises(RegistrationError, match="not a regular file") as err:
        run(reg, f"x d.img --metafile {fifo}")  # no writer on the FIFO: must not block
    assert err.value.errno == errno.EINVAL
    deep = tmp_path / "deep.meta"
    deep.write_text('{"properties": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(RegistrationError, match="nests deeper") as err:
        run(reg, f"x d.img --metafile {deep}")
    assert err.value.errno == errno.EINVAL
    assert images.calls == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x missing.img --no-metafile-upload", "does not exist"),
        ("x d.img --metafile nope.meta", "metafile nope.meta does not exist"),
        ("x d.img --metafile /nonexistent/m.meta", "cannot read metafile"),
        ("x pithos://someone-else/pithos/dir/d.img", "only objects of your own account"),
        ("x pithos://broken", "malformed location"),
        ("x ../../d.img", "leaves the container"),
        ("x /abs.img", "malformed location"),
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
    store = PithosClient.from_storage_url("http://h:1/object-store/v1/uuid", "token")
    try:
        assert image_url_for(store) == "http://h:1/image/v1.0"
    finally:
        store.close()


def test_no_image_url_next_to_a_plain_swift_storage_url() -> None:
    store = PithosClient.from_storage_url("http://h:8080/v1/AUTH_test", "token")
    try:
        with pytest.raises(RegistrationError, match="cannot tell the image service URL"):
            image_url_for(store)
    finally:
        store.close()
