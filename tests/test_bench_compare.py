"""make bench, tiny: the side-by-side runs against earlier commits, the report and the status
page (tests/benchruns.py)."""

from __future__ import annotations

import re

import pytest

from tests.benchruns import run_bench

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize(("module", "args"), [
    ("ai_compare", ["--rounds", "1", "--pages", "2", "--pool", "1"]),
    ("gdpr_compare", ["--rounds", "1", "--pages", "2", "--pool", "1"]),
    ("kinds_compare", ["--rounds", "1", "--services", "5", "--scrapes", "2"]),
    ("domain", ["--rounds", "1", "--generated", "3"]),
    ("report", ["--services", "3", "--dir", "{tmp}/report"]),
    ("statuspage", ["--services", "10", "--dir", "{tmp}/statuspage", "--load", "3", "--settle", "4"]),
], ids=lambda v: v if isinstance(v, str) else "")
def test_benchmark_runs_in_a_tiny_configuration(module, args, tmp_path):
    out = run_bench(module, *(a.format(tmp=tmp_path) for a in args), tmp_path=tmp_path)
    assert re.search(r"\d(\.\d+)?x", out), out[-2000:]  # a ratio was printed: both sides ran
