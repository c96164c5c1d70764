"""Tunables of a mount, with their defaults in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "pithosfs"


_SIZES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def size_in_bytes(text: str) -> int:
    """`512M`, `2G`, `1048576` -> bytes, as sizes are spelled in options and settings;
    ValueError for anything else."""
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = value[-1:] if value[-1:] in _SIZES and not value[-1:].isdigit() else ""
    try:
        return int(float(value[: len(value) - len(unit)]) * _SIZES[unit])
    except (ValueError, OverflowError):  # OverflowError: "inf", "1e999"
        raise ValueError(f"not a size: {text!r}") from None


@dataclass(frozen=True)
class FsOptions:
    attr_timeout: float = 5.0  # seconds a stat answer is trusted (foreign changes show after it)
    dir_timeout: float = 5.0  # seconds a directory listing is trusted
    cache_dir: Path = field(default_factory=default_cache_dir)
    cache_size: int = 2 * 1024**3  # bytes of blocks kept on disk
    max_readahead: int = 32 * 1024 * 1024  # bytes in flight ahead of a sequential reader
    read_threads: int = 8
    upload_threads: int = 4
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)
    max_cached_entries: int = 200_000
    mode_mask: int = 0  # permission bits cleared in every mode shown (see mount/access_options.py)
