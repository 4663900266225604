"""A pool of WebDriver sessions for the checks that need a real browser.

Local mode starts one chromedriver per session, in its own process group, and talks to
it as a W3C remote end, so local Chromium and a Selenium Grid (`remote_url`) run exactly
the same code. Selenium Manager is never used: the driver path comes from the settings
and `SE_OFFLINE`/`SE_AVOID_STATS` are set before Selenium is imported.

Sessions are reused across pages, recycled after `recycle_after_pages`, and replaced when
a command fails in a way that leaves the browser in doubt (timeouts, crashes, a lost
connection). Every use runs under a watchdog: when a page holds a session past its
deadline, the session's whole process group is killed, which also ends the blocked
WebDriver call. A hostile page costs at most its timeout and never the pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
os.environ.setdefault("SE_AVOID_STATS", "true")  # nor send usage statistics

import urllib3
from selenium import webdriver
from selenium.common.exceptions import TimeoutException as TimeoutException
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.timeouts import Timeouts
from selenium.webdriver.remote.client_config import ClientConfig

from checks.browser_host import (
    DIALOG_RECORDER,
    SINGLETON_PATH_EXTRA,
    SOCKET_PATH_MAX,
    STARTED,
    STARTED_LOCK,
    MemoryGauge,
    TrustError,
    split_userinfo,
    trust_in_nssdb,
)
from checks.browser_settings import BrowserSettings as BrowserSettings
from checks.browser_settings import executable
from checks.browser_settings import sandbox_possible as sandbox_possible
from checks.chromium import (
    BACKGROUND_HOSTS,
    CHROMIUM_FLAGS,
    DISABLED_FEATURES,
    RECORDING_FEATURES,
    RECORDING_FLAGS,
    RECORDING_PREFS,
    SCAN_JS_FLAGS,
)

log = logging.getLogger(__name__)

MEMORY_POLL = 0.1  # seconds between two looks at a session's memory (a page can grow ~0.2 GiB meanwhile)


class BrowserUnavailable(Exception):
    """No browser session could be started (driver missing, grid down, start timeout)."""


class SessionBroken(Exception):
    """The session was killed by its watchdog or stopped answering; the page is abandoned."""

    def __init__(self, message: str, memory: bool = False) -> None:
        super().__init__(message)
        self.memory = memory  # killed at the memory limit, not at the deadline


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def network_events(entries: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(method, params) of each `Network.*` event of a DevTools performance log
    (`BrowserSession.performance_log`); other and unreadable entries are skipped."""
    for entry in entries:
        raw = entry.get("message") or ""
        if '"Network.' not in raw:
            continue
        try:
            msg = json.loads(raw)["message"]
        except (ValueError, KeyError, TypeError):
            continue
        yield str(msg.get("method")), msg.get("params") or {}


class BrowserSession:
    """One WebDriver session, with the chromedriver process group behind it when local."""

    def __init__(self, settings: BrowserSettings, command_timeout: float, record: bool = False,
                 full: bool = False) -> None:
        self.settings = settings
        self.record = record  # a one-shot session with the network recorded (see RECORDING_FEATURES)
        # the full Chromium, or the headless shell for pooled scans (None: chromedriver's default, a Grid's)
        self.binary = None if settings.remote_url else settings.binary(full=full or record)
        self.pages = 0
        self.broken = False
        self.created = time.monotonic()
        self._process: subprocess.Popen | None = None
        self._profile: str | None = None
        self._scoped = ""  # the Chromium profile chromedriver made (in our $TMPDIR)
        self._short_tmp = ""  # our $TMPDIR in /tmp when the profile's path is too long for one
        self._blank: str | None = None
        self.axe_in_blank = False  # whether axe-core is loaded in the blank window (checks use it)
        self.cookie_recorder = ""  # name of the DSGVO check's cookie recorder, once installed
        self.closers: list[Callable[[], None]] = []  # what ends with the session (a journey's DevTools guard)
        self._init_scripts: dict[str, bool] = {}
        self._init_ids: dict[str, str] = {}  # their DevTools identifiers, to remove them
        self._timeouts: tuple[float, float] | None = None
        self.memory: MemoryGauge | None = None  # the pool's memory watcher's gauge of this session
        url = str(settings.remote_url).rstrip("/") if settings.remote_url else None
        if url is None:
            try:
                url = self._start_local()
            except BaseException:
                self.kill()  # the profile and any process started so far go with it
                raise
        options = webdriver.ChromeOptions()
        for flag in CHROMIUM_FLAGS + (RECORDING_FLAGS if record else ()):
            options.add_argument(flag)
        sandboxed, why = settings.sandboxed()
        if sandboxed is False:
            if settings.sandbox == "on":
                self.kill()
                raise BrowserUnavailable(f"Chromium-Sandbox verlangt (sandbox: on), aber nicht möglich: {why}")
            options.add_argument("--no-sandbox")
        elif sandboxed is None and settings.sandbox != "on":
            # a remote end (Grid node) cannot be probed from here, and a node running Chromium as
            # root starts nothing with the sandbox on: as before, unless the operator says `on`
            options.add_argument("--no-sandbox")
        options.add_argument("--disable-features=" + ",".join(DISABLED_FEATURES + (RECORDING_FEATURES if record else ())))
        # Downloads: a page whose response is a file must never write to disk (a daemon would
        # fill it with each scan). Denied below over DevTools; should a remote end refuse that,
        # the preferences keep a file inside the session's profile, which is removed with it.
        # The first window is chromedriver's `data:,` (it makes the profile, below), never the
        # new-tab page (a WebUI page in a renderer of its own that the first command waited for:
        # ~0.15 s and ~60 ms CPU per start); the startup preferences keep it so where a remote
        # end brings a profile of its own.
        prefs: dict[str, Any] = {"download.prompt_for_download": False, "download_restrictions": 3,
                                 "safebrowsing.enabled": False, "session.restore_on_startup": 4,
                                 "session.startup_urls": ["about:blank"]}
        if self._profile:
            prefs["download.default_directory"] = os.path.join(self._profile, "downloads")
        if record:
            options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
            options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
            prefs |= RECORDING_PREFS
        options.add_experimental_option("prefs", prefs)
        options.add_argument(f"--window-size={settings.window_size}")
        js_flags = [f"--max-old-space-size={settings.js_heap_mb}", *(() if full or record else SCAN_JS_FLAGS)]
        options.add_argument("--js-flags=" + " ".join(js_flags))
        # No --user-data-dir: chromedriver then makes the profile itself, in its $TMPDIR (inside
        # ours, see _start_local), and opens the first window on `data:,`. Given a profile,
        # chromedriver opens no window, and the headless shell (chromium-headless-shell, the
        # default) starts with no page at all: no session.
        rules, bypass = [], []
        for flag in settings.arguments:
            if flag.startswith("--host-resolver-rules="):
                rules.append(flag.split("=", 1)[1])  # Chromium takes only one: the operator's come first
            elif flag.startswith("--proxy-bypass-list="):
                bypass += [e for e in flag.split("=", 1)[1].split(";") if e]
            else:
                options.add_argument(flag)
        rules = [f"MAP {name} {address}" for name, address in settings.hosts.items()] + rules
        rules += [f"MAP {host} ~NOTFOUND" for host in BACKGROUND_HOSTS]
        options.add_argument("--host-resolver-rules=" + ", ".join(rules))
        if any(a.startswith("--proxy-server=") for a in settings.arguments):
            # through a proxy the proxy resolves names and the rules above do not apply: Chromium's
            # own background hosts go direct instead, where they resolve to nothing
            bypass += BACKGROUND_HOSTS
        if bypass:
            options.add_argument("--proxy-bypass-list=" + ";".join(bypass))
        if self.binary and not settings.remote_url:
            options.binary_location = str(self.binary)
        options.accept_insecure_certs = settings.accept_insecure_certs
        options.unhandled_prompt_behavior = "dismiss"  # an alert() on load must not block the session
        options.page_load_strategy = "normal"
        # A Grid's basic authentication (user:password@ in remote_url) goes to Selenium as
        # credentials, the address without them: it is what errors, evidence and logs show.
        url, user, password = split_userinfo(url)
        config = ClientConfig(remote_server_addr=url, timeout=command_timeout,  # type: ignore[arg-type]  # float seconds work
                              keep_alive=True, username=user, password=password)
        try:
            self.driver = webdriver.Remote(command_executor=url, options=options, client_config=config)
        except Exception as exc:
            self.kill()
            raise BrowserUnavailable(f"Browser-Sitzung nicht gestartet ({url}): {_short(exc)}") from exc
        if self._process is not None:  # chromedriver's profile: removed with the session, killed or not
            self._scoped = str((self.driver.capabilities.get("chrome") or {}).get("userDataDir") or "")
        self.downloads_denied = False
        with contextlib.suppress(WebDriverException):
            self.cdp("Browser.setDownloadBehavior", behavior="deny")
            self.downloads_denied = True
        self.dialogs_recorded = self.add_init_script("dialogs", DIALOG_RECORDER)

    def _start_local(self) -> str:
        driver = self.settings.chromedriver
        if not executable(driver):
            raise BrowserUnavailable(
                f"chromedriver nicht gefunden unter {driver}; Debian-Paket chromium-driver installieren "
                "oder browser.chromedriver / browser.remote_url in settings.yaml setzen")
        self._profile = tempfile.mkdtemp(prefix="egov-monitor-chromium-")
        # Chromium's own temporary directories (its profile, which chromedriver makes, the
        # singleton socket, scoped dirs) go inside this directory: a session that is killed
        # (timeout, memory, hostile page) cannot clean them up itself, and a daemon would leave hundreds an hour in /tmp. Not when the
        # socket's path would pass the kernel's limit (a long $TMPDIR): Chromium would not start.
        env = dict(os.environ)
        own_tmp = os.path.join(self._profile, "t")
        if len(own_tmp.encode()) + SINGLETON_PATH_EXTRA < SOCKET_PATH_MAX:
            os.mkdir(own_tmp, 0o700)
            env["TMPDIR"] = own_tmp
        else:  # a long $TMPDIR: a short directory of the session's own in /tmp, removed with it
            with contextlib.suppress(OSError):
                env["TMPDIR"] = self._short_tmp = tempfile.mkdtemp(prefix="egov-monitor-t-", dir="/tmp")
        if self.settings.ca_files:  # Chromium on Linux trusts what $HOME/.pki/nssdb trusts
            home = os.path.join(self._profile, "home")
            try:
                trust_in_nssdb(os.path.join(home, ".pki", "nssdb"), self.settings.ca_files)
            except TrustError as exc:
                raise BrowserUnavailable(str(exc)) from exc
            env["HOME"] = home
        port = _free_port()
        # A session of its own, so one killpg ends chromedriver and every Chromium process it started.
        with STARTED_LOCK:  # (with the registration: `kill_started` sees every group it started)
            self._process = subprocess.Popen(
                [str(driver), f"--port={port}", "--allowed-ips=127.0.0.1", "--log-level=OFF"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                env=env)
            STARTED.add(self)
        deadline = time.monotonic() + self.settings.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserUnavailable(f"chromedriver {driver} beendete sich sofort (Code {self._process.returncode})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return f"http://127.0.0.1:{port}"
            time.sleep(0.02)
        raise BrowserUnavailable(f"chromedriver {driver} antwortete nicht innerhalb von {self.settings.start_timeout:g}s")

    @property
    def local(self) -> bool:
        return self._process is not None

    def alive(self) -> bool:
        """False when the local chromedriver is gone (killed, crashed)."""
        return not self.broken and (self._process is None or self._process.poll() is None)

    def blank_window(self) -> str:
        """Handle of a second, blank window kept for work that must not run inside a scanned page.

        A window, not a tab: switching to a tab hides the page's tab and switching back shows it
        again, which Chromium repaints (a page with frames cost 7 ms more CPU per page in the
        accessibility pass for it, docs/benchmarks.md); two windows both stay shown."""
        handles = self.driver.window_handles
        if self._blank not in handles:
            current = self.driver.current_window_handle
            self.driver.switch_to.new_window("window")
            self._blank = self.driver.current_window_handle
            self.axe_in_blank = False
            self.driver.switch_to.window(current)
        return self._blank

    def add_init_script(self, key: str, source: str) -> bool:
        """Have Chromium evaluate `source` in every new document of this session, before the
        page's own scripts (DevTools `Page.addScriptToEvaluateOnNewDocument`, through
        chromedriver's `goog/cdp/execute`). False when the remote end does not offer it;
        callers then inject per page. Out-of-process (cross-site) frames are not covered."""
        if key in self._init_scripts:
            return self._init_scripts[key]
        try:
            self._init_ids[key] = str(self.cdp("Page.addScriptToEvaluateOnNewDocument", source=source).get("identifier"))
        except WebDriverException:
            self._init_scripts[key] = False
            return False
        self._init_scripts[key] = True
        return True

    def has_init_script(self, key: str) -> bool:
        return self._init_scripts.get(key, False)

    def keep_init_scripts(self, *keys: str) -> None:
        """Remove every `add_init_script` script but `keys` (their owners add them again on next
        use); raises WebDriverException when one cannot be removed (the session is retired)."""
        for key in [k for k in self._init_scripts if k not in keys]:
            if ident := self._init_ids.pop(key, ""):
                self.cdp("Page.removeScriptToEvaluateOnNewDocument", identifier=ident)
            del self._init_scripts[key]

    def cdp(self, cmd: str, **params: Any) -> dict:
        """One DevTools command on the current page (chromedriver's `goog/cdp/execute`)."""
        executor = self.driver.command_executor
        assert not isinstance(executor, str)  # always a RemoteConnection once the driver started
        executor.add_command("egovCdpExecute", "POST", "/session/$sessionId/goog/cdp/execute")
        return self.driver.execute("egovCdpExecute", {"cmd": cmd, "params": params}).get("value") or {}

    def performance_log(self) -> list[dict]:
        """The DevTools events logged since the last call (recording sessions only)."""
        return self.driver.execute("getLog", {"type": "performance"}).get("value") or []

    def set_timeouts(self, page_load: float, script: float) -> None:
        if self._timeouts != (page_load, script):  # one round trip saved per page when unchanged
            self.driver.timeouts = Timeouts(implicit_wait=0, page_load=page_load, script=script)
            self._timeouts = (page_load, script)

    def kill(self) -> None:
        """End the session at once: the process group when local; a best-effort quit when remote."""
        self.broken = True
        for close in self.closers:
            with contextlib.suppress(Exception):
                close()
        self.closers.clear()
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            with STARTED_LOCK:
                STARTED.discard(self)
        elif hasattr(self, "driver"):
            with contextlib.suppress(Exception):
                self.driver.quit()
        for directory in (self._profile, self._scoped, self._short_tmp):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)

    def close(self) -> None:
        """Quit politely, then make sure nothing is left."""
        if self._process is not None and self._process.poll() is None and hasattr(self, "driver") and not self.broken:
            quitter = threading.Thread(target=lambda: _quiet(self.driver.quit), daemon=True)
            quitter.start()
            quitter.join(5)
        self.kill()


def _quiet(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):
        fn()


def _short(exc: BaseException) -> str:
    text = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:200]


# What a page's browser work can raise: the pool's own errors, WebDriver's, and the
# connection errors of a driver whose process is gone.
PAGE_ERRORS = (BrowserUnavailable, SessionBroken, WebDriverException, OSError, urllib3.exceptions.HTTPError)
_CRASH_SIGNS = ("invalid session", "connection refused", "max retries", "disconnected", "no such window",
                "session deleted", "not reachable", "crash")


def page_failure(exc: BaseException, budget: float, done: str = "geprüft") -> tuple[str, str]:
    """(German error text, reason) for one of PAGE_ERRORS raised while working on a page.

    Reasons: browser_unavailable, timeout, browser_crashed (worth one retry on a new
    session), memory_limit (killed at browser.memory_limit: never retried), load_failed (a
    net::ERR_ from Chromium), webdriver."""
    if isinstance(exc, BrowserUnavailable):
        return str(exc), "browser_unavailable"
    if isinstance(exc, SessionBroken):
        if exc.memory:  # not "browser_crashed": that one is worth a retry, a memory bomb bombs again
            return str(exc), "memory_limit"
        return f"Seite nicht innerhalb von {budget:g}s {done} (Zeitgrenze)", "timeout"
    text = _short(exc)
    if not isinstance(exc, WebDriverException):
        return f"Browser abgestürzt: {text}", "browser_crashed"
    lowered = text.lower()
    if "timeout" in lowered or "timed out" in lowered:
        return f"Zeitgrenze überschritten: {text}", "timeout"
    if any(s in lowered for s in _CRASH_SIGNS):
        return f"Browser abgestürzt: {text}", "browser_crashed"
    if "err_" in lowered:
        return f"Seite nicht geladen: {text}", "load_failed"
    return f"WebDriver-Fehler: {text}", "webdriver"


@dataclasses.dataclass
class PoolStats:
    started: int = 0
    recycled: int = 0
    killed: int = 0  # by the watchdog or after an error that left the session in doubt
    start_failures: int = 0
    pages: int = 0


class BrowserPool:
    """At most `size` sessions, handed out one user at a time."""

    def __init__(self, settings: BrowserSettings, size: int = 2) -> None:
        self.settings = settings
        self.size = size
        self.stats = PoolStats()
        # idle sessions by the binary they run (the headless shell, the full Chromium)
        self._idle: dict[Path | None, queue.LifoQueue[BrowserSession]] = {}
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._live: set[BrowserSession] = set()
        self._closed = False

    def _new_session(self, command_timeout: float, record: bool = False, full: bool = False) -> BrowserSession:
        with contextlib.suppress(queue.Empty):  # at most `size` browsers: an idle one makes room
            if self.live_sessions() >= self.size:
                self._discard(self._take_idle(None, any_binary=True), killed=False)
        try:
            session = BrowserSession(self.settings, command_timeout, record=record, full=full)
        except BrowserUnavailable:
            with self._lock:
                self.stats.start_failures += 1
            raise
        with self._lock:
            self.stats.started += 1
            self._live.add(session)
        return session

    def _discard(self, session: BrowserSession, *, killed: bool) -> None:
        with self._lock:
            self._live.discard(session)
            if killed:
                self.stats.killed += 1
            else:
                self.stats.recycled += 1
        # A one-shot recording browser has nothing worth a polite quit: its profile goes anyway.
        (session.kill if killed or session.record else session.close)()

    @contextlib.contextmanager
    def session(self, deadline: float, wait: float | None = None, what: str = "",
                fresh: bool = False, full: bool = False) -> Iterator[BrowserSession]:
        """A session for one page, killed if the caller still holds it `deadline` seconds from now.

        `wait` bounds how long to wait for a free slot (default: `deadline`). `fresh` gives a
        new browser with an empty profile and the network recorded, retired after this one
        use (the pre-consent state of the DSGVO check); it takes a slot like any other. Both it
        and `full` run the full Chromium (`settings.chromium`), where a page must behave as in a
        person's browser; other sessions the headless shell where it is installed. Raises
        `BrowserUnavailable` when no session can be had, `SessionBroken` when the watchdog
        fired. Any other exception from the caller's block also retires the session.
        """
        if self._closed:
            raise BrowserUnavailable("Browser-Pool ist geschlossen")
        if not self._slots.acquire(timeout=deadline if wait is None else wait):
            raise BrowserUnavailable("kein Browser frei innerhalb der Zeitgrenze (Pool ausgelastet)")
        try:
            session = None
            if fresh:
                session = self._new_session(command_timeout=deadline + 5, record=True)
            binary = None if self.settings.remote_url else self.settings.binary(full=full)
            while session is None:
                try:
                    session = self._take_idle(binary)
                except queue.Empty:
                    session = self._new_session(command_timeout=deadline + 5, full=full)
                    break
                if not session.alive():  # died while idle (killed chromedriver, OOM): replace it
                    self._discard(session, killed=True)
                    session = None
            fired = threading.Event()
            over_memory = threading.Event()

            def watchdog() -> None:
                fired.set()
                log.warning("Browser-Sitzung nach %gs Zeitüberschreitung beendet: %s", deadline, what[:300] or "-")
                session.kill()

            timer = threading.Timer(deadline, watchdog)
            timer.daemon = True
            timer.start()
            done = threading.Event()
            if session.local:
                threading.Thread(target=self._watch_memory, args=(session, done, fired, over_memory, what),
                                 name="browser-memory", daemon=True).start()
            ok = False
            try:
                yield session
                ok = True
            except Exception as exc:  # WebDriver errors, and urllib3's when the process was killed
                if over_memory.is_set():
                    raise SessionBroken(self._memory_text(), memory=True) from exc
                if fired.is_set():
                    raise SessionBroken(f"Zeitgrenze von {deadline:g}s überschritten") from exc
                raise
            finally:
                done.set()
                timer.cancel()
                session.pages += 1
                with self._lock:
                    self.stats.pages += 1
                if fired.is_set() or not ok or session.broken:
                    self._discard(session, killed=True)
                elif fresh or session.pages >= self.settings.recycle_after_pages or self._closed:
                    self._discard(session, killed=False)
                else:
                    with self._lock:
                        self._idle.setdefault(session.binary, queue.LifoQueue()).put(session)
            if over_memory.is_set():
                raise SessionBroken(self._memory_text(), memory=True)
            if fired.is_set():
                raise SessionBroken(f"Zeitgrenze von {deadline:g}s überschritten")
        finally:
            self._slots.release()

    def _memory_text(self) -> str:
        return f"Seite beendet: Browser über der Speichergrenze von {self.settings.memory_limit / 1024**2:.0f} MiB"

    def _watch_memory(self, session: BrowserSession, done: threading.Event, fired: threading.Event,
                      over_memory: threading.Event, what: str) -> None:
        """Kill the session when its process tree's memory passes the limit (a memory bomb,
        a million DOM nodes): the page fails as memory_limit, the monitor lives on."""
        assert session._process is not None
        limit = self.settings.memory_limit
        if session.memory is None:  # one per session: its last reading outlives the page
            session.memory = MemoryGauge(session._process.pid, limit)
        gauge = session.memory
        while not done.wait(MEMORY_POLL):
            if gauge.over() is not None:
                over_memory.set()
                fired.set()
                log.warning("Browser-Sitzung über der Speichergrenze (%d MiB) beendet: %s", limit // 1024**2,
                            what[:300] or "-")
                session.kill()
                return

    def close(self) -> None:
        """Quit every session; sessions in use are retired when their user hands them back."""
        self._closed = True
        while True:
            try:
                session = self._take_idle(None, any_binary=True)
            except queue.Empty:
                break
            self._discard(session, killed=False)

    def _take_idle(self, binary: Path | None, any_binary: bool = False) -> BrowserSession:
        """An idle session that runs `binary` (any binary with `any_binary`); raises queue.Empty."""
        with self._lock:
            queues = list(self._idle.values()) if any_binary else [self._idle.get(binary)]
        for idle in queues:
            if idle is not None:
                with contextlib.suppress(queue.Empty):
                    return idle.get_nowait()
        raise queue.Empty

    def abort(self) -> None:
        """Kill every session, those in use too (their users get SessionBroken or a WebDriver error)."""
        with self._lock:
            live = list(self._live)
        for session in live:
            session.kill()

    def live_sessions(self) -> int:
        with self._lock:
            return len(self._live)

    def live_processes(self) -> list[int]:
        """Process ids of the local chromedrivers this pool runs (for tests and health)."""
        with self._lock:
            return [s._process.pid for s in self._live if s._process is not None and s._process.poll() is None]


# --------------------------------------------------------------------------- the process-wide pool

class PoolHolder:
    """The browser pool of one process (daemon, worker, one CLI run), created on first use.

    `configure` after a reload with changed settings retires the old pool; checks reach the
    pool through their `CheckContext`, never through a module global.
    """

    def __init__(self, settings: BrowserSettings | None = None, size: int = 2) -> None:
        self._settings, self._size = settings or BrowserSettings(), size
        self._pool: BrowserPool | None = None
        self._lock = threading.Lock()

    def configure(self, settings: BrowserSettings, size: int) -> None:
        """Use these settings from the next run on; a running pool with others is closed."""
        with self._lock:
            self._settings, self._size = settings, size
            old = self._pool
            if old is None or (old.settings == settings and old.size == size):
                return
            self._pool = None
        old.close()

    def get(self) -> BrowserPool:
        with self._lock:
            if self._pool is None:
                self._pool = BrowserPool(self._settings, self._size)
            return self._pool

    def settings(self) -> BrowserSettings:
        return self._settings

    def current(self) -> BrowserPool | None:
        """The pool if one was started (without starting one)."""
        return self._pool

    def close(self, abort: bool = False) -> None:
        """Retire the pool; `abort` (the process stops) also kills the sessions in use, so a
        journey of minutes does not hold the process up (its run is recorded as cut short)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            if abort:
                pool.abort()
