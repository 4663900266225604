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


def test_the_memory_sampler_leaves_itself_out_of_the_tree_it_measures():
    # bench.accessibility compares the peak memory of our process tree with the peer's; its
    # sampler runs as a child of ours, so it must not be counted on our side.
    import os
    import subprocess
    import sys
    import time

    from bench.accessibility import tree_pss

    touch = "import sys; b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", touch], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"1"  # its 64 MiB are touched
        deadline = time.monotonic() + 30
        while tree_pss(os.getpid()) - tree_pss(os.getpid(), leave_out=child.pid) < 64 << 20:
            assert time.monotonic() < deadline, "the child's memory never showed in the tree"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
