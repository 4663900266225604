"""Hostile and broken servers on 127.0.0.1: no target may silence the monitor, crash a check
or cost more than its timeout, and a normal target checked beside it is unaffected."""

from __future__ import annotations

import contextlib
import concurrent.futures
import threading
import time
from datetime import UTC, datetime

import pytest

from checks.availability import AvailabilitySettings, run, start
from checks.httpprobe import FetchOptions
from checks.httpprobe import fetch as python_fetch
from checks.httptext import body_text, charset_of, redirect_target
from checks.result import CheckResult, Reason, State, Target
from tests import hostile
from tests.helpers import KINDS

TIMEOUT = 3.0
MARGIN = 2.0  # what a check may take beyond its timeout (two shared cores, browsers beside)


@pytest.fixture(scope="module")
def server():
    with hostile.serve() as base:
        yield base


def _probe(url: str, way: str, **settings) -> tuple[CheckResult, float]:
    settings.setdefault("retries", 0)
    settings.setdefault("timeout", TIMEOUT)
    t0 = time.monotonic()
    if way == "run":
        result = run(Target("svc", url), AvailabilitySettings(**settings))
    else:
        got, ended = [], threading.Event()
        start(Target("svc", url), AvailabilitySettings(**settings), None, lambda r: (got.append(r), ended.set()))
        assert ended.wait(TIMEOUT + 30), "the prober never answered: a lost transfer"
        result = got[0]
        assert isinstance(result, CheckResult), result
    return result, time.monotonic() - t0


def _beside(server: str, path: str, way: str, **settings) -> CheckResult:
    """Probe `path` and, at the same time, the healthy page: the healthy one must be up and quick."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        hostile_run = pool.submit(_probe, server + path, way, **settings)
        healthy, healthy_took = pool.submit(_probe, server + "/ok", way).result()
        result, took = hostile_run.result()
    assert (healthy.state, healthy.reason) == (State.UP, Reason.OK)
    assert healthy_took < TIMEOUT
    assert took < TIMEOUT + MARGIN, f"{path} took {took:.1f} s"
    return result


@pytest.mark.parametrize("way", ["run", "start"])
@pytest.mark.parametrize(("path", "final"), [
    ("/redirect-utf8", "/ok-%C3%A4"),  # raw UTF-8 in Location: percent-encoded as a browser does
    ("/redirect-latin1", "/ok-%E4"),  # a byte that is no UTF-8: encoded as it is
    ("/redirect-long", "/ok?" + "a" * 10_000),
    ("/redirect-huge", "/ok?" + "b" * 100_000),
])
def test_a_redirect_a_browser_follows_is_followed(server, path, final, way):
    result = _beside(server, path, way, body_must_contain=["Serviceportal"])
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
    assert result.evidence["final_url"] == (server + final)[:2000]
    assert result.measurements["redirects"] == 1


@pytest.mark.parametrize("way", ["run", "start"])
def test_a_control_character_in_location_is_a_protocol_error_naming_the_header(server, way):
    result = _beside(server, "/redirect-ctl", way)
    assert (result.state, result.reason) == (State.DOWN, Reason.PROTOCOL_ERROR)
    assert "Steuerzeichen im Location-Kopf" in result.evidence["detail"]
    assert "/ok\\x01x" in result.evidence["detail"]


@pytest.mark.parametrize("way", ["run", "start"])
@pytest.mark.parametrize("path", ["/charset-idna", "/charset-bogus", "/charset-utf16"])
def test_a_strange_charset_never_raises_and_keywords_still_work(server, path, way):
    result = _beside(server, path, way, body_must_contain=["Willkommen beim Serviceportal"])
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence


def test_charset_choice_falls_back_as_browsers_do():
    ct = [("Content-Type", "text/html; charset=idna")]
    assert charset_of(ct, "Grüße".encode()) == "utf-8"  # not a page codec: sniffed
    assert charset_of(ct, "Grüße".encode("cp1252")) == "cp1252"  # not UTF-8: windows-1252
    assert charset_of([("Content-Type", "text/html; charset=base64")], b"x") == "utf-8"
    assert charset_of([("Content-Type", "text/html; charset=ISO-8859-1")], b"x") == "cp1252"  # WHATWG: latin1 = 1252
    assert body_text([("Content-Type", "text/html; charset=rot13")], b"Hallo") == "Hallo"


@pytest.mark.parametrize("way", ["run", "start"])
@pytest.mark.parametrize("path", ["/cookies-1000", "/header-200k"])
def test_headers_chromium_accepts_never_make_a_service_down(server, path, way):
    result = _beside(server, path, way)
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence


@pytest.mark.parametrize("way", ["run", "start"])
def test_headers_over_chromiums_limit_are_a_protocol_error_said_in_german(server, way):
    result = _beside(server, "/header-300k", way)
    assert (result.state, result.reason) == (State.DOWN, Reason.PROTOCOL_ERROR)
    assert "größer als 256 KiB" in result.evidence["detail"]


def test_the_python_side_fetch_reads_any_number_of_headers(server):
    """The security check and the side fetches (security.txt, sitemap) use the Python prober."""
    out = python_fetch(server + "/cookies-1000", FetchOptions(timeout=TIMEOUT))
    assert out.error is None and out.status == 200
    assert sum(1 for name, _ in out.headers if name.lower() == "set-cookie") == 1000
    out = python_fetch(server + "/header-200k", FetchOptions(timeout=TIMEOUT))
    assert out.error is None and out.status == 200
    out = python_fetch(server + "/redirect-utf8", FetchOptions(timeout=TIMEOUT))
    assert out.error is None and out.final_url.endswith("/ok-%C3%A4")


def test_the_security_check_grades_a_page_with_a_thousand_cookies(server):
    from checks.security.headers.retrieval import retrieve

    port = int(server.rsplit(":", 1)[1])
    got, _first, _second = retrieve(server + "/cookies-1000", FetchOptions(timeout=TIMEOUT), http_port=port)
    assert got.auto is not None and got.auto.status == 200, got
    assert len([v for k, v in got.auto.headers if k.lower() == "set-cookie"]) == 1000


def test_redirect_target_as_a_browser_computes_it():
    assert redirect_target("http://a.example/x/y", "/ok-\xc3\xa4") == "http://a.example/ok-%C3%A4"
    assert redirect_target("http://a.example/x/y", "z w") == "http://a.example/x/z%20w"
    assert redirect_target("http://a.example/", "http://b\xc3\xbccher.example/s") == "http://xn--bcher-kva.example/s"
    assert redirect_target("http://a.example/", " /t\t\n ") == "http://a.example/t"
    assert redirect_target("http://a.example/", "/ok?q=%41") == "http://a.example/ok?q=%41"  # escapes stay


def test_no_library_code_reaches_operators(server):
    """A failure libcurl has no text for is still named in German."""
    from checks.curlprobe import _GERMAN, _Transfer  # noqa: F401

    assert all(text and not text.startswith("libcurl") for text in _GERMAN.values())
    result, _ = _probe(server + "/nothing-here", "run", valid_status_codes=[200])
    assert result.reason is Reason.HTTP_STATUS
    assert "libcurl" not in result.evidence["detail"]


def test_the_prober_never_loses_a_transfer_whatever_fails_in_a_hop(server, monkeypatch):
    """Defence in depth: an exception nobody foresaw while a hop starts or ends still ends the
    probe (unknown/internal_error), within its timeout, and the loop goes on probing others."""
    from checks import curlprobe

    real = curlprobe._Transfer.finish_hop
    calls = {"n": 0}

    def broken(self, code, message):
        if "boom" in self.out.url and calls["n"] == 0:
            calls["n"] += 1
            raise RuntimeError("a bug")
        return real(self, code, message)

    monkeypatch.setattr(curlprobe._Transfer, "finish_hop", broken)
    for way in ("run", "start"):
        calls["n"] = 0
        result, took = _probe(server + "/ok?boom", way)
        assert (result.state, result.reason) == (State.UNKNOWN, Reason.INTERNAL_ERROR), result.evidence
        assert "interner Fehler des Probers" in result.evidence["detail"]
        assert took < TIMEOUT
        healthy, _ = _probe(server + "/ok", way)
        assert healthy.state is State.UP


def test_the_runner_watchdog_ends_a_run_that_never_returns(tmp_path):
    """A kind whose `start` never calls back: the watchdog records unknown/internal_error after
    the run's worst case plus its margin, frees the slot, and drops a result that comes later."""
    from checks.context import CheckContext
    from monitor.config import CanarySettings
    from monitor.runner import CanaryGuard, CheckRunner
    from tests.test_runner import catalog_for

    recorded: list[CheckResult] = []

    class Store:
        def record(self, result, run_key=None):
            recorded.append(result)

    runner = CheckRunner(KINDS, Store(), CanaryGuard(CanarySettings(urls=[])), UTC, context=CheckContext())
    service = catalog_for(tmp_path, "http://127.0.0.1:9/")
    settings = AvailabilitySettings(timeout=1, retries=0, interval=60)
    held: list = []

    impl = KINDS["availability"].check
    original = impl.start
    object.__setattr__(impl, "start", lambda target, s, ctx, done: held.append(done))  # swallows the run
    try:
        done = threading.Event()
        assert runner.start(service, "availability", "http://127.0.0.1:9/", settings, lambda _r: done.set())
        assert runner.open_runs() == 1 and not runner.sweep()  # not overdue yet
        ended = runner.sweep(time.monotonic() + settings.worst_case_seconds() + settings.timeout + 31)
    finally:
        object.__setattr__(impl, "start", original)
    assert done.is_set() and runner.open_runs() == 0 and runner.wait_idle(1)
    assert [r.reason for r in ended] == [Reason.INTERNAL_ERROR]
    assert [(r.state, r.reason) for r in recorded] == [(State.UNKNOWN, Reason.INTERNAL_ERROR)]
    assert "vom Wächter beendet" in recorded[0].evidence["detail"]
    late = CheckResult("portal", "http://127.0.0.1:9/", "availability", State.UP, Reason.OK, datetime.now(UTC), 0.1)
    held[0](late)  # the hung probe answers after all: dropped, the watchdog's result stands
    assert len(recorded) == 1


# --------------------------------------------------------------------------- the daemon


@pytest.mark.e2e
def test_the_daemon_keeps_every_target_current_beside_hostile_ones(tmp_path, server, http_server):
    """Hostile targets beside normal ones: every target has a current egov_check_state within two
    intervals, none is stuck with only missed runs, and the metrics pass promtool."""
    import subprocess

    from tests.daemon import running, service_yaml, write_daemon_config
    from tests.test_daemon import sample

    hostile_paths = ["/redirect-utf8", "/redirect-latin1", "/redirect-ctl", "/redirect-huge", "/charset-idna",
                     "/cookies-1000", "/header-200k", "/header-300k", "/download"]
    urls = {f"{server}{p}" for p in hostile_paths} | {f"{http_server}/ok", f"{http_server}/hang"}
    services = service_yaml("feindlich", sorted(u for u in urls if u.startswith(server)), interval="2s", timeout="1s")
    services += service_yaml("normal", [f"{http_server}/ok", f"{http_server}/hang"], interval="2s", timeout="1s")
    settings = write_daemon_config(tmp_path, services)
    with running(settings) as daemon:
        def all_current():
            text = daemon.get("/metrics")[1]
            states = {u: sample(text, "egov_check_state", url=u, state="unknown") for u in urls}
            return text if all(v is not None for v in states.values()) else None

        # first runs are spread over up to 10 s, then two 2 s intervals
        text = daemon.wait_for(all_current, timeout=30, what="a current state for every target")
        assert sample(text, "egov_check_state", url=f"{http_server}/ok", state="up") == 1
        assert sample(text, "egov_check_reason_info", url=f"{http_server}/hang", reason="read_timeout") == 1
        assert sample(text, "egov_check_state", url=f"{server}/redirect-utf8", state="up") == 1
        assert sample(text, "egov_check_state", url=f"{server}/charset-idna", state="up") == 1
        assert sample(text, "egov_check_reason_info", url=f"{server}/redirect-ctl", reason="protocol_error") == 1
        assert "egov_check_scheduled_timestamp_seconds{" not in text  # every target has run
        missed = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("egov_scheduler_missed_runs_total{"))
        assert missed == 0, "a run was still under way when its next one was due"
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert daemon.proc.returncode == 0
    assert "Traceback" not in daemon.log()


@pytest.mark.alone
@pytest.mark.e2e
def test_sigterm_ends_within_5_s_with_hanging_transfers_recorded_as_cut_short(tmp_path, http_server):
    """Six probes and a security check (which waits on a pool thread) hang on the server: SIGTERM
    ends the daemon within 5 s all the same (it waited for the security check's 20 s timeout
    before: the interpreter's exit joined the pool thread), every run stored as cut short."""
    from tests.daemon import DaemonProcess, service_yaml, write_daemon_config
    from tests.test_daemon import store_of

    services = service_yaml("haengt", [f"{http_server}/hang?{i}" for i in range(6)], interval="30s", timeout="20s")
    services += f"""\
- id: blockiert
  name: Dienst blockiert
  category: efa
  operator: Land Saarland
  contact: ops@example.invalid
  urls: ["{http_server}/hang?sicherheit"]
  checks:
    security: {{interval: 30s, timeout: 20s, jitter: 0s}}
"""
    settings = write_daemon_config(tmp_path, services)
    daemon = DaemonProcess(settings)
    daemon.wait_ready()
    # every run has started (first runs are spread over 10 s) and hangs on the server
    daemon.wait_for(lambda: _started(daemon) >= 7, timeout=30,
                    what="six hanging probes and a security check under way")
    t0 = time.monotonic()
    assert daemon.stop(timeout=30) == 0
    took = time.monotonic() - t0
    assert took < 5.0, f"SIGTERM took {took:.1f} s"
    store = store_of(settings)
    results = list(store.results("haengt"))
    assert len(results) == 6
    assert {(r.state, r.reason) for _, r in results} == {(State.UNKNOWN, Reason.MONITOR_STOPPED)}
    assert [(r.kind, r.state, r.reason) for _, r in store.results("blockiert")] == [
        ("security", State.UNKNOWN, Reason.MONITOR_STOPPED)]
    store.close()
    assert "Traceback" not in daemon.log()
    assert "egov-monitor wird beendet" in daemon.log()  # the log written before the exit is complete


def _started(daemon) -> int:
    from tests.test_daemon import sample

    text = daemon.get("/metrics")[1]
    return int(sample(text, "egov_checks_in_flight") or 0)


# --------------------------------------------------------------------------- the browser checks


@pytest.fixture(scope="module")
def browsers():
    from checks.browser import BrowserPool, BrowserSettings

    pool = BrowserPool(BrowserSettings(), 1)
    yield pool
    pool.close()


def _files_named(roots, pattern: str, since: float) -> list[str]:
    import os
    from pathlib import Path

    found = []
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            # where Chromium could put a download: not into the virtualenv, pyenv's tree or
            # another test's directory (walking those costs minutes on a loaded machine)
            dirs[:] = [d for d in dirs if not d.startswith((".pyenv", ".venv", ".cache", ".npm", "pytest-of-",
                                                            ".rustup", ".cargo", "node_modules"))]
            for name in files:
                path = Path(dirpath) / name
                try:
                    fresh = path.stat().st_mtime >= since
                except OSError:
                    continue
                if fresh and (pattern in name or name.endswith(".crdownload")):
                    found.append(str(path))
    return found


@pytest.mark.slow
def test_a_download_start_page_is_not_a_page_and_leaves_no_file_anywhere(browsers, server):
    import tempfile
    from pathlib import Path

    from checks import accessibility as a11y
    from checks.accessibility import AccessibilitySettings
    from checks.page import open_page

    since = time.time() - 1
    roots = [Path.home(), Path(tempfile.gettempdir())]
    with browsers.session(deadline=60) as session:
        page = open_page(session, server + "/download", AccessibilitySettings(timeout=20))
        assert session._profile is not None
        profile = Path(session._profile)
        assert _files_named([profile], "antrag", since) == []  # the profile too, while it exists
    assert _files_named(roots, "antrag", since) == []
    assert page.error_reason == "not_a_page"
    assert "application/pdf, Datei 'antrag.pdf'" in page.error
    assert page.title == "" and page.lang is None  # not Chromium's new-tab page
    # the whole check: unknown with the fixed reason, and the pool's next page scans
    result = a11y.run(Target("svc", server + "/download"), AccessibilitySettings(timeout=20, markers=[]),
                      _ctx(browsers))
    assert (result.state, result.reason) == (State.UNKNOWN, Reason.NOT_A_PAGE), result.evidence
    assert "Datei zum Herunterladen" in result.evidence["detail"]
    assert _files_named(roots[:2], "antrag", since) == []
    ok = a11y.scan_page(browsers, server + "/ok", AccessibilitySettings(timeout=20))
    assert ok.error is None and ok.title == "Serviceportal"


def _ctx(pool):
    from checks.context import CheckContext

    return CheckContext(browser=pool)


@pytest.mark.slow
def test_any_number_of_dialogs_are_dismissed_recorded_and_the_page_scanned(browsers, server):
    from checks import accessibility as a11y
    from checks.accessibility import AccessibilitySettings

    page = a11y.scan_page(browsers, server + "/dialogs", AccessibilitySettings(timeout=20))
    assert page.error is None, page.error
    assert [(d["type"], d["message"]) for d in page.dialogs] == [
        ("alert", "eins"), ("alert", "zwei"), ("confirm", "Wirklich?"), ("prompt", "Name?"), ("alert", "drei")]
    assert {v.rule for v in page.violations} >= {"image-alt"}  # scanned after the dialogs
    assert page.to_dict()["dialogs"][2] == {"type": "confirm", "message": "Wirklich?"}


@pytest.mark.slow
def test_a_page_that_asks_before_it_is_left_never_holds_a_journey(browsers, server):
    """A beforeunload handler (which asks "leave this page?" once the visitor has clicked on it)
    never blocks: the journey leaves the page by its link, and the session's next run does too."""
    from checks import journey as journey_check
    from checks.context import CheckContext
    from checks.journey import JourneySettings

    steps = [{"name": "antrag", "open": "/leave"}, {"name": "weiter", "click": "Weiter"},
             {"name": "portal", "expect": {"text": "Willkommen beim Serviceportal"}},
             {"name": "ende", "stop": "Portal erreicht"}]
    settings = JourneySettings.model_validate({"journeys": [{"name": "verlassen", "title": "Verlassen", "steps": steps}],
                                               "step_timeout": "10s", "timeout": "60s", "experience": False})
    key = settings.keys([server + "/"])[0]
    for _ in range(2):  # the second run in the same browser: nothing left open from the first
        t0 = time.monotonic()
        result = journey_check.run(Target("svc", key), settings, CheckContext(browser=browsers))
        assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence["steps"]
        assert [s["url"].rsplit("/", 1)[-1] for s in result.evidence["steps"]] == ["leave", "ok", "ok", "ok"]
        assert time.monotonic() - t0 < 30


@pytest.mark.slow
def test_frames_are_scanned_to_the_documented_depth_and_the_cut_is_counted(browsers, server):
    from checks import accessibility as a11y
    from checks.accessibility import AccessibilitySettings
    from checks.accessibility.axe import MAX_FRAME_DEPTH

    assert MAX_FRAME_DEPTH >= 25
    page = a11y.scan_page(browsers, server + "/frames-0", AccessibilitySettings(timeout=40))
    assert page.error is None, page.error
    assert page.frames == MAX_FRAME_DEPTH + 1 and page.frames_failed == 0
    assert page.frames_cut == hostile.FRAME_DEPTH - MAX_FRAME_DEPTH
    assert page.to_dict()["frames_cut"] == 3
    image_alt = next(v for v in page.violations if v.rule == "image-alt")
    assert image_alt.nodes == MAX_FRAME_DEPTH + 1  # one image in each document scanned


@pytest.mark.alone
@pytest.mark.slow
def test_a_memory_bomb_is_killed_at_the_cap_and_the_pools_next_page_scans(server):
    """One page can never take the monitor with it: the session is killed when its process tree
    passes `memory_limit` (memory_limit, said in German; not retried), its peak stays within the limit plus
    what a page can allocate in one look (the deploy files are sized on that), the next page scans."""
    from checks import accessibility as a11y
    from checks.accessibility import AccessibilitySettings
    from checks.browser import BrowserPool, BrowserSettings
    from checks.browser_host import tree_rss

    limit = 600 * 1024**2
    pool = BrowserPool(BrowserSettings(memory_limit=limit), 1)
    peak, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            for pid in pool.live_processes():
                peak[0] = max(peak[0], tree_rss(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        t0 = time.monotonic()
        bomb = a11y.scan_page(pool, server + "/memory-bomb", AccessibilitySettings(timeout=60))
        took = time.monotonic() - t0
        assert bomb.error_reason == "memory_limit", bomb  # killed, and not retried: it would bomb again
        assert bomb.error == "Seite beendet: Browser über der Speichergrenze von 600 MiB"
        assert took < 30, f"killed only after {took:.0f} s"  # at the cap, not at the 60 s deadline
        assert 0 < peak[0] < limit + 384 * 1024**2, f"peak {peak[0] // 1024**2} MiB"  # the sizing's margin
        assert pool.stats.killed >= 1
        ok = a11y.scan_page(pool, server + "/ok", AccessibilitySettings(timeout=30))
        assert ok.error is None and ok.title == "Serviceportal"
    finally:
        stop.set()
        watcher.join()
        pool.close()


def test_a_target_without_any_result_exports_when_it_was_scheduled_until_its_first_result(tmp_path):
    """The never-ran alert needs a series a target has before its first result (the staleness
    alert reads a last-run series such a target never had)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from monitor.config import load_config
    from monitor.metrics import LatestCache, ResultCollector, ResultText
    from monitor.store import Store
    from tests.test_config import GOOD, write_config
    from tests.test_metrics import URL, availability

    config = load_config(write_config(tmp_path, GOOD), KINDS)
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}", KINDS)
    cache = LatestCache(store)
    text = ResultText(cache, lambda: config)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    served = text.text().decode()
    assert served == generate_latest(registry).decode()
    lines = [line for line in served.splitlines() if line.startswith("egov_check_scheduled_timestamp_seconds{")]
    targets = {(s.id, k) for s in config.services.values() for k in s.checks}
    assert len(lines) >= len(targets) > 0
    assert all(float(line.rsplit(" ", 1)[1]) == config.loaded_at for line in lines)
    assert f'url="{URL}"' in "".join(lines)
    result = availability(URL, State.UP, Reason.OK)
    text.update(cache.committed([(result, None)], store.record_batch([(result, None)])))
    served = text.text().decode()
    assert served == generate_latest(registry).decode()
    after = [line for line in served.splitlines() if line.startswith("egov_check_scheduled_timestamp_seconds{")]
    assert not any(f'url="{URL}"' in line and 'kind="availability"' in line for line in after)
    assert len(after) == len(lines) - 1


# A process group that holds memory on request ("150": 150 MiB more), forks ("fork": the child
# shares it, as Chromium's processes share pages: resident sets count it twice, proportional sets
# once) and ends its child ("end").
HOLDER = """import os, signal, sys, time
held, child = [], 0
for line in sys.stdin:
    if line.strip() == 'fork':
        child = os.fork()
        if child == 0:
            time.sleep(3600)
            os._exit(0)
    elif line.strip() == 'end':
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    else:
        b = bytearray(int(line) * 1024 * 1024)
        for i in range(0, len(b), 4096): b[i] = 1
        held.append(b)
    print('ok', flush=True)
"""


@contextlib.contextmanager
def _holder():
    """HOLDER running in a process group of its own: (the group, a function that sends it a line)."""
    import os
    import signal
    import subprocess
    import sys

    group = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)

    def ask(line: str) -> None:
        group.stdin.write(line + "\n")
        group.stdin.flush()
        assert group.stdout.readline().strip() == "ok"

    try:
        yield group, ask
    finally:
        os.killpg(group.pid, signal.SIGKILL)
        group.wait()


def test_the_memory_gauge_reads_proportional_sets_only_when_the_limit_is_within_reach(monkeypatch):
    """The pool's watcher looks ten times a second; reading smaps_rollup costs ~20 ms per Chromium
    session, so the gauge bounds the proportional sets by the resident sets and reads them only
    when the limit is within reach: a group well under the limit costs no smaps read, nor does one
    whose resident sets pass the limit only through shared pages while nothing grows; a growing
    one is caught on the look after it passes, with tree_rss's figure."""

    from checks import browser_host
    from checks.browser_host import MemoryGauge, tree_rss

    reads = [0]
    pss = browser_host._pss

    def counted(pids):
        reads[0] += 1
        return pss(pids)

    monkeypatch.setattr(browser_host, "_pss", counted)
    with _holder() as (group, ask):
        ask("200")
        ask("fork")
        shared = tree_rss(group.pid)  # ~200 MiB and the interpreters, the 200 counted once
        reads[0] = 0
        far = MemoryGauge(group.pid, shared + 600 * 1024**2)
        assert [far.over() for _ in range(20)] == [None] * 20 and reads[0] == 0  # resident sets under it: statm only
        near = MemoryGauge(group.pid, shared + 100 * 1024**2, refresh=3600)  # resident sets (~2 x 200) above it
        assert near.over() is None and reads[0] == 1  # read once: under the limit
        assert [near.over() for _ in range(20)] == [None] * 20 and reads[0] == 1  # nothing grew: not read again
        ask("150")  # the parent grows past the limit: caught on the next look, with tree_rss's figure
        got = near.over()
        assert got is not None and abs(got - tree_rss(group.pid)) < 16 * 1024**2, (got, tree_rss(group.pid))


def test_the_memory_gauge_catches_growth_after_a_sharing_process_ended():
    """A process of the group ends (a renderer closes): the resident sets drop by all it held,
    the proportional sets only by what it held alone, since the pages it shared stay counted once
    in the others. Growth after that must still be caught on the next look, not at the next
    refresh: the gauge counts each process's growth, not the sum's."""

    from checks.browser_host import MemoryGauge, tree_rss

    with _holder() as (group, ask):
        ask("200")
        ask("fork")
        shared = tree_rss(group.pid)  # the 200 MiB counted once
        gauge = MemoryGauge(group.pid, shared + 100 * 1024**2, refresh=3600)
        assert gauge.over() is None  # read: under the limit
        ask("end")  # the child goes: resident sets -200 MiB and more, proportional sets a few MiB less
        assert gauge.over() is None
        ask("150")  # the parent grows 150 MiB, less than the child's resident set was
        got = gauge.over()
        assert got is not None and abs(got - tree_rss(group.pid)) < 16 * 1024**2, (got, tree_rss(group.pid))


def test_a_session_leader_read_before_its_setsid_still_counts_in_its_group():
    """The group table is read once per process. A look can fall between chromedriver's fork
    and its setsid, when it is still in its parent's group; it must count in its own group all
    the same (its pid is the group's id), not be left out of the memory sum for good."""
    import os
    import subprocess
    import sys
    import time

    from checks.browser_host import _Groups

    leader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        groups = _Groups()
        groups.members(leader.pid)
        groups._of[str(leader.pid)] = os.getpgrp()  # as read in that window: the parent's group
        groups._listed = time.monotonic()
        assert str(leader.pid) in groups.members(leader.pid)
    finally:
        leader.kill()
        leader.wait()


@pytest.mark.slow
def test_a_browser_still_starting_when_the_process_ends_is_killed_with_its_profile():
    """A stopping process ends without joining its pool threads (SIGTERM within 5 s). A browser
    session such a thread was still starting when the pool was aborted is in no pool yet: the
    process's last step (`kill_started`, called by the CLI before it exits) ends its chromedriver,
    every Chromium of it and its profile, and forgets the sessions it killed."""
    import os

    from checks.browser import BrowserSession, BrowserSettings
    from checks.browser_host import kill_started

    def group_alive(pgid: int) -> bool:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == pgid and fields[0] != "Z":
                    return True
        return False

    session = BrowserSession(BrowserSettings(), 30)  # as a pool thread makes one, before the pool holds it
    assert session._process is not None
    pgid, profile = session._process.pid, session._profile
    session.driver.get("about:blank")  # Chromium itself runs, in chromedriver's group
    assert group_alive(pgid) and os.path.isdir(profile)
    assert kill_started() >= 1
    end = time.monotonic() + 10  # SIGKILL to the group is delivered at once, the ends take a moment
    while group_alive(pgid):
        assert time.monotonic() < end, "a process of the session outlived the process's end"
        time.sleep(0.05)
    assert not os.path.exists(profile)
    assert kill_started() == 0  # a killed session is forgotten
