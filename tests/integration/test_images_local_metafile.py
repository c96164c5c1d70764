"""`.register ... --metafile=/local/path` on a root mount with allow_other: the file is read
with the rights of the user who wrote the line, as a regular file only, up to a bound.

The mount runs as root with `-o allow_other,uid=65534,gid=65534` (docs/systemd.md's
set-up, the files handed to one local user); the lines are written by uid 65534 from a
child process that dropped root's privileges before running bash.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.images import ImageClient
from pithosfs.images.metafile import MAX_BYTES
from tests.conftest import ALICE
from tests.integration.conftest import Mount, start_mount, stop_mount

pytestmark = [
    pytest.mark.mount,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a root mount, another user)"),
]

NOBODY = 65534


@pytest.fixture
def root_mount(fuse_ok: None, server: object, public_root: Path) -> Iterator[Mount]:
    m = start_mount(
        server, ALICE, public_root / "m", "-o", f"allow_other,uid={NOBODY},gid={NOBODY}"
    )
    os.chmod(public_root / "m", 0o755)
    yield m
    stop_mount(m)
    assert "Traceback" not in m.log_text()


@pytest.fixture
def images(server: object) -> Iterator[ImageClient]:
    client = ImageClient(server.image_url + "/v1.0", ALICE[1])  # type: ignore[attr-defined]
    yield client
    client.close()


def as_nobody(cwd: Path, script: str) -> subprocess.CompletedProcess[str]:
    """bash as uid/gid 65534 with no supplementary groups (dropped in the child)."""
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60,
        user=NOBODY, group=NOBODY, extra_groups=[], env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def read_bytes(pid: int) -> int:
    """Bytes the process has read through read()-like calls (files, pipes; /proc/PID/io)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


@pytest.fixture
def folder(root_mount: Mount, unique_name: str) -> Path:
    root_mount.client.create_container(unique_name)
    root_mount.client.put_object(unique_name, "disk.img", b"d" * 1000)
    return root_mount.path / unique_name


def test_root_only_metafile_is_eacces_and_its_content_is_nowhere(
    root_mount: Mount, folder: Path, public_root: Path, images: ImageClient
) -> None:
    secret = f"TOP-SECRET-{os.urandom(8).hex()}"
    private = public_root / "root-only.meta"
    private.write_text(json.dumps({"name": secret, "properties": {"k": secret}}))
    private.chmod(0o600)
    hidden = public_root / "private"
    hidden.mkdir(mode=0o700)
    (hidden / "exists.meta").write_text("{}")
    before = {i.id for i in images.list(detail=True)}
    done = as_nobody(folder, f"echo 'x disk.img --metafile={private}' > .register")
    assert done.returncode != 0 and "Permission denied" in done.stderr  # EACCES
    assert {i.id for i in images.list(detail=True)} == before  # nothing registered
    assert not (folder / "disk.img.meta").exists()
    # A path the caller may not look into: the same answer whether the file exists or not.
    for name in ("exists.meta", "missing.meta"):
        done = as_nobody(folder, f"echo 'x disk.img --metafile={hidden / name}' > .register")
        assert done.returncode != 0 and "Permission denied" in done.stderr, name
    outcomes = (folder / ".register").read_text().splitlines()
    assert [line.split(": ", 1)[1].split(" (line")[0] for line in outcomes[-2:]] == [
        "Permission denied", "Permission denied",
    ]  # fmt: skip
    # The content is nowhere: not in the outcomes, the log, any image, any object.
    assert secret not in (folder / ".register").read_text()
    assert secret not in root_mount.log_text()
    for image in images.list(detail=True):
        assert secret not in repr(image)
    client = root_mount.client
    for obj in client.list_objects(folder.name):
        assert secret.encode() not in client.read_range(folder.name, obj.name, 0, 1 << 20)
    # The same file for its owner (root): read, registered.
    assert (
        subprocess.run(
            ["bash", "-c", f"echo 'x disk.img --metafile={private}' > .register"], cwd=folder
        ).returncode
        == 0
    )
    assert images.get(client.head_object(folder.name, "disk.img").uuid).name == "x"


def test_a_readable_metafile_registers_for_the_other_user(
    folder: Path, public_root: Path, images: ImageClient, root_mount: Mount
) -> None:
    mine = public_root / "readable.meta"
    mine.write_text('{"properties": {"OS": "Linux"}}')
    done = as_nobody(folder, f"echo \"'By Nobody' disk.img --metafile={mine}\" > .register")
    assert done.returncode == 0, done.stderr
    image = images.get(root_mount.client.head_object(folder.name, "disk.img").uuid)
    assert image.name == "By Nobody" and image.properties == {"os": "Linux"}


def test_fifo_fails_at_once_and_a_huge_file_is_refused_unread(
    folder: Path, public_root: Path, root_mount: Mount, images: ImageClient
) -> None:
    fifo = public_root / "pipe.meta"
    os.mkfifo(fifo)
    fifo.chmod(0o666)
    done = as_nobody(folder, f"echo 'x disk.img --metafile={fifo}' > .register")  # no writer
    assert done.returncode != 0 and "Invalid argument" in done.stderr
    assert "is not a regular file" in (folder / ".register").read_text()

    huge = public_root / "huge.meta"
    with open(huge, "wb") as f:
        f.truncate(1 << 30)  # sparse: reading it would be 1 GiB of read()
    huge.chmod(0o644)
    before = read_bytes(root_mount.proc.pid)
    done = as_nobody(folder, f"echo 'x disk.img --metafile={huge}' > .register")
    assert done.returncode != 0 and "File too large" in done.stderr  # EFBIG
    assert read_bytes(root_mount.proc.pid) - before < MAX_BYTES  # refused before reading
    assert f"larger than {MAX_BYTES} bytes" in (folder / ".register").read_text()
    assert not (folder / "disk.img.meta").exists()
