"""Benchmark: a synthetic year for 300 services, ingested, then the full annual report.

Each step runs in its own process so its peak memory (max RSS) is its own. The issue's
goals stand in for a peer (no other tool writes this report): report < 30 s and < 600 MB on
a 2-core machine, store < 1.5 GB (issue 21; issue 16's were 60 s, 1 GB and 2 GB); the
ratios printed are figure / goal.

    python -m bench.report [--services 300] [--dir var/bench-report]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

INGEST = """
import json, sys, time
from datetime import datetime, timedelta
from pathlib import Path
from bench.synthetic_year import TZ, generate, write_config
from monitor.config import load_config
from monitor.store import Store
from monitor.kinds import builtin

KINDS = builtin()
d, n = Path(sys.argv[1]), int(sys.argv[2])
settings = write_config(d, n)
(d / "store.db").unlink(missing_ok=True)
config = load_config(settings, KINDS)
store = Store.open(config.store_url, config.kinds, tz=TZ)
until = datetime(2027, 1, 1, tzinfo=TZ) - timedelta(seconds=1)
counts = generate(store, config, 2026, until)
store.close()
print(json.dumps(counts))
"""


def _run(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of this child alone (os.wait4: the children's rusage would
    give the largest of all children so far, the ingest's for the report), its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=err, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{args[:4]} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench-report")
    args = parser.parse_args()
    d = args.dir.resolve()
    d.mkdir(parents=True, exist_ok=True)
    print(f"Synthetischer Jahrgang: {args.services} Dienste, Verfügbarkeit minütlich, Sicherheit stündlich, "
          f"Barrierefreiheit und DSGVO täglich")
    ingest_s, ingest_mb, out = _run([sys.executable, "-c", INGEST, str(d), str(args.services)])
    counts = json.loads(out.strip().splitlines()[-1])
    total = sum(v for k, v in counts.items() if k != "raw")
    store_mb = sum(p.stat().st_size for p in d.glob("store.db*")) / 1e6
    print(f"  ingest: {total:,} results ({counts['raw']:,} raw rows kept) in {ingest_s:.1f} s "
          f"({total / ingest_s:,.0f}/s), peak {ingest_mb:.0f} MB")
    report_s, report_mb, _ = _run([sys.executable, "-m", "monitor.cli", "report", "--config", str(d / "settings.yaml"),
                                   "--year", "2026", "--out", str(d / "bericht"), "--quiet"])
    pdf = d / "bericht" / "qualitaetsbericht-2026.pdf"
    print(f"  report: {report_s:.1f} s, peak {report_mb:.0f} MB, PDF {pdf.stat().st_size / 1e6:.1f} MB")
    print(f"  store: {store_mb:,.0f} MB")
    print(f"  ratio to goal (issue 21): report time {report_s / 30:.2f}x of 30 s, report memory {report_mb / 600:.2f}x "
          f"of 600 MB, store {store_mb / 1500:.2f}x of 1.5 GB")


if __name__ == "__main__":
    main()
