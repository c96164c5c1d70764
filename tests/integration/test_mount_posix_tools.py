"""Shell tools leave what the user meant: one version per save, types, owners, limits.

Real tools on a real mount (bash redirections, vim in ex mode, sed -i, rsync,
Python's atomic save), with the versions counted on the server.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Mount
from tests.posix.users import errno_as, run_as

NOBODY = 65534


def sh(cmd: str, cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert done.returncode == 0, (cmd, done.stderr)
    return done.stdout


def sizes(m: Mount, container: str, name: str) -> list[int]:
    """The size of every version of `name` on the server, oldest first."""
    return [
        m.client.head_object(container, name, v.version).size
        for v in m.client.list_versions(container, name)
    ]


def test_redirects_leave_one_version_each_and_none_empty(mnt: Path, session_mount: Mount) -> None:
    sh("echo one > f; echo two > f; echo three > f", mnt)
    assert sizes(session_mount, mnt.name, "f") == [4, 4, 6]
    listed = sh("ls .versions/f", mnt).split()
    assert [(mnt / ".versions/f" / n).read_bytes() for n in listed] == [
        b"one\n",
        b"two\n",
        b"three\n",
    ]  # fmt: skip  (plain `ls`: oldest first)
    ids = [v.version for v in session_mount.client.list_versions(mnt.name, "f")]
    assert [int(n) for n in listed] == ids  # each name is its Pithos+ version id
    assert (mnt / ".versions/f" / str(ids[0])).read_bytes() == b"one\n"  # unpadded too
    sh("echo four >> f; /bin/echo five >> f; cat f > g", mnt)
    assert sizes(session_mount, mnt.name, "f") == [4, 4, 6, 11, 16]
    assert sizes(session_mount, mnt.name, "g") == [16]
    sh(": > f; touch new", mnt)  # these mean an empty file: committed once
    assert (
        sizes(session_mount, mnt.name, "f")[-1] == 0
        and len(sizes(session_mount, mnt.name, "f")) == 6
    )
    assert sizes(session_mount, mnt.name, "new") == [0]


def test_an_empty_truncate_is_on_the_server_when_close_returns(
    mnt: Path, session_mount: Mount
) -> None:
    """Close-to-open also for a save that writes nothing (`: > f`, `touch`)."""
    (mnt / "f").write_bytes(b"content")
    for _ in range(5):
        sh(": > f; touch t", mnt)  # the check comes the instant bash has returned
        assert session_mount.client.head_object(mnt.name, "f").size == 0
        session_mount.client.head_object(mnt.name, "t")
        (mnt / "f").write_bytes(b"content")
        os.unlink(mnt / "t")


def test_editor_saves_add_exactly_one_version(mnt: Path, session_mount: Mount) -> None:
    (mnt / "notes.txt").write_text("hello\n")
    editors = [
        "vim -es -u NONE -c 's/hello/vim/' -c wq notes.txt",
        "vim.tiny -es -u NONE -c 's/vim/tiny/' -c wq notes.txt",
        "sed -i s/tiny/sed/ notes.txt",
    ]
    if shutil.which("nano"):  # nano saves in place: open O_TRUNC, write, close
        editors.append("printf 'x' | nano --saveonexit notes.txt >/dev/null 2>&1 || true")
    count = 1
    for command in editors:
        if not shutil.which(command.split()[0]):
            continue
        sh(command, mnt)
        count += 1
        assert len(sizes(session_mount, mnt.name, "notes.txt")) == count, command
        assert 0 not in sizes(session_mount, mnt.name, "notes.txt"), command
    assert (mnt / "notes.txt").read_text() == "sed\n"


def _atomic_save(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    os.write(fd, data)
    os.close(fd)
    os.replace(tmp, path)


def test_atomic_saves_keep_the_type_of_what_they_replace(
    mnt: Path, session_mount: Mount, tmp_path: Path
) -> None:
    client, cont = session_mount.client, mnt.name
    (mnt / "index.html").write_text("<p>one</p>\n")
    assert client.head_object(cont, "index.html").content_type == "text/html"
    sh("sed -i s/one/two/ index.html", mnt)
    _atomic_save(mnt / "index.html", b"<p>three</p>\n")
    local = tmp_path / "index.html"
    local.write_text("<p>four</p>\n")
    subprocess.run(["rsync", str(local), str(mnt / "index.html")], check=True)
    assert client.head_object(cont, "index.html").content_type == "text/html"
    assert len(sizes(session_mount, cont, "index.html")) == 4
    client.put_object(cont, "data", b"{}", content_type="application/json")
    deadline = time.monotonic() + 30
    while not (mnt / "data").exists():  # made elsewhere: shows after the listing timeout
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _atomic_save(mnt / "data", b"[]")
    assert client.head_object(cont, "data").content_type == "application/json"
    # A new name gets the type its own name says, never the temporary one's.
    subprocess.run(["rsync", str(local), str(mnt / "page.html")], check=True)
    _atomic_save(mnt / "style.css", b"p {}")
    assert client.head_object(cont, "page.html").content_type == "text/html"
    assert client.head_object(cont, "style.css").content_type == "text/css"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_truncate_past_the_largest_file_fails_at_once_with_efbig(
    mnt: Path, session_mount: Mount
) -> None:
    (mnt / "f").write_bytes(b"x")
    before = _rss_kib(session_mount.proc.pid)
    done = subprocess.run(
        ["truncate", "-s", "999999999999999", str(mnt / "f")],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip  (the old code hung here in D state, growing to gigabytes)
    assert done.returncode == 1 and "File too large" in done.stderr
    fd = os.open(mnt / "f", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as info:
            os.posix_fallocate(fd, 0, 2**50)
        assert info.value.errno == errno.EFBIG
        with pytest.raises(OSError) as info:
            os.pwrite(fd, b"x", 2**50)
        assert info.value.errno == errno.EFBIG
    finally:
        os.close(fd)
    assert _rss_kib(session_mount.proc.pid) - before < 32 * 1024
    assert (mnt / "f").read_bytes() == b"x"


def _open_to_all(mount_factory: Callable[..., Mount], name: str) -> Path:
    """A directory every user may write, on a mount that lets them in (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    container = mount_factory("-o", "allow_other").path / name
    container.mkdir()
    d = container / "open"  # a directory: its mode is stored (a container keeps its default)
    d.mkdir()
    os.chmod(d, 0o777)
    return d


def test_a_non_owner_direct_write_clears_set_id_bits(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    d = _open_to_all(mount_factory, unique_name)
    for name, mode, left in (("suid", 0o4777, 0o777), ("both", 0o6777, 0o777),
                             ("sgid", 0o2777, 0o777)):  # fmt: skip
        (d / name).write_bytes(b"x")
        os.chmod(d / name, mode)

        def write(path: str) -> int:
            fd = os.open(path, os.O_WRONLY)  # write-only, alone: direct I/O (fs/fuse/page_cache_bypass.py)
            os.write(fd, b"y")
            os.close(fd)
            return stat.S_IMODE(os.stat(path).st_mode)

        assert run_as(NOBODY, NOBODY, write, name, cwd=d) == (0, left), name
        assert stat.S_IMODE(os.stat(d / name).st_mode) == left
    (d / "root").write_bytes(b"x")
    os.chmod(d / "root", 0o4755)
    with open(d / "root", "r+b") as f:  # root has CAP_FSETID: the bits stay
        f.write(b"z")
    assert stat.S_IMODE(os.stat(d / "root").st_mode) == 0o4755


def test_mode_zero_is_kept_while_the_file_is_open(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    d = _open_to_all(mount_factory, unique_name)
    fd = os.open(d / "secret", os.O_WRONLY | os.O_CREAT, 0)
    try:
        os.write(fd, b"secret")
        assert stat.S_IMODE(os.stat(d / "secret").st_mode) == 0
        read = lambda: open("secret", "rb").read()  # noqa: E731
        assert errno_as(NOBODY, NOBODY, read, cwd=d) == errno.EACCES
    finally:
        os.close(fd)
    assert stat.S_IMODE(os.stat(d / "secret").st_mode) == 0


def test_owners_and_special_files_survive_a_remount(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    m = mount_factory()
    d = m.path / unique_name
    d.mkdir()
    (d / "f").write_bytes(b"x")
    os.chown(d / "f", 1234, 5678)
    os.symlink("f", d / "l")
    os.lchown(d / "l", 42, 43)
    os.mkfifo(d / "fifo")
    os.chmod(d / "fifo", 0o620)
    os.mknod(d / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(d / "disk", 0o600 | stat.S_IFBLK, os.makedev(8, 0))
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(d / "sock"))
    other = mount_factory()  # another mount of the same account, started afresh
    e = other.path / unique_name
    st = os.stat(e / "f")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert (os.lstat(e / "l").st_uid, os.lstat(e / "l").st_gid) == (42, 43)
    fifo = os.lstat(e / "fifo")
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620
    assert stat.S_ISCHR(os.lstat(e / "null").st_mode)
    assert os.lstat(e / "null").st_rdev == os.makedev(1, 3)
    assert os.lstat(e / "disk").st_rdev == os.makedev(8, 0)
    assert stat.S_ISSOCK(os.lstat(e / "sock").st_mode)
    # A fifo on the mount is a pipe (the kernel's: data never reaches the server).
    pid = os.fork()
    if pid == 0:
        with open(e / "fifo", "wb") as w:
            w.write(b"through the pipe")
        os._exit(0)
    with open(e / "fifo", "rb") as r:
        assert r.read() == b"through the pipe"
    os.waitpid(pid, 0)
    assert m.client.head_object(unique_name, "fifo").content_type == "inode/fifo"


def test_names_over_255_bytes_are_too_long(mnt: Path) -> None:
    (mnt / ("n" * 255)).write_bytes(b"ok")
    for name in ("n" * 256, "\u00e9" * 128):
        for attempt in (
            lambda p: p.write_bytes(b"x"), lambda p: p.stat(), lambda p: p.mkdir(),
        ):  # fmt: skip
            with pytest.raises(OSError) as info:
                attempt(mnt / name)
            assert info.value.errno == errno.ENAMETOOLONG


def test_parent_directory_times_move(mnt: Path) -> None:
    (mnt / "d").mkdir()
    before = os.stat(mnt / "d")
    time.sleep(0.01)
    (mnt / "d" / "f").write_bytes(b"x")
    after = os.stat(mnt / "d")
    assert after.st_mtime_ns > before.st_mtime_ns and after.st_ctime_ns > before.st_ctime_ns
    time.sleep(0.01)
    os.unlink(mnt / "d" / "f")
    assert os.stat(mnt / "d").st_mtime_ns > after.st_mtime_ns
