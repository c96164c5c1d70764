#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: lint, unit, server,
# client, conformance and mounted integration tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check pithosfs tests scripts
set +e
.venv/bin/python -m pytest -q -ra "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
exit $status
