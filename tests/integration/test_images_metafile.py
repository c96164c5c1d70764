"""Saving `<object>.meta` through a real mount re-registers the image (in place, sed -i,
vi, Python atomic save); bad content fails the save but keeps the bytes and the image."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.images import Image, ImageClient
from tests.conftest import ALICE

pytestmark = pytest.mark.mount


@pytest.fixture
def images(server: object) -> Iterator[ImageClient]:
    client = ImageClient(server.image_url + "/v1.0", ALICE[1])  # type: ignore[attr-defined]
    yield client
    client.close()


def sh(cwd: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def registered(mnt: Path, images: ImageClient) -> Image:
    (mnt / "disk.img").write_bytes(os.urandom(3000))
    done = sh(mnt, "echo \"'Base' disk.img -p OS=Linux -p user=someuser\" > .register")
    assert done.returncode == 0, done.stderr
    return images.get(json.loads((mnt / "disk.img.meta").read_text())["id"])


def edited(text: str, name: str, props: dict[str, str]) -> str:
    doc = json.loads(text)
    doc["name"] = name
    doc["properties"] = props
    return json.dumps(doc, indent=2)


def test_in_place_save_reregisters_and_the_metafile_gets_the_result(
    mnt: Path, images: ImageClient, session_mount: object
) -> None:
    image = registered(mnt, images)
    meta = mnt / "disk.img.meta"
    mine = edited(meta.read_text(), "Delta", {"OS": "Linux", "USER": "root"})
    meta.write_text(mine)
    after = images.get(image.id)
    assert after.name == "Delta"
    assert after.properties == {"os": "Linux", "user": "root"}  # override: the rest is gone
    result = json.loads(meta.read_text())
    assert result["name"] == "Delta" and result["id"] == image.id
    assert result["updated-at"]  # the server's result, not the user's text
    client = session_mount.client  # type: ignore[attr-defined]
    versions = client.list_versions(mnt.name, "disk.img.meta")
    texts = [
        client.read_range(mnt.name, "disk.img.meta", 0, 1 << 20, version=v.version)
        for v in versions
    ]
    assert mine.encode() in texts  # the user's text is the previous version


def test_sed_i_saves_via_rename(mnt: Path, images: ImageClient) -> None:
    image = registered(mnt, images)
    done = sh(mnt, 'sed -i \'s/"Base"/"Sedded"/\' disk.img.meta')
    assert done.returncode == 0, done.stderr
    assert images.get(image.id).name == "Sedded"
    assert json.loads((mnt / "disk.img.meta").read_text())["name"] == "Sedded"


def test_vi_saves(mnt: Path, images: ImageClient) -> None:
    image = registered(mnt, images)
    done = subprocess.run(
        ["vi", "-es", "-u", "NONE", "-c", "%s/\"Base\"/\"Vied\"/", "-c", "wq", "disk.img.meta"],
        cwd=mnt, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert images.get(image.id).name == "Vied"


def test_python_atomic_save(mnt: Path, images: ImageClient) -> None:
    image = registered(mnt, images)
    tmp = mnt / ".disk.img.meta.tmp"
    tmp.write_text(edited((mnt / "disk.img.meta").read_text(), "Atomic", {}))
    os.replace(tmp, mnt / "disk.img.meta")
    after = images.get(image.id)
    assert after.name == "Atomic" and after.properties == {}


def test_invalid_json_fails_the_save_keeps_bytes_and_image(mnt: Path, images: ImageClient) -> None:
    image = registered(mnt, images)
    done = sh(mnt, "printf '{\"name\": broken' > disk.img.meta; /bin/true")
    with pytest.raises(OSError) as err:
        with open(mnt / "disk.img.meta", "w") as f:
            f.write('{"name": "x", oops}')
    assert err.value.errno == 22
    assert images.get(image.id).name == "Base"
    assert images.get(image.id).properties == image.properties
    assert (mnt / "disk.img.meta").read_text() == '{"name": "x", oops}'
    assert done.returncode == 0  # bash's builtin printf ignores the close error


def test_metafile_without_its_object_fails(mnt: Path) -> None:
    with pytest.raises(OSError) as err:
        with open(mnt / "ghost.img.meta", "w") as f:
            f.write('{"name": "ghost"}')
    assert err.value.errno == 22
    assert (mnt / "ghost.img.meta").read_text() == '{"name": "ghost"}'
