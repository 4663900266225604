"""Distributed mode: scheduler and workers on a real Redis and PostgreSQL (Debian packages).

The end-to-end test starts two schedulers and two workers as processes against local test
services and a chromedriver remote end, kills a worker with SIGKILL in the middle of jobs
and the leading scheduler with SIGTERM, and checks that every scheduled run was stored
exactly once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from checks import accessibility as a11y
from checks.accessibility import AccessibilitySettings
from checks.browser import BrowserPool, BrowserSettings
from checks.context import CheckContext
from checks.result import CheckResult, Reason, State, Target
from monitor import distributed as dist
from monitor import rollup
from monitor.config import load_config
from monitor.store import Store
from tests.a11y_site import good_routes
from tests.daemon import ROOT, DaemonProcess
from tests.helpers import KINDS
from tests.postgres import postgres_server
from tests.redis import redis_server
from tests.servers import free_port, serve
from tests.sites import site


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as url:
        yield url


# --------------------------------------------------------------------------- jobs and run keys


def test_job_payload_round_trips_every_check_of_the_example_catalog():
    """A job carries the service and the check's settings; the worker rebuilds exactly them."""
    config = load_config(ROOT / "config" / "settings.yaml", KINDS)
    seen_kinds, windows = set(), 0
    for service in config.services.values():
        for kind, settings in service.checks.items():
            payload = json.loads(json.dumps(dist.job_payload(service, kind, service.urls[0], "k:1", 1.0)))
            rebuilt, rkind, url = dist.job_from_payload(KINDS, payload)
            assert (rkind, url) == (kind, service.urls[0])
            assert rebuilt.checks[kind] == settings
            assert rebuilt.service == service.service
            seen_kinds.add(kind)
        for window in service.service.maintenance:
            windows += 1
            rebuilt_window = rebuilt.service.maintenance[service.service.maintenance.index(window)]
            for hour in range(0, 24 * 8, 3):  # a week of moments: the window is active at the same ones
                moment = datetime(2026, 11, 16, tzinfo=UTC) + timedelta(hours=hour, minutes=7)
                assert rebuilt_window.active_at(moment, config.settings.tz) == window.active_at(moment, config.settings.tz)
    assert seen_kinds == set(KINDS.names()) and windows >= 1  # the example catalog shows every kind


def test_job_from_a_newer_or_foreign_payload_is_refused():
    with pytest.raises(ValueError, match="version"):
        dist.job_from_payload(KINDS, {"v": 99, "kind": "availability"})


def test_slots_and_run_keys_are_deterministic_spread_and_short():
    job = "portal|availability|https://example.invalid/" + "x" * 2000
    first = dist.first_run_after(job, 60.0, 1_800_000_000.0)
    assert 1_800_000_000.0 <= first < 1_800_000_060.0
    slot, at = dist.slot_of(job, 60.0, first + 5)  # a late start still names its slot
    assert at == pytest.approx(first) and dist.slot_of(job, 60.0, first - 20)[0] == slot
    assert dist.slot_of(job, 60.0, first + 60)[0] == slot + 1
    key = dist.run_key(job, slot)
    assert key == dist.run_key(job, slot) and len(key) <= 60 and key != dist.run_key(job + "/", slot)
    phases = {round(dist.phase(f"s{i}|availability|u", 60.0)) for i in range(200)}
    assert len(phases) > 40  # 200 targets spread over the minute, not bunched at :00


# --------------------------------------------------------------------------- settings


def _write(tmp_path: Path, store: str, queue: str | None) -> Path:
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent("""\
        services:
          - id: portal
            name: Portal
            category: efa
            operator: Saarland
            contact: ops@example.invalid
            urls: ["http://127.0.0.1:9/"]
            checks: {availability: {interval: 60s}}
    """))
    settings = tmp_path / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nlisten: "127.0.0.1:{free_port()}"\nstore: {{url: "{store}"}}\n'
                        + (f"queue: {{url: \"{queue}\"}}\n" if queue else ""))
    return settings


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def test_distributed_commands_name_the_missing_setting_and_the_fix(tmp_path):
    sqlite = f"sqlite:///{tmp_path / 'store.db'}"
    out = _cli("scheduler", "-c", str(_write(tmp_path, sqlite, None)))
    assert out.returncode == 1
    assert "settings.yaml" in out.stderr and "queue.url" in out.stderr and "redis://" in out.stderr
    out = _cli("worker", "-c", str(_write(tmp_path, sqlite, "redis://127.0.0.1:9/0")))
    assert out.returncode == 1 and "store.url" in out.stderr and "PostgreSQL" in out.stderr
    out = _cli("run", "-c", str(_write(tmp_path, sqlite, "redis://127.0.0.1:9/0")))
    assert out.returncode == 1 and "queue.url" in out.stderr and "egov-monitor scheduler" in out.stderr
    out = _cli("validate", "-c", str(_write(tmp_path, sqlite, "amqp://x")))
    assert out.returncode == 1 and "queue.url" in out.stderr


def test_worker_refuses_an_unknown_queue(tmp_path, pg):
    out = _cli("worker", "--queues", "http,pdf", "-c", str(_write(tmp_path, pg, "redis://127.0.0.1:9/0")))
    assert out.returncode == 2 and "pdf" in out.stderr and "http, browser" in out.stderr


def test_a_worker_stores_a_hung_run_as_unknown_under_its_run_key_and_drops_the_late_result(tmp_path, pg,
                                                                                            monkeypatch):
    """The worker's watchdog, as the daemon's: a run that hangs past its worst case and the margin
    is stored as unknown/internal_error under the job's run key (the target keeps a current
    state); the run's late result is dropped, so the key holds one result (issue 34)."""
    from checks.kind import CheckImplementation
    from checks.settings import CheckSettings
    from monitor import runner as runner_module
    from monitor.kinds import Kinds, builtin
    from monitor.kinds.base import Kind
    from monitor.worker import Worker

    release, started = threading.Event(), threading.Event()

    def hang(target, settings, ctx):
        started.set()
        release.wait(60)
        return CheckResult(target.service_id, target.url, "haengt", State.UP, Reason.OK, datetime.now(UTC), 0.1)

    class Hang(Kind):
        check = CheckImplementation("haengt", CheckSettings, hang, pool="http")
        title = "Hängt"

    monkeypatch.setattr(runner_module, "WATCHDOG_MARGIN", 0.5)
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent("""\
        services:
          - id: wachhund
            name: Wachhund
            category: efa
            operator: Saarland
            contact: ops@example.invalid
            urls: ["http://127.0.0.1:9/"]
            checks: {haengt: {interval: 60s, timeout: 1s}}
    """))
    settings = tmp_path / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nstore: {{url: "{pg}"}}\nqueue: {{url: "redis://127.0.0.1:9/0"}}\n')
    worker = Worker(settings, Kinds([*builtin(), Hang()]), ["http"])
    worker.runner.watch(period=0.1)
    service = worker.config.services["wachhund"]
    key = "wachhund-hang-1"
    job = threading.Thread(target=worker.handle, args=(dist.job_payload(service, "haengt", service.urls[0], key,
                                                                         time.time()),))
    job.start()
    try:
        assert started.wait(30)
        deadline = time.monotonic() + 60
        stored = []
        while not stored and time.monotonic() < deadline:
            stored = [r for _id, r in worker.store.results("wachhund")]
            time.sleep(0.1)
        (result,) = stored
        assert (result.state, result.reason) == (State.UNKNOWN, Reason.INTERNAL_ERROR)
        assert result.evidence["watchdog"] is True and result.evidence["worker"] == worker.identity
        assert worker.store.has_run_key(key)
    finally:
        release.set()
        job.join(30)
        worker.runner.unwatch()
    assert [r.state for _id, r in worker.store.results("wachhund")] == [State.UNKNOWN]  # the late "up" dropped
    worker.store.close()


# --------------------------------------------------------------------------- store and lease on PostgreSQL


def test_concurrent_writers_keep_latest_timeline_and_rollups_consistent(pg):
    """Two stores (two workers) with four threads each write interleaved results of the same
    series; every job is delivered twice. Nothing is lost, nothing doubles, and the rollups,
    the timeline and the latest state agree with the stored results."""
    stores = [Store.open(pg, KINDS), Store.open(pg, KINDS)]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    jobs = []
    for i in range(120):
        state = State.DOWN if 40 <= i < 50 else State.UP
        reason = Reason.OK if state is State.UP else Reason.HTTP_STATUS
        jobs.append((f"conc:{i}", CheckResult("conc", f"https://conc.example/{i % 3}", "availability", state,
                                              reason, base + timedelta(seconds=10 * i), 0.05)))
    errors: list[BaseException] = []

    def write(store: Store, part: list) -> None:
        try:
            for key, result in part:
                store.record(result, run_key=key)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(stores[t % 2], jobs[t % 4::4] + jobs[(t + 1) % 4::4]))
               for t in range(8)]  # every job goes to two threads
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    store = stores[0]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT run_key, count(*) FROM results WHERE service_id = 'conc' GROUP BY run_key")).all()
    assert len(rows) == 120 and all(n == 1 for _key, n in rows)
    for u in range(3):
        url = f"https://conc.example/{u}"
        mine = [r for _k, r in jobs if r.url == url]
        hours = store.hour_rollups("conc", "availability", url, base - timedelta(hours=1), base + timedelta(hours=3))
        assert sum(b.total for b in hours.values()) == len(mine)
        down = rollup.STATES.index("down")
        assert sum(b.counts[down] for b in hours.values()) == sum(1 for r in mine if r.state is State.DOWN)
        newest = max(mine, key=lambda r: r.started_at)
        (latest,) = [x for x in store.latest("availability") if x.result.url == url]
        assert latest.result.started_at == newest.started_at
        changes = [c.state for c in store.timeline("conc", "availability", url)]
        assert changes[0] == "up" and all(a != b for a, b in itertools.pairwise(changes))
    for s in stores:
        s.close()


def test_one_scheduler_holds_the_lease_and_a_standby_takes_over_when_it_dies(pg):
    first, second = Store.open(pg, KINDS), Store.open(pg, KINDS)
    a = dist.SchedulerLease(first.engine, "fleet-a")
    b = dist.SchedulerLease(second.engine, "fleet-a")
    other_fleet = dist.SchedulerLease(second.engine, "fleet-b")
    assert a.try_acquire() and a.alive()
    assert not b.try_acquire()
    assert other_fleet.try_acquire()  # a separate namespace is a separate fleet
    with second.engine.connect() as conn:  # the holder's session dies (process killed, node lost)
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND objid = :key AND pid <> pg_backend_pid()"), {"key": a.key})
        conn.commit()
    assert not a.alive() and not a.held
    assert b.try_acquire()
    b.release()
    assert a.try_acquire()
    for lease in (a, other_fleet):
        lease.release()
    first.close()
    second.close()


# --------------------------------------------------------------------------- end to end

CATALOG = """\
services:
  - id: fast{n}
    name: Schneller Dienst {n}
    category: efa
    operator: Saarland
    contact: ops@example.invalid
    urls: ["{web}/ok?n={n}", "{web}/status/503?n={n}"]
    public: true
    checks:
      availability: {{interval: 2s, timeout: 1s, retries: 0}}
"""
SLOW = """\
  - id: langsam
    name: Langsamer Dienst
    category: basisdienst
    operator: Saarland
    contact: ops@example.invalid
    urls: ["{web}/delay/1800?a=1", "{web}/delay/1800?a=2", "{web}/delay/1800?a=3"]
    checks:
      availability: {{interval: 2s, timeout: 1.9s, retries: 0}}
  - id: portal
    name: Serviceportal
    category: basisdienst
    operator: Saarland
    contact: ops@example.invalid
    urls: ["{a11y}/", "{a11y}/fehler"]
    checks:
      accessibility: {{interval: 1h, timeout: 20s}}
"""


def _settings(tmp_path: Path, pg: str, redis: str, web: str, a11y_base: str, driver_port: int) -> Path:
    catalog = "services:\n" + "".join(CATALOG.format(n=n, web=web).split("services:\n", 1)[1] for n in range(4))
    catalog += SLOW.format(web=web, a11y=a11y_base)
    (tmp_path / "catalog.yaml").write_text(catalog)
    settings = tmp_path / "settings.yaml"
    settings.write_text(textwrap.dedent(f"""\
        catalog: [catalog.yaml]
        listen: "127.0.0.1:{free_port()}"
        heartbeat_interval: 1s
        store: {{url: "{pg}"}}
        queue: {{url: "{redis}", namespace: e2e, redelivery_after: 3s, lease_retry: 0.5s}}
        pools: {{http: 4, browser: 1}}
        browser: {{remote_url: "http://127.0.0.1:{driver_port}"}}
    """))
    return settings


def _metric(text: str, name: str, **labels: str) -> list[float]:
    out = []
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            out.append(float(line.rsplit(" ", 1)[1]))
    return out


def _enqueued(log: str) -> list[str]:
    return re.findall(r"enqueued run (\S+) for", log)


def _essence(result: CheckResult):
    pages = [(p["url"], sorted((v["rule"], v["nodes"]) for v in p["violations"])) for p in result.evidence["pages"]]
    return pages, {k: m["state"] for k, m in result.evidence["markers"].items()}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(420)
def test_scheduler_and_two_workers_lose_nothing_when_a_worker_is_killed(tmp_path):
    driver_port = free_port()
    driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={driver_port}", "--allowed-ips=127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs: list[DaemonProcess] = []
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: (os.killpg(driver.pid, signal.SIGKILL), driver.wait()))
        pg = stack.enter_context(postgres_server())  # its own: every run key in it is this test's
        redis = stack.enter_context(redis_server())
        web = stack.enter_context(serve())
        a11y_base = f"http://127.0.0.1:{stack.enter_context(site(good_routes()))}"
        settings = _settings(tmp_path, pg, redis, web, a11y_base, driver_port)
        stack.callback(lambda: [p.stop(signal.SIGKILL, 5) for p in procs])

        def start(*command: str, port: int | None = None) -> DaemonProcess:
            proc = DaemonProcess(settings, "DEBUG", command, port)
            procs.append(proc)
            proc.wait_ready(60)
            return proc

        leader = start("scheduler")
        leader.wait_for(lambda: "hält das Lease" in leader.log(), 30, "the first scheduler to lead")
        standby_port = free_port()
        standby_settings = settings.parent / "standby.yaml"
        standby_settings.write_text(re.sub(r'listen: "127.0.0.1:\d+"', f'listen: "127.0.0.1:{standby_port}"',
                                           settings.read_text()))
        standby = DaemonProcess(standby_settings, "DEBUG", ("scheduler",))
        procs.append(standby)
        standby.wait_ready(60)
        ports = [free_port(), free_port()]
        victim = start("worker", "--queues", "http,browser", "--listen", f"127.0.0.1:{ports[0]}", port=ports[0])
        survivor = start("worker", "--queues", "http,browser", "--listen", f"127.0.0.1:{ports[1]}", port=ports[1])

        # Both workers take jobs; the victim is killed while it runs some (slow targets take 1.8 s).
        def victim_busy():
            text = victim.get("/metrics")[1]
            if sum(_metric(text, "egov_check_runs_total", kind="availability")) < 10:
                return False
            log_text = victim.log()  # a slow job (1.8 s) started and not stored: still running at the kill
            slow = set(re.findall(r"running (\S+): \S+ availability \S+/delay/1800", log_text))
            return slow - set(re.findall(r"stored (\S+) as result", log_text))
        victim.wait_for(victim_busy, 60, "the victim worker to run jobs")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        killed_at = time.time()

        # The fleet's /metrics (the leading scheduler) has every target, read from PostgreSQL.
        def fleet_complete():
            text = leader.get("/metrics")[1]
            return text if len(_metric(text, "probe_success")) == 11 and \
                _metric(text, "egov_accessibility_pages_scanned", service="portal") else None
        fleet = leader.wait_for(fleet_complete, 90, "every target in the fleet's /metrics")
        assert _metric(fleet, "probe_success", url=f"{web}/ok?n=0") == [1.0]
        assert _metric(fleet, "probe_success", url=f"{web}/status/503?n=0") == [0.0]
        assert _metric(fleet, "egov_scheduler_leader") == [1.0]
        promtool = subprocess.run(["promtool", "check", "metrics"], input=fleet, capture_output=True, text=True, check=False)
        assert promtool.returncode == 0, promtool.stdout + promtool.stderr
        standby_metrics = standby.get("/metrics")[1]
        assert _metric(standby_metrics, "egov_scheduler_leader") == [0.0]
        assert "probe_success" not in standby_metrics  # a standby never doubles the fleet's series
        assert _enqueued(standby.log()) == []  # a second scheduler does not double-schedule
        for proc in (leader, standby):  # every scheduler serves the status page, read from PostgreSQL
            code, page = proc.get("/status/")
            assert code == 200 and page.count('<span class="state state-red">gestört</span>') == 4, page
            assert "Schneller Dienst 3" in page and "Langsamer Dienst" not in page and "127.0.0.1" not in page
        worker_metrics = survivor.get("/metrics")[1]
        assert sum(_metric(worker_metrics, "egov_check_runs_total", kind="availability")) > 0
        assert "egov_monitor_heartbeat_timestamp_seconds" not in worker_metrics  # workers beat no heartbeat
        promtool = subprocess.run(["promtool", "check", "metrics"], input=worker_metrics, capture_output=True, text=True,
                                  check=False)
        assert promtool.returncode == 0, promtool.stdout + promtool.stderr

        # The leader stops; the standby takes over within its lease retry and goes on scheduling.
        time.sleep(max(0.0, killed_at + 8 - time.time()))  # past redelivery_after (3 s) plus a sweep (5 s)
        assert leader.stop() == 0
        standby.wait_for(lambda: "hält das Lease" in standby.log(), 30, "the standby to take over")
        standby.wait_for(lambda: len(_enqueued(standby.log())) >= 20, 30, "the standby to schedule")
        assert standby.stop() == 0

        scheduled = set(_enqueued(leader.log())) | set(_enqueued(standby.log()))
        engine = sa.create_engine(pg)

        def stored():
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT run_key, count(*) FROM results WHERE run_key IS NOT NULL "
                                            "GROUP BY run_key")).all()
            return dict(rows)
        survivor.wait_for(lambda: scheduled <= set(stored()), 90, "every scheduled run to be stored")
        counts = stored()
        assert set(counts) == scheduled  # nothing lost, nothing that was not scheduled
        assert all(n == 1 for n in counts.values())  # no duplicate result
        # The jobs the victim had started but not stored were redelivered to the survivor.
        started = set(re.findall(r"running (\S+):", victim.log()))
        done = set(re.findall(r"stored (\S+) as result", victim.log()))
        in_flight = started - done
        assert in_flight, "the victim had no job in flight when it was killed"
        with engine.connect() as conn:
            by = dict(conn.execute(sa.text("SELECT run_key, evidence->>'worker' FROM results WHERE run_key = ANY(:k)"),
                                   {"k": list(in_flight)}).all())
        assert set(by) == in_flight and set(by.values()) == {f"{os.uname().nodename}/{survivor.proc.pid}"}
        assert survivor.stop() == 0

        # The accessibility scan through the remote WebDriver end equals the local pool's.
        store = Store.open(pg, KINDS)
        (remote,) = [x.result for x in store.latest("accessibility")]
        store.close()
        pool = BrowserPool(BrowserSettings(), 1)
        try:
            local = a11y.run(Target("portal", f"{a11y_base}/", (f"{a11y_base}/", f"{a11y_base}/fehler")),
                             AccessibilitySettings(interval=3600, timeout=20), CheckContext(browser=pool))
        finally:
            pool.close()
        assert remote.measurements["pages_scanned"] == local.measurements["pages_scanned"] >= 2
        assert _essence(remote) == _essence(local)
        assert remote.state == local.state
