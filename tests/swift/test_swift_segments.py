"""Objects above the single-PUT limit on plain Swift: segments + an SLO manifest.

The mount here lowers the limit to 4 MiB (PITHOSFS_SWIFT_SEGMENT_SIZE) so a 9 MiB file
takes three segments; Swift's own default is 5 GiB."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.client.pithos import PithosClient
from pithosfs.fs.writeback.swift_segments import SEGMENT_SIZE_ENV
from tests.integration.conftest import Mount, start_mount, stop_mount
from tests.swift.conftest import CONTAINER, _credentials, _SwiftAccount, fresh_client

LIMIT = 4 * 1024 * 1024
SIZE = 2 * LIMIT + 1024 * 1024 + 77  # three segments, the last one short


@pytest.fixture(scope="module")
def seg_mount(
    fuse_ok: None,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Mount]:
    url, token = _credentials()
    client = PithosClient.from_storage_url(url, token)
    client.create_container(CONTAINER)
    client.close()
    root = tmp_path_factory.mktemp("swift-seg")
    m = start_mount(_SwiftAccount(url), ("swift", token), root,
                    env_extra={SEGMENT_SIZE_ENV: str(LIMIT)})  # fmt: skip
    yield m
    stop_mount(m)
    assert "Traceback" not in m.log_text(), m.log_text()[-4000:]


@pytest.fixture
def client() -> Iterator[PithosClient]:
    c = fresh_client()
    yield c
    c.close()


@pytest.fixture
def sdir(seg_mount: Mount, unique_name: str) -> Path:
    d = seg_mount.path / CONTAINER / unique_name
    d.mkdir()
    return d


def _key(d: Path, name: str) -> str:
    return f"{d.name}/{name}"


def _segments(client: PithosClient, key: str) -> list[str]:
    """The manifest's segment paths; [] if `key` is an ordinary object."""
    path = f"/{CONTAINER}/{key}"
    head = client.transport.request("HEAD", path)
    if head.headers.get("X-Static-Large-Object", "").lower() != "true":
        return []
    got = client.transport.request("GET", path, params={"multipart-manifest": "get"})
    return [item["name"] for item in got.json()]


def _exists(client: PithosClient, segment: str) -> bool:
    container, _, name = segment.lstrip("/").partition("/")
    try:
        client.head_object(container, name)
        return True
    except Exception:
        return False


def test_large_file_is_stored_as_segments_and_reads_back(
    sdir: Path, client: PithosClient, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(SIZE))
    subprocess.run(["cp", str(src), str(sdir / "big")], check=True)
    segments = _segments(client, _key(sdir, "big"))
    assert len(segments) == 3
    assert all(s.startswith(f"/{CONTAINER}_segments/") for s in segments)
    assert client.read_object(CONTAINER, _key(sdir, "big")) == src.read_bytes()
    assert os.stat(sdir / "big").st_size == SIZE
    subprocess.run(["cmp", str(src), str(sdir / "big")], check=True)
    with open(sdir / "big", "rb") as f:  # a range across a segment boundary
        f.seek(LIMIT - 10)
        assert f.read(20) == src.read_bytes()[LIMIT - 10 : LIMIT + 10]


def test_small_file_stays_one_object(sdir: Path, client: PithosClient) -> None:
    (sdir / "small").write_bytes(os.urandom(LIMIT))  # exactly the limit: one PUT
    assert _segments(client, _key(sdir, "small")) == []


def test_rewrite_replaces_segments_and_deletes_the_old_ones(
    sdir: Path, client: PithosClient
) -> None:
    first, second = os.urandom(SIZE), os.urandom(SIZE + LIMIT)
    (sdir / "f").write_bytes(first)
    old = _segments(client, _key(sdir, "f"))
    (sdir / "f").write_bytes(second)
    new = _segments(client, _key(sdir, "f"))
    assert len(new) == 4 and not set(new) & set(old)
    assert not any(_exists(client, s) for s in old)
    assert (sdir / "f").read_bytes() == second
    with open(sdir / "f", "ab") as f:  # append to a segmented object
        f.write(b"tail")
    assert client.read_object(CONTAINER, _key(sdir, "f")) == second + b"tail"
    os.truncate(sdir / "f", 100)  # shrunk below the limit: one object, segments gone
    latest = _segments(client, _key(sdir, "f"))
    assert latest == [] and (sdir / "f").read_bytes() == second[:100]
    assert not any(_exists(client, s) for s in new)


def test_rm_deletes_the_segments(sdir: Path, client: PithosClient) -> None:
    (sdir / "gone").write_bytes(os.urandom(SIZE))
    segments = _segments(client, _key(sdir, "gone"))
    assert segments
    os.unlink(sdir / "gone")
    assert not any(_exists(client, s) for s in segments)


def test_mv_keeps_a_segmented_file(sdir: Path, client: PithosClient) -> None:
    data = os.urandom(SIZE)
    (sdir / "a").write_bytes(data)
    before = _segments(client, _key(sdir, "a"))
    os.rename(sdir / "a", sdir / "b")
    assert (sdir / "b").read_bytes() == data
    assert client.read_object(CONTAINER, _key(sdir, "b")) == data
    # The manifest moved, sharing its segments (a COPY of the content would be refused above
    # Swift's max_file_size, and would leave the old segments behind).
    assert _segments(client, _key(sdir, "b")) == before
    shutil.rmtree(sdir)
    assert not any(_exists(client, s) for s in before)


def test_versioned_container_keeps_old_segments_for_its_archive(
    seg_mount: Mount, client: PithosClient, unique_name: str
) -> None:
    client.create_container(f"{unique_name}-archive")
    client.transport.request(
        "PUT", f"/{unique_name}", headers={"X-Versions-Location": f"{unique_name}-archive"}
    )
    first, second = os.urandom(SIZE), os.urandom(SIZE)
    f = seg_mount.path / unique_name / "big"
    f.write_bytes(first)
    f.write_bytes(second)
    folder = f.parent / ".versions" / "big"
    ids = sorted(os.listdir(folder), key=int)
    assert len(ids) == 2
    assert (folder / ids[0]).read_bytes() == first  # the archived manifest's segments live on
    assert f.read_bytes() == second
