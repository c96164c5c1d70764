#!/usr/bin/env bash
# Stop the Swift node that scripts/swift/start.sh started: only the processes
# named in its PID files. Unmounts the XFS image and removes the state directory
# (PITHOSFS_SWIFT_DIR, which start.sh prints), unless --keep-storage (start.sh
# restarting its services). --keep-logs first copies Swift's logs to a new
# directory it names (for a failed run: the state directory goes).
set -uo pipefail
STATE=${PITHOSFS_SWIFT_DIR:-}
if [ -z "$STATE" ]; then
    echo "swift-stop: PITHOSFS_SWIFT_DIR is not set (start.sh prints it): nothing to stop" >&2
    exit 0
fi
[ -d "$STATE" ] || exit 0
if [ -n "$(ls -A "$STATE")" ] && [ ! -d "$STATE/pids" ] && [ ! -d "$STATE/conf" ]; then
    echo "swift-stop: $STATE is not a state directory of scripts/swift/start.sh: left alone" >&2
    exit 1
fi
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
if [ "${1:-}" = --keep-logs ] && [ -d "$STATE/logs" ]; then
    kept=$(mktemp -d "${TMPDIR:-/tmp}/pithosfs-swift-logs.XXXXXX")
    cp -r "$STATE/logs"/. "$kept"/
    echo "swift-stop: Swift's logs are kept in $kept" >&2
fi
if mountpoint -q "$STATE/devices/d1"; then
    umount "$STATE/devices/d1" || { echo "swift-stop: $STATE/devices/d1 busy" >&2; exit 1; }
fi
rm -rf "$STATE"
echo "swift-stop: stopped, $STATE removed" >&2
