"""`.versions` on plain Swift: the versions Swift archived (X-Versions-Location on overwrite,
X-History-Location also on delete), read back through the mount; empty without versioning."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from tests.integration.conftest import Mount
from tests.swift.conftest import fresh_client


@pytest.fixture
def client() -> Iterator[PithosClient]:
    c = fresh_client()
    yield c
    c.close()


def _versioned(client: PithosClient, name: str, header: str) -> str:
    """A new container whose history Swift keeps in `<name>-archive` via `header`."""
    archive = f"{name}-archive"
    client.create_container(archive)
    client.transport.request("PUT", "/" + name, headers={header: archive})
    return archive


def _versions_of(path: Path) -> list[bytes]:
    """Contents of the version files of one object, oldest first (ids sort by age)."""
    folder = path.parent / ".versions" / path.name
    ids = sorted(os.listdir(folder), key=int)
    return [(folder / i).read_bytes() for i in ids]


def test_overwrites_archived_by_x_versions_location(
    swift_mount: Mount, client: PithosClient, unique_name: str
) -> None:
    _versioned(client, unique_name, "X-Versions-Location")
    d = swift_mount.path / unique_name
    (d / "sub").mkdir()
    f = d / "sub" / "notes.txt"
    for text in (b"one\n", b"two, longer\n", b"three\n"):
        f.write_bytes(text)
    assert _versions_of(f) == [b"one\n", b"two, longer\n", b"three\n"]
    f.write_bytes(b"four\n")  # seen at once: the mount forgets what it listed before
    assert _versions_of(f) == [b"one\n", b"two, longer\n", b"three\n", b"four\n"]
    assert "notes.txt" in os.listdir(d / "sub" / ".versions")
    folder = d / "sub" / ".versions" / "notes.txt"
    oldest = folder / min(os.listdir(folder), key=int)
    assert os.stat(oldest).st_size == len(b"one\n")
    with pytest.raises(OSError) as info:
        oldest.write_bytes(b"x")
    assert info.value.errno == errno.EROFS
    assert "Traceback" not in swift_mount.log_text()


def test_deleted_object_history_with_x_history_location(
    swift_mount: Mount, client: PithosClient, unique_name: str
) -> None:
    _versioned(client, unique_name, "X-History-Location")
    d = swift_mount.path / unique_name
    (d / "gone").write_bytes(b"first")
    (d / "gone").write_bytes(b"second")
    os.unlink(d / "gone")
    assert not (d / "gone").exists()
    # Reachable by name though deleted; the delete marker is not a version.
    assert _versions_of(d / "gone") == [b"first", b"second"]


def test_no_versioning_means_an_empty_versions_folder(
    swift_mount: Mount, client: PithosClient, unique_name: str
) -> None:
    client.create_container(unique_name)
    d = swift_mount.path / unique_name
    (d / "f").write_bytes(b"a")
    (d / "f").write_bytes(b"b")
    assert os.listdir(d / ".versions") == []
    with pytest.raises(FileNotFoundError):
        os.listdir(d / ".versions" / "f")
    assert f"{unique_name}/.versions is empty: plain Swift container" in swift_mount.log_text()


def test_object_versioning_x_versions_enabled(
    swift_mount: Mount, client: PithosClient, unique_name: str
) -> None:
    client.transport.request("PUT", "/" + unique_name, headers={"X-Versions-Enabled": "true"})
    d = swift_mount.path / unique_name
    f = d / "a b.txt"
    f.write_bytes(b"v1")
    f.write_bytes(b"version two")
    assert _versions_of(f) == [b"v1", b"version two"]
    os.unlink(f)  # a delete marker: not a version, the history stays reachable by name
    assert _versions_of(f) == [b"v1", b"version two"]
    (d / "a b.txt2").write_bytes(b"other")  # same prefix, another object
    assert _versions_of(f) == [b"v1", b"version two"]
    folder = d / ".versions" / "a b.txt"
    oldest = folder / min(os.listdir(folder), key=int)
    with open(oldest, "rb") as h:
        h.seek(1)
        assert h.read(5) == b"1"
    assert "Traceback" not in swift_mount.log_text()
