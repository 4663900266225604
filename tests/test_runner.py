"""Monitor-side policy between check and store: canaries, maintenance, internal errors."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest

from checks.result import Reason, State
from monitor.config import CanarySettings, load_config
from monitor.runner import CanaryGuard, CheckRunner
from monitor.store import Store
from tests.helpers import KINDS
from tests.servers import free_port
from tests.test_config import write_config

BERLIN = ZoneInfo("Europe/Berlin")


def catalog_for(tmp_path, url: str, extra: str = ""):
    return load_config(write_config(tmp_path, f"""
services:
  - id: portal
    name: Portal
    category: efa
    operator: Land Hessen
    contact: ops@example.invalid
    urls: ["{url}"]
    checks:
      availability: {{retries: 0, timeout: 1s}}
{extra}
"""), KINDS).services["portal"]


@pytest.fixture(params=["run", "start"])
def mode(request) -> str:
    """Every policy holds both ways a check runs: a thread waiting for it (`run`: the CLI, the
    workers) and started without one (`start`: the daemon's availability probes)."""
    return request.param


def run_once(tmp_path, service, canaries: CanaryGuard, mode: str = "run"):
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", KINDS)
    runner = CheckRunner(KINDS, store, canaries, BERLIN)
    settings = service.checks["availability"]
    if mode == "run":
        return runner.run(service, "availability", service.urls[0], settings), store
    got, ended = [], threading.Event()
    assert runner.start(service, "availability", service.urls[0], settings,
                        lambda result: (got.append(result), ended.set()))
    assert ended.wait(60) and runner.wait_idle(10)
    assert store.count_results() == 1  # stored before `done` was called
    return got[0], store


def test_down_stays_down_when_canaries_answer(tmp_path, http_server, mode):
    service = catalog_for(tmp_path, f"{http_server}/status/503")
    canaries = CanaryGuard(CanarySettings(urls=[f"{http_server}/ok"]))
    result, store = run_once(tmp_path, service, canaries, mode)
    assert (result.state, result.reason) == (State.DOWN, Reason.HTTP_STATUS)
    assert result.evidence["canaries"][0]["state"] == "up"
    assert store.timeline()[0].state == "down"


def test_canary_failure_turns_down_into_unknown(tmp_path, mode):
    dead = f"http://127.0.0.1:{free_port()}/"
    service = catalog_for(tmp_path, dead)
    canaries = CanaryGuard(CanarySettings(urls=[f"http://127.0.0.1:{free_port()}/", f"http://127.0.0.1:{free_port()}/"]))
    result, store = run_once(tmp_path, service, canaries, mode)
    assert (result.state, result.reason) == (State.UNKNOWN, Reason.MONITOR_NETWORK)
    assert result.evidence["service_reason"] == "connect_refused"
    assert store.timeline()[0].state == "unknown"


def test_one_of_two_canaries_failing_is_not_enough_by_default(tmp_path, http_server, mode):
    service = catalog_for(tmp_path, f"http://127.0.0.1:{free_port()}/")
    canaries = CanaryGuard(CanarySettings(urls=[f"http://127.0.0.1:{free_port()}/", f"{http_server}/ok"]))
    result, _ = run_once(tmp_path, service, canaries, mode)
    assert result.state is State.DOWN


def test_concurrent_failures_share_one_canary_round(http_server):
    import concurrent.futures
    import time

    canaries = CanaryGuard(CanarySettings(urls=[f"{http_server}/delay/200"]))
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda _: canaries.verdict_since(start), range(8)))
    assert len({id(v) for v in verdicts}) == 1


def test_in_maintenance_is_marked(tmp_path, http_server, mode):
    service = catalog_for(tmp_path, f"{http_server}/status/503", extra="""
    maintenance:
      - reason: Immer
        every: day
        at: "00:00"
        duration: 24h
""")
    result, _ = run_once(tmp_path, service, CanaryGuard(CanarySettings()), mode)
    assert result.state is State.DOWN and result.evidence["in_maintenance"] is True


@pytest.mark.parametrize("where", ["start", "done"])
def test_a_crashing_check_gives_unknown_not_a_lost_run(tmp_path, http_server, monkeypatch, mode, where):
    from checks import CheckImplementation

    def boom(target, settings, ctx):
        raise RuntimeError("bug")

    def boom_start(target, settings, ctx, done):
        if where == "start":
            raise RuntimeError("bug")
        done(RuntimeError("bug"))  # judging the probe failed on the prober's thread

    impl = KINDS["availability"].check
    monkeypatch.setattr(KINDS["availability"], "check",
                        CheckImplementation(impl.kind, impl.settings_model, boom, impl.pool, start=boom_start))
    service = catalog_for(tmp_path, f"{http_server}/ok")
    result, store = run_once(tmp_path, service, CanaryGuard(CanarySettings()), mode)
    assert (result.state, result.reason) == (State.UNKNOWN, Reason.INTERNAL_ERROR)
    assert store.count_results() == 1


def test_started_runs_are_bounded_and_waited_for(tmp_path, http_server):
    """No more than `max_in_flight` runs are under way through `start` (the daemon then runs
    the check in its pool thread, as before); stopping waits for those under way."""
    service = catalog_for(tmp_path, f"{http_server}/delay/300")
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", KINDS)
    runner = CheckRunner(KINDS, store, CanaryGuard(CanarySettings()), BERLIN)
    runner.max_in_flight = 3
    settings = service.checks["availability"]
    def ours() -> int:  # threads of this process but the test server's (one per request it answers)
        return sum(1 for t in threading.enumerate() if "process_request_thread" not in t.name)

    threads = ours()
    started = [runner.start(service, "availability", service.urls[0], settings) for _ in range(5)]
    assert started == [True, True, True, False, False]
    assert ours() <= threads + 1  # no thread waits per probe (at most the prober's loop)
    assert runner.wait_idle(30)
    assert store.count_results() == 3 and all(r.state is State.UP for _, r in store.results())
    assert runner.start(service, "availability", service.urls[0], settings)  # room again
    assert runner.wait_idle(30) and store.count_results() == 4


def test_after_the_shutdown_cut_no_run_starts_and_nothing_is_lost(tmp_path, http_server, mode):
    """SIGTERM: `cut_short` ends the open runs; a job the scheduler handed over just before it
    stopped must not start a probe whose result would arrive after the writer closed (a request
    the target saw, with no result stored: found by the full-disk test on a loaded machine)."""
    from tests.servers import hits

    key = f"cut{mode}"
    service = catalog_for(tmp_path, f"{http_server}/count/{key}")
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", KINDS)
    runner = CheckRunner(KINDS, store, CanaryGuard(CanarySettings()), BERLIN)
    settings = service.checks["availability"]
    runner.run(service, "availability", service.urls[0], settings)  # one run before: stored, seen by the server
    assert (store.count_results(), hits(key)) == (1, 1)
    assert runner.cut_short() == 0
    if mode == "run":
        result = runner.run(service, "availability", service.urls[0], settings)
        assert (result.state, result.reason) == (State.UNKNOWN, Reason.MONITOR_STOPPED)
    else:
        assert runner.start(service, "availability", service.urls[0], settings, lambda _r: None)
        assert runner.wait_idle(10)
    assert runner.open_runs() == 0
    assert (store.count_results(), hits(key)) == (1, 1)  # not asked, not stored
