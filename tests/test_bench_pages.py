"""make bench, tiny: the browser passes beside @axe-core/cli, Lighthouse and plain Selenium (tests/benchruns.py)."""

from __future__ import annotations

import re

import pytest

from tests.benchruns import run_bench

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize(("module", "args"), [
    ("accessibility", ["--pages", "2", "--pool", "1"]),
    ("gdpr", ["--pages", "2", "--pool", "1"]),
    ("journey", ["--rounds", "1"]),
    ("experience", ["--pages", "1", "--runs", "1"]),
    ("a11y_compare", ["--rounds", "1", "--pages", "2", "--pool", "1"]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_benchmark_runs_in_a_tiny_configuration(module, args, tmp_path):
    out = run_bench(module, *args, tmp_path=tmp_path)
    assert re.search(r"\d(\.\d+)?x", out), out[-2000:]  # a ratio was printed: both sides ran
