"""Fixtures of the scale tests: the `cluster` of real daphne processes and workers of tests/e2e."""

from tests.e2e.conftest import cluster, pytest_runtest_makereport  # noqa: F401  (the fixture and its report hook)
