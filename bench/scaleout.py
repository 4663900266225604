"""Scale-out: availability probes per second with 1 and 2 worker processes, side by side.

The same local targets (nginx on 127.0.0.1, 500 URLs), a real Redis and PostgreSQL from
the Debian packages. For each round, N jobs are put on the `http` queue first (as the
scheduler would over time), then k `egov-monitor worker --queues http` processes start and
drain it; every job is a full run: probe, canary-free policy, one PostgreSQL transaction
with the result, the timeline, the latest state and the rollups. The rate is taken
between 10 % and 90 % of the results stored (start-up and the tail left out).

In the same run, blackbox_exporter probes the same nginx (one process, all cores, driven
by wrk), the peer the per-worker figure is compared with; it stores nothing.

Run: make bench   (or: PYTHONPATH=. .venv/bin/python -m bench.scaleout --jobs 6000)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import sqlalchemy as sa

from bench.availability import theirs
from bench.peers import nginx, process_cpu_seconds
from monitor import distributed as dist
from monitor.config import load_config
from monitor.kinds import builtin
from monitor.store import Store
from tests.postgres import postgres_server
from tests.redis import redis_server
from tests.servers import free_port

KINDS = builtin()

ROOT = Path(__file__).resolve().parent.parent
SERVICES, URLS_PER_SERVICE = 100, 5


def write_config(directory: Path, port: int, pg: str, redis: str, threads: int) -> Path:
    services = []
    for s in range(SERVICES):
        urls = ", ".join(f'"http://127.0.0.1:{port}/s{s}/u{u}"' for u in range(URLS_PER_SERVICE))
        services.append(textwrap.dedent(f"""\
            - id: bench{s}
              name: Dienst {s}
              category: kommune
              operator: Benchmark
              contact: ops@example.invalid
              urls: [{urls}]
              checks: {{availability: {{interval: 60s, timeout: 5s, retries: 0}}}}
        """))
    (directory / "catalog.yaml").write_text("services:\n" + textwrap.indent("".join(services), "  "))
    settings = directory / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nlisten: "127.0.0.1:{free_port()}"\nstore: {{url: "{pg}"}}\n'
                        f'queue: {{url: "{redis}", namespace: bench}}\npools: {{http: {threads}}}\nlog_level: WARNING\n')
    return settings


def enqueue_jobs(settings: Path, jobs: int, round_no: int) -> None:
    config = load_config(settings, KINDS)
    broker = dist.make_broker(config.settings.queue)
    targets = [(svc, url) for svc in config.services.values() for url in svc.urls]
    for i in range(jobs):
        svc, url = targets[i % len(targets)]
        key = f"r{round_no}:{i}"
        dist.enqueue(broker, KINDS, svc, "availability", url, key, time.time())
    broker.close()


def newest_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM results")).scalar()


def stored(engine: sa.Engine, after_id: int) -> int:
    """Results stored since `after_id` (a range scan on the primary key: the polling costs
    PostgreSQL little, so it hardly competes with the workers for the two cores)."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM results WHERE id > :i"), {"i": after_id}).scalar()


def cpu_by_program() -> dict[str, float]:
    """CPU seconds so far of every live process, summed by program (postgres, redis-server, nginx)."""
    out: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
                out[comm] = out.get(comm, 0.0) + process_cpu_seconds(int(entry.name))
            except (OSError, ValueError):
                continue
    return out


POLL = 0.05  # seconds between looks at the store


def round_with(workers: int, settings: Path, engine: sa.Engine, jobs: int, round_no: int) -> dict:
    enqueue_jobs(settings, jobs, round_no)
    baseline = newest_id(engine)
    procs = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with contextlib.ExitStack() as stack:
        for _ in range(workers):
            log = stack.enter_context(open(settings.parent / f"worker-{round_no}-{len(procs)}.log", "w"))
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "worker", "--queues", "http", "--config", str(settings),
                 "--listen", f"127.0.0.1:{free_port()}"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env))
        marks: dict[float, float] = {}
        cpu: dict[float, dict[str, float]] = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            n = stored(engine, baseline)
            now = time.perf_counter()
            for frac in (0.1, 0.9):
                if frac not in marks and n >= frac * jobs:
                    marks[frac] = now
                    cpu[frac] = {**cpu_by_program(), "workers": sum(process_cpu_seconds(p.pid) for p in procs)}
            if n >= jobs:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker exited: see {settings.parent}")
            time.sleep(POLL)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    # a tiny round can pass both marks within one look: then the span is at most one look long
    rate = 0.8 * jobs / max(marks[0.9] - marks[0.1], POLL)
    per_1000 = {k: (cpu[0.9].get(k, 0.0) - cpu[0.1].get(k, 0.0)) / (0.8 * jobs) * 1000
                for k in ("workers", "postgres", "redis-server", "nginx")}
    return {"workers": workers, "jobs": jobs, "probes_per_second": rate, "cpu_per_1000": per_1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=6000, help="jobs per round (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=32, help="pools.http of each worker (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of blackbox_exporter (default: %(default)s)")
    args = parser.parse_args()
    with nginx() as port, postgres_server() as pg, redis_server() as redis, \
            tempfile.TemporaryDirectory(prefix="egov-scaleout-") as tmp:
        settings = write_config(Path(tmp), port, pg, redis, args.threads)
        Store.open(pg, KINDS).close()  # the schema, as the scheduler creates it
        engine = sa.create_engine(pg)
        subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)], cwd=ROOT,
                       check=True, capture_output=True)
        # A warm-up round creates the schema and every series, as in a running fleet.
        round_with(2, settings, engine, SERVICES * URLS_PER_SERVICE, 0)
        one = round_with(1, settings, engine, args.jobs, 1)
        two = round_with(2, settings, engine, args.jobs, 2)
        urls = [f"http://127.0.0.1:{port}/s{s}/u{u}" for s in range(SERVICES) for u in range(URLS_PER_SERVICE)]
        peer = theirs(urls, args.threads, args.duration)
        engine.dispose()
    ratio = two["probes_per_second"] / one["probes_per_second"]
    print(textwrap.dedent(f"""\
        Scale-out (verteilter Betrieb): {args.jobs} Verfügbarkeitsprüfungen je Runde, {SERVICES * URLS_PER_SERVICE} URLs
        auf lokalem nginx, Redis und PostgreSQL lokal, pools.http {args.threads}, {os.cpu_count()} Kerne
          1 Worker:   {one['probes_per_second']:8.0f} Prüfungen/s (mit Speichern in PostgreSQL)
          2 Worker:   {two['probes_per_second']:8.0f} Prüfungen/s
          Verhältnis 2/1: {ratio:.2f}x (Ziel: mindestens 1.8x)
          blackbox_exporter (ein Prozess, speichert nichts): {peer['probes_per_second']:8.0f} Prüfungen/s
          je Worker / blackbox_exporter: {one['probes_per_second'] / peer['probes_per_second']:.2f}x
        CPU-Sekunden je 1.000 Prüfungen (1 Worker): {fmt(one)}
        CPU-Sekunden je 1.000 Prüfungen (2 Worker): {fmt(two)}
    """))


def fmt(result: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_per_1000"].items())


if __name__ == "__main__":
    main()
