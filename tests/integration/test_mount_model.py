"""Model-based test: one random sequence of file operations on the mount and on a local
directory, compared after every step (the fsx idea, as mountpoint-s3's reference tests)."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import pytest

STEPS = 300
NAMES = ["a", "b", "c d", "é"]
DIRS = ["", "x", "x/y"]


def _tree(root: Path) -> dict[str, tuple[str, object, int]]:
    """Every entry below root: (kind, content or link target, permission bits)."""
    out: dict[str, tuple[str, object, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            key = os.path.normpath(os.path.join(rel, name))
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                out[key] = ("link", os.readlink(full), 0)
            elif stat.S_ISDIR(mode):
                out[key] = ("dir", None, stat.S_IMODE(mode))
            else:
                out[key] = ("file", full.read_bytes(), stat.S_IMODE(mode))
    return out


def _apply(root: Path, op: tuple, rng_bytes: bytes) -> str:
    """Run one operation; returns 'ok' or the errno name, so both sides can be compared."""
    kind, path, arg = op
    target = root / path
    try:
        if kind == "write":
            with open(target, "r+b" if target.exists() else "wb") as f:
                f.seek(arg)
                f.write(rng_bytes)
        elif kind == "append":
            with open(target, "ab") as f:
                f.write(rng_bytes)
        elif kind == "truncate":
            os.truncate(target, arg)
        elif kind == "overwrite":
            target.write_bytes(rng_bytes)
        elif kind == "unlink":
            os.unlink(target)
        elif kind == "rename":
            os.rename(target, root / arg)
        elif kind == "mkdir":
            os.mkdir(target)
        elif kind == "rmdir":
            os.rmdir(target)
        elif kind == "chmod":
            os.chmod(target, arg)
        elif kind == "symlink":
            os.symlink(arg, target)
        elif kind == "read":
            with open(target, "rb") as f:
                f.seek(arg)
                return "ok:" + f.read(5000).hex()
        return "ok"
    except OSError as exc:
        return os.strerror(exc.errno or 0)


def _random_op(rng: random.Random) -> tuple:
    d = rng.choice(DIRS)
    path = os.path.join(d, rng.choice(NAMES)) if d else rng.choice(NAMES)
    kind = rng.choice(
        ["write", "write", "append", "truncate", "overwrite", "read", "read",
         "unlink", "rename", "mkdir", "rmdir", "chmod", "symlink"]
    )  # fmt: skip
    if kind == "chmod":
        return kind, path, rng.choice([0o600, 0o644, 0o755, 0o700])
    if kind == "symlink":
        return kind, path, rng.choice(["a", "x/a", "nowhere/é"])  # never out of the tree
    if kind in ("write", "read"):
        return kind, path, rng.randrange(0, 3 * 1024 * 1024)
    if kind == "truncate":
        return kind, path, rng.randrange(0, 3 * 1024 * 1024)
    if kind == "rename":
        other = rng.choice(DIRS)
        return kind, path, os.path.join(other, rng.choice(NAMES)) if other else rng.choice(NAMES)
    if kind in ("mkdir", "rmdir"):
        return kind, d or rng.choice(DIRS[1:]), 0
    return kind, path, 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_operations_match_a_local_directory(mnt: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    local = tmp_path / "local"
    local.mkdir()
    for step in range(STEPS):
        op = _random_op(rng)
        data = rng.randbytes(rng.choice([1, 100, 5000, 70_000]))
        expected = _apply(local, op, data)
        got = _apply(mnt, op, data)
        assert got == expected, f"step {step} {op}: mount {got[:80]!r}, local {expected[:80]!r}"
        if step % 10 == 9 or step == STEPS - 1:
            assert _tree(mnt) == _tree(local), f"trees differ after step {step} {op}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 6])
def test_random_operations_with_1_kib_blocks(
    fuse_ok: None, small_block_server: object, tmp_path: Path, unique_name: str, seed: int
) -> None:
    """The same on a server with 1 KiB blocks: every write spans many blocks."""
    from tests.conftest import ALICE
    from tests.integration.conftest import start_mount, stop_mount

    m = start_mount(small_block_server, ALICE, tmp_path / "m")
    try:
        (m.path / unique_name).mkdir()
        test_random_operations_match_a_local_directory(m.path / unique_name, tmp_path, seed)
        assert "Traceback" not in m.log_text()
    finally:
        stop_mount(m)
