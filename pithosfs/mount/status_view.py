"""Text rendering of a mount's status snapshot (control.snapshot) for `pithosfs status`."""

from __future__ import annotations

import time
from typing import Any

BAR_WIDTH = 24
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human(n: float) -> str:
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_bar(sent: int, total: int, width: int = BAR_WIDTH) -> str:
    fraction = 1.0 if total <= 0 else min(max(sent / total, 0.0), 1.0)
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + f"] {fraction * 100:5.1f}%"


def upload_line(u: dict[str, Any]) -> str:
    rate = float(u.get("rate") or 0.0)
    eta = u.get("eta")
    tail = f"{human(rate)}/s" if rate else "stalled" if u["sent"] else "waiting"
    if eta is not None and rate:
        tail += f" ETA {duration(float(eta))}"
    if u.get("growing"):  # still open for writing: no final size, so no bar and no ETA
        line = (
            f"  written {human(u['total'])}, uploaded {human(u['sent'])}  {tail}  "
            f"{u['state']:<9} {u['path']}"
        )
    else:
        line = (
            f"  {progress_bar(int(u['sent']), int(u['total']))} {human(u['sent'])} / "
            f"{human(u['total'])}  {tail}  {u['state']:<9} {u['path']}"
        )
    if u.get("attempts"):
        line += f"  (tries {u['attempts']}: {u.get('last_error', '')})"
    return line


def render(mountpoint: str, snap: dict[str, Any]) -> list[str]:
    cache = snap.get("cache", {})
    rate = cache.get("hit_rate")
    since = float(snap.get("since", time.time()))
    lines = [
        f"{mountpoint}: pid {snap.get('pid')} running, mounted {duration(time.time() - since)} ago",
    ]
    if snap.get("log_file"):
        lines.append(f" log: {snap['log_file']}")
    lines.append(f" pending uploads: {len(snap.get('uploads', []))}")
    lines += [upload_line(u) for u in snap.get("uploads", [])]
    opened = snap.get("open_files", [])
    lines.append(f" open files: {len(opened)}")
    lines += [f"  {o['path']}{'  (unsaved changes)' if o.get('dirty') else ''}" for o in opened]
    lines.append(
        f" block cache: {human(cache.get('bytes', 0))} of {human(cache.get('max_bytes', 0))}, "
        f"hit rate {'-' if rate is None else f'{rate * 100:.1f}%'} "
        f"({cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses)"
    )
    requests = snap.get("requests", {})
    total = sum(v["requests"] for v in requests.values())
    lines.append(
        f" requests since mount: {total} (retries {snap.get('retries', 0)}, "
        f"re-authentications {snap.get('reauths', 0)})"
    )
    for method, v in requests.items():
        lines.append(
            f"  {method:<7} {v['requests']:>8}  sent {human(v['sent']):>10}  "
            f"received {human(v['received']):>10}"
        )
    lines += failed_lines(snap.get("failed", []))
    conflicts = snap.get("conflicts", [])
    if conflicts:
        lines.append(f" conflicts (kept under {snap.get('conflicts_dir')}):")
        lines += [f"  {c['path']} -> {c['kept_at']} ({c['why']})" for c in conflicts]
    errors = snap.get("errors", [])
    lines.append(f" last errors: {len(errors) or 'none'}")
    for e in errors:
        stamp = time.strftime("%H:%M:%S", time.localtime(float(e["time"])))
        lines.append(f"  {stamp} {e['level']} {e['message']}")
    return lines


def failed_lines(failed: list[dict[str, Any]]) -> list[str]:
    """Uploads the server refused for good, each with its reason and what to do with it."""
    if not failed:
        return []
    lines = [f" refused uploads (kept, never retried by themselves): {len(failed)}"]
    for f in failed:
        lines.append(f"  {f['path']} ({human(f['size'])}): {f['why']}")
        lines.append(f"    {f['retry']}   |   {f['save']}   |   {f['discard']}")
    return lines
