"""What a user can get wrong, and the one line (and exit status) each mistake gets.

`mount` refuses a mount point as mount(8) and sshfs do (missing, a file, not empty,
already a mount) without creating anything; a wrong URL, a refused connection or a
bad token is named as such; `umount` names a path that is not a mount, and the
processes that keep a mount busy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALICE
from tests.integration.test_mount_command import force_unmount, run

pytestmark = pytest.mark.mount


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean user environment: own HOME and cache, no credentials anywhere."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PITHOS_", "XDG_"))}
    e.pop("PITHOSFS_TOKEN", None)
    e.update(HOME=str(tmp_path / "home"), KAMAKIRC=str(tmp_path / "home/.kamakirc"))
    (tmp_path / "home").mkdir()
    return e


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pithosfs: "), done.stderr
    return lines[0]


def mount_alice(server: object, mountpoint: Path, env: dict[str, str], *extra: str):  # type: ignore[no-untyped-def]
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    return run("mount", str(mountpoint), "--url", storage, *extra, env=dict(env, PITHOS_TOKEN=ALICE[1]))


def test_a_missing_mount_point_is_an_error_and_nothing_is_created(
    server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    try:
        done = mount_alice(server, missing, env)
        assert done.returncode == 1
        assert one_line(done) == f"pithosfs: mountpoint does not exist: {missing} (create it first: mkdir {missing})"
        assert not (tmp_path / "does").exists()
    finally:
        force_unmount(missing)


def test_a_mount_point_that_is_a_file_exits_1_as_documented(
    server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    done = mount_alice(server, file, env)
    assert done.returncode == 1
    assert one_line(done) == f"pithosfs: mountpoint is not a directory: {file}"
    assert file.read_text() == "x"


def test_a_non_empty_mount_point_is_refused_unless_nonempty(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    (mp / "mine.txt").write_text("hidden by a mount")
    try:
        done = mount_alice(server, mp, env)
        assert done.returncode == 1
        assert one_line(done).startswith(f"pithosfs: mountpoint is not empty: {mp} ")
        assert "-o nonempty" in done.stderr
        assert not os.path.ismount(mp)
        done = mount_alice(server, mp, env, "-o", "nonempty")
        assert done.returncode == 0, done.stderr
        assert os.path.ismount(mp) and not (mp / "mine.txt").exists()
        assert run("umount", str(mp), env=env).returncode == 0
        assert (mp / "mine.txt").read_text() == "hidden by a mount"
    finally:
        force_unmount(mp)


def test_a_wrong_identity_path_is_named_not_called_a_refused_token(
    server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "mnt").mkdir()
    base = server.base_url  # type: ignore[attr-defined]
    done = run("mount", str(tmp_path / "mnt"), "--url", f"{base}/wrong/v2.0", "--token", ALICE[1],
               env=env)  # fmt: skip
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith(f"pithosfs: no identity service at {base}/wrong/v2.0 ("), line
    assert "404 Not Found" in line and "check the URL" in line and "refused the token" not in line


def test_a_refused_connection_names_host_and_port(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "mnt").mkdir()
    done = run("mount", str(tmp_path / "mnt"), "--url", "http://127.0.0.1:9/identity/v2.0",
               "--token", "t", env=env)  # fmt: skip
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith("pithosfs: cannot connect to 127.0.0.1:9: connection refused"), line
    assert "HTTPConnectionPool" not in line and "Errno" not in line


def test_a_bad_token_names_the_token_to_fix(
    server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "mnt").mkdir()
    done = run("mount", str(tmp_path / "mnt"), "--url", server.identity_url,  # type: ignore[attr-defined]
               "--token", "wrong", env=env)  # fmt: skip
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith("pithosfs: bad token: the server refused it (")
    assert "401 Unauthorized" in line and "$PITHOS_TOKEN" in line


def test_umount_of_what_is_not_a_mount_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "dir").mkdir()
    done = run("umount", str(tmp_path / "dir"), env=env)
    assert done.returncode == 1
    assert one_line(done) == f"pithosfs: not a mount point: {tmp_path / 'dir'}"
    done = run("umount", str(tmp_path / "nope"), env=env)
    assert done.returncode == 1
    assert one_line(done) == f"pithosfs: not a mount point: {tmp_path / 'nope'} (no such directory)"


def test_umount_while_busy_names_the_processes_holding_it(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str], unique_name: str
) -> None:
    mp = tmp_path / "mnt"
    mp.mkdir()
    try:
        assert mount_alice(server, mp, env).returncode == 0
        (mp / unique_name).mkdir()
        (mp / unique_name / "f.txt").write_text("kept open")
        sitter = subprocess.Popen(["sleep", "60"], cwd=mp / unique_name)
        reader = subprocess.Popen(
            [sys.executable, "-c", "import sys,time; f=open(sys.argv[1]); print(1, flush=True); "
             "time.sleep(60)", str(mp / unique_name / "f.txt")],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert reader.stdout is not None and reader.stdout.readline().strip() == b"1"
            done = run("umount", str(mp), env=env)
            assert done.returncode == 1
            line = one_line(done)
            assert line.startswith(f"pithosfs: busy: {mp} is in use by PID "), line
            assert f"{sitter.pid} (sleep: working directory)" in line, line
            assert re.search(rf"\b{reader.pid} \(python[0-9.]*: open file\)", line), line
            assert os.path.ismount(mp)
        finally:
            sitter.kill()
            reader.kill()
            sitter.wait()
            reader.wait()
        assert run("umount", str(mp), env=env).returncode == 0
    finally:
        force_unmount(mp)


def test_the_exit_statuses_in_the_help_are_the_ones_used() -> None:
    """--help documents 0, 1 (every refusal above) and 2 (usage errors), and nothing else."""
    for command in ("mount", "umount"):
        text = run(command, "--help").stdout
        section = text.split("Exit status:", 1)[1].split("\n\n", 1)[0]
        codes = re.findall(r"^ +(\d)  [a-z]", section, flags=re.M)
        assert codes == ["0", "1", "2"], (command, section)
    usage = run("mount")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_one_token_variable_and_the_older_name_warns(
    fuse_ok: None, server: object, tmp_path: Path, env: dict[str, str]
) -> None:
    """PITHOS_TOKEN is the name `mount`, `config` and the docs use; PITHOSFS_TOKEN still works."""
    mp = tmp_path / "mnt"
    mp.mkdir()
    storage = server.storage_url(ALICE[0])  # type: ignore[attr-defined]
    old_env = dict(env, PITHOSFS_TOKEN=ALICE[1], XDG_CACHE_HOME=str(tmp_path / "xdg"))
    try:
        done = run("mount", str(mp), "--url", storage, env=old_env)
        assert done.returncode == 0, done.stderr
        assert "PITHOSFS_TOKEN is deprecated; set PITHOS_TOKEN instead" in done.stderr
        assert run("umount", str(mp), env=old_env).returncode == 0
        shown = run("config", "--url", storage, env=old_env)
        assert shown.returncode == 0, shown.stderr
        assert "PITHOSFS_TOKEN is deprecated" in shown.stderr
        assert "(PITHOSFS_TOKEN)" in shown.stdout
    finally:
        force_unmount(mp)
    for command in ("mount", "config"):
        text = run(command, "--help").stdout
        assert "PITHOS_TOKEN" in text and "PITHOSFS_TOKEN" not in text, command
