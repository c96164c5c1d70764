"""mount.pithosfs: options that reach `pithosfs mount` through the environment, and mount(8)'s -t."""

from __future__ import annotations

from pathlib import Path

import pytest

from pithosfs.mount.fstab import translate, translate_with_env


def test_token_file_goes_to_the_environment_not_argv(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    args, env = translate_with_env(
        ["lab", "/mnt/p", "-o", f"token_file={token_file},kamakirc=/etc/pithosfs/kamakirc,ro"]
    )
    assert args == ["mount", "/mnt/p", "--cloud", "lab", "-o", "ro"]
    assert env == {"PITHOS_TOKEN": "s3cret-token", "KAMAKIRC": "/etc/pithosfs/kamakirc"}
    assert "s3cret-token" not in " ".join(args)


@pytest.mark.parametrize("content", [None, ""])
def test_unreadable_or_empty_token_file_is_one_line(tmp_path: Path, content: str | None) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    with pytest.raises(SystemExit) as info:
        translate(["lab", "/mnt/p", "-o", f"token_file={token_file}"])
    assert str(info.value).startswith(f"pithosfs: token_file={token_file}")


def test_type_argument_and_vfs_flags() -> None:
    # mount(8) adds -t when it runs a generic helper; noexec/nosuid/nodev are real mount flags.
    args = translate(["-t", "fuse.pithosfs", "embedded", "/mnt/p", "-o", "noexec,nosuid,uhelper=x"])
    assert args == ["mount", "/mnt/p", "-o", "noexec,nosuid"]


def test_mount8_defaults_keep_nosuid_nodev() -> None:
    # mount(8) hands every entry `rw,dev,suid`; setuid bits stored in the account must not count.
    args = translate(["lab", "/mnt/p", "-o", "rw,dev,suid,allow_other"])
    assert args == ["mount", "/mnt/p", "--cloud", "lab", "-o", "allow_other"]


def test_cli_takes_the_mount_fuse3_form_only_with_options(tmp_path) -> None:
    import subprocess
    import sys

    typo = subprocess.run([sys.executable, "-m", "pithosfs", "mout", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert typo.returncode == 2 and "No such command 'mout'" in typo.stderr
    bad_file = tmp_path / "absent-token"
    as_helper = subprocess.run(
        [sys.executable, "-m", "pithosfs", "lab", str(tmp_path), "-o", f"token_file={bad_file}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert as_helper.stderr.startswith(f"pithosfs: token_file={bad_file}")  # the helper read it


def test_token_in_options_warns(capsys, monkeypatch) -> None:
    from pithosfs.mount.fstab import adopt

    monkeypatch.setattr("os.environ", {})  # adopt() may add to the environment
    adopt(["lab", "/mnt/p", "-o", "token=T"])
    assert "token= in mount options is readable by every user" in capsys.readouterr().err
    adopt(["lab", "/mnt/p", "-o", "ro"])
    assert capsys.readouterr().err == ""
