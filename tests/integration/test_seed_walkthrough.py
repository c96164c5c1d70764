"""kamaki's image-registration how-to (README.md, "Image registration walkthrough")
replayed through real mounts with shell tools only, checking the server's state
through the image API after every step.

alice works in her mount (a fresh container plays the how-to's `pithos`); bob, in his own
mount, owns other images (one public), as the how-to's second user.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pithosfs.client.images import ImageClient, pithos_location
from tests.conftest import ALICE, BOB
from tests.integration.conftest import Mount

pytestmark = pytest.mark.mount

KAMAKI_KEYS = {
    "name", "id", "checksum", "container-format", "disk-format", "is-public", "location",
    "owner", "properties", "size", "status", "created-at", "updated-at", "deleted-at",
    "is-snapshot", "description",
}  # fmt: skip


@pytest.fixture
def images(server: object) -> Iterator[ImageClient]:
    client = ImageClient(server.image_url + "/v1.0", ALICE[1])  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.fixture
def bob_images(server: object) -> Iterator[ImageClient]:
    client = ImageClient(server.image_url + "/v1.0", BOB[1])  # type: ignore[attr-defined]
    yield client
    client.close()


def sh(cwd: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def ok(cwd: Path, script: str) -> str:
    done = sh(cwd, script)
    assert done.returncode == 0, f"{script}\n{done.stderr}"
    return done.stdout


def ids(client: ImageClient, owner: str | None = None) -> set[str]:
    return {i.id for i in client.list(detail=True) if owner is None or i.owner == owner}


def test_seed_walkthrough(
    mnt: Path,
    session_mount: Mount,
    mount_factory: Callable[..., Mount],
    images: ImageClient,
    bob_images: ImageClient,
    tmp_path: Path,
) -> None:
    alice, cont, store = ALICE[0], mnt.name, session_mount.client
    home = tmp_path / "home"
    home.mkdir()
    (home / "debian_base3.diskdump").write_bytes(os.urandom(3 * 1024 * 1024 + 17))

    # bob owns other images: one private, one public (registered through his own mount)
    bob_mnt = mount_factory(user=BOB)
    bob_dir = bob_mnt.path / ("bob-" + cont)
    bob_dir.mkdir()
    (bob_dir / "bsd.diskdump").write_bytes(os.urandom(1000))
    (bob_dir / "arch.diskdump").write_bytes(os.urandom(1000))
    ok(bob_dir, "echo \"'BSD' bsd.diskdump\" > .register")
    ok(bob_dir, "echo \"'Arch' arch.diskdump --public\" > .register")
    bob_private, bob_public = (
        json.loads((bob_dir / f"{n}.diskdump.meta").read_text())["id"] for n in ("bsd", "arch")
    )

    # Upload the image file: `kamaki file upload debian_base3.diskdump pithos`
    ok(mnt, f"cp {home}/debian_base3.diskdump .")
    obj = store.head_object(cont, "debian_base3.diskdump")
    assert obj.size == 3 * 1024 * 1024 + 17

    # Register: `kamaki image register 'Debian Base Alpha' pithos://.../debian_base3.diskdump`
    ok(mnt, "echo \"'Debian Base Alpha' debian_base3.diskdump\" > .register")
    alpha = images.get(obj.uuid)  # the image id is the object's UUID
    assert alpha.name == "Debian Base Alpha" and alpha.status.lower() == "available"
    assert alpha.location == pithos_location(alice, cont, "debian_base3.diskdump")
    assert alpha.size == obj.size and alpha.checksum == obj.hash and not alpha.is_public
    assert f"ok debian_base3.diskdump {obj.uuid} Debian Base Alpha" in ok(mnt, "cat .register")

    # Read the metafile: `kamaki file cat pithos:debian_base3.diskdump.meta`
    meta = json.loads(ok(mnt, "cat debian_base3.diskdump.meta"))
    assert set(meta) == KAMAKI_KEYS
    assert (meta["id"], meta["name"], meta["location"]) == (obj.uuid, alpha.name, alpha.location)
    assert meta["owner"] == f"{alice} ({alice})"  # kamaki's "uuid (user name)"
    assert (meta["is-public"], meta["size"]) == ("False", str(obj.size))  # kamaki's text values

    # List all images, and only mine: `kamaki image list`, `image list --owner=...`
    listed = set(ok(mnt, "ls ../.images").split())
    assert listed == ids(images) | {"mine"}
    assert {obj.uuid, bob_public} <= listed and bob_private not in listed
    mine = set(ok(mnt, "ls ../.images/mine").split())
    assert mine == ids(images, alice) and obj.uuid in mine and bob_public not in mine
    assert json.loads(ok(mnt, f"cat ../.images/{bob_public}"))["owner"] == BOB[0]

    # Unregister my image: `kamaki image unregister ...`
    ok(mnt, f"rm ../.images/mine/{obj.uuid}")
    assert obj.uuid not in ids(images)
    assert obj.uuid not in ok(mnt, "sleep 1.1; ls ../.images/mine").split()  # past attr timeout

    # Unregister bob's: `(403) FORBIDDEN` -> EACCES, his image stays
    done = sh(mnt, f"rm ../.images/{bob_public}")
    assert done.returncode != 0 and "Permission denied" in done.stderr
    assert bob_images.get(bob_public).name == "Arch"

    # Register with properties: the metafile already exists ...
    line = "'Debian Base Gama' debian_base3.diskdump -p OS=Linux -p user=someuser"
    done = sh(mnt, f'echo "{line}" > .register')
    assert done.returncode != 0 and "Invalid argument" in done.stderr
    assert "metafile already exists" in ok(mnt, "tail -n1 .register")
    assert obj.uuid not in ids(images)
    # ... and with -f
    ok(mnt, f'echo "{line} -f" > .register')
    gama = images.get(obj.uuid)
    assert gama.name == "Debian Base Gama"
    assert gama.properties == {"os": "Linux", "user": "someuser"}

    # Download the metafile, edit it (OS: Linux, USER: root), re-register with a new name
    ok(mnt, f"cp debian_base3.diskdump.meta {home}/")
    local = home / "debian_base3.diskdump.meta"
    doc = json.loads(local.read_text())
    doc["properties"] = {"OS": "Linux", "USER": "root"}
    doc["is-public"] = "True"  # as kamaki: a metafile's is-public and formats do not count
    local.write_text(json.dumps(doc, indent=2))
    ok(mnt, f"echo \"-f 'Debian Base Delta' debian_base3.diskdump --metafile={local}\" > .register")
    delta = images.get(obj.uuid)
    assert delta.id == obj.uuid  # unregistered and registered again: the same id
    assert delta.name == "Debian Base Delta"  # the explicit name beats the metafile's
    assert delta.properties == {"os": "Linux", "user": "root"}  # an override, not an update
    assert not delta.is_public  # no --public on the line

    # The command line wins the metafile: -p USER=admin
    ok(
        mnt,
        f"echo \"-f 'Debian Base Delta' debian_base3.diskdump --metafile={local} "
        '-p USER=admin" > .register',
    )
    assert images.get(obj.uuid).properties == {"os": "Linux", "user": "admin"}

    # --no-metafile-upload: registered, no new metafile version (and no -f needed)
    versions_before = len(store.list_versions(cont, "debian_base3.diskdump.meta"))
    ok(
        mnt,
        f"echo \"'Debian Base Epsilon' debian_base3.diskdump --metafile={local} "
        '--no-metafile-upload" > .register',
    )
    assert images.get(obj.uuid).name == "Debian Base Epsilon"
    assert len(store.list_versions(cont, "debian_base3.diskdump.meta")) == versions_before
    assert json.loads(ok(mnt, "cat debian_base3.diskdump.meta"))["name"] == "Debian Base Delta"

    # The metafile's versions: list, read the first, copy the second out
    vids = ok(mnt, "ls .versions/debian_base3.diskdump.meta/").split()
    assert len(vids) == versions_before == 4  # Alpha, Gama, Delta, Delta (USER=admin)
    vids.sort(key=int)
    first = json.loads(ok(mnt, f"cat .versions/debian_base3.diskdump.meta/{vids[0]}"))
    assert first["name"] == "Debian Base Alpha"
    ok(mnt, f"cp .versions/debian_base3.diskdump.meta/{vids[1]} {home}/meta.v{vids[1]}")
    assert json.loads((home / f"meta.v{vids[1]}").read_text())["name"] == "Debian Base Gama"

    # Batch: `cp -r images` then register every *.diskdump public in a bash loop
    batch = home / "images"
    batch.mkdir()
    for name in ("debian", "win8", "centos"):
        (batch / f"{name}.diskdump").write_bytes(os.urandom(4096))
    (batch / "notes.meta").write_text("not an image's metafile: stored as it is\n")
    ok(mnt, f"cp -r {batch} .")
    assert (mnt / "images" / "notes.meta").read_text() == (batch / "notes.meta").read_text()
    ok(mnt, 'for f in images/*.diskdump; do echo "$f $f --public" > .register; done')
    for name in ("debian", "win8", "centos"):
        path = f"images/{name}.diskdump"
        image = images.get(store.head_object(cont, path).uuid)
        assert image.name == path and image.is_public
        assert image.location == pithos_location(alice, cont, path)
        assert json.loads((mnt / f"{path}.meta").read_text())["is-public"] == "True"
        assert image.id in ids(bob_images)  # public: bob sees them
