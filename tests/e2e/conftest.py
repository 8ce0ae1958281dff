"""Fixtures for end-to-end tests: a `cluster` of real daphne processes and expiry workers.

Tests using it need `@pytest.mark.e2e` and `@pytest.mark.django_db(transaction=True)`:
the servers are other processes, so the test's data must be committed for them to see it.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.servers import ARTIFACTS, Cluster


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can see whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def cluster(request, transactional_db, timer_prefix, channel_layer_prefix):
    """Web processes and workers for this test (start them with `cluster.start_webs(2)` etc.).

    Logs go to tests/artifacts/<test name>/; their tails are printed when the test fails,
    and every process is stopped at teardown.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    servers = Cluster(artifacts_dir=ARTIFACTS / name)
    yield servers
    try:
        failed = any(
            getattr(request.node, f"report_{when}", None) and getattr(request.node, f"report_{when}").failed
            for when in ("setup", "call")
        )
        if failed:
            print(f"\n===== server logs of {request.node.nodeid} =====\n{servers.tails()}")
    finally:
        servers.stop_all()
