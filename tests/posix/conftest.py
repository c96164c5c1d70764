"""The POSIX conformance suite: system calls on a real mount, one module per call.

Each module `test_<call>.py` holds the rules one system call must keep: errno
values, modes, owners and times, with unprivileged cases run as other users in
forked children (users.py), the mount checking permissions as the kernel does
(`default_permissions`) and letting them in (`allow_other`).

Known deviations are in expected_failures.py, each with its reason; they run as
strict expected failures, so a case that starts passing (or a new failure)
fails the run. At the end a table gives passed/run per call; with
`PITHOSFS_POSIX_REPORT=<file>` the counts are also written there as JSON, and
`PITHOSFS_MOUNT_CODE=<checkout>` runs the mount from another checkout (to
measure old code, see tests/integration/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Mount, start_mount, stop_mount
from tests.posix.expected_failures import EXPECTED_FAILURES

pytestmark = pytest.mark.mount

_counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def category(nodeid: str) -> str:
    """`tests/posix/test_open.py::test_x[y]` -> `open`."""
    module = nodeid.split("::")[0].rsplit("/", 1)[-1]
    return module.removeprefix("test_").removesuffix(".py")


def case_id(nodeid: str) -> str:
    """`tests/posix/test_open.py::test_x[y]` -> `open::test_x[y]` (expected_failures keys)."""
    return category(nodeid) + "::" + nodeid.split("::", 1)[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if "/posix/" in item.nodeid.replace("\\", "/")]
    if not ours:
        return
    known = {case_id(item.nodeid) for item in ours}
    # Only when the whole suite is collected: -k or a single module select fewer.
    expected_categories = {key.split("::")[0] for key in EXPECTED_FAILURES}
    if expected_categories <= {category(item.nodeid) for item in ours}:
        stale = sorted(k for k in EXPECTED_FAILURES if k not in known)
        if stale:
            raise pytest.UsageError(f"expected_failures.py names cases that do not exist: {stale}")
    for item in ours:
        reason = EXPECTED_FAILURES.get(case_id(item.nodeid))
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "/posix/" not in report.nodeid.replace("\\", "/"):
        return
    counts = _counts[category(report.nodeid)]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.skipped and not hasattr(report, "wasxfail"):
            counts["skipped"] += 1
        elif hasattr(report, "wasxfail"):
            counts["run"] += 1
            counts["expected failures"] += 1
        else:
            counts["run"] += 1
            counts["passed" if report.passed else "failed"] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _counts:
        return
    write = terminalreporter.write_line
    write("")
    write("POSIX suite: passed/run per call (expected failures are in expected_failures.py)")
    for name in sorted(_counts):
        c = _counts[name]
        rate = 100.0 * c["passed"] / c["run"] if c["run"] else 0.0
        write(
            f"  {name:10} {c['passed']:4}/{c['run']:<4} {rate:5.1f}%"
            f"  expected failures {c['expected failures']}, failed {c['failed']}"
            + (f", skipped {c['skipped']}" if c["skipped"] else "")
        )
    target = os.environ.get("PITHOSFS_POSIX_REPORT")
    if target:
        Path(target).write_text(json.dumps({k: dict(v) for k, v in _counts.items()}, indent=1))


@pytest.fixture(scope="session")
def posix_mount(server: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
        pytest.skip("FUSE is not available here")
    if os.geteuid() != 0:
        pytest.skip("the POSIX suite runs as root (it changes owners and becomes other users)")
    from tests.conftest import ALICE

    m = start_mount(server, ALICE, tmp_path_factory.mktemp("posix"), "-o", "allow_other")
    (m.path / "posix").mkdir()
    yield m
    stop_mount(m)


@pytest.fixture
def d(posix_mount: Mount) -> Iterator[Path]:
    """A fresh directory (root's, 0755) for one case; the case fails on a mount traceback."""
    start = posix_mount.log_size()
    path = posix_mount.path / "posix" / ("d-" + uuid.uuid4().hex[:10])
    path.mkdir()
    os.chmod(path, 0o755)
    old_umask = os.umask(0o022)
    try:
        yield path
    finally:
        os.umask(old_umask)
    assert posix_mount.proc.poll() is None, "the mount process died"
    text = posix_mount.log_text(start)
    assert "Traceback" not in text, text[-4000:]
