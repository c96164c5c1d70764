#!/usr/bin/env bash
# Set up (idempotent) and mount. With no credentials configured (flags, env
# PITHOS_URL/PITHOS_TOKEN/PITHOS_CLOUD, ~/.kamakirc), pithosfs starts or reuses
# the embedded Pithos+ server with its data in ~/.local/share/pithosfs/.
# Usage: scripts/mount.sh [MOUNTPOINT] [pithosfs mount options...]
# Without MOUNTPOINT it mounts on ~/pithos (created if missing); the last line it
# prints names the mount point (README's walkthrough starts there).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
    mountpoint=$1  # must exist and be empty, as for mount(8)
    shift
else
    mountpoint=$HOME/pithos
    mkdir -p "$mountpoint"
fi
.venv/bin/pithosfs mount "$mountpoint" "$@"
echo "mounted: $mountpoint  (unmount with: $(pwd)/.venv/bin/pithosfs umount $mountpoint)"
