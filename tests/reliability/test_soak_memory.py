"""Memory under a long mixed load: the mount's and the server's RSS stop growing.

Runs scripts/soak.py (a real `pithosfs serve` and a real mount, worker threads creating,
reading, overwriting, appending, truncating, renaming and deleting files, listing
directories and `.versions`, setting xattrs, every read checked against a model) for
PITHOSFS_MEMORY_SOAK_SECONDS (default 180; the first 40% are the warm-up) and fits RSS
against the operations done. A
leak is memory per work done, whatever the machine's speed, and it does not slow down:
the one this test was written for grew the mount by about 9 MiB and the server by about
8 MiB per 10,000 operations, all along. Bounded caches also grow at first, but less and
less as they fill (files are kept to 1 MiB here, so the buffer pools, sized by the
largest blocks in use, fill at once; the hour-long run has files of several blocks). So after a short warm-up the rest of the run is
cut in two by operations, and each process must, in the later half, either grow by less
than 5 MiB per 10,000 operations or grow less than 40% as fast as in the earlier half,
and end within 15% of its RSS after the warm-up (measured on the code before the fix:
the server ended 21% above it; after: 6%).
The hour-long run is `scripts/soak.py` itself (its figures are in docs/memory.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.mount]

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("PITHOSFS_MEMORY_SOAK_SECONDS") or 180)
MAX_MIB_PER_10K_OPS = 5.0  # a flat process: 1 to 3.5 (bounded tables still filling); the leak: 9
SLOWING = 0.4  # or the later half grows this much slower than the earlier one
# Files up to 1 MiB: the buffer pools (bounded: docs/memory.md) reach their working size
# at once instead of over tens of thousands of operations; what grows with the work shows.
LARGEST = 1024 * 1024
# RSS at the end against after the warm-up (the hour-long run: 20%). The leak grew both
# processes by about 11 MiB a minute: over this run's last 108 s, a third of their RSS.
MAX_GROWTH = 0.15


def mib_per_10k_ops(samples: list[list[float]], column: int) -> float:
    """Least-squares slope of RSS (MiB) against operations (per 10,000)."""
    points = [(s[3] / 10_000, s[column] / 1024) for s in samples]
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


def test_mount_and_server_memory_stay_flat_under_a_mixed_load(
    fuse_ok: None, tmp_path: Path
) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), "--seconds", str(SECONDS),
         "--warmup", str(SECONDS * 0.4), "--sample", "5", "--json", str(out),
         "--largest", str(LARGEST),
         "--tmp", str(tmp_path)],
        capture_output=True, text=True, timeout=SECONDS + 600,
    )  # fmt: skip
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["mismatches"] == 0, result["mismatch_examples"]
    assert result["operations"] > 4000, "too little work to judge"
    warm = [x for x in result["samples"] if x[0] >= result["warmup_seconds"]]
    middle = (warm[0][3] + warm[-1][3]) / 2
    earlier = [x for x in warm if x[3] <= middle]
    later = [x for x in warm if x[3] >= middle]
    assert len(earlier) >= 3 and len(later) >= 3, result["samples"]
    figures = {}
    for process, column in (("mount", 1), ("server", 2)):
        first, second = mib_per_10k_ops(earlier, column), mib_per_10k_ops(later, column)
        figures[process] = (round(first, 2), round(second, 2))
    print(
        f"\nsoak {result['seconds']} s, {result['operations']} operations, "
        f"{result['mismatches']} mismatches; RSS MiB after warm-up / end: "
        f"mount {result['rss_mib_after_warmup']['mount']:.1f} / "
        f"{result['rss_mib_at_end']['mount']:.1f}, server "
        f"{result['rss_mib_after_warmup']['server']:.1f} / "
        f"{result['rss_mib_at_end']['server']:.1f}; MiB per 10k operations "
        f"(earlier half, later half): {figures}"
    )
    for process, (first, second) in figures.items():
        assert second < MAX_MIB_PER_10K_OPS or second < SLOWING * first, (process, figures)
        grew = result["growth_after_warmup"][process]
        assert grew < MAX_GROWTH, (process, f"{grew:.0%} since the warm-up", figures)
