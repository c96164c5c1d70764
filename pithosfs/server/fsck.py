"""Consistency check of a server data dir: SQLite versions against block files.

Run on a stopped server (or at start, before serving). It finds
- versions whose blocks are missing (data lost: reported, never invented),
- block files no version references (left by a crash between the block
  upload and the hashmap commit, or by deletes); removed only with
  `repair=True`, since a client may still commit a hashmap naming them and
  will then get 409 and resend them (the protocol's normal path),
- leftover temp files and block files of the wrong size or (with
  `deep=True`) whose content does not hash to their name; both removed with
  `repair=True` (a bad block is worse than a missing one: it would be served).

Repair needs exclusive use of the data dir (a server committing a hashmap
that names an unreferenced block must not see it vanish). Every `serve` holds
a lock on `<data_dir>/serve.lock` while it runs (`hold_data_dir`): the first
one takes it exclusively, repairs at start, then shares it; a server that
starts while another holds the dir only reports. Offline, by hand:

    python -m pithosfs.server.fsck DATA_DIR [--repair] [--deep]
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pithosfs import protocol

log = logging.getLogger(__name__)


@dataclass
class FsckReport:
    versions: int = 0
    blocks: int = 0
    missing: dict[int, list[str]] = field(default_factory=dict)  # version serial -> hashes
    unreferenced: list[Path] = field(default_factory=list)
    temp_files: list[Path] = field(default_factory=list)
    corrupt: list[Path] = field(default_factory=list)
    removed: int = 0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unreferenced or self.temp_files or self.corrupt)

    def summary(self) -> str:
        return (
            f"fsck: {self.versions} versions, {self.blocks} blocks; "
            f"{len(self.missing)} versions with missing blocks, "
            f"{len(self.unreferenced)} unreferenced blocks, {len(self.temp_files)} temp files, "
            f"{len(self.corrupt)} corrupt blocks; {self.removed} files removed"
        )


def _referenced(
    db_path: Path, digest_len: int, report: FsckReport
) -> tuple[dict[str, list[int]], int]:
    """Block hash -> versions naming it, and the largest block size any version used."""
    refs: dict[str, list[int]] = {}
    largest = 0
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT serial, hashes, block_size FROM versions")
        for serial, hashes, version_block_size in rows:
            report.versions += 1
            largest = max(largest, int(version_block_size))
            raw = bytes(hashes)
            for i in range(0, len(raw), digest_len):
                refs.setdefault(raw[i : i + digest_len].hex(), []).append(serial)
    finally:
        conn.close()
    return refs, largest


LOCK_FILE = "serve.lock"  # held (flock) by every server running on a data dir


def hold_data_dir(data_dir: Path) -> tuple[int, bool]:
    """Lock `data_dir` for a server's lifetime: (descriptor to keep open, alone in it).

    Alone (no other server holds it): the lock is exclusive until `share` is
    called, so a repair at start cannot race another server's uploads. Not
    alone: a shared lock, taken once no one else is repairing.
    """
    fd = os.open(Path(data_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, True
    except BlockingIOError:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a starting server repairs
        return fd, False


def share(fd: int) -> None:
    """After the repair at start: let other servers open the dir too."""
    fcntl.flock(fd, fcntl.LOCK_SH)


def check(
    data_dir: Path,
    block_size: int = protocol.DEFAULT_BLOCK_SIZE,
    algorithm: str = protocol.DEFAULT_HASH_ALGORITHM,
    repair: bool = False,
    deep: bool = False,
) -> FsckReport:
    """Compare `<data_dir>/pithos.db` with `<data_dir>/blocks`; see the module docstring."""
    report = FsckReport()
    db_path = Path(data_dir) / "pithos.db"
    blocks_dir = Path(data_dir) / "blocks"
    if not db_path.exists():
        return report
    empty = protocol.block_hash_hex(b"", algorithm)
    refs, largest = _referenced(db_path, len(protocol.block_hash(b"", algorithm)), report)
    block_size = max(block_size, largest)  # a dir written with bigger blocks keeps them
    present: set[str] = set()
    tmp_dir = blocks_dir / "tmp"
    if tmp_dir.is_dir():
        report.temp_files = sorted(tmp_dir.iterdir())
    for path in sorted(blocks_dir.glob("??/*")) if blocks_dir.is_dir() else []:
        report.blocks += 1
        name = path.name
        size = path.stat().st_size
        bad = size > block_size or (
            deep and protocol.block_hash_hex(path.read_bytes(), algorithm) != name
        )
        if bad:
            report.corrupt.append(path)
        elif name in refs:
            present.add(name)
        else:
            report.unreferenced.append(path)
    for hex_hash, serials in refs.items():
        if hex_hash not in present and hex_hash != empty:
            for serial in serials:
                report.missing.setdefault(serial, []).append(hex_hash)
    if repair:
        for path in report.temp_files + report.corrupt + report.unreferenced:
            try:
                path.unlink()
                report.removed += 1
            except OSError as exc:
                log.warning("fsck could not remove %s: %s", path, exc)
    for serial, hashes in sorted(report.missing.items()):
        log.error("fsck: version %d misses %d block(s), e.g. %s", serial, len(hashes), hashes[0])
    log.info("%s", report.summary())
    return report


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pithosfs.server.fsck", description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--repair", action="store_true", help="remove orphans (server stopped!)")
    parser.add_argument("--deep", action="store_true", help="rehash every block")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    report = check(args.data_dir, repair=args.repair, deep=args.deep)
    print(report.summary())
    return 0 if report.clean or (args.repair and not report.missing) else 1


if __name__ == "__main__":
    raise SystemExit(main())
