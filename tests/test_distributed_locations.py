"""Distributed mode with locations (issue 39): a scheduler, a worker of the monitor's own network
and a worker started with `--location internet` whose egress is a forwarding proxy, against a
real Redis and PostgreSQL. Each located run is one job per location; the internet worker takes
only its location's jobs; the votes are combined by the quorum. Then the internet worker is
killed: the scheduler reports the location without workers, and its missing votes never make a
service down."""

from __future__ import annotations

import contextlib
import itertools
import re
import signal
import socket
import textwrap
import time
from pathlib import Path

import pytest
import redis as redis_lib
import sqlalchemy as sa

from checks.result import Reason, State
from monitor.distributed import location_workers_key
from monitor.store import Store
from tests.daemon import DaemonProcess
from tests.helpers import KINDS
from tests.postgres import postgres_server
from tests.proxy_server import proxy
from tests.redis import redis_server
from tests.servers import free_port, serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CATALOG = """\
services:
  - id: {id}
    name: {name}
    category: efa
    operator: Saarland
    contact: ops@example.invalid
    urls: ["{url}"]
    checks:
      availability: {{interval: 2s, timeout: 1500ms, retries: 0, locations: [landesnetz, internet], quorum: 2}}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _metric(text: str, name: str, **labels: str) -> list[float]:
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items())]


def _workers_are(scheduler: DaemonProcess, count: float) -> str | None:
    text = scheduler.get("/metrics")[1]
    return text if _metric(text, "egov_location_workers", location="internet") == [count] else None


def announced_identity(worker: DaemonProcess) -> str:
    """The identity a worker announces itself with (its start line names it)."""
    found = re.search(r"Worker (\S+) läuft", worker.log())
    assert found, worker.log()[-3000:]
    return found.group(1)


def _votes(result) -> dict[str, tuple[str, str]]:
    return {row["name"]: (row["state"], row["reason"]) for row in result.evidence["locations"]}


@pytest.mark.timeout(300)
def test_a_location_worker_takes_only_its_jobs_votes_are_combined_and_a_lost_location_never_makes_down(tmp_path):
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(postgres_server())
        redis = stack.enter_context(redis_server())
        open_url = stack.enter_context(serve()) + "/ok?n=offen"
        inner_base = stack.enter_context(serve())
        inner_url = inner_base + "/ok?n=intern"
        gone_url = f"http://127.0.0.1:{closed_port()}/"
        pport, plog = stack.enter_context(proxy())
        plog.unreachable.add(inner_base.removeprefix("http://"))  # the internet's path to it is broken
        catalog = "services:\n" + "".join(
            CATALOG.format(id=i, name=n, url=u).split("services:\n", 1)[1]
            for i, n, u in (("offen", "Offener Dienst", open_url), ("intern", "Nur intern", inner_url),
                            ("weg", "Abgeschaltet", gone_url)))
        (tmp_path / "catalog.yaml").write_text(catalog)
        common = textwrap.dedent(f"""\
            catalog: [catalog.yaml]
            heartbeat_interval: 1s
            store: {{url: "{pg}"}}
            queue: {{url: "{redis}", namespace: loc, redelivery_after: 3s, lease_retry: 0.5s}}
            pools: {{http: 4, browser: 1}}
            locations:
              - {{name: landesnetz, description: aus dem Landesnetz, local: true}}
              - {{name: internet, description: aus dem Internet, worker: true}}
        """)
        scheduler_settings = tmp_path / "settings.yaml"
        scheduler_settings.write_text(common + f'listen: "127.0.0.1:{free_port()}"\n')
        # the internet worker's own settings: its network's egress is the proxy
        internet_settings = tmp_path / "internet.yaml"
        internet_settings.write_text(common + f'listen: "127.0.0.1:{free_port()}"\n'
                                     f'proxy: {{url: "http://127.0.0.1:{pport}"}}\n')
        procs: list[DaemonProcess] = []
        stack.callback(lambda: [p.stop(signal.SIGKILL, 5) for p in procs])

        def start(settings: Path, *command: str, port: int | None = None) -> DaemonProcess:
            proc = DaemonProcess(settings, "DEBUG", command, port)
            procs.append(proc)
            proc.wait_ready(60)
            return proc

        scheduler = start(scheduler_settings, "scheduler")
        ports = [free_port(), free_port()]
        local = start(scheduler_settings, "worker", "--listen", f"127.0.0.1:{ports[0]}", port=ports[0])
        internet = start(internet_settings, "worker", "--location", "internet", "--listen", f"127.0.0.1:{ports[1]}",
                         port=ports[1])
        store = Store.open(pg, KINDS)
        stack.callback(store.close)

        def latest() -> dict[str, object]:
            return {x.result.service_id: x.result for x in store.latest("availability")}

        def both_voted():
            now = latest()
            return now if len(now) == 3 and all(len(r.evidence.get("locations", ())) == 2 and
                                                 "location_unavailable" not in str(_votes(r)) for r in now.values()) \
                else None
        now = scheduler.wait_for(both_voted, 90, "a combined result of two votes for every service")
        assert (now["offen"].state, _votes(now["offen"])) == (State.UP, {"landesnetz": ("up", "ok"),
                                                                          "internet": ("up", "ok")})
        assert (now["intern"].state, now["intern"].reason) == (State.DEGRADED, Reason.PARTIAL_OUTAGE)
        assert _votes(now["intern"]) == {"landesnetz": ("up", "ok"), "internet": ("down", "http_status")}
        assert now["intern"].evidence["partial"]["described"] == ("aus dem Internet",)
        assert (now["weg"].state, now["weg"].reason) == (State.DOWN, Reason.CONNECT_REFUSED)
        # each worker voted only for its own location; only the internet worker went through the proxy
        assert set(re.findall(r"vote \S+ from (\S+):", internet.log())) == {"internet"}
        assert set(re.findall(r"vote \S+ from (\S+):", local.log())) == {"landesnetz"}
        assert any(t.startswith(open_url) for t in plog.targets())
        # The scheduler counts the workers that announced themselves within redelivery_after (3 s here):
        # the internet worker does more often than that (it did every 5 s, so a scheduler sweeping in the
        # wrong phase never counted it)
        announced, client = [], redis_lib.Redis.from_url(redis)
        stack.callback(client.close)
        key, identity = location_workers_key("loc", "internet"), announced_identity(internet)
        end = time.monotonic() + 60
        while len(announced) < 4:
            assert time.monotonic() < end, (announced, internet.log()[-3000:])
            at = client.hget(key, identity)
            if at is not None and float(at) not in announced:
                announced.append(float(at))
            time.sleep(0.05)
        gaps = [b - a for a, b in itertools.pairwise(announced)]
        assert max(gaps) < 3, gaps
        fleet = scheduler.wait_for(lambda: _workers_are(scheduler, 1.0), 30, "the internet worker counted")
        assert _metric(fleet, "egov_location_probe_success", service="intern", location="internet") == [0.0]
        assert _metric(fleet, "egov_location_probe_success", service="intern", location="landesnetz") == [1.0]

        # The internet worker dies in the middle of its jobs.
        internet.proc.send_signal(signal.SIGKILL)
        internet.proc.wait()
        killed = time.time()
        fleet = scheduler.wait_for(lambda: _workers_are(scheduler, 0.0), 30,
                                   "the internet location reported without workers")

        def after_the_kill():
            now = latest()
            fresh = {s: r for s, r in now.items() if r.started_at.timestamp() > killed + 1}
            return fresh if len(fresh) == 3 else None
        now = scheduler.wait_for(after_the_kill, 90, "results from the remaining location")
        for service in ("offen", "intern"):  # reachable from the Landesnetz: up, the internet has no vote
            assert (now[service].state, now[service].reason) == (State.UP, Reason.OK), now[service].evidence
            assert _votes(now[service])["internet"] == ("unknown", "location_unavailable")
        assert "kein Worker des Standorts internet" in str(now["intern"].evidence["locations"])
        assert now["weg"].state == State.DOWN  # the location left still tells
        fleet = scheduler.get("/metrics")[1]
        assert sum(_metric(fleet, "egov_location_votes_missing_total", location="internet")) >= 3
        assert _metric(fleet, "egov_location_votes_missing_total", location="landesnetz") == []

        # every stored run once, none twice (the votes' sets and the scheduler's combination share the run key)
        with sa.create_engine(pg).connect() as conn:
            counts = conn.execute(sa.text("SELECT run_key, count(*) FROM results WHERE run_key IS NOT NULL "
                                          "GROUP BY run_key")).all()
        assert counts and all(n == 1 for _key, n in counts)
        assert local.stop() == 0 and scheduler.stop() == 0


def _cli(*args: str):
    import subprocess
    import sys

    from tests.daemon import ROOT

    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_worker_location_is_refused_where_no_worker_can_vote_and_a_worker_names_the_locations(tmp_path):
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(id="portal", name="Portal", url="http://127.0.0.1:9/"))
    settings = tmp_path / "settings.yaml"
    settings.write_text(textwrap.dedent(f"""\
        catalog: [catalog.yaml]
        listen: "127.0.0.1:{free_port()}"
        store: {{url: "sqlite:///{tmp_path / 'store.db'}"}}
        locations:
          - {{name: landesnetz, local: true}}
          - {{name: internet, worker: true}}
    """))
    out = _cli("run", "-c", str(settings))  # the embedded daemon: nobody would ever probe from the internet
    assert out.returncode == 1, out.stderr
    assert "locations.1.worker" in out.stderr and "--location internet" in out.stderr and "queue.url" in out.stderr
    settings.write_text(settings.read_text().replace("worker: true", "local: true, worker: true"))
    out = _cli("validate", "-c", str(settings))
    assert out.returncode == 1 and "genau eines von" in out.stderr
    with postgres_server() as pg:
        settings.write_text(settings.read_text().replace("local: true, worker: true", "worker: true")
                            .replace(f"sqlite:///{tmp_path / 'store.db'}", pg) + 'queue: {url: "redis://127.0.0.1:9/0"}\n')
        out = _cli("worker", "--location", "dmz", "-c", str(settings))
        assert out.returncode == 2 and "--location dmz" in out.stderr and "vorhanden: internet" in out.stderr
