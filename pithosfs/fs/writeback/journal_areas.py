"""The journal's areas on disk, read and changed without a mount: for `status`, `umount`
and `pithosfs journal`.

A cache dir holds the journal of the mount's own account (`journal/`, `failed/`,
`conflicts/`) and one such set per shared account written through `.shared/`
(`shared/<account>/journal/`...). `journalled` lists what waits for upload,
`failed` what the server refused for good (journal.py `fail`), each with the
one-line commands that put it back in the journal (`pithosfs journal retry ID`,
for when the reason is gone: quota raised, write access granted), copy it out
(`pithosfs journal save ID FILE`) or delete it (`pithosfs journal discard ID`).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from pithosfs.fs.options import default_cache_dir

SHARED_DIR = "shared"  # <cache-dir>/shared/<account>: the nested mounts of .shared/ (shared.py)


class AreaError(Exception):
    """A `pithosfs journal` request that cannot be done (unknown id, refs it cannot fill)."""


def roots(cache_dir: Path | str) -> list[Path]:
    """The cache dir and the per-account dirs of the shared accounts below it."""
    top = Path(cache_dir)
    shared = top / SHARED_DIR
    below = sorted(p for p in shared.iterdir() if p.is_dir()) if shared.is_dir() else []
    return [top, *below]


def mount_prefix(root: Path) -> str:
    """How a journal root's paths show in the mount: "" or "/.shared/<account>"."""
    return f"/.shared/{root.name}" if root.parent.name == SHARED_DIR else ""


def _records(directory: Path) -> list[dict[str, Any]]:
    found = []
    for record in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            entry = json.loads(record.read_bytes())
            if isinstance(entry, dict) and "id" in entry and "container" in entry:
                found.append(entry)
        except (OSError, ValueError):
            continue  # a record being replaced right now, or a broken one (journal.py keeps it)
    return found


def _belongs(entry: dict[str, Any], root: Path, account: str) -> bool:
    """Whether an entry is the mount's of `account` ("": any): mounts of different accounts
    may share a cache dir; a shared account's entries name that account's URL, on the
    same server."""
    theirs = str(entry.get("account", ""))
    if not account or not theirs:
        return True
    if mount_prefix(root):
        return theirs.rsplit("/", 1)[0] == account.rsplit("/", 1)[0]
    return theirs == account


def journalled(cache_dir: Path | str, account: str = "") -> list[dict[str, Any]]:
    """Entries waiting in the journals below a cache dir, as `status` shows uploads
    (only those of `account`'s mount, if given)."""
    out = []
    for root in roots(cache_dir):
        for e in _records(root / "journal"):
            if not _belongs(e, root, account):
                continue
            try:
                out.append(
                    {
                        "path": f"{mount_prefix(root)}/{e['container']}/{e['name']}",
                        "state": "journal",
                        "total": int(e["size"]),
                        "sent": 0,
                        "rate": 0.0,
                        "eta": None,
                        "attempts": int(e.get("attempts", 0)),
                        "last_error": str(e.get("last_error", "")),
                    }  # fmt: skip
                )
            except (KeyError, TypeError, ValueError):
                continue
    return out


def _cache_flag(cache_dir: Path) -> str:
    same = Path(cache_dir).expanduser().absolute() == default_cache_dir().absolute()
    return "" if same else f" --cache-dir {cache_dir}"


def failed(cache_dir: Path | str) -> list[dict[str, Any]]:
    """Entries the server refused for good, with the reason and the commands for each."""
    out = []
    flag = _cache_flag(Path(cache_dir))
    for root in roots(cache_dir):
        for e in _records(root / "failed"):
            ident = str(e["id"])
            out.append(
                {
                    "id": ident,
                    "path": f"{mount_prefix(root)}/{e['container']}/{e.get('name', '')}",
                    "size": int(e.get("size", 0)),
                    "why": str(e.get("last_error", "")),
                    "time": float(e.get("failed", 0.0)),
                    "kept_at": str(root / "failed" / f"{ident}.data"),
                    "retry": f"pithosfs journal retry {ident}{flag}",
                    "save": f"pithosfs journal save {ident} FILE{flag}",
                    "discard": f"pithosfs journal discard {ident}{flag}",
                }  # fmt: skip
            )
    return sorted(out, key=lambda f: f["time"])


def find(cache_dir: Path | str, ident: str) -> tuple[Path, dict[str, Any]]:
    """The root and record of failed entry `ident` (a unique prefix will do)."""
    matches = [
        (root, e)
        for root in roots(cache_dir)
        for e in _records(root / "failed")
        if str(e["id"]).startswith(ident)
    ]
    if not ident or not matches:
        raise AreaError(f"no failed upload {ident!r} under {cache_dir}")
    if len(matches) > 1:
        raise AreaError(f"{ident!r} names {len(matches)} failed uploads: give more of the id")
    return matches[0]


def retry(cache_dir: Path | str, ident: str) -> str:
    """Put a failed entry back in its journal (attempts reset); its mount replays it."""
    root, e = find(cache_dir, ident)
    journal = root / "journal"
    journal.mkdir(parents=True, exist_ok=True, mode=0o700)
    e.update(attempts=0, failed=0.0, last_error=f"retried after: {e.get('last_error', '')}")
    os.replace(root / "failed" / f"{e['id']}.data", journal / f"{e['id']}.data")
    tmp = journal / f".{e['id']}.json.tmp"
    tmp.write_text(json.dumps(e, sort_keys=True))
    os.replace(tmp, journal / f"{e['id']}.json")
    (root / "failed" / f"{e['id']}.json").unlink(missing_ok=True)
    return f"{mount_prefix(root)}/{e['container']}/{e['name']}"


def save(cache_dir: Path | str, ident: str, dest: Path) -> str:
    """Copy a failed entry's content to `dest` (sparse); refused if blocks are missing."""
    root, e = find(cache_dir, ident)
    refs = e.get("refs") or {}
    if refs:
        raise AreaError(
            f"{len(refs)} block(s) of {e['container']}/{e['name']} are only on the server "
            f"(version {e.get('base_version')}): use `pithosfs journal retry` once it answers"
        )
    if dest.exists():
        raise AreaError(f"{dest} exists: not overwriting it")
    _sparse_copy(root / "failed" / f"{e['id']}.data", dest)
    return f"{mount_prefix(root)}/{e['container']}/{e['name']}"


def discard(cache_dir: Path | str, ident: str) -> str:
    """Delete a failed entry for good."""
    root, e = find(cache_dir, ident)
    (root / "failed" / f"{e['id']}.data").unlink(missing_ok=True)
    (root / "failed" / f"{e['id']}.json").unlink(missing_ok=True)
    return f"{mount_prefix(root)}/{e['container']}/{e['name']}"


def _sparse_copy(src: Path, dest: Path) -> None:
    """Copy a file keeping its holes (SEEK_DATA/SEEK_HOLE): a sparse 1 TiB entry stays small."""
    with open(src, "rb") as f, open(dest, "xb") as out:
        size = os.fstat(f.fileno()).st_size
        out.truncate(size)
        offset = 0
        while offset < size:
            try:
                offset = os.lseek(f.fileno(), offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    break  # only a hole is left
                raise
            end = os.lseek(f.fileno(), offset, os.SEEK_HOLE)
            while offset < end:
                piece = os.pread(f.fileno(), min(4 << 20, end - offset), offset)
                if not piece:
                    break
                os.pwrite(out.fileno(), piece, offset)
                offset += len(piece)
