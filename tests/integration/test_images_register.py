"""`.register` through a real mount: echo lines, the outcomes, the metafile."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.images import ImageClient
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


def test_echo_registers_and_writes_the_metafile(mnt: Path, images: ImageClient) -> None:
    (mnt / "disk.img").write_bytes(b"x" * 5000)
    done = sh(mnt, "echo \"'My Image' disk.img -p OS=Linux\" > .register")
    assert done.returncode == 0, done.stderr
    meta = json.loads((mnt / "disk.img.meta").read_text())
    assert meta["name"] == "My Image"
    assert meta["properties"] == {"os": "Linux"}  # the server lower-cases keys (spec 10.5)
    image = images.get(meta["id"])
    assert image.name == "My Image" and image.properties == {"os": "Linux"}
    assert image.size == 5000
    outcome = (mnt / ".register").read_text()
    assert f"ok disk.img {meta['id']} My Image" in outcome


def test_malformed_line_fails_the_write_and_registers_nothing(
    mnt: Path, images: ImageClient
) -> None:
    (mnt / "disk.img").write_bytes(b"y" * 100)
    before = {i.id for i in images.list()}
    done = sh(mnt, 'echo "\'unbalanced disk.img" > .register')
    assert done.returncode != 0
    assert "Invalid argument" in done.stderr
    assert {i.id for i in images.list()} == before
    assert not (mnt / "disk.img.meta").exists()
    assert "error cannot split the line" in (mnt / ".register").read_text()
