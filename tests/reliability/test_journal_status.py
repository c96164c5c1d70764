"""Status plumbing without a mount: the control socket, progress figures and their rendering."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pithosfs.fs.writeback.durability import Upload
from pithosfs.mount import control, status_view


def test_upload_rate_and_eta_come_from_bytes_sent_since_start() -> None:
    u = Upload("/c/f", "journal", total=1000, sent=250, started=100.0)
    shown = u.as_dict(now=105.0)
    assert shown["rate"] == pytest.approx(50.0)
    assert shown["eta"] == pytest.approx(15.0)
    waiting = Upload("/c/g", "journal", total=1000, sent=0, started=100.0).as_dict(now=105.0)
    assert waiting["rate"] == 0.0 and waiting["eta"] is None


def test_progress_bar_and_upload_line() -> None:
    assert status_view.progress_bar(0, 100, width=10) == "[..........]   0.0%"
    assert status_view.progress_bar(50, 100, width=10) == "[#####.....]  50.0%"
    assert status_view.progress_bar(100, 100, width=10) == "[##########] 100.0%"
    line = status_view.upload_line(
        Upload("/c/f", "journal", 4 << 20, 1 << 20, 0.0, 2, "refused").as_dict(now=2.0)
    )
    assert "1.0 MiB / 4.0 MiB" in line and "512.0 KiB/s" in line and "ETA 6s" in line
    assert line.endswith("/c/f  (tries 2: refused)")


def test_control_socket_answers_status_and_refuses_other_commands(tmp_path: Path) -> None:
    path = control.socket_path(tmp_path, "abc")
    server = control.ControlServer(path, lambda: {"uploads": [{"path": "/c/f"}]})
    server.start()
    try:
        assert (path.stat().st_mode & 0o777) == 0o600
        assert control.query(path) == {"uploads": [{"path": "/c/f"}]}
        with pytest.raises(OSError, match="unknown command"):
            control.query(path, "shutdown")
    finally:
        server.close()
    assert not path.exists()
    with pytest.raises(OSError):
        control.query(path)


def test_mounts_sharing_a_cache_dir_have_a_control_socket_each(tmp_path: Path) -> None:
    first, second = control.socket_path(tmp_path, "aaaa"), control.socket_path(tmp_path, "bbbb")
    assert first != second and first.parent == second.parent == tmp_path


def test_long_cache_dir_puts_the_socket_in_a_private_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 120)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    path = control.socket_path(deep, "abc")
    assert path == runtime / "pithosfs-abc.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # short enough to be a socket address


def test_error_log_keeps_the_last_warnings() -> None:
    import logging

    errors = control.ErrorLog(kept=2)
    logger = logging.getLogger("h4-test-error-log")
    logger.addHandler(errors)
    try:
        logger.info("not kept")
        for i in range(3):
            logger.warning("failure %d", i)
    finally:
        logger.removeHandler(errors)
    assert [e["message"] for e in errors.recent()] == ["failure 1", "failure 2"]


def test_rate_meter_measures_the_last_seconds_and_sees_a_stall() -> None:
    meter = control.RateMeter(window=5.0)
    assert meter.observe("k", 0, now=0.0) == 0.0  # one sample: no rate yet
    assert meter.observe("k", 1000, now=1.0) == pytest.approx(1000.0)
    assert meter.observe("k", 3000, now=2.0) == pytest.approx(1500.0)
    for t in range(3, 9):
        rate = meter.observe("k", 3000, now=float(t))  # stalled from t=2 on
    assert rate == 0.0
    assert meter.observe("k", 10, now=9.0) == 0.0  # a new upload under the same key restarts
    meter.keep_only(set())
    assert meter.observe("k", 500, now=10.0) == 0.0


def test_a_file_still_being_written_shows_bytes_written_and_uploaded_without_an_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Everything written so far is uploaded, but the writer goes on: not "100%, ETA 0s"."""
    import time
    from types import SimpleNamespace

    staged = SimpleNamespace(size=8 << 20, bg_uploaded_bytes=8 << 20, commit_uploaded_bytes=0)
    monkeypatch.setattr(
        "pithosfs.fs.open_files.open_files", lambda _table: [("/c/growing.log", True, staged)]
    )
    monitor = control.Monitor(SimpleNamespace(files=None), SimpleNamespace(pending=lambda: []))
    monitor._meter.observe("open:/c/growing.log", 0, time.time() - 2.0)  # 4 MiB/s so far
    (shown,) = monitor.uploads()
    assert shown["total"] == shown["sent"] == 8 << 20
    assert shown["rate"] > 0 and shown["eta"] is None
    line = status_view.upload_line(shown)
    assert "written 8.0 MiB, uploaded 8.0 MiB" in line, line
    assert "%" not in line and "ETA" not in line, line


def _journals(tmp_path: Path) -> tuple[Path, str]:
    """A cache dir with one entry of the mount's account and one of a shared account."""
    from pithosfs.fs.writeback.journal import UploadJournal

    account = "http://h/v1/alice"
    UploadJournal(tmp_path, account=account).park("c", "mine", None, 4, lambda o, n: b"mine")
    UploadJournal(tmp_path / "shared" / "bob", account="http://h/v1/bob").park(
        "c", "theirs", None, 6, lambda o, n: b"theirs"
    )
    return tmp_path, account


def test_umount_sees_shared_accounts_journals_even_if_the_mount_does_not_report_them(
    tmp_path: Path,
) -> None:
    from pithosfs.mount import status_query as mount_status

    cache, account = _journals(tmp_path)
    path = control.socket_path(tmp_path, "live")
    server = control.ControlServer(path, lambda: {"uploads": []})  # a mount unaware of them
    server.start()
    try:
        state = {"control": str(path), "cache_dir": str(cache), "account": account}
        pending = {u["path"] for u in mount_status.pending(state)}
        assert pending == {"/c/mine", "/.shared/bob/c/theirs"}
    finally:
        server.close()
    gone = {"cache_dir": str(cache), "account": account}  # a mount that does not answer
    assert {u["path"] for u in mount_status.pending(gone)} == pending


def test_status_lists_refused_uploads_with_a_command_for_each(tmp_path: Path) -> None:
    from pithosfs.fs.writeback.journal import UploadJournal
    from pithosfs.mount import status_query as mount_status

    journal = UploadJournal(tmp_path)
    entry = journal.park("c", "refused.bin", None, 5, lambda o, n: b"bytes")
    journal.fail(entry, "over quota: 413 Quota error")
    lines = status_view.failed_lines(mount_status.failed({"cache_dir": str(tmp_path)}))
    text = "\n".join(lines)
    assert "/c/refused.bin" in text and "over quota" in text
    assert f"pithosfs journal retry {entry.id}" in text
    assert f"pithosfs journal discard {entry.id}" in text
    assert f"pithosfs journal save {entry.id} FILE" in text


def test_journal_command_lists_retries_and_discards(tmp_path: Path) -> None:
    import subprocess
    import sys

    from pithosfs.fs.writeback.journal import UploadJournal

    journal = UploadJournal(tmp_path)
    kept = journal.park("c", "kept.bin", None, 5, lambda o, n: b"bytes")
    journal.fail(kept, "no right to write there")
    gone = journal.park("c", "gone.bin", None, 5, lambda o, n: b"bytes")
    journal.fail(gone, "no right to write there")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pithosfs", "journal", *args, "--cache-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    listed = run("list")
    assert listed.returncode == 0 and "/c/kept.bin" in listed.stdout, listed
    saved = tmp_path / "saved"
    assert run("save", kept.id, str(saved)).returncode == 0 and saved.read_bytes() == b"bytes"
    assert run("retry", kept.id).returncode == 0
    assert [e.name for e in journal.entries()] == ["kept.bin"]
    assert run("discard", gone.id[:10]).returncode == 0
    assert not list(journal.failed_dir.iterdir())
    missing = run("retry", "0000")
    assert missing.returncode == 1 and missing.stderr.startswith("pithosfs: no failed upload")
