"""-o ro, uid=, gid=, umask=, allow_other on real mounts, and a real fstab entry through mount(8)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pithosfs.mount import access_options as mount_options
from tests.conftest import ALICE
from tests.integration.conftest import Mount, start_mount, stop_mount

pytestmark = pytest.mark.mount

NOBODY = 65534
REPO = Path(__file__).resolve().parents[2]
_SETPRIV = shutil.which("setpriv")


def as_nobody(
    *cmd: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run a command as uid/gid 65534 (no new account: `nobody` exists everywhere)."""
    assert _SETPRIV
    priv = [_SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    full_env = None if env is None else {"PATH": "/usr/bin:/bin", **env}
    return subprocess.run(
        [*priv, *cmd], capture_output=True, text=True, timeout=timeout, env=full_env
    )


def with_content(m: Mount, container: str, name: str, data: bytes) -> Path:
    m.client.create_container(container)
    m.client.put_object(container, name, data)
    return m.path / container / name


def test_ro_refuses_every_write_with_erofs(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    m = mount_factory("-o", "ro")
    path = with_content(m, unique_name, "kept", b"original")
    assert path.read_bytes() == b"original"
    writes: list[Callable[[], object]] = [
        lambda: path.write_bytes(b"changed"),
        lambda: open(path, "ab").close(),
        lambda: os.truncate(path, 0),
        lambda: (path.parent / "new").write_bytes(b"x"),
        lambda: (path.parent / "dir").mkdir(),
        lambda: path.unlink(),
        lambda: path.rename(path.parent / "moved"),
        lambda: os.chmod(path, 0o600),
        lambda: os.utime(path, (1, 1)),
        lambda: os.setxattr(path, "user.note", b"x"),
        lambda: (m.path / f"{unique_name}-c").mkdir(),
    ]
    for write in writes:
        with pytest.raises(OSError) as info:
            write()
        assert info.value.errno == errno.EROFS
    assert m.client.read_object(unique_name, "kept") == b"original"
    assert sorted(os.listdir(path.parent)) == ["kept"]


def test_uid_gid_and_umask_are_what_every_entry_shows(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    m = mount_factory("-o", "uid=1234,gid=2345,umask=027")
    path = with_content(m, unique_name, "f", b"data")
    (path.parent / "made-here").write_bytes(b"y")  # root passes default_permissions
    for entry in (m.path, path.parent, path, path.parent / "made-here"):
        st = os.stat(entry)
        assert (st.st_uid, st.st_gid) == (1234, 2345), entry
        assert stat.S_IMODE(st.st_mode) == 0o750, entry  # libfuse: 0777 & ~umask


@pytest.mark.skipif(os.geteuid() != 0 or not _SETPRIV, reason="needs root and setpriv")
@pytest.mark.parametrize(
    "options, reads, mode",
    [
        ((), False, 0o644),
        (("-o", "allow_other"), False, 0o600),  # the safe default: the owner's bits only
        (("-o", "allow_other,umask=022"), True, 0o755),  # told otherwise: libfuse's rule
        (("-o", f"allow_other,uid={NOBODY}"), True, 0o600),  # the owner shown gets in
    ],
    ids=["no-allow_other", "allow_other", "allow_other-umask022", "allow_other-uid"],
)
def test_allow_other_lets_other_users_in(
    fuse_ok: None, server: object, public_root: Path, unique_name: str,
    options: tuple[str, ...], reads: bool, mode: int,
) -> None:  # fmt: skip
    m = start_mount(server, ALICE, public_root / "m", *options)
    try:
        os.chmod(public_root / "m", 0o755)
        path = with_content(m, unique_name, "readme", b"for everyone")
        assert path.stat().st_mode & 0o777 == mode
        if options == ("-o", "allow_other"):
            assert path.parent.stat().st_mode & 0o777 == 0o700
            chosen = with_content(m, unique_name, "chosen", b"chmod-ed")
            os.chmod(chosen, 0o644)  # a chosen mode is shown as stored, never narrowed
            assert chosen.stat().st_mode & 0o777 == 0o644
            # ...but the container (a default mode) still keeps other users out
            read = as_nobody("cat", str(chosen))
            assert read.returncode != 0 and "Permission denied" in read.stderr
        read = as_nobody("cat", str(path))
        if reads:
            assert read.returncode == 0 and read.stdout == "for everyone", read.stderr
        else:
            assert read.returncode != 0 and "Permission denied" in read.stderr
        if "umask=022" in "".join(options):
            write = as_nobody("touch", str(path.parent / "by-nobody"))  # mode 755: not theirs
            assert write.returncode != 0 and "Permission denied" in write.stderr
    finally:
        stop_mount(m)


STD_PATH_BIN = Path("/usr/local/bin")  # on the PATH mount(8) gives its helpers


@pytest.fixture
def pithosfs_on_std_path() -> Iterator[None]:
    """mount.fuse3 runs `pithosfs` from mount(8)'s standard PATH: link the venv's there."""
    if os.geteuid() != 0:
        pytest.skip("mount(8) of an fstab entry needs root")
    ours = Path(sys.executable).parent / "pithosfs"
    link = STD_PATH_BIN / "pithosfs"
    created = False
    if not link.exists():
        link.symlink_to(ours)
        created = True
    elif link.resolve() != ours.resolve():
        pytest.skip(f"{link} is another installation")
    try:
        yield
    finally:
        if created and link.is_symlink() and link.resolve() == ours.resolve():
            link.unlink()


def test_fstab_entry_through_mount8(
    fuse_ok: None, server: object, pithosfs_on_std_path: None, tmp_path: Path, unique_name: str
) -> None:
    """`mount MOUNTPOINT` of a fuse.pithosfs fstab line: cloud from a kamakirc, token never in -o."""
    if not Path("/sbin/mount.fuse3").exists() and not Path("/sbin/mount.fuse").exists():
        pytest.skip("no mount.fuse3 (fuse3 package)")
    rc = tmp_path / "kamakirc"
    identity = server.identity_url  # type: ignore[attr-defined]
    rc.write_text(f'[cloud "lab"]\nurl = {identity}\ntoken = {ALICE[1]}\n')
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    fstab.write_text(
        f"lab {mnt} fuse.pithosfs noauto,_netdev,kamakirc={rc},ro,uid=1234,"
        f"cache_dir={tmp_path / 'cache'},log_file={tmp_path / 'log'} 0 0\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PITHOS_", "KAMAKIRC"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    from pithosfs.client.pithos import PithosClient

    client = PithosClient.from_storage_url(server.storage_url(ALICE[0]), ALICE[1])  # type: ignore[attr-defined]
    client.create_container(unique_name)
    try:
        done = subprocess.run(
            ["mount", "-T", str(fstab), str(mnt)], capture_output=True, text=True, timeout=90,
            env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert os.path.ismount(mnt)  # live when mount(8) returns
        mountinfo = [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                     if f" {mnt} " in ln]  # fmt: skip
        assert mountinfo and " fuse.pithosfs " in mountinfo[0] and " ro," in mountinfo[0]
        # mount(8) passes its defaults `dev,suid`; they must not reach the kernel
        assert ",nosuid,nodev," in mountinfo[0], mountinfo[0]
        assert unique_name in os.listdir(mnt)
        assert os.stat(mnt / unique_name).st_uid == 1234
        with pytest.raises(OSError) as info:
            (mnt / unique_name / "x").write_bytes(b"x")
        assert info.value.errno == errno.EROFS
        done = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        assert not os.path.ismount(mnt)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True, timeout=30)
        client.close()


def test_owner_by_name_and_chown_to_the_shown_owner(
    mount_factory: Callable[..., Mount], unique_name: str
) -> None:
    """`uid=nobody` shows 65534 for every file; chown to that owner is the no-op cp -a and
    rsync -a expect; another owner is stored, and shown by mounts without uid=."""
    m = mount_factory("-o", "uid=nobody")
    path = with_content(m, unique_name, "f", b"data")
    assert os.stat(path).st_uid == NOBODY
    os.chown(path, NOBODY, -1)  # the owner every file shows: accepted, nothing to store
    assert "Pithosfs-Uid" not in m.client.head_object(unique_name, "f").meta
    os.chown(path, 4242, -1)  # stored; libfuse still shows uid= for every file
    assert os.stat(path).st_uid == NOBODY
    assert m.client.head_object(unique_name, "f").meta["Pithosfs-Uid"] == "4242"
    done = subprocess.run(["cp", "-a", str(path), str(path.parent / "copy")], capture_output=True)
    assert done.returncode == 0, done.stderr


def test_unusable_option_is_refused_in_one_line(
    fuse_ok: None, server: object, tmp_path: Path
) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    done = subprocess.run(
        [sys.executable, "-m", "pithosfs", "mount", str(mnt), "-o", "uid=no-such-user-h7",
         "--url", server.storage_url(ALICE[0]), "--cache-dir", str(tmp_path / "cache")],  # type: ignore[attr-defined]
        capture_output=True, text=True, timeout=90, env=dict(env, PITHOS_TOKEN=ALICE[1]),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "pithosfs: -o uid=no-such-user-h7: no such user\n"
    assert not os.path.ismount(mnt)


def _python_for(uid: int) -> tuple[list[str], dict[str, str]] | None:
    """An interpreter (and environment) in which `uid` can import pithosfs and its deps."""
    candidates = [([sys.executable], {})]
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if system.exists():  # same minor version: this venv's packages load in it
        deps = sysconfig.get_path("purelib")
        candidates.append(([str(system)], {"PYTHONPATH": f"{REPO}:{deps}"}))
    for argv, env in candidates:
        # The daemonizing mount re-runs sys.executable: probe that too, not just the first exec.
        code = "import subprocess, sys; import pithosfs.mount.command, mfusepy; " \
               "subprocess.run([sys.executable, '-c', 'import pithosfs'], check=True)"  # fmt: skip
        probe = as_nobody(*argv, "-c", code, env=env)
        if probe.returncode == 0:
            return argv, env
    return None


ACL_XATTR = "system.posix_acl_access"


def mounted(path: Path) -> bool:
    """From /proc/self/mountinfo: os.path.ismount says False for a mount root may not enter."""
    return any(
        f" {path} " in line for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )


@pytest.fixture
def fuse_device_for_nobody() -> Iterator[None]:
    """Let uid 65534 (only) open /dev/fuse, with a POSIX ACL removed afterwards.

    Distributions make /dev/fuse 0666; some containers leave it 0600, where no user
    could mount. An ACL entry for one uid is the narrowest way to test the user path.
    A lock serialises concurrent test runs, so one never restores the other's state.
    """
    device = Path("/dev/fuse")
    with open(Path(tempfile.gettempdir()) / "pithosfs-dev-fuse-acl.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mode = device.stat().st_mode & 0o7777
        if mode & 0o006 == 0o006:
            yield  # already open to every user
            return
        undefined = 0xFFFFFFFF
        entries = [(0x01, 6, undefined), (0x02, 6, NOBODY), (0x04, 0, undefined),
                   (0x10, 6, undefined), (0x20, 0, undefined)]  # fmt: skip
        acl = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
        try:
            os.setxattr(device, ACL_XATTR, acl)
        except OSError as exc:
            pytest.skip(f"/dev/fuse is {mode:o} and takes no ACL ({exc.strerror})")
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.removexattr(device, ACL_XATTR)
            os.chmod(device, mode)  # the ACL mask changed the group bits


@pytest.mark.skipif(
    os.geteuid() != 0 or not _SETPRIV or not shutil.which("fusermount3"),
    reason="needs root (to act as uid 65534), setpriv and fusermount3",
)
def test_non_root_mount_through_fusermount3(
    fuse_ok: None, server: object, public_root: Path, fuse_device_for_nobody: None,
    unique_name: str,
) -> None:  # fmt: skip
    """A user mounts, writes and unmounts with no privileges: fusermount3 does the mount."""
    found = _python_for(NOBODY)
    if found is None:
        pytest.skip("no interpreter uid 65534 can run pithosfs from")
    python, py_env = found
    home, mnt = public_root / "home", public_root / "mnt"
    for d in (home, mnt):
        d.mkdir()
        os.chown(d, NOBODY, NOBODY)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), **py_env,
           "PITHOS_URL": server.storage_url(ALICE[0]), "PITHOS_TOKEN": ALICE[1]}  # type: ignore[attr-defined]  # fmt: skip
    from pithosfs.client.pithos import PithosClient

    client = PithosClient.from_storage_url(env["PITHOS_URL"], ALICE[1])
    client.create_container(unique_name)
    try:
        if not mount_options.user_allow_other():  # fusermount3 would refuse: we say why first
            refused = as_nobody(*python, "-m", "pithosfs", "mount", str(mnt), "-o", "allow_other",
                                env=env, timeout=90)  # fmt: skip
            assert refused.returncode == 1 and refused.stderr.count("\n") == 1
            assert "-o allow_other needs 'user_allow_other' in /etc/fuse.conf" in refused.stderr
            assert not mounted(mnt)
        done = as_nobody(*python, "-m", "pithosfs", "mount", str(mnt), env=env, timeout=90)
        assert done.returncode == 0, done.stderr
        assert mounted(mnt)
        line = next(ln for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                    if f" {mnt} " in ln)  # fmt: skip
        assert f"user_id={NOBODY}" in line and "nosuid" in line and "nodev" in line
        target = mnt / unique_name / "by-nobody.txt"
        wrote = as_nobody("sh", "-c", f"echo written by a user > {target}")
        assert wrote.returncode == 0, wrote.stderr
        owner = as_nobody("stat", "-c", "%u", str(target))  # root may not look in: no allow_other
        assert owner.stdout.strip() == str(NOBODY), owner.stderr
        done = as_nobody(*python, "-m", "pithosfs", "umount", str(mnt), env=env, timeout=90)
        assert done.returncode == 0, done.stderr
        assert not mounted(mnt)
        assert client.read_object(unique_name, "by-nobody.txt") == b"written by a user\n"
    finally:
        if mounted(mnt):  # the mount process exits once unmounted
            subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True, timeout=30)
        client.close()
