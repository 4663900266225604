"""make bench, tiny: the availability prober, the daemon end to end, the distributed mode, the
header grades and the soak run (tests/benchruns.py)."""

from __future__ import annotations

import re

import pytest

from tests.benchruns import run_bench

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize(("module", "args"), [
    ("availability", ["--urls", "40", "--concurrency", "4", "--duration", "1", "--rounds", "1",
                      "--delay-concurrency", "4", "--delay-rounds", "1"]),
    ("daemon_e2e", ["--targets", "40", "--interval", "2", "--measure", "4"]),
    ("daemon_e2e", ["--targets", "40", "--interval", "2", "--measure", "4", "--locations", "2"]),
    ("scaleout", ["--jobs", "60", "--threads", "4", "--duration", "1"]),
    ("security", ["--cases", "40", "--rounds", "1"]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_benchmark_runs_in_a_tiny_configuration(module, args, tmp_path):
    out = run_bench(module, *args, tmp_path=tmp_path)
    assert re.search(r"\d(\.\d+)?x", out), out[-2000:]  # a ratio was printed: both sides ran
