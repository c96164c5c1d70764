#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: lint, type check (mypy), unit, server,
# client, conformance and mounted integration tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check pithosfs tests scripts
.venv/bin/python -m mypy  # pithosfs/, as configured in pyproject.toml [tool.mypy]
set +e
.venv/bin/python -m pytest -q -ra "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass.

# ---- Strict stage: the mounted tests again, every server answering as the reference
# Pithos+ (no extension offered: docs/server.md "Extensions, and the strict mode"), so
# the mount's paths without extensions are tested as often as the others. Skip with
# PITHOSFS_SKIP_STRICT=1.
if [ "${PITHOSFS_SKIP_STRICT:-0}" != 1 ]; then
    strict_start=$SECONDS
    PITHOSFS_TEST_STRICT=1 PITHOSFS_SERVE_STRICT=1 \
        .venv/bin/python -m pytest -q -ra tests/integration || status=1
    echo "STRICT STAGE: $((SECONDS - strict_start)) s" >&2
fi

# ---- Swift stage: a throw-away single-node OpenStack Swift (free ports, a private
# directory, removed afterwards), then tests/swift against it. Skip with
# PITHOSFS_SKIP_SWIFT=1. A failed install/start fails the run with its own message,
# so it is never mistaken for a test failure.
if [ "${PITHOSFS_SKIP_SWIFT:-0}" != 1 ]; then
    swift_start=$SECONDS
    unset PITHOSFS_SWIFT_DIR  # a fresh node for this run
    stop_swift() {  # also on Ctrl-C: nothing of the node outlives the run
        if [ -n "${PITHOSFS_SWIFT_DIR:-}" ]; then
            bash scripts/swift/stop.sh "$@" || true
            unset PITHOSFS_SWIFT_DIR
        fi
    }
    trap stop_swift EXIT
    if creds=$(bash scripts/swift/start.sh); then
        set -a; eval "$creds"; set +a
        if ! .venv/bin/python -m pytest -q -ra tests/swift; then
            status=1
            stop_swift --keep-logs  # names where Swift's logs are kept
        fi
        stop_swift
    else
        echo "SWIFT STAGE: could not install/start Swift (see the messages above)" >&2
        status=1
    fi
    echo "SWIFT STAGE: $((SECONDS - swift_start)) s" >&2
fi
exit $status
