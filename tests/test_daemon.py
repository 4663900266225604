"""The daemon end to end: schedule, store, /metrics, reload, signals, crash safety, Prometheus."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from monitor.store import Store
from tests.daemon import ROOT, DaemonProcess, running, service_yaml, write_daemon_config
from tests.helpers import KINDS
from tests.servers import free_port

pytestmark = pytest.mark.e2e


def sample(metrics_text: str, name: str, **labels) -> float | None:
    for line in metrics_text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def store_of(settings) -> Store:
    return Store.open(f"sqlite:///{settings.parent / 'store.db'}", KINDS)


@pytest.mark.alone
def test_daemon_probes_stores_and_exports(tmp_path, http_server):
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok", f"{http_server}/status/503"])
                                   + service_yaml("hanging", [f"{http_server}/hang"], timeout="0.8s"))
    with running(settings) as daemon:
        def enough() -> bool:
            runs = [r.url for _, r in store_of(settings).results()]
            return sum(u.endswith("/ok") for u in runs) >= 3 and sum(u.endswith("/hang") for u in runs) >= 2 and \
                sample(daemon.get("/metrics")[1], "probe_success", url=f"{http_server}/status/503") is not None
        daemon.wait_for(enough, timeout=60, what="three runs of /ok, two of /hang")
        text = daemon.get("/metrics")[1]
        assert sample(text, "probe_success", service="portal", url=f"{http_server}/ok", category="efa") == 1
        assert sample(text, "probe_success", url=f"{http_server}/status/503") == 0
        assert sample(text, "probe_http_status_code", url=f"{http_server}/status/503") == 503
        assert sample(text, "egov_check_reason_info", url=f"{http_server}/hang", reason="read_timeout") == 1
        assert sample(text, "egov_monitor_heartbeat_timestamp_seconds") > time.time() - 5
        assert daemon.get("/healthz")[0] == 200
        # A hanging target does not slow the healthy one: it keeps its 1 s rhythm.
        store = store_of(settings)
        ok_runs = [r for _, r in store.results("portal") if r.url.endswith("/ok")]
        hang_runs = list(store.results("hanging"))
        assert len(ok_runs) >= 3 and len(hang_runs) >= 2
        gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(ok_runs)]
        assert max(gaps) < 1.6, gaps
    assert daemon.proc.returncode == 0


def test_metrics_pass_promtool(tmp_path, http_server, https_server, ca):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/setup.sh test installs the Debian package prometheus"
    settings = write_daemon_config(
        tmp_path, service_yaml("portal", [f"{http_server}/ok", f"{https_server}/ok"], extra=f", ca_file: {ca.ca_file}"),
        canaries=[f"{http_server}/ok"])
    with running(settings) as daemon:
        daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "probe_ssl_earliest_cert_expiry") is not None,
                        what="TLS result")
        text = daemon.get("/metrics")[1]
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "" and proc.stderr.strip() == "", proc.stdout + proc.stderr
    assert sample(text, "probe_tls_version_info", version="TLS 1.3") == 1
    assert sample(text, "egov_monitor_network_up") == 1


def test_invalid_catalog_makes_run_and_validate_fail(tmp_path, http_server):
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"]).replace("category: efa", "category: efx"))
    for command in ("run", "validate"):
        proc = subprocess.run([sys.executable, "-m", "monitor.cli", command, "--config", str(settings)],
                              capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert proc.returncode == 1, (command, proc.stderr)
        assert re.search(r"catalog\.yaml:\d+: Dienst 'portal' Feld 'services\.0\.category'", proc.stderr), proc.stderr


def test_reload_keeps_the_running_config_when_the_new_one_is_invalid(tmp_path, http_server):
    good = service_yaml("portal", [f"{http_server}/ok"])
    settings = write_daemon_config(tmp_path, good)
    catalog = tmp_path / "catalog.yaml"
    valid_catalog = catalog.read_text()
    with running(settings) as daemon:
        daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "probe_success", service="portal") == 1, what="portal up")
        catalog.write_text(valid_catalog.replace("category: efa", "category: nope"))
        code, body = daemon.post("/-/reload")
        assert code == 400 and "services.0.category" in body
        cli = subprocess.run([sys.executable, "-m", "monitor.cli", "reload", "--config", str(settings)],
                             capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert cli.returncode == 1 and "services.0.category" in cli.stderr
        daemon.proc.send_signal(signal.SIGHUP)
        before = store_of(settings).count_results()
        daemon.wait_for(lambda: store_of(settings).count_results() > before + 2, timeout=30,
                        what="the old schedule running on")
        assert sample(daemon.get("/metrics")[1], "egov_config_last_reload_successful") == 0
        # A valid catalog with a second service is taken over, without a restart.
        catalog.write_text(valid_catalog + "  " + service_yaml("second", [f"{http_server}/redirect/2"]).replace("\n", "\n  "))
        cli = subprocess.run([sys.executable, "-m", "monitor.cli", "reload", "--config", str(settings)],
                             capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert cli.returncode == 0, cli.stderr
        daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "probe_http_redirects", service="second") == 2,
                        what="second service after reload")
        assert sample(daemon.get("/metrics")[1], "egov_config_last_reload_successful") == 1


def test_sigterm_stops_cleanly(tmp_path, http_server):
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"]))
    daemon = DaemonProcess(settings)
    daemon.wait_ready()
    daemon.wait_for(lambda: store_of(settings).count_results() > 0, timeout=30, what="a first result")
    assert daemon.stop(signal.SIGTERM) == 0
    runs = store_of(settings).runs()
    assert len(runs) == 1 and runs[0]["stopped_at"] is not None


def test_kill_9_during_a_write_burst_loses_nothing_committed(tmp_path, http_server):
    urls = [f"{http_server}/ok?n={i}" for i in range(40)] + [f"{http_server}/status/500?n={i}" for i in range(20)]
    settings = write_daemon_config(tmp_path, service_yaml("burst", urls, interval="1s", timeout="0.5s"))
    daemon = DaemonProcess(settings, log_level="DEBUG")
    daemon.wait_ready()
    daemon.wait_for(lambda: daemon.log().count("stored result id=") > 150, timeout=30, what="a burst of writes")
    daemon.stop(signal.SIGKILL)
    assert daemon.proc.returncode == -signal.SIGKILL
    killed_at = datetime.now(UTC)
    committed = {int(m) for m in re.findall(r"stored result id=(\d+)", daemon.log_path.read_text())}

    db = tmp_path / "store.db"
    con = sqlite3.connect(db)
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    stored = {row[0] for row in con.execute("select id from results")}
    assert committed <= stored, f"lost committed results: {sorted(committed - stored)[:10]}"
    # Timeline consistent: no two equal states in a row; latest matches the newest change.
    for (key_url,) in con.execute("select distinct url from state_changes"):
        states = [r[0] for r in con.execute("select state from state_changes where url=? order by at, id", (key_url,))]
        assert all(a != b for a, b in itertools.pairwise(states)), (key_url, states)
        latest_state, latest_id = con.execute("select state, result_id from latest where url=?", (key_url,)).fetchone()
        assert latest_state == states[-1]
        assert con.execute("select state from results where id=?", (latest_id,)).fetchone()[0] == latest_state
    con.close()

    time.sleep(2)
    with running(settings) as again:
        again.wait_for(lambda: store_of(settings).count_results() > len(stored), what="writes after restart")
    store = store_of(settings)
    runs = store.runs()
    assert len(runs) == 2 and runs[0]["stopped_at"] is None  # the killed run never stopped cleanly
    first_start = datetime.fromtimestamp(runs[0]["started_at"], UTC)
    gaps = store.monitor_gaps(first_start, datetime.fromtimestamp(runs[1]["last_beat_at"], UTC))
    assert len(gaps) == 1, gaps
    # The gap runs from the killed run's last heartbeat (at most 1 s before the kill) to the restart.
    assert killed_at - timedelta(seconds=1.5) <= gaps[0].start <= killed_at
    assert gaps[0].seconds >= 2


def test_real_prometheus_scrapes_probe_success_for_every_url(tmp_path, http_server):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus missing: scripts/setup.sh test installs it"
    urls = [f"{http_server}/ok", f"{http_server}/status/502", f"{http_server}/redirect/1"]
    settings = write_daemon_config(tmp_path, service_yaml("portal", urls[:2]) + service_yaml("other", urls[2:]))
    with running(settings) as daemon:
        prom_port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: egov-monitor\n    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n")
        prom = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def query():
                q = urllib.parse.quote("probe_success")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}", timeout=2) as r:
                        data = json.load(r)["data"]["result"]
                except OSError:
                    return None
                return data if len(data) == len(urls) else None

            series = daemon.wait_for(query, timeout=40, what="probe_success in Prometheus")
        finally:
            prom.terminate()
            prom.wait(10)
    got = {s["metric"]["url"]: float(s["value"][1]) for s in series}
    assert got == {urls[0]: 1.0, urls[1]: 0.0, urls[2]: 1.0}
    assert {s["metric"]["service"] for s in series} == {"portal", "other"}


def test_reload_is_refused_from_elsewhere_without_the_token(tmp_path, http_server):
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"]))
    (tmp_path / "reload-token").write_text("geheim-4711\n")
    # nobody is trusted by address here (as a client on another machine would be), only the token counts
    settings.write_text(settings.read_text() + "reload_from: []\nreload_token_file: reload-token\n")
    with running(settings) as daemon:
        code, body = daemon.post("/-/reload")
        assert code == 403 and "Token fehlt oder ist falsch" in body
        req = urllib.request.Request(daemon.base + "/-/reload", method="POST", data=b"",
                                     headers={"Authorization": "Bearer falsch"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=30)
        assert refused.value.code == 403
        cli = subprocess.run([sys.executable, "-m", "monitor.cli", "reload", "--config", str(settings)],
                             capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert cli.returncode == 0 and "neu geladen" in cli.stdout, cli.stderr
        assert "geheim-4711" not in daemon.log()
    (tmp_path / "reload-token").unlink()
    settings.write_text(settings.read_text().replace("reload_token_file: reload-token\n", ""))
    with running(settings) as daemon:
        code, body = daemon.post("/-/reload")
        assert code == 403 and "nicht erlaubt" in body and "reload_token_file" in body


def test_a_reload_applies_new_canaries_at_once(tmp_path, http_server):
    """Changed canaries took effect only after a restart, although the reload said it worked."""
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"]), canaries=[f"{http_server}/ok"])
    with running(settings) as daemon:
        daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "egov_canary_up", url=f"{http_server}/ok") == 1,
                        what="the first canary")
        settings.write_text(settings.read_text().replace(f"urls: ['{http_server}/ok']", f"urls: ['{http_server}/ok?neu=1']"))
        assert "ok?neu=1" in settings.read_text()
        assert daemon.post("/-/reload")[0] == 200
        text = daemon.wait_for(lambda: next((t for t in [daemon.get("/metrics")[1]]
                                             if sample(t, "egov_canary_up", url=f"{http_server}/ok?neu=1") == 1), None),
                               what="the new canary")
        assert sample(text, "egov_canary_up", url=f"{http_server}/ok") is None  # the old one is gone


def test_a_monitor_without_canaries_never_reports_its_network_down(tmp_path, http_server):
    """egov_monitor_network_up was a plain gauge: 0 from the start on a monitor without canaries,
    so EgovMonitorNetworkDown (`== 0 for 5m`) paged every such monitor after five minutes."""
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"]))
    with running(settings) as daemon:
        daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "probe_success", service="portal") == 1, what="portal up")
        text = daemon.get("/metrics")[1]
        assert "egov_monitor_network_up" not in text and "egov_canary_last_round_timestamp_seconds" not in text
        # canaries added by a reload report; removed again, their series go with them
        without = settings.read_text()
        settings.write_text(without + f"canaries: {{urls: ['{http_server}/ok'], interval: 2s, timeout: 1s}}\n")
        assert daemon.post("/-/reload")[0] == 200
        daemon.wait_for(lambda: sample(daemon.get("/metrics")[1], "egov_monitor_network_up") == 1, what="the canaries")
        settings.write_text(without)
        assert daemon.post("/-/reload")[0] == 200
        text = daemon.wait_for(lambda: next((t for t in [daemon.get("/metrics")[1]]
                                             if "egov_monitor_network_up" not in t), None), what="the canaries gone")
        assert sample(text, "egov_canary_last_round_timestamp_seconds") is None
        assert sample(text, "egov_canary_up", url=f"{http_server}/ok") is None


class _Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0  # 2026-01-01 UTC

    def __call__(self) -> float:
        return self.now


def _fired(timetable, clock: _Clock, until: float) -> list[tuple[str, float, bool]]:
    """Every run the timetable hands out up to `until`, the clock set to each due time in turn
    (its thread not started: the choices alone, without waiting)."""
    out = []
    while timetable._heap and timetable._heap[0][0] <= until:
        clock.now = max(clock.now, timetable._heap[0][0])
        out += timetable._take_due()
    return out


def test_runs_keep_to_their_grid_whatever_the_jitter():
    """APScheduler's interval trigger counted each interval from the last fire time with its
    jitter in it: at 60 s with 6 s of jitter it fired every 63 s, 5 % fewer runs than
    configured (bench.daemon_e2e stored 158.6 of 166.7 due checks a second). The timetable
    keeps runs on their grid: run k at start + k * 60 s plus its own jitter."""
    from monitor.timetable import Timetable

    clock = _Clock()
    start = clock.now
    timetable = Timetable(lambda *_: None, lambda _job: None, clock=clock)
    timetable.add("a", start, 60, jitter=6)
    runs = _fired(timetable, clock, start + 60 * 2000 - 1)
    times = [due for _job, due, _fired in runs]
    assert len(times) == 2000 and all(fired for _j, _d, fired in runs)
    assert abs((times[-1] - times[0]) / 1999 - 60) < 0.05
    assert all(0 <= t - start - 60 * k < 6 for k, t in enumerate(times))
    assert len({round(t - start - 60 * k, 6) for k, t in enumerate(times)}) > 1900  # a jitter of its own each run
    later = Timetable(lambda *_: None, lambda _job: None, clock=clock)
    clock.now = start + 630  # a first run after the start: the next grid point
    later.add("b", start, 60, jitter=6)
    assert 660 <= later.due("b") - start < 666


def test_a_run_later_than_its_grace_is_missed_and_never_made_up_in_a_burst():
    """The thread held up past a run's grace (the daemon's: its interval): that run is counted
    missed, the next is the first grid point after now (no burst of the runs fallen behind on);
    a run late within its grace fires, the grid points it passed coalesced into it."""
    from monitor.timetable import Timetable

    clock = _Clock()
    start = clock.now
    timetable = Timetable(lambda *_: None, lambda _job: None, clock=clock)
    timetable.add("a", start, 60, grace=60)
    assert _fired(timetable, clock, start + 60) == [("a", start, True), ("a", start + 60, True)]
    clock.now = start + 120 + 300  # five minutes stalled
    assert timetable._take_due() == [("a", start + 120, False)]  # one missed run, not five
    assert timetable.due("a") == start + 480
    clock.now = start + 480 + 50  # late within the grace: it runs
    assert timetable._take_due() == [("a", start + 480, True)]
    assert timetable.due("a") == start + 540
    generous = Timetable(lambda *_: None, lambda _job: None, clock=clock)
    generous.add("b", start + 600, 60, grace=300)
    clock.now = start + 600 + 150  # within its grace, two grid points passed meanwhile
    assert generous._take_due() == [("b", start + 600, True)]  # they are coalesced into it
    assert generous.due("b") == start + 780


def test_a_removed_or_rescheduled_target_runs_only_as_its_new_schedule_says():
    from monitor.timetable import Timetable

    clock = _Clock()
    start = clock.now
    timetable = Timetable(lambda *_: None, lambda _job: None, clock=clock)
    timetable.add("gone", start + 5, 60)
    timetable.add("moved", start + 5, 60)
    timetable.add("moved", start + 30, 300)
    assert len(timetable) == 2
    timetable.remove("gone")
    runs = _fired(timetable, clock, start + 700)
    assert runs == [("moved", start + 30, True), ("moved", start + 330, True), ("moved", start + 630, True)]
    assert timetable.due("gone") is None


def test_the_timetable_thread_fires_each_run_when_due_and_survives_a_failing_dispatch():
    """On its thread: runs fire in due order, not before they are due; a dispatch that raises
    is logged and the next runs still fire; `stop` ends the thread."""
    import threading

    from monitor.timetable import Timetable

    fired: list[tuple[str, float, float]] = []
    done = threading.Event()

    def fire(job_id: str, due: float) -> None:
        fired.append((job_id, due, time.time()))
        if job_id == "bad":
            raise RuntimeError("dispatch failed")
        if len(fired) >= 5:
            done.set()

    timetable = Timetable(fire, lambda _job: None)
    now = time.time()
    timetable.add("bad", now + 0.2, 3600)
    for i in range(4):
        timetable.add(f"ok{i}", now + 0.3 + 0.1 * i, 3600)
    timetable.start()
    try:
        assert done.wait(60), fired
        assert [j for j, _d, _t in fired] == ["bad", "ok0", "ok1", "ok2", "ok3"]
        assert all(at >= due for _j, due, at in fired)
        assert timetable.running
    finally:
        timetable.stop()
    timetable._thread.join(60)
    assert not timetable._thread.is_alive() and not timetable.running


def test_with_a_tick_the_runs_due_within_it_start_together_at_its_end_and_never_early():
    """The daemon's timetable wakes on a grid of ticks (one wake-up of its thread and of the
    prober's loop for the runs due within a tick): runs due in one tick start together at its
    end, none before it is due, each in due order."""
    import math
    import threading

    from monitor.timetable import Timetable

    tick = 0.5
    fired: list[tuple[str, float, float]] = []
    done = threading.Event()

    def fire(job_id: str, due: float) -> None:
        fired.append((job_id, due, time.time()))
        if len(fired) == 4:
            done.set()

    timetable = Timetable(fire, lambda _job: None, tick=tick)
    end = math.ceil((time.time() + 1.0) / tick) * tick  # a tick's end at least 0.5 s away
    for i, before in enumerate((0.4, 0.25, 0.1)):
        timetable.add(f"j{i}", end - before, 3600)
    timetable.add("next", end + 0.2, 3600)  # due in the following tick
    timetable.start()
    try:
        assert done.wait(60), fired
    finally:
        timetable.stop()
    assert [j for j, _d, _t in fired] == ["j0", "j1", "j2", "next"]
    assert all(at >= due for _j, due, at in fired)
    assert all(at >= end - 0.01 for _j, _d, at in fired[:3]), (end, fired)  # held until the tick's end
    assert fired[3][2] >= end + tick - 0.01, (end, fired)


def test_runs_due_together_are_not_started_once_the_timetable_stops():
    """SIGTERM while the timetable hands out a burst of due runs (a restart's first runs):
    those after the stop are not started."""
    from monitor.timetable import Timetable

    fired: list[str] = []

    def fire(job_id: str, _due: float) -> None:
        fired.append(job_id)
        timetable.stop()

    timetable = Timetable(fire, lambda _job: None)
    due = time.time() + 0.3
    for i in range(5):
        timetable.add(f"j{i}", due, 3600)
    timetable.start()
    timetable._thread.join(60)
    assert not timetable._thread.is_alive() and len(fired) == 1


def test_the_catalog_stays_out_of_the_cycle_collectors_way(tmp_path, http_server):
    """What the daemon holds for good (one job per target) is frozen once the catalog is
    applied, at start and again after a reload, so Python's full collection, which holds the
    GIL while it walks every object it tracks, walks only what changes as checks run
    (bench.daemon_e2e, 10,000 targets: pauses of about 250 ms every 20-30 s and lag p99 up
    to 1 s before). Stopping gives them back to the collector."""
    import gc

    from monitor.daemon import Daemon

    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"], interval="60s"))
    daemon = Daemon(settings, KINDS)

    def walked(job_id: str) -> bool:
        entry = daemon.timetable._entries.get(job_id)
        assert entry is not None
        return any(o is entry for o in gc.get_objects())

    try:
        daemon.start()
        # ... and a computing thread (a /metrics rendering) keeps the GIL at most 0.5 ms while
        # the libcurl loop waits for it (Python's 5 ms stalled every run for 1.4 s there)
        assert sys.getswitchinterval() <= 0.0005
        first = next(iter(daemon._specs))
        assert gc.get_freeze_count() > 0 and not walked(first)
        catalog = tmp_path / "catalog.yaml"
        catalog.write_text(catalog.read_text() + "\n".join(
            "  " + line for line in service_yaml("buergerportal", [f"{http_server}/ok"], interval="60s").splitlines()) + "\n")
        assert daemon.reload() == []
        added = next(j for j in daemon._specs if j.startswith("buergerportal|"))
        assert not walked(added) and not walked(first)
    finally:
        daemon.stop()
    assert gc.get_freeze_count() == 0


def test_the_first_scrape_after_a_start_or_reload_finds_every_target_rendered(tmp_path, http_server, monkeypatch):
    """A scrape only joins rendered lines. After a restart the stored results are rendered in
    the background at once (10,000 targets: 2 s a first scrape no longer waits for), and a
    reload re-renders only the targets whose lines it changed."""
    import threading

    import monitor.metrics
    from monitor.daemon import Daemon

    renderings: list[tuple[str, str]] = []  # (thread, service)
    render = monitor.metrics._rendered

    def counted(target, kind, item):
        renderings.append((threading.current_thread().name, target.id))
        return render(target, kind, item)

    monkeypatch.setattr(monitor.metrics, "_rendered", counted)
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"], interval="60s")
                                   + service_yaml("buergerportal", [f"{http_server}/status/503"], interval="60s"))

    def background_rendering_done() -> None:
        for thread in threading.enumerate():
            if thread.name == "metrics-prerender":
                thread.join(60)

    def scraped(daemon) -> str:
        before = len(renderings)
        text = "".join(daemon.metrics_pieces())
        assert renderings[before:] == [], "the scrape rendered"
        return text

    daemon = Daemon(settings, KINDS)
    try:
        daemon.start()
        end = time.monotonic() + 60
        while len(daemon.latest()) < 2:  # both first runs committed
            assert time.monotonic() < end, "no results"
            time.sleep(0.05)
    finally:
        daemon.stop()
    renderings.clear()
    daemon = Daemon(settings, KINDS)  # a restart: the latest results come from the store
    try:
        daemon.start()
        background_rendering_done()
        assert sorted(service for _, service in renderings) == ["buergerportal", "portal"]
        text = scraped(daemon)
        for path, up in (("/ok", 1), ("/status/503", 0)):
            assert re.search(rf'^probe_success{{[^}}]*url="{re.escape(http_server + path)}"[^}}]*}} {up}\.0$', text, re.M)
        renderings.clear()
        catalog = tmp_path / "catalog.yaml"  # the operator moves one service to another interval
        lines = catalog.read_text().splitlines()
        at = next(n for n, line in enumerate(lines) if "buergerportal" in line)
        lines[at:] = [line.replace("interval: 60s", "interval: 120s") for line in lines[at:]]
        catalog.write_text("\n".join(lines) + "\n")
        assert daemon.reload() == []
        background_rendering_done()
        assert [service for thread, service in renderings if thread == "metrics-prerender"] == ["buergerportal"]
        text = scraped(daemon)
        assert re.search(r'^egov_check_interval_seconds{[^}]*service="buergerportal"[^}]*} 120\.0$', text, re.M)
        assert re.search(r'^egov_check_interval_seconds{[^}]*service="portal"[^}]*} 60\.0$', text, re.M)
    finally:
        daemon.stop()


def test_a_reload_reschedules_only_the_targets_whose_check_changed(tmp_path, http_server):
    """A reload keeps the grid of every target whose check it left as it was (new catalog
    objects, the same settings) and starts a new one for a target whose interval or other
    settings changed."""
    from monitor.daemon import Daemon

    services = {sid: service_yaml(sid, [f"{http_server}/ok"], interval="60s", timeout="2s")
                for sid in ("portal", "buergerportal", "formular")}
    settings = write_daemon_config(tmp_path, "".join(services.values()))
    daemon = Daemon(settings, KINDS)
    try:
        daemon.start()
        before = dict(daemon.timetable._entries)
        assert len(before) == 3
        services["buergerportal"] = services["buergerportal"].replace("interval: 60s", "interval: 120s")
        services["formular"] = services["formular"].replace("timeout: 2s", "timeout: 3s")
        (tmp_path / "catalog.yaml").write_text("services:\n" + textwrap.indent("".join(services.values()), "  "))
        assert daemon.reload() == []
        after = daemon.timetable._entries
        kept = {job.split("|")[0] for job, entry in after.items() if before[job] is entry}
        assert kept == {"portal"}
        assert after[next(j for j in after if j.startswith("buergerportal|"))].interval == 120
        assert daemon.reload() == []  # nothing changed at all: every grid kept
        assert all(daemon.timetable._entries[job] is entry for job, entry in after.items())
    finally:
        daemon.stop()


def test_a_reload_says_that_changed_pools_wait_for_a_restart(tmp_path, http_server, caplog):
    from monitor.daemon import Daemon

    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"], interval="60s"))
    daemon = Daemon(settings, KINDS)
    try:
        daemon.start()
        settings.write_text(settings.read_text().replace("pools: {http: 16}", "pools: {http: 48}"))
        with caplog.at_level("WARNING", logger="egov_monitor"):
            assert daemon.reload() == []
        assert "pools wurde geändert" in caplog.text and "Neustart" in caplog.text
        assert daemon.config.settings.pools.http == 48  # the rest of the configuration is applied
    finally:
        daemon.stop()


def test_metrics_are_served_in_batches_exactly_as_rendered(tmp_path, http_server, monkeypatch):
    """/metrics writes the registry and then the targets' rendered lines a batch at a time
    (10,000 targets are 27 MB: never joined into one string, never encoded as a whole). What
    arrives is the exposition byte for byte, Content-Length counts bytes, not characters
    (a catalog's names and operators have umlauts), and HEAD sends the headers alone."""
    import http.client

    import monitor.process
    from monitor.daemon import Daemon

    monkeypatch.setattr(monitor.process, "WRITE_PIECES", 2)  # many batches, a piece apart from its neighbours
    services = "".join(
        service_yaml(sid, [f"{http_server}/ok?ort={sid}"], interval="60s").replace(f"name: Dienst {sid}", f"name: {name}")
        .replace("operator: Land Saarland", "operator: Kreisstadt Saarlouis – Bürgerbüro")
        for sid, name in (("portal", "Bürgerportal Saarbrücken"), ("kfz", "Kfz-Zulassung „Straße“ ⚙"),
                          ("wohngeld", "Wohngeld")))
    settings = write_daemon_config(tmp_path, services)
    daemon = Daemon(settings, KINDS)
    try:
        daemon.start()
        end = time.monotonic() + 60
        while len(daemon.latest()) < 3:
            assert time.monotonic() < end, "no results"
            time.sleep(0.05)
        host, port = daemon.http.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200
        assert int(response.getheader("Content-Length")) == len(body)
        text = body.decode("utf-8")
        ours = "".join(daemon.metrics_pieces())
        assert len(daemon.metrics_pieces()) > 10 * 2 and text.endswith(ours), "the targets' families follow the registry's"
        registry_part = text[:-len(ours)]
        assert 'name="Kfz-Zulassung „Straße“ ⚙",operator="Kreisstadt Saarlouis – Bürgerbüro"' in text
        assert len(re.findall(r"^probe_success\{.*\} 1\.0$", text, re.M)) == 3
        assert "process_cpu_seconds_total" in registry_part
        conn.request("HEAD", "/metrics")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b""
        assert int(response.getheader("Content-Length")) >= len(body) - 200  # (a sample may have moved on)
        conn.close()
    finally:
        daemon.stop()


def test_a_check_holding_the_only_http_thread_never_delays_the_probes(tmp_path, http_server):
    """pools.http: 1, and a security check that waits its whole timeout on that one thread: the
    availability probes beside it start on the scheduler's own thread, at their interval (they
    queued behind it before, and their runs were missed until it ended)."""
    from tests.servers import hits

    slow = f"""\
- id: langsam
  name: Dienst langsam
  category: efa
  operator: Land Saarland
  contact: ops@example.invalid
  urls: ["{http_server}/hang"]
  checks:
    security: {{interval: 2s, timeout: 12s, jitter: 0s}}
"""
    services = slow + service_yaml("zeitig", [f"{http_server}/count/zeitig"], interval="1s", timeout="0.5s")
    settings = write_daemon_config(tmp_path, services)
    settings.write_text(settings.read_text().replace("pools: {http: 16}", "pools: {http: 1}"))
    before = hits("zeitig")
    with running(settings) as daemon:
        # four probes a second apart: about 4 s; 11 s is still within the security check's 12 s
        # timeout (the probes queued behind it before: at most two in that time)
        daemon.wait_for(lambda: hits("zeitig") - before >= 4, timeout=11, what="four probes while the thread is held")
        store = store_of(settings)
        try:
            assert not [r for _, r in store.results("langsam")], "the security check still holds the thread"
        finally:
            store.close()
        text = daemon.get("/metrics")[1]
        assert (sample(text, "egov_scheduler_lag_seconds_count", kind="availability") or 0) >= 4  # lag still measured
    assert "Traceback" not in daemon.log()


def test_a_probe_whose_start_fails_once_is_not_left_counted_as_under_way(tmp_path, http_server, monkeypatch):
    """A run whose start raised (a bug, a resource error) is counted as the scheduler's error, and
    the target's next runs start: it is not left marked as under way, which would count every later
    run as missed and silently stop monitoring it."""
    from monitor.daemon import Daemon
    from tests.servers import hits

    settings = write_daemon_config(tmp_path, service_yaml("einmal", [f"{http_server}/count/einmal"], interval="1s",
                                                          timeout="0.5s"))
    daemon = Daemon(settings, KINDS)
    real, calls = daemon.runner.start, []

    def start(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("einmal fehlgeschlagen")
        return real(*args, **kwargs)

    monkeypatch.setattr(daemon.runner, "start", start)
    before = hits("einmal")
    try:
        daemon.start()
        end = time.monotonic() + 30
        while hits("einmal") - before < 3:  # three probes after the failed start, a second apart
            assert time.monotonic() < end, f"{hits('einmal') - before} probes after the failed start"
            time.sleep(0.05)
    finally:
        daemon.stop()
    assert not daemon.registry.get_sample_value("egov_scheduler_missed_runs_total", {"kind": "availability"})
    assert daemon.registry.get_sample_value("egov_check_errors_total", {"kind": "availability", "stage": "scheduler"}) == 1
