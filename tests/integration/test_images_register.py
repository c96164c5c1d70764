"""`.register` through a real mount: echo lines, the outcomes, the metafile."""

from __future__ import annotations

import json
import subprocess
import time
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
    assert meta["properties"] == {"os": "Linux"}  # the server lower-cases keys (protocol.md 10.5)
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


def test_json_line_location_form_and_subfolders(
    mnt: Path, images: ImageClient, session_mount: object
) -> None:
    (mnt / "sub").mkdir()
    (mnt / "sub" / "a.img").write_bytes(b"a" * 10)
    (mnt / "b.img").write_bytes(b"b" * 10)
    (mnt / "tmpl.json").write_text('{"name": "from template", "properties": {"k": "v"}}')
    script = (
        'cd sub && echo \'{"object": "a.img", "name": "json form"}\' > .register && '
        f'echo "x pithos://{ALICE[0]}/{mnt.name}/b.img --metafile ../tmpl.json -p z=1"'
        " > .register"
    )
    done = sh(mnt, script)
    assert done.returncode == 0, done.stderr
    client = session_mount.client  # type: ignore[attr-defined]
    a = images.get(client.head_object(mnt.name, "sub/a.img").uuid)
    b = images.get(client.head_object(mnt.name, "b.img").uuid)
    assert a.name == "json form"
    assert b.name == "x" and b.properties == {"k": "v", "z": "1"}
    assert (mnt / "sub" / "a.img.meta").exists() and (mnt / "b.img.meta").exists()


def test_renamed_object_keeps_its_image_id(mnt: Path, images: ImageClient) -> None:
    (mnt / "old.img").write_bytes(b"r" * 100)
    assert sh(mnt, "echo 'keeper old.img' > .register").returncode == 0
    image_id = json.loads((mnt / "old.img.meta").read_text())["id"]
    assert sh(mnt, "mv old.img new.img").returncode == 0
    moved = images.get(image_id)
    assert moved.name == "keeper" and moved.location.endswith("/new.img")


def test_unicode_names(mnt: Path, images: ImageClient) -> None:
    (mnt / "δίσκος ünï.img").write_bytes(b"u" * 100)
    done = sh(mnt, "echo \"'Εικόνα 日本 ✓' 'δίσκος ünï.img' -p γλώσσα=ελληνικά\" > .register")
    assert done.returncode == 0, done.stderr
    meta = json.loads((mnt / "δίσκος ünï.img.meta").read_text())
    image = images.get(meta["id"])
    assert image.name == "Εικόνα 日本 ✓"
    assert image.properties == {"γλώσσα": "ελληνικά"}


def test_images_folder_is_read_only(mnt: Path) -> None:
    root = mnt.parent
    done = sh(root, "echo x > .images/new; mkdir .images/d")
    assert done.returncode != 0 and "Read-only file system" in done.stderr


def test_two_hundred_images_in_one_loop(mnt: Path, images: ImageClient) -> None:
    assert (
        sh(mnt, "mkdir many && for i in $(seq 200); do echo $i > many/$i.img; done").returncode == 0
    )
    start = time.monotonic()
    done = sh(mnt, 'for f in many/*.img; do echo "$f $f" > .register; done')
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    mine = [i for i in images.list(detail=True) if i.name.startswith("many/")]
    assert len({i.location for i in mine if f"/{mnt.name}/many/" in i.location}) == 200
    print(f"\n200 registrations through .register: {elapsed:.2f} s, "
          f"{elapsed / 200 * 1000:.1f} ms per image")  # fmt: skip


def test_deep_or_oversized_json_line_is_einval_with_a_reason(
    mnt: Path, images: ImageClient, session_mount: object, tmp_path: Path
) -> None:
    """Never EIO, never a silent success: EINVAL, and the reason in `cat .register` and the log."""
    (mnt / "disk.img").write_bytes(b"j" * 100)
    start = session_mount.log_size()  # type: ignore[attr-defined]
    before = {i.id for i in images.list()}
    deep = '{"object": "disk.img", "name": "n", "properties": ' + "[" * 20000 + "]" * 20000 + "}"
    (tmp_path / "deep.json").write_text(deep)
    (tmp_path / "deep.meta").write_text('{"properties": {"a": ' + "[" * 20000 + "]" * 20000 + "}}")
    huge = '{"object": "disk.img", "name": "' + "n" * 70000 + '"}'
    (tmp_path / "huge.json").write_text(huge)
    for script in (
        f"cat {tmp_path}/deep.json > .register",
        f"echo 'x disk.img --metafile={tmp_path}/deep.meta' > .register",
        f"cat {tmp_path}/huge.json > .register",
    ):
        done = sh(mnt, script)
        assert done.returncode != 0 and "Invalid argument" in done.stderr, (script, done.stderr)
    outcomes = (mnt / ".register").read_text()
    assert outcomes.count("nests deeper than 32 levels") == 2
    assert "longer than 65536 bytes" in outcomes
    log = session_mount.log_text(start)  # type: ignore[attr-defined]
    assert "nests deeper than 32 levels" in log and "longer than 65536 bytes" in log
    assert {i.id for i in images.list()} == before
