"""Requests per everyday operation, counted on the wire (SEMANTICS.md "Request budget").

Each test runs against a server that answers as the reference Pithos+ (strict: no
listing or write-reply extension) and against the default one. The counts are the
mount's own client counters (its status file), taken once the mount owes the server
nothing more on its own (held attribute changes, files read ahead). Mounts keep their
caches for a minute here, so that a slow machine does not turn a cached answer into
a request: the budgets are what an operation costs, not what cache expiry adds.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.integration import test_mount_fidelity
from tests.integration.conftest import Mount, stop_mount

# The fixtures: each test against a strict and a default server, mounts that trust
# their caches for a minute (`mounts(cache=...)`: a remount of a cache directory).
kind = test_mount_fidelity.kind
mounts = test_mount_fidelity.mounts
TAR_FILES = 35
TAR_DIRS = ("proj", "proj/src", "proj/doc")


def cost(m: Mount, action: Callable[[], object]) -> dict[str, int]:
    """The requests per method `action` made, all of them."""
    before = m.settled_counters(after=time.time())
    action()
    after = m.settled_counters(after=time.time())
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def sh(cmd: str) -> str:
    return subprocess.run(
        cmd, shell=True, check=True, capture_output=True, text=True, timeout=300
    ).stdout


def small_tree_tar(where: Path) -> Path:
    """35 small files in 3 directories, modes and mtimes set, as `tar c` makes them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in TAR_DIRS:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_000_000_000
            tf.addfile(info)
        for i in range(TAR_FILES):
            body = f"small file {i}\n".encode() * (1 + i)
            info = tarfile.TarInfo(f"{TAR_DIRS[i % 3]}/f{i:02d}.txt")
            info.size, info.mode, info.mtime = len(body), 0o640, 1_000_000_000 + i
            tf.addfile(info, io.BytesIO(body))
    path = where / "tree.tar"
    path.write_bytes(buf.getvalue())
    return path


def test_ls_l_of_2000_objects_cold(
    mounts: Callable[..., Mount], unique_name: str, tmp_path: Path
) -> None:
    """<= 2 requests on a fresh mount: the container's HEAD (its lookup) and the listing.

    Objects written by other tools carry no pithosfs metadata; objects written by a
    mount carry modes and mtimes, which a server without the listing-meta extension
    does not list: then a remount of the same cache directory knows them (metadata
    cache by UUID and version), and only a first mount ever HEADs each once.
    """
    first = mounts()
    client = first.client
    client.create_container(unique_name)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.put_object(unique_name, f"f{i:05d}", b"x"), range(2000)))
    out = ""

    def ls() -> None:
        nonlocal out
        out = sh(f"ls -l {m.path}/{unique_name}")

    m = mounts()
    spent = cost(m, ls)
    assert out.count("\n") == 2001
    assert sum(spent.values()) <= 2, spent
    # The same objects given modes and mtimes (as a mount stores them), then a first
    # listing, and a remount of that cache directory: still 2.
    stamp = {"Pithosfs-Mode": "600", "Pithosfs-Mtime": "1000000000.5"}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.update_meta(unique_name, f"f{i:05d}", stamp), range(2000)))
    m = mounts()
    sh(f"ls -l {m.path}/{unique_name}")
    cache = m.path.parent / "cache"
    stop_mount(m)
    m = mounts(cache=cache)
    spent = cost(m, ls)
    assert out.count("-rw------- ") == 2000, out[:300]
    assert sum(spent.values()) <= 2, spent


def test_cat_of_a_small_file_after_a_listing(mounts: Callable[..., Mount], unique_name: str) -> None:
    m = mounts()
    m.client.create_container(unique_name)
    for i in range(5):
        m.client.put_object(unique_name, f"d/f{i}", b"content %d\n" % i)
    sh(f"ls -l {m.path}/{unique_name}/d")
    spent = cost(m, lambda: sh(f"cat {m.path}/{unique_name}/d/f3"))
    assert spent == {"GET": 1}, spent


def test_getfattr_d_of_one_file(mounts: Callable[..., Mount], unique_name: str) -> None:
    m = mounts()
    m.client.create_container(unique_name)
    m.client.put_object(unique_name, "f", b"x", meta={"Color": "blue", "Size": "9"})
    sh(f"ls -l {m.path}/{unique_name}")
    out = ""

    def getfattr() -> None:
        nonlocal out
        out = sh(f"getfattr -d {m.path}/{unique_name}/f")

    spent = cost(m, getfattr)
    assert 'user.Color="blue"' in out and "user.pithos.uuid=" in out, out
    assert sum(spent.values()) <= 1, spent


def test_shell_redirection_into_a_new_file(
    mounts: Callable[..., Mount], unique_name: str
) -> None:
    """`printf x > new.txt` in a listed directory: one PUT, carrying mode and mtime."""
    m = mounts()
    (m.path / unique_name).mkdir()
    sh(f"ls {m.path}/{unique_name}")
    spent = cost(m, lambda: sh(f"printf x > {m.path}/{unique_name}/new.txt"))
    assert spent == {"PUT": 1}, spent
    info = m.client.head_object(unique_name, "new.txt")
    assert m.client.read_object(unique_name, "new.txt") == b"x"
    assert "Pithosfs-Mode" in (info.meta or {}) and "Pithosfs-Mtime" in (info.meta or {})
    assert (m.path / unique_name / "new.txt").read_text() == "x"


def test_mv_and_rm_of_a_file(mounts: Callable[..., Mount], unique_name: str) -> None:
    m = mounts()
    (m.path / unique_name).mkdir()
    (m.path / unique_name / "a").write_text("moved")
    (m.path / unique_name / "c").write_text("removed")
    sh(f"ls {m.path}/{unique_name}")
    spent = cost(m, lambda: sh(f"mv {m.path}/{unique_name}/a {m.path}/{unique_name}/b"))
    assert spent == {"PUT": 1}, spent  # the MOVE (a PUT with X-Move-From)
    assert (m.path / unique_name / "b").read_text() == "moved"
    spent = cost(m, lambda: sh(f"rm {m.path}/{unique_name}/c"))
    assert spent == {"DELETE": 1}, spent
    assert sorted(os.listdir(m.path / unique_name)) == ["b"]


def test_untar_of_35_files_in_3_directories(
    mounts: Callable[..., Mount], unique_name: str, tmp_path: Path
) -> None:
    """<= 1.1 requests per file + 1 per directory: a PUT per file carrying its mode and
    mtime, a PUT per directory, and the directories' times and modes merged."""
    tar = small_tree_tar(tmp_path)
    m = mounts()
    (m.path / unique_name).mkdir()
    spent = cost(m, lambda: sh(f"tar xf {tar} -C {m.path}/{unique_name}"))
    assert sum(spent.values()) <= 1.1 * TAR_FILES + len(TAR_DIRS), spent
    listing = sh(f"ls -lR --time-style=+%s {m.path}/{unique_name}/proj")
    assert listing.count("-rw-r----- ") == TAR_FILES, listing
    assert " 1000000034 f34.txt" in listing, listing
    info = m.client.head_object(unique_name, "proj/src")
    assert (info.meta or {}).get("Pithosfs-Mode") == "755"


def test_grep_r_over_35_small_files_on_a_fresh_mount(
    mounts: Callable[..., Mount], unique_name: str, tmp_path: Path
) -> None:
    """<= 1.1 requests per file: one GET each (the later ones fetched ahead, in
    parallel), the directories from one listing of the (small) container, and the
    lookups and statfs of the walk. The files were written through a mount whose
    cache directory the new mount uses (a remount)."""
    tar = small_tree_tar(tmp_path)
    m = mounts()
    (m.path / unique_name).mkdir()
    sh(f"tar xf {tar} -C {m.path}/{unique_name}")
    cache = m.path.parent / "cache"
    stop_mount(m)
    m = mounts(cache=cache)
    out = ""

    def grep() -> None:
        nonlocal out
        out = sh(f"grep -r -c small {m.path}/{unique_name}/proj")

    spent = cost(m, grep)
    assert out.count("\n") == TAR_FILES
    assert spent.get("GET", 0) >= TAR_FILES, spent  # no file was skipped
    assert sum(spent.values()) <= 1.1 * TAR_FILES, spent
