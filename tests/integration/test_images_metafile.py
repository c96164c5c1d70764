"""Saving an image's `<object>.meta` through a real mount re-registers the image (in place,
sed -i, vi, Python atomic save); bad content fails the save but keeps the bytes and the
image. Any other `*.meta` (a Unity sidecar, JSON with no sibling, a backup's metafiles
that name other objects) is an ordinary file: stored as written, nothing registered."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.images import Image, ImageClient
from tests.conftest import ALICE
from tests.integration.conftest import Mount
from tests.integration.meta_trees import build_tree

pytestmark = pytest.mark.mount


@pytest.fixture
def images(server: object) -> Iterator[ImageClient]:
    client = ImageClient(server.image_url + "/v1.0", ALICE[1])  # type: ignore[attr-defined]
    yield client
    client.close()


def sh(cwd: Path, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout
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
    last = (mnt / ".register").read_text().splitlines()[-1]
    assert last == f"ok disk.img {image.id} Delta (saved disk.img.meta)"
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


def test_invalid_json_fails_the_save_keeps_bytes_and_image(
    mnt: Path, images: ImageClient, session_mount: Mount
) -> None:
    image = registered(mnt, images)
    old = (mnt / "disk.img.meta").read_bytes()
    done = sh(mnt, "printf '{\"name\": broken' > disk.img.meta; /bin/true")
    with pytest.raises(OSError) as err:
        with open(mnt / "disk.img.meta", "w") as f:
            f.write('{"name": "x", oops}')
    assert err.value.errno == errno.EINVAL
    assert images.get(image.id).name == "Base"
    assert images.get(image.id).properties == image.properties
    assert (mnt / "disk.img.meta").read_text() == '{"name": "x", oops}'
    assert done.returncode == 0  # bash's builtin printf ignores the close error
    assert old in versions_of(session_mount, mnt, "disk.img.meta")  # the old bytes are kept


def images_now(images: ImageClient) -> set[str]:
    return {i.id for i in images.list()}


def test_unity_yaml_meta_is_an_ordinary_file(mnt: Path, images: ImageClient) -> None:
    """Game engines keep a YAML `X.meta` beside every asset `X`: stored as written."""
    before = images_now(images)
    (mnt / "Player.prefab").write_bytes(b"%YAML 1.1\n--- !u!1 &1\n")
    yaml = "fileFormatVersion: 2\nguid: 5f2c9e1d0a8b4c7e9f3a2b1c0d4e5f6a\nPrefabImporter:\n"
    (mnt / "Player.prefab.meta").write_text(yaml)  # the sibling exists, not an image
    (mnt / "Orphan.png.meta").write_text(yaml)  # no sibling at all
    edit = "sed -i 's/Version: 2/Version: 3/' Player.prefab.meta"  # an editor's save: a rename
    done = sh(mnt, f"printf '{yaml}' > Again.prefab.meta && {edit}")
    assert done.returncode == 0, done.stderr
    assert (mnt / "Orphan.png.meta").read_text() == yaml
    assert (mnt / "Player.prefab.meta").read_text() == yaml.replace("Version: 2", "Version: 3")
    assert images_now(images) == before


def test_json_meta_without_sibling_is_an_ordinary_file(mnt: Path, images: ImageClient) -> None:
    before = images_now(images)
    with open(mnt / "ghost.img.meta", "w") as f:
        f.write('{"name": "ghost"}')
    assert (mnt / "ghost.img.meta").read_text() == '{"name": "ghost"}'
    (mnt / "settings.meta").write_text('{"name": "not an image", "properties": {}}')
    assert images_now(images) == before


def test_backup_whose_metafiles_point_elsewhere_is_copied_as_is(
    mnt: Path, images: ImageClient, tmp_path: Path
) -> None:
    """`cp -r` of a backup (images and their metafiles) registers nothing, rewrites nothing."""
    image = registered(mnt, images)
    backup = tmp_path / "backup"
    backup.mkdir()
    for name in ("disk.img", "disk.img.meta"):  # the live metafile names the live object
        (backup / name).write_bytes((mnt / name).read_bytes())
    (backup / "other.img.meta").write_bytes((mnt / "disk.img.meta").read_bytes())
    before = images_now(images)
    done = sh(mnt, f"cp -r {backup} backup && cp -a {backup} backup-a")
    assert done.returncode == 0, done.stderr
    for copy in ("backup", "backup-a"):
        for name in ("disk.img", "disk.img.meta", "other.img.meta"):
            assert (mnt / copy / name).read_bytes() == (backup / name).read_bytes()
    assert images_now(images) == before
    assert images.get(image.id).name == "Base"  # the live image is untouched


def test_a_metafile_naming_its_own_unregistered_object_registers_it(
    mnt: Path, images: ImageClient
) -> None:
    """Restore after an unregister: the kamaki metafile beside its object registers it again."""
    image = registered(mnt, images)
    kept = (mnt / "disk.img.meta").read_text()
    assert sh(mnt, f"rm ../.images/mine/{image.id}").returncode == 0
    assert image.id not in images_now(images)
    (mnt / "disk.img.meta").write_text(kept)
    again = images.get(image.id)
    assert again.name == "Base" and again.properties == image.properties


def test_deep_or_oversized_json_on_a_live_metafile_is_einval(
    mnt: Path, images: ImageClient, session_mount: Mount
) -> None:
    image = registered(mnt, images)
    start = session_mount.log_size()
    deep = '{"name": "Deep", "properties": {"a": ' + "[" * 100000 + "]" * 100000 + "}}"
    for text, reason in ((deep, "nests deeper than 32"), (" " * (1 << 20) + "{}", "over 1048576")):
        with pytest.raises(OSError) as err:
            with open(mnt / "disk.img.meta", "w") as f:
                f.write(text)
        assert err.value.errno == errno.EINVAL
        assert reason in session_mount.log_text(start)
        last = (mnt / ".register").read_text().splitlines()[-1]  # `cat .register` says why
        assert last.startswith("error disk.img.meta: saved, but not registered") and reason in last
    assert images.get(image.id).name == "Base"


def versions_of(mount: Mount, mnt: Path, name: str) -> list[bytes]:
    client = mount.client
    return [
        client.read_range(mnt.name, name, 0, 1 << 20, version=v.version)
        for v in client.list_versions(mnt.name, name)
    ]


def test_cp_r_of_a_thousand_non_image_meta_files_registers_nothing(
    mnt: Path, images: ImageClient, session_mount: Mount, tmp_path: Path
) -> None:
    tree = tmp_path / "project"
    counts = build_tree(tree, 1000, ALICE[0])
    before = images_now(images)
    counted = session_mount.counters(time.time())  # the mount's requests so far
    clock = time.monotonic()
    done = sh(mnt, f"cp -r {tree} .", timeout=1200)  # a bound for a hang, not a speed test
    elapsed = time.monotonic() - clock
    assert done.returncode == 0, done.stderr[-2000:]
    assert images_now(images) == before
    copied = sorted(p.relative_to(tree) for p in tree.rglob("*") if p.is_file())
    assert len(copied) == sum(counts.values()) == 1700
    for rel in copied[::17]:  # a sample of a hundred, read back through the mount
        assert (mnt / "project" / rel).read_bytes() == (tree / rel).read_bytes()
    now = session_mount.counters(time.time())
    requests = {m: n - counted.get(m, 0) for m, n in now.items() if n > counted.get(m, 0)}
    print(f"\ncp -r of 1,000 non-image .meta files (+700 siblings): {elapsed:.1f} s, "
          f"requests {dict(sorted(requests.items()))}")  # fmt: skip
