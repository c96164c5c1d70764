"""The command side of `status` and `umount`: ask live mounts, fall back to their journal on disk.

A mount's state file (launcher.py) names its control socket and cache dir.
A mount that answers is asked over the socket (control.py); one that does not
(gone, or hung) still has its journal on disk, which is read directly, so
`umount` never forgets a journalled file.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pithosfs.fs.writeback import journal_areas
from pithosfs.mount import control, launcher, status_view
from pithosfs.processes import pid_alive


def ask(state: dict[str, Any]) -> dict[str, Any] | None:
    """The mount's snapshot, or None if it has no control channel or does not answer."""
    path = state.get("control")
    if not path:
        return None
    try:
        return control.query(path)
    except OSError:
        return None


def journalled(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Entries of the mount's journals (its account's and the shared accounts'), read from
    its cache dir (no mount needed)."""
    cache_dir = state.get("cache_dir")
    return journal_areas.journalled(cache_dir, str(state.get("account", ""))) if cache_dir else []


def failed(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Uploads the server refused for good, kept under the mount's cache dir."""
    cache_dir = state.get("cache_dir")
    return journal_areas.failed(cache_dir) if cache_dir else []


def pending(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Uploads not finished: from the live mount if it answers, else from its journal.

    Journal entries on disk that the mount does not report (a shared account's left by
    an earlier mount and not resumed yet) are added: nothing journalled is overlooked.
    """
    snap = ask(state)
    if snap is None:
        return journalled(state)
    uploads = list(snap.get("uploads", []))
    known = {(u.get("path"), u.get("state")) for u in uploads}
    return uploads + [u for u in journalled(state) if (u["path"], u["state"]) not in known]


def names(uploads: list[dict[str, Any]]) -> str:
    return ", ".join(f"{u['path']} ({u['state']})" for u in uploads)


def status_text(wanted: str | None, as_json: bool) -> str:
    """What `pithosfs status [MOUNTPOINT]` prints for the live mounts (or the one wanted)."""
    states = launcher.all_states()
    if wanted is not None:
        states = [s for s in states if s.get("mountpoint") == wanted]
    if not states:
        return "no pithosfs mounts" if wanted is None else f"no pithosfs mount on {wanted}"
    reports: list[dict[str, Any]] = []
    lines: list[str] = []
    for state in states:
        snap = ask(state)
        mountpoint = str(state.get("mountpoint"))
        if snap is not None:
            snap = {**snap, "log_file": state.get("log_file", "")}
            reports.append({"mountpoint": mountpoint, **snap})
            lines += status_view.render(mountpoint, snap)
            continue
        alive = pid_alive(int(state.get("pid", 0)))
        kept = journalled(state)
        reports.append({"mountpoint": mountpoint, "answering": False, "uploads": kept})
        lines.append(
            f"{mountpoint}: pid {state.get('pid')} {'running but not answering' if alive else 'gone'}; "
            f"last seen {time.ctime(float(state.get('updated', 0)))}"
        )
        if state.get("log_file"):
            lines.append(f" log: {state['log_file']}")
        lines.append(f" journalled uploads: {len(kept)}")
        lines += [status_view.upload_line(u) for u in kept]
        refused = failed(state)
        reports[-1]["failed"] = refused
        lines += status_view.failed_lines(refused)
    return json.dumps(reports, indent=2) if as_json else "\n".join(lines)
