"""`pithosfs mount -v` / `-vv`: what each level logs."""

from __future__ import annotations

import logging

import pytest

from pithosfs.mount.command import setup_logging

OPS, OWN, HTTP = "pithosfs.fs.fuse.operations", "pithosfs.fs.open_files", "urllib3"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in (OPS, HTTP)}
    yield
    root.setLevel(saved[0])
    for handler in root.handlers[len(saved[1]) :]:
        root.removeHandler(handler)
        handler.close()
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize(
    ("verbose", "own_debug", "per_call_debug"),
    [(0, False, False), (1, True, False), (2, True, True)],
)
def test_levels(restore_logging, tmp_path, verbose, own_debug, per_call_debug):
    log_file = tmp_path / "mount.log"
    setup_logging(verbose, str(log_file))
    assert logging.getLogger(OWN).isEnabledFor(logging.DEBUG) is own_debug
    assert logging.getLogger(OPS).isEnabledFor(logging.DEBUG) is per_call_debug
    assert logging.getLogger(HTTP).isEnabledFor(logging.DEBUG) is per_call_debug
    assert logging.getLogger(OPS).isEnabledFor(logging.WARNING)  # failures always show
    assert log_file.stat().st_mode & 0o777 == 0o600
