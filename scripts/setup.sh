#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian/Ubuntu machine: system packages (when
# missing), a virtualenv in .venv, and pithosfs installed into it (editable,
# with the test extras). Safe to run again; installs nothing that is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# fuse3/libfuse3-3: the FUSE library mfusepy loads (libfuse2 is its fallback);
# attr: getfattr/setfattr; the rest are tools the tests and benchmarks drive.
SYSTEM_PACKAGES=(fuse3 libfuse3-3 libfuse2 attr curl rsync git vim-tiny rclone python3-venv)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.pithosfs-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
# The users' own tool: kamaki 0.16 runs on Python 2.7 (found wherever pyenv or the
# system has it: scripts/find_python27.sh). Tests that drive the real kamaki CLI
# against the embedded server skip when it is absent, so a failure here is reported
# but not fatal.
if PY27=$(bash scripts/find_python27.sh); then
  if [ ! -x "$(dirname "$PY27")/kamaki" ]; then
    "$PY27" -m pip install -q kamaki==0.16 >/dev/null 2>&1 \
      || echo "setup: kamaki 0.16 not installed next to $PY27 (its tests will skip)"
  fi
else
  echo "setup: no Python 2.7 found (scripts/find_python27.sh): the kamaki tests will skip"
fi
echo "setup: ready ($(.venv/bin/pithosfs --version))"
