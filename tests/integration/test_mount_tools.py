"""Editors, archivers, rsync and git on a real mount: the write path end to end."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import Mount


def sh(cmd: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, shell=True, cwd=cwd, check=check, capture_output=True, text=True, timeout=240
    )


def test_append(mnt: Path, session_mount: Mount) -> None:
    sh(f"echo first > {mnt}/log")
    sh(f"echo second >> {mnt}/log")
    with open(mnt / "log", "a") as f:
        f.write("third\n")
    assert (mnt / "log").read_text() == "first\nsecond\nthird\n"
    assert session_mount.client.read_range(mnt.name, "log", 0, 100) == b"first\nsecond\nthird\n"


def test_truncate_shrink_and_extend(mnt: Path) -> None:
    (mnt / "t").write_bytes(b"0123456789")
    sh(f"truncate -s 4 {mnt}/t")
    assert (mnt / "t").read_bytes() == b"0123"
    sh(f"truncate -s 8 {mnt}/t")
    assert (mnt / "t").read_bytes() == b"0123\0\0\0\0"
    with open(mnt / "t", "r+b") as f:
        f.truncate(2)
        f.seek(5)
        f.write(b"x")  # sparse write past EOF
    assert (mnt / "t").read_bytes() == b"01\0\0\0x"


def test_o_trunc_rewrite(mnt: Path) -> None:
    (mnt / "f").write_text("a long first version")
    (mnt / "f").write_text("short")
    assert (mnt / "f").read_text() == "short"


def test_dd_conv_notrunc(mnt: Path, tmp_path: Path) -> None:
    data = bytearray(os.urandom(3 * 1024 * 1024))
    (tmp_path / "local").write_bytes(data)
    sh(f"cp {tmp_path}/local {mnt}/img")
    sh(f"printf 'XYZ' | dd of={mnt}/img bs=1 seek=1048576 conv=notrunc status=none")
    data[1048576:1048579] = b"XYZ"
    assert (mnt / "img").read_bytes() == bytes(data)


def test_sed_in_place(mnt: Path) -> None:
    (mnt / "conf").write_text("colour=red\nsize=1\n")
    os.chmod(mnt / "conf", 0o640)
    sh(f"sed -i 's/red/blue/' {mnt}/conf")
    assert (mnt / "conf").read_text() == "colour=blue\nsize=1\n"
    assert sorted(os.listdir(mnt)) == ["conf"]  # sed's temporary was renamed away


def test_python_tempfile_and_replace(mnt: Path) -> None:
    (mnt / "settings.json").write_text("{}")
    fd, tmp = tempfile.mkstemp(dir=mnt, prefix=".settings.")
    with os.fdopen(fd, "w") as f:
        f.write('{"saved": true}')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, mnt / "settings.json")
    assert (mnt / "settings.json").read_text() == '{"saved": true}'
    assert os.listdir(mnt) == ["settings.json"]


@pytest.mark.skipif(not shutil.which("vi"), reason="vi (vim-tiny) not installed")
def test_vim_saves_a_file(mnt: Path) -> None:
    (mnt / "notes.txt").write_text("line one\nline two\n")
    sh(f"vi -es -c '%s/two/2/' -c 'wq' {mnt}/notes.txt", cwd=mnt)
    assert (mnt / "notes.txt").read_text() == "line one\nline 2\n"
    assert sorted(os.listdir(mnt)) == ["notes.txt"]  # no swap or backup left behind


@pytest.mark.skipif(not shutil.which("rsync"), reason="rsync not installed")
def test_rsync_twice_transfers_nothing_the_second_time(mnt: Path, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    for i in range(5):
        (src / f"f{i}").write_bytes(os.urandom(1000 * (i + 1)))
    (src / "sub" / "x").write_text("x")
    os.chmod(src / "f1", 0o755)
    first = sh(f"rsync -a --stats {src}/ {mnt}/tree/").stdout
    assert "Number of regular files transferred: 6" in first
    second = sh(f"rsync -a --itemize-changes --stats {src}/ {mnt}/tree/").stdout
    assert "Number of regular files transferred: 0" in second, second
    sh(f"diff -r {src} {mnt}/tree")
    assert os.stat(mnt / "tree/f1").st_mode & 0o777 == 0o755


def test_tar_round_trip_with_symlinks_and_modes(mnt: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    os.chmod(src / "bin" / "tool", 0o755)
    (src / "data.txt").write_text("data " * 1000)
    os.chmod(src / "data.txt", 0o600)
    os.symlink("bin/tool", src / "link")
    sh(f"tar -C {src} -cf {tmp_path}/in.tar .")
    sh(f"tar -C {mnt} -xpf {tmp_path}/in.tar")
    sh(f"tar -C {mnt} -cf {tmp_path}/out.tar .")
    out = tmp_path / "out"
    out.mkdir()
    sh(f"tar -C {out} -xpf {tmp_path}/out.tar")
    sh(f"diff -r --no-dereference {src} {out}")
    assert os.readlink(out / "link") == "bin/tool"
    assert os.stat(out / "bin/tool").st_mode & 0o777 == 0o755
    assert os.stat(out / "data.txt").st_mode & 0o777 == 0o600
    # tar's default format keeps whole seconds
    assert int(os.stat(src / "data.txt").st_mtime) == int(os.stat(out / "data.txt").st_mtime)


@pytest.mark.skipif(not shutil.which("git"), reason="git not installed")
def test_git_init_add_commit_clone(mnt: Path, tmp_path: Path) -> None:
    env = "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e"
    repo = mnt / "repo"
    repo.mkdir()
    sh("git init -q .", cwd=repo)
    (repo / "README").write_text("hello\n")
    (repo / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(repo / "run.sh", 0o755)
    sh(f"git add . && {env} git commit -q -m first", cwd=repo)
    (repo / "README").write_text("hello again\n")
    sh(f"{env} git commit -q -am second", cwd=repo)
    assert sh("git status --porcelain", cwd=repo).stdout == ""
    sh(f"git clone -q {repo} {tmp_path}/clone")
    assert (tmp_path / "clone/README").read_text() == "hello again\n"
    assert os.stat(tmp_path / "clone/run.sh").st_mode & 0o111
    sh(f"git clone -q {tmp_path}/clone {mnt}/clone2")
    assert sh("git log --oneline", cwd=mnt / "clone2").stdout.count("\n") == 2
    sh("git fsck --no-progress", cwd=mnt / "clone2")
    sh("git gc -q && git fsck --no-progress", cwd=repo)  # packs: temp files, renames, fsync
    assert sh("git log --oneline", cwd=repo).stdout.count("\n") == 2


def test_concurrent_writer_conflict_is_estale(mnt: Path, session_mount: Mount) -> None:
    (mnt / "shared").write_text("base")
    f = open(mnt / "shared", "r+")
    f.write("mine")
    session_mount.client.put_object(mnt.name, "shared", b"someone else's")
    with pytest.raises(OSError) as info:
        f.close()
    assert info.value.errno == errno.ESTALE
    assert session_mount.client.read_range(mnt.name, "shared", 0, 100) == b"someone else's"


def test_close_to_open_visible_to_another_client(mnt: Path, session_mount: Mount) -> None:
    with open(mnt / "c2o", "wb") as f:
        f.write(b"durable at close")
    assert session_mount.client.read_range(mnt.name, "c2o", 0, 100) == b"durable at close"
