"""`pithosfs mount` reports why a detached mount failed from its log's last reason line."""

from pathlib import Path

from pithosfs.mount.command import _reason_from_log


def test_libfuse_exit_code_is_replaced_by_its_own_reason(tmp_path: Path) -> None:
    log = tmp_path / "mount.log"
    log.write_text("old run\npithosfs: mount failed: 9\n")
    start = log.stat().st_size
    with log.open("a") as f:
        f.write("2026-12-04 INFO pithosfs.fs.fuse.mount: mounting\n")
        f.write("fuse: unknown option(s): `-o fmask=133'\n")
        f.write("pithosfs: mount failed: 3\n")
    assert _reason_from_log(log, start) == "mount failed: fuse: unknown option(s): `-o fmask=133'"


def test_other_reasons_are_kept_as_they_are(tmp_path: Path) -> None:
    log = tmp_path / "mount.log"
    log.write_text("fuse: something earlier\npithosfs: bad token: the server refused it\n")
    assert _reason_from_log(log, 0) == "bad token: the server refused it"
    log.write_text("pithosfs: mount failed: 3\n")  # nothing said why: the code is all there is
    assert _reason_from_log(log, 0) == "mount failed: 3"
