"""Fixtures shared by unit-test modules (a module's own fixture of the same name wins)."""

from tests.unit.staged_fixtures import pool, store  # noqa: F401 - fixtures, found by name
