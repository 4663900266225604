from __future__ import annotations

import os

import pytest

from tests.certs import TestCA, self_signed
from tests.servers import serve

os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")
# which processes a test started (tests.helpers.own_processes): under pytest-xdist each worker sets its own
os.environ["EGOV_TEST_OWNER"] = str(os.getpid())


@pytest.fixture(scope="session")
def ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def http_server() -> str:
    with serve() as url:
        yield url


@pytest.fixture(scope="session")
def https_server(ca) -> str:
    pair = ca.issue("good", ["127.0.0.1", "localhost"])
    with serve((pair.cert, pair.key)) as url:
        yield url


@pytest.fixture(scope="session")
def https_expired(ca) -> str:
    pair = ca.issue("expired", ["127.0.0.1"], expired=True)
    with serve((pair.cert, pair.key)) as url:
        yield url


@pytest.fixture(scope="session")
def https_wrong_host(ca) -> str:
    pair = ca.issue("wronghost", ["www.example.invalid"])
    with serve((pair.cert, pair.key)) as url:
        yield url


@pytest.fixture(scope="session")
def https_self_signed(tmp_path_factory) -> str:
    pair = self_signed(tmp_path_factory.mktemp("selfsigned"), "self", "127.0.0.1")
    with serve((pair.cert, pair.key)) as url:
        yield url


# Under pytest-xdist (make test: `-n 5 --dist loadfile --no-loadscope-reorder`) each file runs on
# one worker, in this order: the files that take longest start first, so none of them begins
# when the others are done and the run's wall time is not one long file's tail. Measured
# durations (pytest --durations=0 on two cores), longest first; the rest keep their order.
LONGEST_FIRST = (
    "test_previous_version.py", "test_store_faults.py", "test_accessibility.py", "test_ops_e2e.py",
    "test_setup.py", "test_journey.py", "test_gdpr.py", "test_bench_probes.py", "test_bench_compare.py",
    "test_observatory_reference.py", "test_deploy.py", "test_bench_pages.py",
    "test_hostile.py", "test_report.py", "test_daemon.py", "test_journey_cli.py", "test_distributed.py",
    "test_toy_kind.py", "test_ai_act.py", "test_journey_fidelity.py", "test_statuspage_e2e.py",
)


# Files whose tests start Chromium: marked `browser`, so the Python 3.13 leg of make test
# (make test-py313: -m "not slow and not e2e and not browser") runs the rest.
BROWSER_FILES = frozenset({
    "test_accessibility.py", "test_ai_act.py", "test_ai_act_fidelity.py", "test_distributed.py", "test_gdpr.py",
    "test_gdpr_cookies.py", "test_hostile.py", "test_journey.py", "test_journey_cli.py", "test_journey_fidelity.py",
    "test_journey_report.py", "test_private_trust.py", "test_proxy.py", "test_report.py", "test_sandbox.py",
    "test_statuspage_e2e.py", "test_wcag.py",
})


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order stays
    for item in items:
        if item.path.name in BROWSER_FILES:
            item.add_marker(pytest.mark.browser)
