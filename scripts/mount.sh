#!/usr/bin/env bash
# Set up (idempotent) and mount. With no credentials configured (flags, env
# PITHOS_URL/PITHOS_TOKEN/PITHOS_CLOUD, ~/.kamakirc), pithosfs starts or reuses
# the embedded Pithos+ server with its data in ~/.local/share/pithosfs/.
# Usage: scripts/mount.sh [MOUNTPOINT] [pithosfs mount options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mountpoint=${1:-$HOME/pithos}
shift || true
mkdir -p "$mountpoint"
.venv/bin/pithosfs mount "$mountpoint" "$@"
echo "mounted: $mountpoint  (unmount with: $(pwd)/.venv/bin/pithosfs umount $mountpoint)"
