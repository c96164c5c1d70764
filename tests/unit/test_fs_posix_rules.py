"""POSIX rules the core keeps itself (the kernel checks permissions; these it cannot).

Owners and special files stored like modes, set-ID bits cleared by writes, modes
taken as given, sizes past the largest file, times of parents and of status
changes, types that follow the final name, and flushes that commit only a save.
"""

import errno
import os
import stat
import time

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs import limits
from pithosfs.fs.callers import Caller
from pithosfs.fs.core import Filesystem
from pithosfs.fs.fuse.errno_map import to_errno
from pithosfs.fs.options import FsOptions

BS = 4096
OWNER = (os.getuid(), os.getgid())
NO_SUCH_PID = 2**22 + 12345  # past pid_max: /proc has nothing, so the caller is judged by uid


@pytest.fixture
def store():
    s = FakeStore(block_size=BS)
    s.create_container("c")
    return s


@pytest.fixture
def fs(store, tmp_path):
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=60, dir_timeout=60))
    yield f
    f.close()


def as_caller(fs, uid, gid, pid=NO_SUCH_PID):
    fs.caller = lambda: Caller(uid, gid, pid)


def fails(number, fn, *args):
    with pytest.raises(Exception) as info:
        fn(*args)
    assert to_errno(info.value) == number, info.value


def write_file(fs, path, data=b"x", mode=0o644):
    fh = fs.create(path, mode, os.O_WRONLY | os.O_CREAT)
    if data:
        fs.write(fh, 0, data)
    fs.flush(fh)
    fs.release(fh)


def versions(store, name):
    return [store.head_object("c", name, v.version).size for v in store.list_versions("c", name)]


# -- one version per save -------------------------------------------------------------
def test_a_flush_by_a_process_still_holding_the_file_commits_nothing_written(fs, store, tmp_path):
    """bash's `>`: open (O_TRUNC), dup, close the original, write, close the dup."""
    store.put_object("c", "f", b"old content")
    fs.mountpoint = str(tmp_path / "mnt")  # where /proc shows our open files
    (tmp_path / "mnt" / "c").mkdir(parents=True)
    (tmp_path / "mnt" / "c" / "f").write_bytes(b"")
    fh = fs.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    with open(tmp_path / "mnt" / "c" / "f", "rb"):  # the dup'd descriptor this process keeps
        fs.flush(fh, os.getpid())
        assert versions(store, "f") == [11]  # no empty version
        fs.write(fh, 0, b"one\n")
        fs.flush(fh, os.getpid())  # the flush after the write commits, dup or not
    assert versions(store, "f") == [11, 4]
    fs.flush(fh, os.getpid())
    fs.release(fh)
    assert versions(store, "f") == [11, 4]


def test_a_last_close_that_wrote_nothing_still_commits(fs, store, tmp_path):
    """`: > f` and `touch new`: no other descriptor, so close() commits (close-to-open)."""
    store.put_object("c", "f", b"old")
    fs.mountpoint = str(tmp_path / "mnt")
    fh = fs.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    fs.flush(fh, os.getpid())
    assert versions(store, "f") == [3, 0]
    fs.release(fh)
    fh = fs.create("/c/new", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.flush(fh, os.getpid())
    assert versions(store, "new") == [0]
    fs.release(fh)
    assert versions(store, "new") == [0]


def test_ftruncate_of_a_file_open_for_writing_waits_for_its_save(fs, store):
    """vim: open O_WRONLY, ftruncate (which arrives by path), write, fsync, fchmod, close."""
    write_file(fs, "/c/v.txt", b"hello\n")
    fh = fs.open("/c/v.txt", os.O_WRONLY | os.O_CREAT)
    fs.truncate("/c/v.txt", 0)  # no handle: the binding drops it
    assert versions(store, "v.txt") == [6]
    fs.write(fh, 0, b"world\n")
    fs.fsync(fh)
    before = store.stats.snapshot()
    fs.chmod("/c/v.txt", stat.S_IFREG | 0o644)  # the mode it has: nothing stored
    assert (store.stats.snapshot() - before).count("POST") == 0
    fs.flush(fh, os.getpid())
    fs.release(fh)
    assert versions(store, "v.txt") == [6, 6]
    truncated = store.read_range("c", "v.txt", 0, 6)
    assert truncated == b"world\n"


def test_truncate_by_path_of_a_closed_file_commits_at_once(fs, store):
    write_file(fs, "/c/f", b"0123456789")
    fs.truncate("/c/f", 4)
    assert versions(store, "f") == [10, 4]


# -- modes, owners, special files ------------------------------------------------------
def test_mode_zero_is_a_mode_also_while_open(fs, store):
    fh = fs.create("/c/secret", 0, os.O_WRONLY | os.O_CREAT)
    fs.write(fh, 0, b"s")
    assert stat.S_IMODE(fs.getattr("/c/secret")["st_mode"]) == 0
    fs.flush(fh)
    fs.release(fh)
    assert stat.S_IMODE(fs.getattr("/c/secret")["st_mode"]) == 0
    assert store.head_object("c", "secret").meta["Pithosfs-Mode"] == "0"


def test_new_entries_belong_to_the_caller_and_setgid_parents_give_their_group(fs, store):
    as_caller(fs, 4321, 8765)
    fs.mkdir("/c/d", 0o2775)
    write_file(fs, "/c/d/f")
    fs.symlink("/c/d/l", "f")
    st = fs.getattr("/c/d")
    assert (st["st_uid"], st["st_gid"]) == (4321, 8765)
    fs.chown("/c/d", -1, 555)
    as_caller(fs, 1111, 2222)
    write_file(fs, "/c/d/g")
    fs.mkdir("/c/d/sub", 0o755)
    assert (fs.getattr("/c/d/g")["st_uid"], fs.getattr("/c/d/g")["st_gid"]) == (1111, 555)
    sub = fs.getattr("/c/d/sub")
    assert sub["st_gid"] == 555 and sub["st_mode"] & stat.S_ISGID  # inherited, as Linux does
    assert fs.getattr("/c/d/l")["st_uid"] == 4321
    meta = store.head_object("c", "d/g").meta
    assert (meta["Pithosfs-Uid"], meta["Pithosfs-Gid"]) == ("1111", "555")


def test_the_mount_owner_stores_no_owner_keys(fs, store):
    as_caller(fs, *OWNER)
    write_file(fs, "/c/f")
    meta = store.head_object("c", "f").meta
    assert "Pithosfs-Uid" not in meta and "Pithosfs-Gid" not in meta
    st = fs.getattr("/c/f")
    assert (st["st_uid"], st["st_gid"]) == OWNER


def test_chown_is_stored_and_seen_by_another_mount(fs, store, tmp_path):
    write_file(fs, "/c/f")
    fs.mkdir("/c/d", 0o755)
    fs.symlink("/c/l", "f")
    before = fs.getattr("/c/f")["st_ctime"]
    time.sleep(0.002)
    fs.chown("/c/f", 123, 456)
    fs.chown("/c/d", 7, -1)
    fs.chown("/c/l", -1, 9)  # lchown: the link itself
    after = fs.getattr("/c/f")
    assert (after["st_uid"], after["st_gid"]) == (123, 456) and after["st_ctime"] > before
    other = Filesystem(store, FsOptions(cache_dir=tmp_path / "other"))
    try:
        assert (other.getattr("/c/f")["st_uid"], other.getattr("/c/f")["st_gid"]) == (123, 456)
        assert other.getattr("/c/d")["st_uid"] == 7
        assert other.getattr("/c/l")["st_gid"] == 9 and other.readlink("/c/l") == "f"
    finally:
        other.close()
    before = store.stats.snapshot()
    fs.chown("/c/f", -1, -1)
    assert (store.stats.snapshot() - before).count("POST") == 0


def test_fifos_sockets_and_devices_are_empty_objects_with_their_kind(fs, store):
    fs.mknod("/c/fifo", stat.S_IFIFO | 0o640, 0)
    fs.mknod("/c/sock", stat.S_IFSOCK | 0o600, 0)
    fs.mknod("/c/tty", stat.S_IFCHR | 0o620, os.makedev(4, 1))
    fs.mknod("/c/disk", stat.S_IFBLK | 0o660, os.makedev(8, 16))
    kinds = {"fifo": stat.S_IFIFO, "sock": stat.S_IFSOCK, "tty": stat.S_IFCHR,
             "disk": stat.S_IFBLK}  # fmt: skip
    for name, kind in kinds.items():
        st = fs.getattr(f"/c/{name}")
        assert stat.S_IFMT(st["st_mode"]) == kind and st["st_size"] == 0
    assert stat.S_IMODE(fs.getattr("/c/fifo")["st_mode"]) == 0o640
    assert fs.getattr("/c/disk")["st_rdev"] == os.makedev(8, 16)
    info = store.head_object("c", "tty")
    assert (info.content_type, info.meta["Pithosfs-Rdev"]) == ("inode/chardevice", "4:1")
    listed = dict(fs.readdir("/c"))
    assert stat.S_ISFIFO(fs.stat_of(listed["fifo"])["st_mode"])
    fails(errno.EEXIST, fs.mknod, "/c/fifo", stat.S_IFIFO | 0o644, 0)
    fs.rename("/c/fifo", "/c/fifo2")
    assert stat.S_ISFIFO(fs.getattr("/c/fifo2")["st_mode"])
    fs.unlink("/c/fifo2")
    fails(errno.ENOENT, fs.getattr, "/c/fifo2")


def test_hard_links_are_refused(fs, store):
    store.put_object("c", "f", b"x")
    fails(errno.EPERM, fs.link, "/c/g", "/c/f")


# -- set-ID bits ---------------------------------------------------------------------
def test_a_write_by_a_caller_without_cap_fsetid_clears_set_id_bits(fs, store):
    write_file(fs, "/c/suid", b"x", mode=0o6755)
    write_file(fs, "/c/sgid-noexec", b"x", mode=0o2644)
    as_caller(fs, 65534, 65534)
    for name in ("suid", "sgid-noexec"):
        fh = fs.open(f"/c/{name}", os.O_WRONLY)
        fs.write(fh, 0, b"y")
        fs.flush(fh)
        fs.release(fh)
    assert stat.S_IMODE(fs.getattr("/c/suid")["st_mode"]) == 0o755
    # Without group execute set-group-ID stays for members only: 65534 is not in group 0.
    assert stat.S_IMODE(fs.getattr("/c/sgid-noexec")["st_mode"]) == 0o644
    assert store.head_object("c", "suid").meta["Pithosfs-Mode"] == "755"


def test_root_keeps_set_id_bits_when_writing(fs, store):
    write_file(fs, "/c/suid", b"x", mode=0o4755)
    as_caller(fs, 0, 0, pid=os.getpid())  # this process: CAP_FSETID from /proc (root in CI)
    fh = fs.open("/c/suid", os.O_WRONLY)
    fs.write(fh, 0, b"y")
    fs.flush(fh)
    fs.release(fh)
    expected = 0o4755 if os.geteuid() == 0 else 0o755
    assert stat.S_IMODE(fs.getattr("/c/suid")["st_mode"]) == expected


# -- sizes ---------------------------------------------------------------------------
def test_sizes_past_the_largest_file_are_efbig_before_anything_is_allocated(fs, store):
    largest = limits.max_file_size(BS)
    write_file(fs, "/c/f", b"abc")
    before = store.stats.snapshot()
    fails(errno.EFBIG, fs.truncate, "/c/f", largest + 1)
    fails(errno.EFBIG, fs.truncate, "/c/f", 999999999999999)
    fh = fs.open("/c/f", os.O_RDWR)
    fails(errno.EFBIG, fs.write, fh, largest, b"x")
    fails(errno.EFBIG, fs.fallocate, fh, 0, largest, 1)
    fs.fallocate(fh, 0, 0, 100)  # grows the file, with zeros
    fs.fallocate(fh, 1, 0, 1000)  # FALLOC_FL_KEEP_SIZE: the size stays
    assert fs.getattr("/c/f", fh)["st_size"] == 100
    fails(errno.ENOTSUP, fs.fallocate, fh, 0x02 | 0x01, 0, 10)  # punching holes
    fs.flush(fh)
    fs.release(fh)
    assert store.read_range("c", "f", 0, 100) == b"abc" + bytes(97)
    assert (store.stats.snapshot() - before).count("PUT") == 1


# -- times ---------------------------------------------------------------------------
def test_parent_times_move_on_create_unlink_rename_mkdir_rmdir(fs, store):
    fs.mkdir("/c/d", 0o755)
    fs.mkdir("/c/e", 0o755)

    def changes(op, *dirs):
        before = [fs.getattr(d) for d in dirs]
        time.sleep(0.002)
        op()
        for d, old in zip(dirs, before, strict=True):
            now = fs.getattr(d)
            assert now["st_mtime"] > old["st_mtime"] and now["st_ctime"] > old["st_ctime"], d

    changes(lambda: write_file(fs, "/c/d/f"), "/c/d")
    changes(lambda: fs.mkdir("/c/d/sub", 0o755), "/c/d")
    changes(lambda: fs.rename("/c/d/f", "/c/e/f"), "/c/d", "/c/e")
    changes(lambda: fs.unlink("/c/e/f"), "/c/e")
    changes(lambda: fs.rmdir("/c/d/sub"), "/c/d")
    changes(lambda: fs.symlink("/c/d/l", "x"), "/c/d")
    changes(lambda: fs.mknod("/c/d/p", stat.S_IFIFO | 0o644, 0), "/c/d")
    write_file(fs, "/c/d/g")
    unchanged = fs.getattr("/c/d")
    time.sleep(0.002)
    fs.release(fs.create("/c/d/g", 0o644, os.O_WRONLY | os.O_CREAT))  # it exists: no change
    assert fs.getattr("/c/d")["st_mtime"] == unchanged["st_mtime"]


def test_status_changes_move_ctime_and_utimens_sets_both_times(fs, store):
    write_file(fs, "/c/f")
    st = fs.getattr("/c/f")
    assert st["st_ctime"] == st["st_mtime"] == st["st_atime"]
    time.sleep(0.002)
    fs.chmod("/c/f", 0o600)
    after = fs.getattr("/c/f")
    assert after["st_ctime"] > st["st_ctime"] and after["st_mtime"] == st["st_mtime"]
    fs.utimens("/c/f", (1_000_000_000_111_111_111, 1_200_000_000_222_222_222))
    st = fs.getattr("/c/f")
    assert (st["st_atime"], st["st_mtime"]) == (
        1_000_000_000_111_111_111,
        1_200_000_000_222_222_222,
    )
    assert st["st_ctime"] > after["st_ctime"]
    from pithosfs.fs.core import UTIME_OMIT

    fs.utimens("/c/f", (UTIME_OMIT, 1_300_000_000_000_000_000))  # atime kept
    assert fs.getattr("/c/f")["st_atime"] == 1_000_000_000_111_111_111
    fs.utimens("/c/f", (1_300_000_000_000_000_000, UTIME_OMIT))  # atime == mtime: key dropped
    assert "Pithosfs-Atime" not in store.head_object("c", "f").meta
    rename_before = fs.getattr("/c/f")["st_ctime"]
    fs.rename("/c/f", "/c/g")
    assert fs.getattr("/c/g")["st_ctime"] > rename_before


def test_a_write_moves_mtime_and_ctime_together(fs, store):
    write_file(fs, "/c/f")
    fs.chmod("/c/f", 0o600)
    fh = fs.open("/c/f", os.O_WRONLY)
    fs.write(fh, 0, b"new")
    fs.flush(fh)
    fs.release(fh)
    st = fs.getattr("/c/f")
    assert st["st_ctime"] == st["st_mtime"]
    assert "Pithosfs-Ctime" not in store.head_object("c", "f").meta


def test_directory_links_are_counted_from_a_cached_listing(fs, store):
    fs.mkdir("/c/d", 0o755)
    for name in ("a", "b"):
        fs.mkdir(f"/c/d/{name}", 0o755)
    write_file(fs, "/c/d/f")
    fs.readdir("/c/d")
    assert fs.getattr("/c/d")["st_nlink"] == 4
    assert fs.getattr("/c/d/f")["st_nlink"] == 1


# -- types follow the final name ------------------------------------------------------
def test_types_follow_the_final_name(fs, store):
    store.put_object("c", "index.html", b"<p>old</p>", content_type="text/html")
    store.put_object("c", "data", b"{}", content_type="application/json")
    for temp, final in ((".index.html.Xy12ab", "index.html"), ("sedAb12Cd", "data"),
                        ("tmpq1w2e3r4", "page.html"), ("notes.txt.part", "README")):  # fmt: skip
        write_file(fs, f"/c/{temp}", b"<p>new</p>")
        fs.rename(f"/c/{temp}", f"/c/{final}")
    assert store.head_object("c", "index.html").content_type == "text/html"  # replaced: kept
    assert store.head_object("c", "data").content_type == "application/json"
    assert store.head_object("c", "page.html").content_type == "text/html"  # guessed anew
    assert store.head_object("c", "README").content_type == "application/octet-stream"
    store.put_object("c", "chosen.bin", b"x", content_type="image/png")  # chosen by someone
    fs.rename("/c/chosen.bin", "/c/chosen.txt")
    assert store.head_object("c", "chosen.txt").content_type == "image/png"


def test_a_rename_over_another_kind_of_file_keeps_each_kind(fs, store):
    fs.mknod("/c/p", stat.S_IFIFO | 0o644, 0)
    write_file(fs, "/c/tmp1", b"x")
    fs.rename("/c/tmp1", "/c/p")  # a file over a fifo: still a file
    assert stat.S_ISREG(fs.getattr("/c/p")["st_mode"])
    write_file(fs, "/c/page.html", b"x")
    fs.symlink("/c/l", "target")
    fs.rename("/c/l", "/c/page.html")  # a symlink over a file: still a symlink
    assert stat.S_ISLNK(fs.getattr("/c/page.html")["st_mode"])
    assert store.head_object("c", "page.html").content_type == "inode/symlink"


def test_a_file_renamed_while_open_commits_with_the_final_type(fs, store):
    fh = fs.create("/c/tmp123", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.write(fh, 0, b"<p>")
    fs.rename("/c/tmp123", "/c/page.html")
    fs.write(fh, 3, b"hi</p>")
    fs.flush(fh)
    fs.release(fh)
    info = store.head_object("c", "page.html")
    assert info.content_type == "text/html" and info.size == 9
