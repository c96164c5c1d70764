"""A local `--metafile` opened with another user's rights: for the opening thread only,
and given back after (images/local_metafile.py). Needs root."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pithosfs.images import local_metafile
from pithosfs.images.local_metafile import Caller, LocalFileError, read

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="taking another user's rights needs root")

NOBODY = Caller(65534, 65534, os.getpid())  # our own pid: its groups are root's, so none kept


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory nobody can reach (pytest's own tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="pithosfs-local-metafile-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


@pytest.fixture
def files(public_dir: Path) -> dict[str, Path]:
    tmp_path = public_dir
    secret = tmp_path / "secret.meta"
    secret.write_text('{"k": "secret"}')
    secret.chmod(0o600)
    group = tmp_path / "group.meta"  # readable through root's group only
    group.write_text("{}")
    group.chmod(0o640)
    os.chown(group, 0, 0)
    public = tmp_path / "public.meta"
    public.write_text('{"k": "public"}')
    public.chmod(0o644)
    return {"secret": secret, "group": group, "public": public}


def test_another_users_rights_for_one_thread_only(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert read(str(files["public"]), NOBODY, 1 << 20) == b'{"k": "public"}'
    for name in ("secret", "group"):
        with pytest.raises(LocalFileError) as err:
            read(str(files[name]), NOBODY, 1 << 20)
        assert err.value.errno == errno.EACCES

    # While one thread holds nobody's rights, the others keep root's. (The other thread
    # is started before: a thread created by the switched one would inherit its rights.)
    seen: list[bytes] = []
    go, done = threading.Event(), threading.Event()

    def other_thread() -> None:
        go.wait(30)
        seen.append(files["secret"].read_bytes())
        done.set()

    other = threading.Thread(target=other_thread)
    other.start()
    opened = local_metafile._open

    def open_while_another_thread_reads(path: str) -> int:
        go.set()
        assert done.wait(30)
        return opened(path)

    monkeypatch.setattr(local_metafile, "_open", open_while_another_thread_reads)
    groups = os.getgroups()
    with pytest.raises(LocalFileError):
        read(str(files["secret"]), NOBODY, 1 << 20)
    assert os.getgroups() == groups
    other.join()
    assert seen == [b'{"k": "secret"}']
    # ... and this thread has root's rights back.
    assert files["secret"].read_bytes() == b'{"k": "secret"}'
    assert files["group"].read_bytes() == b"{}"


def test_root_and_no_caller_read_with_the_daemons_rights(files: dict[str, Path]) -> None:
    for caller in (None, Caller(0, 0, 1)):
        assert read(str(files["secret"]), caller, 1 << 20) == b'{"k": "secret"}'


def test_only_regular_files_up_to_the_bound(files: dict[str, Path], public_dir: Path) -> None:
    fifo = public_dir / "fifo"
    os.mkfifo(fifo, 0o666)
    for path, code in ((fifo, errno.EINVAL), (Path("/dev/zero"), errno.EINVAL)):
        with pytest.raises(LocalFileError) as err:
            read(str(path), NOBODY, 1 << 20)
        assert err.value.errno == code
    with pytest.raises(LocalFileError) as err:
        read(str(files["public"]), NOBODY, 5)
    assert err.value.errno == errno.EFBIG
