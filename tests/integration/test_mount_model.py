"""Model-based test: one random sequence of file operations on the mount and on a local
directory, compared after every step (the fsx idea, as mountpoint-s3's reference tests).

Each operation's result (bytes read, or the errno) is compared at once, the whole trees
(kinds, contents, modes, link targets) every 10 steps. Operations per seed:
PITHOSFS_MODEL_OPS (default 500: 2000 over the four seeds); the 1 KiB-block variant runs
at least 300 per seed. The runs print their operation counts.
"""

from __future__ import annotations

import os
import random
import stat
from collections import Counter
from pathlib import Path

import pytest

STEPS = int(os.environ.get("PITHOSFS_MODEL_OPS") or 500)
SMALL_BLOCK_STEPS = max(300, STEPS * 3 // 5)
NAMES = ["a", "b", "c d", "é"]
DIRS = ["", "x", "x/y", "z"]


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
        elif kind in ("rename", "rename_dir"):
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
        elif kind == "fsync":
            # Write, fsync, and read back through a second handle while the first is open.
            with open(target, "r+b" if target.exists() else "wb") as f:
                f.seek(arg)
                f.write(rng_bytes)
                f.flush()
                os.fsync(f.fileno())
                with open(target, "rb") as g:
                    g.seek(arg)
                    return "ok:" + g.read(len(rng_bytes)).hex()
        return "ok"
    except OSError as exc:
        return os.strerror(exc.errno or 0)


def _random_op(rng: random.Random) -> tuple:
    d = rng.choice(DIRS)
    path = os.path.join(d, rng.choice(NAMES)) if d else rng.choice(NAMES)
    kind = rng.choice(
        ["write", "write", "append", "truncate", "overwrite", "read", "read",
         "unlink", "rename", "mkdir", "rmdir", "chmod", "symlink", "fsync", "rename_dir"]
    )  # fmt: skip
    if kind == "chmod":
        return kind, path, rng.choice([0o600, 0o644, 0o755, 0o700])
    if kind == "symlink":
        return kind, path, rng.choice(["a", "x/a", "nowhere/é"])  # never out of the tree
    if kind == "rename_dir":  # over an empty or a full directory, or into itself
        return kind, rng.choice(DIRS[1:]), rng.choice(DIRS[1:])
    if kind in ("write", "read", "fsync"):
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
    _run(mnt, local, rng, STEPS)


def _run(mnt: Path, local: Path, rng: random.Random, steps: int) -> None:
    kinds: Counter[str] = Counter()
    for d in DIRS[1:]:  # start with every directory, so fewer operations are mere ENOENTs
        for root in (local, mnt):
            (root / d).mkdir()
    for step in range(steps):
        op = _random_op(rng)
        data = rng.randbytes(rng.choice([1, 100, 5000, 70_000]))
        expected = _apply(local, op, data)
        got = _apply(mnt, op, data)
        kinds[op[0] if expected.startswith("ok") else "refused"] += 1
        assert got == expected, f"step {step} {op}: mount {got[:80]!r}, local {expected[:80]!r}"
        if step % 10 == 9 or step == steps - 1:
            assert _tree(mnt) == _tree(local), f"trees differ after step {step} {op}"
    print(f"\nmodel: {steps} operations, 0 mismatches; {dict(sorted(kinds.items()))}")


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
        local = tmp_path / "local"
        local.mkdir()
        _run(m.path / unique_name, local, random.Random(seed), SMALL_BLOCK_STEPS)
        assert "Traceback" not in m.log_text()
    finally:
        stop_mount(m)
