"""The users' own tool: the real kamaki 0.16 CLI (Python 2.7) against the embedded server.

Skipped where kamaki is absent. scripts/setup.sh installs it next to the Python 2.7
that scripts/find_python27.sh finds (pyenv's or the system's); set PITHOSFS_KAMAKI
to use another kamaki executable.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, User
from tests.server.pithos_http import Api
from tests.server.plankton_api import ImageApi

ROOT = Path(__file__).resolve().parents[2]


def find_kamaki() -> Path:
    """$PITHOSFS_KAMAKI, else the kamaki next to the Python 2.7 the scripts find."""
    if os.environ.get("PITHOSFS_KAMAKI"):
        return Path(os.environ["PITHOSFS_KAMAKI"])
    found = subprocess.run(["bash", str(ROOT / "scripts" / "find_python27.sh")],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if found.returncode != 0:
        return Path("no-python-2.7-found") / "kamaki"
    return Path(found.stdout.strip()).parent / "kamaki"


KAMAKI = find_kamaki()

pytestmark = pytest.mark.skipif(not KAMAKI.exists(), reason=f"kamaki not installed at {KAMAKI}")


class Kamaki:
    def __init__(self, home: Path, identity_url: str, token: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.rc = home / ".kamakirc"
        self.rc.write_text(
            "[global]\ndefault_cloud = local\n"
            f'[cloud "local"]\nurl = {identity_url}\ntoken = {token}\n'
        )

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(self.home)}
        proc = subprocess.run(
            [str(KAMAKI), "-c", str(self.rc), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=self.home,
        )
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc


@pytest.fixture
def kamaki(server: object, alice: User, tmp_path: Path) -> Kamaki:
    return Kamaki(tmp_path / "alice", server.identity_url, alice.token)  # type: ignore[attr-defined]


@pytest.fixture
def bob_kamaki(server: object, bob: User, tmp_path: Path) -> Kamaki:
    return Kamaki(tmp_path / "bob", server.identity_url, bob.token)  # type: ignore[attr-defined]


@pytest.fixture
def img(server: object, alice: User) -> ImageApi:
    return ImageApi(server.image_url, alice.token)  # type: ignore[attr-defined]


def registered_via_api(api: Api, img: ImageApi, cont: str, name: str) -> str:
    api.put_object(cont, name, b"debian base " * 500)
    loc = f"pithos://{api.account}/{cont}/{name}"
    return str(img.register("Debian Base Alpha", loc, {"OS": "debian"})["id"])


def test_kamaki_uploads_lists_modifies_and_unregisters(
    api: Api, img: ImageApi, kamaki: Kamaki, bob_kamaki: Kamaki, cont: str
) -> None:
    image = kamaki.home / "debian_base3.diskdump"
    image.write_bytes(os.urandom(5000))
    kamaki.run("file", "upload", str(image), f"/{cont}")
    assert api.read(cont, "debian_base3.diskdump") == image.read_bytes()
    image_id = registered_via_api(api, img, cont, "debian_base3.diskdump")

    out = kamaki.run("image", "list", "--output-format", "json").stdout
    listed = {i["id"]: i for i in json.loads(out)}
    assert listed[image_id]["name"] == "Debian Base Alpha"
    out = kamaki.run("image", "list", "--name", "Debian Base Alpha").stdout
    assert image_id in out

    kamaki.run("image", "modify", image_id, "--member-add", BOB[0])
    kamaki.run("image", "modify", image_id, "-p", "USER=root", "--name", "Renamed")
    info = img.info(image_id)
    assert info["name"] == "Renamed"
    assert info["properties"] == {"os": "debian", "user": "root"}
    out = kamaki.run("image", "list", "--members-of", image_id, "--output-format", "json").stdout
    assert {m["member_id"] for m in json.loads(out)} == {ALICE[0], BOB[0]}
    assert image_id in bob_kamaki.run("image", "list").stdout  # a member sees it

    refused = bob_kamaki.run("image", "unregister", image_id, ok=False)
    assert refused.returncode != 0
    assert "403" in refused.stdout + refused.stderr
    assert img.head(image_id).status_code == 200
    kamaki.run("image", "unregister", image_id)
    assert img.head(image_id).status_code == 404
    assert image_id not in kamaki.run("image", "list").stdout


def test_kamaki_register_writes_the_metafile_and_overrides_on_reregistration(
    api: Api, img: ImageApi, kamaki: Kamaki, bob_kamaki: Kamaki, cont: str
) -> None:
    """The image-registration walkthrough (README.md) with the real CLI: register, metafile, -f, --metafile, -p."""
    api.put_object(cont, "debian_base3.diskdump", b"\x01" * 4096 + b"debian")
    target = f"/{cont}/debian_base3.diskdump"
    out = kamaki.run("image", "register", "--name", "Debian Base Alpha", "--location", target)
    image_id = api.meta(cont, "debian_base3.diskdump")["X-Object-UUID"]
    assert image_id in out.stdout
    assert "Metadata file uploaded" in out.stderr  # kamaki reports it on stderr
    meta = json.loads(api.read(cont, "debian_base3.diskdump.meta"))
    assert meta["id"] == image_id and meta["name"] == "Debian Base Alpha"
    assert meta["owner"].startswith(ALICE[0])

    again = kamaki.run(
        "image",
        "register",
        "--name",
        "Debian Base Alpha",
        "--location",
        target,
        "-p",
        "OS=x",
        ok=False,
    )
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    assert img.info(image_id)["properties"] == {}  # stopped before registering

    kamaki.run(
        "image", "register", "--name", "Debian Base Alpha", "--location", target,
        "-p", "OS=debian", "-p", "USER=root", "-f", "--public",
    )  # fmt: skip
    assert img.info(image_id)["properties"] == {"os": "debian", "user": "root"}
    assert image_id in bob_kamaki.run("image", "list").stdout

    # Edit the metafile's properties and re-register from it under a new name.
    meta = json.loads(api.read(cont, "debian_base3.diskdump.meta"))
    meta["properties"] = {"OS": "ubuntu"}
    metafile = kamaki.home / "debian.meta"
    metafile.write_text(json.dumps(meta))
    kamaki.run(
        "image", "register", "--name", "Debian Base Beta", "--location", target,
        "--metafile", str(metafile), "-p", "KERNEL=6.1", "--no-metafile-upload",
    )  # fmt: skip
    info = img.info(image_id)
    assert info["name"] == "Debian Base Beta"
    assert info["properties"] == {"os": "ubuntu", "kernel": "6.1"}  # USER gone: override
    assert info["is-public"] == "False"  # --public not given again
    assert "Debian Base Beta" in kamaki.run("image", "info", image_id).stdout
    refused = bob_kamaki.run("image", "unregister", image_id, ok=False)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr


def test_kamaki_batch_upload_and_public_registration_loop(
    api: Api, img: ImageApi, kamaki: Kamaki, bob_kamaki: Kamaki, cont: str
) -> None:
    """The walkthrough's last step (README.md): upload a folder, then register each *.diskdump in a bash loop."""
    folder = kamaki.home / "images"
    folder.mkdir()
    names = ["one.diskdump", "two.diskdump", "three.diskdump"]
    for name in names:
        (folder / name).write_bytes(name.encode() * 100)
    (folder / "notes.txt").write_text("not an image")
    kamaki.run("file", "upload", "-r", str(folder), f"/{cont}")
    loop = (
        f"for f in {folder}/*.diskdump; do n=$(basename $f); "
        f'"{KAMAKI}" -c "{kamaki.rc}" image register --name "$n" '
        f'--location "/{cont}/images/$n" --public --no-metafile-upload || exit 1; done'
    )
    env = {**os.environ, "HOME": str(kamaki.home)}
    proc = subprocess.run(
        ["bash", "-c", loop], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = {api.meta(cont, f"images/{n}")["X-Object-UUID"]: n for n in names}
    bob_sees = json.loads(bob_kamaki.run("image", "list", "--output-format", "json").stdout)
    assert {i["id"]: i["name"] for i in bob_sees if i["id"] in ids} == ids
    assert all(img.info(i)["is-public"] == "True" for i in ids)
