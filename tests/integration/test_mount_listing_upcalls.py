"""What `ls -l` costs in FUSE upcalls (not only in requests): counted in a -v mount's log.

Each upcall is a round trip through the kernel and a Python callback, so a
per-file upcall is what made `ls -l` of 10,000 objects several times slower
than the listing itself even with no per-file request.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Mount, start_mount, stop_mount

FILES = 300


def upcalls(m: Mount, since: int) -> Counter[str]:
    # Operations logs each call; the FUSE class answers other namespaces' getxattr itself.
    text = m.log_text(since)
    calls = re.findall(r"DEBUG pithosfs\.fs\.(?:operations|mount): (\w+)\(", text)
    return Counter(calls)


@pytest.fixture
def verbose_mount(fuse_ok: None, server: object, tmp_path: Path) -> Iterator[Mount]:
    """A -v mount. Not mount_factory's: at debug level the binding logs a traceback
    for every error it returns (ENOTSUP included), so only ERROR lines count here."""
    from tests.conftest import ALICE

    m = start_mount(server, ALICE, tmp_path, "-vv", "--attr-timeout", "60", "--dir-timeout", "60")
    try:
        yield m
    finally:
        stop_mount(m)
    assert not re.search(r" (ERROR|CRITICAL) ", m.log_text()), m.log_text()[-4000:]


def test_ls_l_makes_no_upcall_per_file(verbose_mount: Mount, unique_name: str) -> None:
    m = verbose_mount
    m.client.create_container(unique_name)
    for i in range(FILES):
        m.client.put_object(unique_name, f"d/f{i:04d}", b"x" * (i % 7))
    directory = m.path / unique_name / "d"
    directory.stat()
    since = m.log_size()
    out = subprocess.run(
        ["ls", "-l", str(directory)], check=True, capture_output=True, text=True, timeout=60
    )
    lines = out.stdout.splitlines()[1:]  # after "total"
    assert len(lines) == FILES
    assert lines[0].split()[4] == "0" and lines[6].split()[4] == "6"  # sizes from the listing
    calls = upcalls(m, since)
    # The listing brings the attributes (READDIRPLUS): no lookup/getattr per name. ls asks
    # for the SELinux label and ACL of the first file only: ENOTSUP ends that per device.
    assert calls["getattr"] <= 3, calls
    assert calls["getxattr"] <= 2, calls
    assert sum(calls.values()) <= 12, calls


def test_namespaces_other_than_user_are_not_supported(mnt) -> None:
    path = mnt / "f"
    path.write_bytes(b"data")
    for name in ("security.selinux", "system.posix_acl_access", "trusted.x"):
        with pytest.raises(OSError) as caught:
            os.getxattr(path, name)
        assert caught.value.errno == errno.ENOTSUP, name
    with pytest.raises(OSError) as caught:
        os.getxattr(path, "user.missing")
    assert caught.value.errno == errno.ENODATA  # a user attribute that is just not set


def test_a_listing_continues_its_own_entries_while_another_lists_a_changed_directory(
    mnt: Path,
) -> None:
    """Two open listings of one directory: a file created between them shows in the
    second only, and the first (read in several getdents calls) neither repeats
    nor skips an entry where it resumes."""
    names = [f"f{i:04d}-{'x' * 40}" for i in range(1500)]  # long names: several calls
    for name in names:
        (mnt / name).touch()
    first = os.scandir(mnt)
    seen = [next(first).name for _ in range(200)]  # the first call(s) of listing 1
    (mnt / "a-new").touch()  # sorts before everything listing 1 has left
    second = sorted(os.listdir(mnt))
    seen += [entry.name for entry in first]
    first.close()
    assert "a-new" in second and len(second) == len(names) + 1
    assert sorted(seen) == names  # no duplicate, none skipped, not the newcomer
