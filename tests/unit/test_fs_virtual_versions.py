"""`.versions` without a kernel: path parsing, and the layer over the FakeStore."""

import errno
import os

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.options import FsOptions
from pithosfs.fs.virtual import shared, snapshots, versions
from pithosfs.fs.virtual.versions import VersionPath


def test_parse_version_paths():
    assert versions.claims("/c/.versions") and versions.claims("/c/a/b/.versions/x/12")
    assert not versions.claims("/.versions") and not versions.claims("/c/x.versions")
    assert versions.parse("/c/.versions") == VersionPath("c", "")
    assert versions.parse("/c/a/b/.versions/f") == VersionPath("c", "a/b", "f")
    assert versions.parse("/c/a/.versions/f/42") == VersionPath("c", "a", "f", 42)
    assert versions.parse("/c/a/.versions/f/42").key == "a/f"
    assert versions.parse("/c/a/.versions/.versions/7") == VersionPath("c", "a", ".versions", 7)
    for bad in ("/c/.versions/f/x1", "/c/.versions/f/1/2", "/c/.versions/f/.versions"):
        with pytest.raises(Exception) as info:
            versions.parse(bad)
        assert to_errno(info.value) == errno.ENOENT


@pytest.fixture
def fs(tmp_path):
    store = FakeStore(block_size=1024)
    store.create_container("c")
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache"))
    yield f
    f.close()


def test_versions_of_live_and_deleted_objects(fs):
    fs.store.put_object("c", "d/f", b"one")
    fs.store.put_object("c", "d/f", b"two!")
    ids = [str(v.version) for v in fs.store.list_versions("c", "d/f")]
    assert [n for n, _ in fs.readdir("/c/d/.versions")] == ["f"]
    listed = dict(fs.readdir("/c/d/.versions/f"))
    # Names are the ids zero-padded, so that sorting them as text sorts them by age.
    assert list(listed) == [f"{int(i):012d}" for i in ids] == sorted(listed)
    assert listed[f"{int(ids[0]):012d}"].size == 3
    fh = fs.open(f"/c/d/.versions/f/{ids[0]}", os.O_RDONLY)
    assert fs.read(fh, 0, 10) == b"one"
    fs.release(fh)
    fs.unlink("/c/d/f")
    assert [n for n, _ in fs.readdir("/c/d/.versions")] == ["f"]  # remembered
    assert fs.getattr(f"/c/d/.versions/f/{ids[1]}")["st_size"] == 4
    with pytest.raises(Exception) as info:
        fs.getattr("/c/d/.versions/f/999999")
    assert to_errno(info.value) == errno.ENOENT


def test_object_really_named_versions_is_shadowed_but_has_history(fs):
    fs.store.put_object("c", ".versions", b"shadowed")
    assert [n for n, _ in fs.readdir("/c")] == []
    assert [n for n, _ in fs.readdir("/c/.versions")] == [".versions"]
    (vid,) = [n for n, _ in fs.readdir("/c/.versions/.versions")]
    fh = fs.open(f"/c/.versions/.versions/{vid}", os.O_RDONLY)
    assert fs.read(fh, 0, 100) == b"shadowed"
    fs.release(fh)


def test_shared_paths_split():
    assert shared.split("/.shared") == ("", "/")
    assert shared.split("/.shared/acc") == ("acc", "/")
    assert shared.split("/.shared/acc/c/d/x") == ("acc", "/c/d/x")
    layer = shared.SharedLayer(None)
    assert layer.claims("/.shared/acc") and not layer.claims("/c/.shared")


def test_snapshot_times_and_paths():
    assert snapshots.parse_time("@1700000000") == 1700000000
    assert snapshots.parse_time("2023-11-14T22:13:20Z") == 1700000000
    assert snapshots.parse_time("2023-11-14T22:13:20") == 1700000000  # UTC without a zone
    assert snapshots.parse_time("2023-11-15T00:13:20+02:00") == 1700000000
    with pytest.raises(Exception) as info:
        snapshots.parse_time("yesterday")
    assert to_errno(info.value) == errno.ENOENT
    assert snapshots.claims("/c/.snapshots/@1/a") and not snapshots.claims("/c/d/.snapshots")
    assert snapshots.parse("/c/.snapshots") == snapshots.SnapshotPath("c")
    assert snapshots.parse("/c/.snapshots/@5/a/b") == snapshots.SnapshotPath("c", 5, "a/b")


def test_copy_range_of_a_version_is_one_hashmap_put(fs):
    body = os.urandom(5000)  # five 1 KiB blocks
    fs.store.put_object("c", "f", body)
    fs.store.put_object("c", "f", b"newer")
    old = fs.store.list_versions("c", "f")[0].version
    src = fs.open(f"/c/.versions/f/{old}", os.O_RDONLY)
    dst = fs.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    before = fs.store.stats.snapshot()
    assert fs.copy_range(src, 0, dst, 0, 1 << 30) == len(body)
    assert fs.copy_range(src, len(body), dst, len(body), 1 << 30) == 0  # EOF
    spent = fs.store.stats.snapshot() - before
    assert spent.count("POST") == 0  # no block upload
    assert spent.bytes_sent < 1000
    fs.flush(dst)
    fs.release(dst)
    assert fs.store.read_range("c", "f", 0, 1 << 20) == body
    assert len(fs.store.list_versions("c", "f")) == 3  # a new version
    dst = fs.create("/c/g", 0o644, os.O_WRONLY)
    fs.write(dst, 0, b"x")
    with pytest.raises(Exception) as info:  # not empty: the kernel copies by read/write
        fs.copy_range(src, 0, dst, 0, 1 << 30)
    assert to_errno(info.value) == errno.EOPNOTSUPP
    with pytest.raises(Exception) as info:  # partial ranges too
        fs.copy_range(src, 10, dst, 0, 100)
    assert to_errno(info.value) == errno.EOPNOTSUPP
    fs.release(dst)
    fs.release(src)
