"""The mount registers images exactly as the real kamaki 0.16 CLI does.

Side by side on one server: kamaki registers `k.img`, the mount (`.register`, or a saved
`.meta`) registers `m.img`, two objects with the same bytes; after every step the two
image records and the two metafiles must agree field by field (all but the id, the
location and the times, which differ by object and moment), and so must the metafiles'
Content-Type and sharing. Skipped where kamaki is not installed (scripts/setup.sh).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pithosfs.client.pithos import PithosClient
from tests.conftest import ALICE, BOB
from tests.integration.conftest import Mount
from tests.server.plankton_api import ImageApi
from tests.server.test_plankton_kamaki import KAMAKI, Kamaki

pytestmark = [
    pytest.mark.mount,
    pytest.mark.skipif(not KAMAKI.exists(), reason=f"kamaki not installed at {KAMAKI}"),
]

DIFFERS = {"id", "location", "created-at", "updated-at"}  # by object and by moment


@pytest.fixture
def kamaki(server: object, tmp_path: Path) -> Kamaki:
    return Kamaki(tmp_path / "kamaki", server.identity_url, ALICE[1])  # type: ignore[attr-defined]


@pytest.fixture
def img(server: object) -> ImageApi:
    return ImageApi(server.image_url, ALICE[1])  # type: ignore[attr-defined]


@pytest.fixture
def bob(server: object) -> Iterator[PithosClient]:
    client = PithosClient.from_storage_url(server.storage_url(BOB[0]), BOB[1])  # type: ignore[attr-defined]
    yield client
    client.close()


class Pair:
    """kamaki on `k.img`, the mount on `m.img`, in one container of the session mount."""

    def __init__(self, mnt: Path, mount: Mount, kamaki: Kamaki, img: ImageApi) -> None:
        self.mnt, self.cont, self.client = mnt, mnt.name, mount.client
        self.kamaki, self.img = kamaki, img
        data = os.urandom(5000)
        for name in ("k.img", "m.img"):
            (mnt / name).write_bytes(data)

    def kamaki_register(self, name: str, *options: str, ok: bool = True) -> str:
        proc = self.kamaki.run(
            "image", "register", "--name", name, "--location", f"/{self.cont}/k.img", *options,
            ok=ok,
        )  # fmt: skip
        return proc.stdout + proc.stderr

    def mount_register(self, line: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", f"echo {json.dumps(line)} > .register"],
            cwd=self.mnt, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def image_id(self, name: str) -> str:
        return self.client.head_object(self.cont, name).uuid

    def record(self, name: str) -> dict[str, Any]:
        """The image as the image service answers HEAD, less what differs by object."""
        image = self.img.info(self.image_id(name))
        return {k: v for k, v in image.items() if k not in DIFFERS}

    def metafile(self, name: str) -> tuple[dict[str, Any], str, str]:
        """(JSON less what differs, Content-Type, sharing) of `<name>.meta`."""
        meta = name + ".meta"
        info = self.client.head_object(self.cont, meta)
        doc = json.loads(self.client.read_range(self.cont, meta, 0, 1 << 20))
        return {k: v for k, v in doc.items() if k not in DIFFERS}, info.content_type, info.sharing

    def metafile_versions(self, name: str) -> int:
        return len(self.client.list_versions(self.cont, name + ".meta"))

    def assert_same(self, metafiles: bool = True) -> None:
        assert self.record("m.img") == self.record("k.img")
        if metafiles:
            assert self.metafile("m.img") == self.metafile("k.img")


@pytest.fixture
def pair(mnt: Path, session_mount: Mount, kamaki: Kamaki, img: ImageApi) -> Pair:
    return Pair(mnt, session_mount, kamaki, img)


def test_plain_properties_public_and_force(pair: Pair, bob: PithosClient) -> None:
    # plain register
    pair.kamaki_register("Debian Base Alpha")
    assert pair.mount_register("'Debian Base Alpha' m.img").returncode == 0
    pair.assert_same()
    meta, content_type, sharing = pair.metafile("m.img")
    assert meta["owner"] == f"{ALICE[0]} ({ALICE[0]})" and meta["is-public"] == "False"
    assert content_type == "application/octet-stream" and sharing == f"read={ALICE[0]}"

    # without -f, an existing metafile stops both before registering
    out = pair.kamaki_register("Gama", "-p", "OS=Linux", ok=False)
    assert "already exists" in out
    done = pair.mount_register("'Gama' m.img -p OS=Linux")
    assert done.returncode != 0 and "Invalid argument" in done.stderr
    assert pair.record("m.img")["name"] == pair.record("k.img")["name"] == "Debian Base Alpha"

    # -p (dashed, mixed-case and spaced values) with -f
    props = ["-p", "OS=Linux", "-p", "user-x=some one", "-p", "Mixed_Case=Ab"]
    pair.kamaki_register("Debian Base Gama", *props, "-f")
    line = "'Debian Base Gama' m.img -p OS=Linux -p 'user-x=some one' -p Mixed_Case=Ab -f"
    assert pair.mount_register(line).returncode == 0
    pair.assert_same()
    assert pair.record("m.img")["properties"] == {
        "os": "Linux", "user-x": "some one", "mixed-case": "Ab",
    }  # fmt: skip

    # --public: the image and its metafile readable by all, as kamaki leaves them
    pair.kamaki_register("Debian Public", "--public", "-f")
    assert pair.mount_register("'Debian Public' m.img --public -f").returncode == 0
    pair.assert_same()
    meta, _, sharing = pair.metafile("m.img")
    assert meta["is-public"] == "True" and sharing == f"read={ALICE[0]},*"
    shared = bob.for_account(ALICE[0])
    for name in ("k.img.meta", "m.img.meta"):  # bob reads both, in alice's account
        assert json.loads(shared.read_range(pair.cont, name, 0, 1 << 20))["name"] == "Debian Public"


def test_public_template_metafile_and_no_metafile_upload(pair: Pair, tmp_path: Path) -> None:
    pair.kamaki_register("Template Source", "--public", "-p", "OS=debian")
    template = json.loads(pair.client.read_range(pair.cont, "k.img.meta", 0, 1 << 20))
    template.update({"disk-format": "extdump", "container-format": "ovf", "checksum": "00",
                     "size": "7", "name": "Template Name", "description": "d", "status": "X"})  # fmt: skip
    template["properties"] = {"OS": "ubuntu", "kernel-ver": 6, "gone": None}
    local = tmp_path / "template.meta"
    local.write_text(json.dumps(template))
    assert pair.mount_register("'Template Source' m.img --public -p OS=debian").returncode == 0

    # --metafile: only owner and properties count; no --public, so private, default formats
    pair.kamaki_register("From Template", "--metafile", str(local), "-p", "USER=root", "-f")
    line = f"'From Template' m.img --metafile={local} -p USER=root -f"
    assert pair.mount_register(line).returncode == 0
    pair.assert_same()
    record = pair.record("m.img")
    assert record["is-public"] == "False" and record["name"] == "From Template"
    assert (record["disk-format"], record["container-format"]) == ("diskdump", "bare")
    assert record["properties"] == {"os": "ubuntu", "kernel-ver": "6", "user": "root"}

    # --no-metafile-upload: registered, the metafiles untouched (and no -f needed)
    versions = pair.metafile_versions("k.img"), pair.metafile_versions("m.img")
    before = pair.metafile("k.img"), pair.metafile("m.img")
    pair.kamaki_register("Not Written", "--metafile", str(local), "--no-metafile-upload")
    line = f"'Not Written' m.img --metafile={local} --no-metafile-upload"
    assert pair.mount_register(line).returncode == 0
    pair.assert_same(metafiles=False)
    assert pair.record("m.img")["name"] == "Not Written"
    assert (pair.metafile_versions("k.img"), pair.metafile_versions("m.img")) == versions
    assert (pair.metafile("k.img"), pair.metafile("m.img")) == before


def test_reregistration_overrides(pair: Pair) -> None:
    pair.kamaki_register("First", "-p", "A=1", "-p", "B=2", "--public")
    assert pair.mount_register("First m.img -p A=1 -p B=2 --public").returncode == 0
    pair.assert_same()
    pair.kamaki_register("Second", "-p", "A=3", "-f")
    assert pair.mount_register("Second m.img -p A=3 -f").returncode == 0
    pair.assert_same()
    record = pair.record("m.img")
    assert record["properties"] == {"a": "3"} and record["is-public"] == "False"
    assert pair.image_id("m.img") == pair.img.info(pair.image_id("m.img"))["id"]  # same id


def test_saved_metafile_is_its_kamaki_command_line(pair: Pair, tmp_path: Path) -> None:
    """Saving an edited `m.img.meta` == `kamaki image register --name N --location k.img
    --metafile <edited> -f --public --disk-format F --container-format C` (its own keys)."""
    pair.kamaki_register("Before", "-p", "OS=debian")
    assert pair.mount_register("Before m.img -p OS=debian").returncode == 0
    edited = json.loads((pair.mnt / "m.img.meta").read_text())
    edited.update({"name": "After", "is-public": "True", "disk-format": "extdump"})
    edited["properties"] = {"OS": "ubuntu", "USER": "root"}
    (pair.mnt / "m.img.meta").write_text(json.dumps(edited, indent=2))  # the save
    local = tmp_path / "edited.meta"
    local.write_text(json.dumps(edited))
    pair.kamaki_register(
        "After", "--metafile", str(local), "-f", "--public", "--disk-format", "extdump",
        "--container-format", edited["container-format"],
    )  # fmt: skip
    pair.assert_same()
    assert pair.record("m.img")["properties"] == {"os": "ubuntu", "user": "root"}
