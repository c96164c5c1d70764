"""Which mounts use the embedded server: one lease file per mount process, named by its pid.

The mount's launcher (`mount/launcher.py`) writes and removes the leases; `pithosfs
serve --stop` reads them to refuse stopping a server that mounts still use. Both
sides import this module, which imports only `processes.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pithosfs.processes import pid_alive


def data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "pithosfs"


def embedded_data_dir() -> Path:
    return data_home() / "server"


def leases_dir() -> Path:
    """One file per mount process using the embedded server, named by its pid."""
    return data_home() / "mounts-using"


def live_leases() -> dict[int, str]:
    """{pid: mount point} of the mount processes using the embedded server; leases of
    processes gone (a killed mount) are removed."""
    live = {}
    for lease in leases_dir().glob("*") if leases_dir().is_dir() else []:
        pid = int(lease.name) if lease.name.isdigit() else 0
        if pid and pid_alive(pid):
            live[pid] = lease.read_text(errors="replace")
        else:
            lease.unlink(missing_ok=True)
    return live


def embedded_holders() -> set[int]:
    """Pids of the mount processes recorded as using the embedded server (a cheap look,
    without the lock)."""
    names = (p.name for p in leases_dir().glob("*")) if leases_dir().is_dir() else ()
    return {int(name) for name in names if name.isdigit()}


def embedded_users() -> list[str]:
    """Mount points of the live mounts that use the embedded server."""
    return sorted(live_leases().values())
