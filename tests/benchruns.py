"""Every benchmark of `make bench`, once, in a tiny configuration (seconds, not minutes): a
benchmark that no longer runs (a peer that will not start, a changed interface, a side that
fails as root) fails `make test`, not the next measurement. The figures of a tiny run mean
nothing; what is checked is that both sides ran and the comparison was printed.

The benchmarks are split over three test files (tests/test_bench_*.py) so the xdist workers
share them; each test runs the module as `make bench` does, as a process of its own.

Not here: bench.soak, whose shortest meaningful run is a simulated 5 hours at its slowest
speed-up (the intervals of its estate, divided by the speed-up, must stay above the timeouts):
about 7 minutes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(module: str, *args: str, tmp_path: Path, timeout: float = 400) -> str:
    # the default temporary directory (not tmp_path): PostgreSQL's initdb runs as user postgres,
    # and Chromium's socket paths must stay short
    env = {**os.environ, "SE_OFFLINE": "true", "SE_AVOID_STATS": "true"}
    out = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout, check=False)
    assert out.returncode == 0, f"bench.{module} {' '.join(args)}: exit {out.returncode}\n" \
        f"{out.stdout[-2500:]}\n{out.stderr[-2500:]}"
    return out.stdout
