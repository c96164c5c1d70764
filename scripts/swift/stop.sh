#!/usr/bin/env bash
# Stop the Swift node that scripts/swift/start.sh started: only the processes
# named in its PID files. Unmounts the XFS image and removes all state, unless
# --keep-storage (used by start.sh to restart a partial set of services).
set -uo pipefail
STATE=${PITHOSFS_SWIFT_DIR:-/var/tmp/pithosfs-swift}
[ -d "$STATE" ] || exit 0
for f in "$STATE"/pids/*.pid; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$f"
done
[ "${1:-}" = --keep-storage ] && exit 0
if mountpoint -q "$STATE/devices/d1"; then
    umount "$STATE/devices/d1" || { echo "swift-stop: $STATE/devices/d1 busy" >&2; exit 1; }
fi
rm -rf "$STATE"
echo "swift-stop: stopped, $STATE removed" >&2
