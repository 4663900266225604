"""Lab measurement of one page in Chromium: what the page's own Performance APIs report.

A collector is evaluated in every new top-level document of the session before the page's
own scripts (DevTools `Page.addScriptToEvaluateOnNewDocument`): PerformanceObservers for paint,
largest-contentful-paint, layout-shift, longtask, long-animation-frame (the scripts behind a
long task), event (Event Timing: interactions) and resource. Its state lives in a closure; the
page sees one frozen reader function and cannot write into it.

The figures follow Lighthouse's definitions: LCP the last candidate's render time; CLS the
largest session window of shifts without recent input (gap 1 s, at most 5 s); TBT the sum
over long tasks after FCP of the part over 50 ms (a task straddling FCP counted from FCP);
INP the worst interaction (with 50 or more, the 98th percentile); TTFB the navigation's
`responseStart`. Transfer size sums what Resource Timing states; cross-origin responses
without `Timing-Allow-Origin` state none and are counted apart (`requests_unsized`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator, Mapping
from typing import Any

from checks import browser as browser_pool
from checks.experience.settings import THRESHOLDS, ExperienceSettings, LabProfile
from checks.page import open_page

KEY = "experience"  # the collector's name among the session's init scripts
READER = "__egovExperience"
MAX_ENTRIES = 400  # per list kept in the page; more are counted, never silently dropped
MAX_TASKS = 10  # long tasks kept in the evidence (the longest)
MAX_SHIFTS = 5  # layout shifts kept in the evidence (the largest)

COLLECTOR = r"""
(() => {
  if (window.top !== window || Object.getOwnPropertyDescriptor(window, '__READER__')) return;
  const s = {fcp: null, lcp: null, shifts: [], tasks: [], loafs: [], events: [], dropped: {},
             res: {n: 0, bytes: 0, unsized: 0, last: 0}, lastTask: 0, doc: Math.random().toString(36).slice(2)};
  const push = (list, name, value) => {
    if (list.length < __MAX__) list.push(value); else s.dropped[name] = (s.dropped[name] || 0) + 1;
  };
  const desc = (n) => {
    try {
      if (!n || n.nodeType !== 1) return '';
      const parts = [];
      for (let e = n, i = 0; e && e.nodeType === 1 && i < 4; i++, e = e.parentElement) {
        let p = e.localName;
        if (e.id) { parts.unshift(p + '#' + e.id); break; }
        if (e.classList && e.classList.length) p += '.' + Array.from(e.classList).slice(0, 2).join('.');
        parts.unshift(p);
      }
      return parts.join(' > ').slice(0, 200);
    } catch (x) { return ''; }
  };
  const observe = (type, each, extra) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach((e) => { try { each(e); } catch (x) {} }))
        .observe(Object.assign({type: type, buffered: true}, extra || {}));
    } catch (x) {}
  };
  observe('paint', (e) => { if (e.name === 'first-contentful-paint') s.fcp = e.startTime; });
  observe('largest-contentful-paint', (e) => {
    s.lcp = {t: e.renderTime || e.loadTime || e.startTime, size: e.size, el: desc(e.element),
             url: String(e.url || '').slice(0, 300)};
  });
  observe('layout-shift', (e) => {
    if (e.hadRecentInput) return;
    push(s.shifts, 'shifts', {t: e.startTime, v: e.value,
                              src: Array.from(e.sources || []).slice(0, 3).map((x) => desc(x.node))});
  });
  observe('longtask', (e) => {
    push(s.tasks, 'tasks', {t: e.startTime, d: e.duration});
    s.lastTask = Math.max(s.lastTask, e.startTime + e.duration);
  });
  observe('long-animation-frame', (e) => {
    push(s.loafs, 'loafs', {t: e.startTime, d: e.duration, scripts: Array.from(e.scripts || []).slice(0, 5).map((x) => ({
      u: String(x.sourceURL || '').slice(0, 300), f: String(x.sourceFunctionName || '').slice(0, 100),
      i: String(x.invoker || '').slice(0, 100), d: x.duration}))});
  });
  observe('event', (e) => {
    if (e.interactionId) push(s.events, 'events', {id: e.interactionId, t: e.startTime, d: e.duration, n: e.name,
                                                   el: desc(e.target)});
  }, {durationThreshold: 16});
  observe('resource', (e) => {
    s.res.n += 1;
    if (e.transferSize > 0) s.res.bytes += e.transferSize;
    else if (!e.encodedBodySize && !(e.responseStatus > 0)) s.res.unsized += 1;
    s.res.last = Math.max(s.res.last, e.responseEnd);
  });
  const read = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    return JSON.parse(JSON.stringify(Object.assign({}, s, {
      now: performance.now(), ready: document.readyState,
      nav: nav ? {ttfb: nav.responseStart, load: nav.loadEventEnd, bytes: nav.transferSize || 0} : null})));
  };
  Object.defineProperty(window, '__READER__', {value: Object.freeze(read), writable: false, configurable: false,
                                               enumerable: false});
})();
""".replace("__READER__", READER).replace("__MAX__", str(MAX_ENTRIES))

READ = f"return (typeof window.{READER} === 'function') ? window.{READER}() : null;"


def install(session: browser_pool.BrowserSession) -> bool:
    """The collector in every new document of the session; False when the browser offers no
    DevTools connection (nothing can be measured then)."""
    return session.add_init_script(KEY, COLLECTOR)


def read(session: browser_pool.BrowserSession) -> dict[str, Any] | None:
    """The collector's state in the document the session shows now (None: no collector there)."""
    got = session.driver.execute_script(READ)
    return got if isinstance(got, dict) else None


@contextlib.contextmanager
def lab(session: browser_pool.BrowserSession, profile: LabProfile) -> Iterator[None]:
    """The session's tab under the profile's conditions with a cleared cache, reset afterwards
    (a failed reset raises, so the pool retires the session rather than lend a throttled one)."""
    session.cdp("Network.enable")
    session.cdp("Network.clearBrowserCache")
    session.cdp("Emulation.setDeviceMetricsOverride", width=profile.width, height=profile.height,
                deviceScaleFactor=profile.device_scale_factor, mobile=profile.mobile)
    if profile.cpu_slowdown != 1:
        session.cdp("Emulation.setCPUThrottlingRate", rate=profile.cpu_slowdown)
    network = bool(profile.latency_ms or profile.download_kbps or profile.upload_kbps)
    if network:
        session.cdp("Network.emulateNetworkConditions", offline=False, latency=profile.latency_ms,
                    downloadThroughput=profile.download_kbps * 1024 / 8 if profile.download_kbps else -1,
                    uploadThroughput=profile.upload_kbps * 1024 / 8 if profile.upload_kbps else -1)
    try:
        yield
    finally:
        if network:
            session.cdp("Network.emulateNetworkConditions", offline=False, latency=0, downloadThroughput=-1,
                        uploadThroughput=-1)
        if profile.cpu_slowdown != 1:
            session.cdp("Emulation.setCPUThrottlingRate", rate=1)
        session.cdp("Emulation.clearDeviceMetricsOverride")


def wait_quiet(session: browser_pool.BrowserSession, quiet: float, deadline: float) -> dict[str, Any] | None:
    """Poll the collector until the loaded page was `quiet` seconds without a long task and
    without a finished request, or the deadline; returns the last state (with `quiet_reached`)."""
    state = None
    while True:
        state = read(session)
        if state is None:
            return None
        nav = state.get("nav") or {}
        last = max(float(nav.get("load") or 0), float(state["res"]["last"] or 0), float(state.get("lastTask") or 0))
        if state.get("ready") == "complete" and float(state["now"]) - last >= quiet * 1000:
            state["quiet_reached"] = True
            return state
        if time.monotonic() >= deadline:
            state["quiet_reached"] = False
            return state
        time.sleep(0.1)


# --------------------------------------------------------------------------- figures


def cls_of(shifts: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """The largest session window (gap under 1 s, at most 5 s long) and its shifts."""
    best, best_window = 0.0, []
    window: list[dict[str, Any]] = []
    total = 0.0
    for shift in sorted(shifts, key=lambda x: x["t"]):
        if window and (shift["t"] - window[-1]["t"] > 1000 or shift["t"] - window[0]["t"] > 5000):
            window, total = [], 0.0
        window.append(shift)
        total += float(shift["v"])
        if total > best:
            best, best_window = total, list(window)
    return best, best_window


def tbt_of(tasks: list[dict[str, Any]], fcp: float | None) -> float:
    """Lighthouse's Total Blocking Time (ms): long tasks ending after FCP, clipped to FCP."""
    start = fcp or 0.0
    total = 0.0
    for task in tasks:
        end = float(task["t"]) + float(task["d"])
        if end <= start:
            continue
        duration = end - max(float(task["t"]), start)
        if duration > 50:
            total += duration - 50
    return total


def inp_of(events: list[dict[str, Any]], seen: set[Any] | None = None) -> tuple[float | None, dict[str, Any] | None]:
    """Interaction to Next Paint (ms) of the interactions not in `seen`, and the worst one."""
    worst: dict[Any, dict[str, Any]] = {}
    for e in events:
        if seen is not None and e["id"] in seen:
            continue
        have = worst.get(e["id"])
        if have is None or float(e["d"]) > float(have["d"]):
            worst[e["id"]] = {**e, "el": e.get("el") or (have or {}).get("el", "")}
        elif not have.get("el") and e.get("el"):
            have["el"] = e["el"]  # a pointer event may have no target where the click has one
    if not worst:
        return None, None
    ranked = sorted(worst.values(), key=lambda e: -float(e["d"]))
    pick = ranked[min(len(ranked) // 50, len(ranked) - 1)]
    return float(pick["d"]), pick


def _tasks_evidence(state: dict[str, Any], fcp: float | None) -> list[dict[str, Any]]:
    """The longest tasks with the scripts the long-animation frames overlapping them name."""
    out = []
    for task in sorted(state.get("tasks") or [], key=lambda t: -float(t["d"]))[:MAX_TASKS]:
        t0, t1 = float(task["t"]), float(task["t"]) + float(task["d"])
        scripts: dict[str, float] = {}
        for frame in state.get("loafs") or []:
            if float(frame["t"]) <= t1 and float(frame["t"]) + float(frame["d"]) >= t0:
                for sc in frame.get("scripts") or []:
                    name = sc.get("u") or sc.get("i") or "(inline)"
                    if sc.get("f"):
                        name += f" ({sc['f']})"
                    scripts[name] = max(scripts.get(name, 0.0), float(sc.get("d") or 0))
        out.append({"start_s": round(t0 / 1000, 3), "seconds": round(float(task["d"]) / 1000, 3),
                    "after_fcp": fcp is None or t1 > fcp,
                    "scripts": [{"script": k[:400], "seconds": round(v / 1000, 3)}
                                for k, v in sorted(scripts.items(), key=lambda kv: -kv[1])[:3]]})
    return out


def figures(state: dict[str, Any], seen: set[Any] | None = None) -> dict[str, Any]:
    """One measurement's figures (seconds, CLS, bytes, counts) and its evidence."""
    nav = state.get("nav") or {}
    fcp = state.get("fcp")
    lcp = state.get("lcp") or None
    cls, window = cls_of(state.get("shifts") or [])
    inp, worst = inp_of(state.get("events") or [], seen)
    values: dict[str, float | None] = {
        "fcp": round(float(fcp) / 1000, 4) if fcp is not None else None,
        "lcp": round(float(lcp["t"]) / 1000, 4) if lcp else None,
        "cls": round(cls, 4),
        "tbt": round(tbt_of(state.get("tasks") or [], fcp) / 1000, 4),
        "ttfb": round(float(nav["ttfb"]) / 1000, 4) if nav.get("ttfb") else None,
        "inp": round(inp / 1000, 4) if inp is not None else None,
    }
    res = state.get("res") or {}
    out: dict[str, Any] = {
        "values": values,
        "transfer_bytes": int(res.get("bytes") or 0) + int(nav.get("bytes") or 0),
        "requests": int(res.get("n") or 0) + (1 if nav else 0),
        "requests_unsized": int(res.get("unsized") or 0),
        "lcp_element": {"element": lcp.get("el") or "", "url": lcp.get("url") or "", "size": lcp.get("size") or 0}
        if lcp else None,
        "shifts": [{"start_s": round(float(s["t"]) / 1000, 3), "value": round(float(s["v"]), 4),
                    "elements": [e for e in s.get("src") or [] if e]}
                   for s in sorted(window, key=lambda s: -float(s["v"]))[:MAX_SHIFTS]],
        "shifts_total": len(state.get("shifts") or []),
        "long_tasks": _tasks_evidence(state, fcp),
        "long_tasks_total": len(state.get("tasks") or []),
        "quiet_reached": bool(state.get("quiet_reached", True)),
    }
    if worst is not None:
        out["inp_interaction"] = {"event": worst.get("n", ""), "element": worst.get("el", "")}
    if state.get("dropped"):
        out["entries_dropped"] = dict(state["dropped"])  # beyond MAX_ENTRIES per list in the page
    return out


def verdicts(values: Mapping[str, float | None]) -> tuple[dict[str, str], str | None]:
    """Each measured metric's verdict, and the page's (the worst of the Core Web Vitals' lab values)."""
    each = {m: v for m, t in THRESHOLDS.items() if (v := t.judge(values.get(m))) is not None}
    judged = [each[m] for m, t in THRESHOLDS.items() if t.verdict and m in each]
    order = ("good", "needs_improvement", "poor")
    return each, (max(judged, key=order.index) if judged else None)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of several runs: each value the median of the runs that have it; the
    evidence of the run whose LCP is the median (the first run when no LCP)."""
    values: dict[str, float | None] = {}
    for metric in THRESHOLDS:
        got = [r["values"][metric] for r in runs if r["values"].get(metric) is not None]
        values[metric] = round(statistics.median(got), 4) if got else None
    with_lcp = sorted((r for r in runs if r["values"].get("lcp") is not None), key=lambda r: r["values"]["lcp"])
    pick = with_lcp[(len(with_lcp) - 1) // 2] if with_lcp else runs[0]
    out = {**pick, "values": values}
    for key in ("transfer_bytes", "requests"):
        out[key] = int(statistics.median(r[key] for r in runs))
    out["runs"] = [{m: r["values"].get(m) for m in ("lcp", "cls", "tbt")} for r in runs]
    return out


def measure_once(pool: browser_pool.BrowserPool, url: str, settings: ExperienceSettings,
                 wait: float | None = None) -> dict[str, Any]:
    """One load of `url` under the lab conditions. Never raises: an error is in `error`."""
    budget = settings.timeout
    try:
        # the full Chromium: LCP, INP and the paint timing as a person's Chrome reports them (the
        # headless shell paints and dispatches input differently)
        with pool.session(deadline=budget, wait=wait, what=url, full=True) as session:
            session.keep_init_scripts("dialogs", KEY)  # another check's scripts would be measured too
            if not install(session):
                return {"url": url, "error": "Browser bietet keine DevTools-Verbindung: nicht messbar",
                        "error_reason": "load_failed"}
            with lab(session, settings.conditions()):
                t0 = time.monotonic()
                session.driver.get("about:blank")
                page = open_page(session, url, settings)
                if page.error is not None:
                    return {"url": url, "error": page.error, "error_reason": page.error_reason}
                state = wait_quiet(session, settings.quiet, t0 + budget * 0.8)
            if state is None:
                return {"url": url, "error": "Messung nicht lesbar (kein Messskript im Dokument)",
                        "error_reason": "load_failed"}
            return {"url": url, "final_url": page.final_url, **figures(state)}
    except browser_pool.PAGE_ERRORS as exc:
        error, reason = browser_pool.page_failure(exc, budget, "gemessen")
        return {"url": url, "error": error, "error_reason": reason}


def measure_page(pool: browser_pool.BrowserPool, url: str, settings: ExperienceSettings,
                 wait: float | None = None) -> dict[str, Any]:
    """`settings.runs` loads of the page, their median figures and the verdicts."""
    started = time.monotonic()
    runs = [measure_once(pool, url, settings, wait) for _ in range(settings.runs)]
    good = [r for r in runs if "error" not in r]
    failed = [r for r in runs if "error" in r]
    if not good:
        return {**failed[0], "runs_failed": len(failed), "seconds": round(time.monotonic() - started, 3)}
    out = median_of(good)
    each, verdict = verdicts(out["values"])
    out.update(verdicts=each, verdict=verdict, runs_failed=len(failed), seconds=round(time.monotonic() - started, 3))
    if failed:
        out["run_errors"] = [r["error"] for r in failed][:3]
    return out
