"""Reliability tests reuse the mount harness (tests/integration/conftest.py), not a copy of it."""

from tests.integration.conftest import fuse_ok, mount_factory  # noqa: F401 (fixtures)
from tests.reliability.fault_harness import killable_server, proxied  # noqa: F401 (fixtures)
