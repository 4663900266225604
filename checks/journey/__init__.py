"""Antragsstrecken: a citizen's journey through a service, step by step, in a real browser.

One run takes one journey (`JourneySettings.journeys`) in a fresh recording Chromium
(empty profile, DevTools network log): every step under its own time limit, with its
duration, state and a reason from the fixed set; on failure what was expected, what was
found, the page's address and a small screenshot with secrets painted over. Safety comes
first and lives in the browser: `never_request` patterns, and every form target on the
last step before the stop point, are blocked by DevTools; an attempt fails the step.

Optionally axe-core runs on every page a step opens or clicks to, and the whole journey
is recorded as the DSGVO check records a page before consent: the accessibility and the
data protection of the whole Antragsstrecke, not just its landing page.

A composite kind: it reuses the accessibility kind's axe runner and the DSGVO kind's
recorder and classification (their engines, never their runs or results).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from checks import browser as browser_pool
from checks.accessibility.axe import PageScan, install, scan_current
from checks.accessibility.settings import IMPACTS, AccessibilitySettings
from checks.context import CheckContext
from checks.experience.measure import figures as experience_figures
from checks.experience.measure import install as install_collector
from checks.experience.measure import read as read_collector
from checks.experience.measure import verdicts as experience_verdicts
from checks.experience.settings import THRESHOLDS
from checks.gdpr.classification import summarize, tracker_for
from checks.gdpr.markers import judge
from checks.gdpr.party import first_party_cookie_names
from checks.gdpr.recording import PageCapture, Recorder, read_visit
from checks.gdpr.recording import install as install_recorder
from checks.gdpr.settings import GdprSettings, glob_escape
from checks.journey.settings import GDPR_MARKERS, KEY_SEPARATOR, JourneySettings
from checks.kind import CheckImplementation, Implicated, Records, cut
from checks.page import MAX_EVIDENCE, marker_key
from checks.result import CheckResult, Reason, State, Target
from checks.steps import DataError, Journey, JourneyRun, Scrubber, Step, StepOutcome
from checks.steps.guard import GuardUnavailable
from checks.steps.model import load_values

MAX_VIOLATIONS_PER_STEP = 30  # rules kept per step (the count of all is kept too)
MAX_TARGETS = 5  # element selectors kept per rule and step


class JourneyMeasurements(TypedDict, total=False):
    success: float  # 1: every step up to the stop point passed
    journey_seconds: float  # the steps' own time (scans not included)
    steps: float
    steps_passed: float
    blocked_requests: float
    # experience on: experience_<metric>_seconds (lcp, tbt, fcp, ttfb, inp) and experience_cls, the
    # worst step's lab value; experience_poor_steps
    # accessibility on: barriers_<impact> (elements) over all steps; gdpr on: trackers,
    # third_party_hosts, third_party_cookies, nonessential_cookies, storage_keys and marker_<name>


class JourneyEvidence(TypedDict, total=False):
    journey: str
    title: str
    steps: list[dict[str, Any]]
    failed_step: str | None
    detail: str
    gdpr: dict[str, Any]
    test_system: bool
    experience: dict[str, Any]  # verdict, the worst step's values, the step of each


def barriers_key(impact: str) -> str:
    return f"barriers_{impact}"


def measurements_of(result: CheckResult) -> JourneyMeasurements:
    return cast(JourneyMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> JourneyEvidence:
    return cast(JourneyEvidence, result.evidence)


def journey_name(url: str) -> str:
    return url.rsplit(KEY_SEPARATOR, 1)[-1] if KEY_SEPARATOR in url else ""


def experience_key(metric: str) -> str:
    """The journey's measurement of a metric's worst step value (seconds; CLS as it is)."""
    return f"experience_{metric}" if THRESHOLDS[metric].unit == "" else f"experience_{metric}_seconds"


class _StepScans:
    """What runs after each passed step: axe on a new page, the step's share of the network,
    the lab figures of the step's page and its interactions."""

    def __init__(self, session: browser_pool.BrowserSession, settings: JourneySettings) -> None:
        self.session = session
        self.settings = settings
        self.options = AccessibilitySettings(tags=settings.tags).run_options() if settings.accessibility else None
        self.scans: dict[str, dict[str, Any]] = {}
        self.experience: dict[str, dict[str, Any]] = {}
        self._doc = ""  # the collector's id of the document read last
        self._seen: set[Any] = set()  # its interactions already attributed to a step
        self.seconds = 0.0

    def __call__(self, step: Step, outcome: StepOutcome) -> None:
        if self.settings.experience and (outcome.navigated or step.action not in ("expect", "wait_for")):
            self._measure(step, outcome)  # a step that only looked, on the same page, has nothing new
        self._scan(step, outcome)

    def _measure(self, step: Step, outcome: StepOutcome) -> None:
        """A new page: its load figures and the step's interactions on it; the same page: the
        step's interactions only (INP). An interaction that navigated away is not readable."""
        t0 = time.monotonic()
        try:
            state = read_collector(self.session)
        except browser_pool.WebDriverException:
            state = None
        if state is not None:
            new_page = state.get("doc") != self._doc
            if new_page:
                self._doc, self._seen = str(state.get("doc")), set()
            got = experience_figures(state, self._seen)
            self._seen |= {e["id"] for e in state.get("events") or []}
            values = got["values"] if new_page else {"inp": got["values"]["inp"]}
            if any(v is not None for v in values.values()):
                each, verdict = experience_verdicts(values)
                row: dict[str, Any] = {"page": outcome.url, "new_page": new_page, "values": values,
                                       "verdicts": each, "verdict": verdict}
                if new_page and got.get("lcp_element"):
                    row["lcp_element"] = got["lcp_element"]
                if got.get("inp_interaction") and values.get("inp") is not None:
                    row["inp_interaction"] = got["inp_interaction"]
                if new_page and got.get("long_tasks"):
                    row["long_tasks"] = got["long_tasks"][:3]
                self.experience[step.name] = row
        self.seconds += time.monotonic() - t0

    def _scan(self, step: Step, outcome: StepOutcome) -> None:
        if self.options is None or not (step.action == "open" or outcome.navigated or step.action == "click"):
            return
        t0 = time.monotonic()
        try:
            scan = scan_current(self.session, PageScan(url=outcome.url), self.options)
            violations = sorted(scan.violations, key=lambda v: (IMPACTS.index(v.impact) if v.impact in IMPACTS else 9,
                                                                v.rule))
            self.scans[step.name] = {
                "barriers": {i: sum(v.nodes for v in violations if v.impact == i) for i in IMPACTS},
                "violations": [{**v.to_dict(), "targets": list(v.targets[:MAX_TARGETS])}
                               for v in violations[:MAX_VIOLATIONS_PER_STEP]],
                "violations_total": len(violations)}
        except RuntimeError as exc:
            self.scans[step.name] = {"error": str(exc)[:300]}
        self.seconds += time.monotonic() - t0


def _login_steps(journey: Journey, secrets: set[str]) -> set[str]:
    """The steps that send a login: the first click after a field was filled with a secret."""
    out, pending = set(), False
    for step in journey.steps:
        if step.action == "fill" and step.value in secrets:
            pending = True
        elif step.action == "click" and pending:
            out.add(step.name)
            pending = False
    return out


def _gdpr_part(session: browser_pool.BrowserSession, settings: JourneySettings, journey: Journey,
               outcomes: list[StepOutcome], start_url: str, recorder: str) -> tuple[dict[str, Any], dict[str, float]]:
    """The whole journey recorded as one visit before consent; each tracker with the step that loaded it.
    First-party cookies set in the response to the journey's own login are necessary (the
    session the citizen asked for), as are the journey's `necessary_names`."""
    login = _login_steps(journey, set(settings.secrets))
    rec = Recorder()
    login_cookies: set[str] = set()
    first_step: dict[str, str] = {}
    first_page: dict[str, str] = {}  # the page that made the request: the one shown while the step ran
    shown = start_url
    for o in outcomes:  # one pass over the log: requests by step, and the cookies the login response set
        before, cookies_before = len(rec.hops), rec.header_count
        rec.feed(o.log)
        for hop in rec.hops[before:]:
            first_step.setdefault(hop.host, o.name)
            first_page.setdefault(hop.host, o.url or shown)
        if o.name in login:
            login_cookies |= first_party_cookie_names(
                ((url or o.url, line) for url, line, _r in rec.header_cookies(cookies_before)), start_url,
                settings.first_party)
        shown = o.url or shown
    gsettings = GdprSettings(markers=list(GDPR_MARKERS), first_party=settings.first_party, legal_pages=False,
                             extra_necessary_names=[*settings.necessary_names,
                                                    *(glob_escape(n) for n in sorted(login_cookies))])
    last = next((o.url for o in reversed(outcomes) if o.url), start_url)
    page = read_visit(session, PageCapture(url=start_url, final_url=last), rec, recorder)
    summary = summarize([page], gsettings)
    markers = judge([page], summary, gsettings, {}, None)
    trackers = [{"host": h, "category": t.category, "owner": t.owner, "step": first_step.get(h, ""),
                 "page": first_page.get(h, "")}
                for h in sorted({r.host for r in page.requests})
                if (t := tracker_for(h, gsettings.tracker_map)) is not None]
    counts = {k: float(v) for k, v in summary.counts().items()}
    for name, marker in markers.items():
        if marker.state != "unknown":
            counts[marker_key(name)] = 1.0 if marker.state == "pass" else 0.0
    part = {"counts": summary.counts(), "markers": {k: m.to_dict() for k, m in markers.items()},
            "trackers": trackers[:MAX_EVIDENCE], "trackers_total": len(trackers),
            "login_cookies": sorted(login_cookies)[:MAX_EVIDENCE],
            "third_party_hosts": [{"host": h["host"], "step": first_step.get(h["host"], ""),
                                   "page": first_page.get(h["host"], "")}
                                  for h in summary.third_party_hosts()][:MAX_EVIDENCE]}
    return part, counts


def run(target: Target, settings: JourneySettings, ctx: CheckContext) -> CheckResult:
    """Walk one journey (named by the target's key) and judge it."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    name = journey_name(target.url)
    journey = settings.journey(name)
    if journey is None:
        return _unknown(target, started, t0, f"Strecke {name!r} ist nicht (mehr) konfiguriert")
    start_url = journey.start_url(target.url.rsplit(KEY_SEPARATOR, 1)[0])  # the service's URL, then the first open
    try:
        values = load_values(settings.data_file, dict(settings.secrets))
    except DataError as exc:
        return _unknown(target, started, t0, f"Testdaten nicht verfügbar: {exc}")
    scrub = Scrubber(values)
    runner: JourneyRun | None = None
    scans: _StepScans | None = None
    gdpr_part: dict[str, Any] | None = None
    gdpr_counts: dict[str, float] = {}
    interrupted = ""
    try:
        with ctx.pool().session(deadline=settings.timeout, wait=settings.timeout, what=start_url,
                                fresh=True) as session:
            if settings.accessibility:
                install(session)
            if settings.experience:
                install_collector(session)
            recorder = install_recorder(session) if settings.gdpr else ""
            runner = JourneyRun(session, journey, values, step_timeout=settings.step_timeout, base_url=start_url,
                                max_screenshot_bytes=settings.max_screenshot_bytes, screenshots=settings.screenshots)
            scans = _StepScans(session, settings)
            runner.run(scans)
            if settings.gdpr:
                gdpr_part, gdpr_counts = _gdpr_part(session, settings, journey, runner.outcomes, start_url, recorder)
    except GuardUnavailable as exc:  # safety first: no journey without its request guard
        return _unknown(target, started, t0, f"Strecke nicht gestartet, Sperren im Browser nicht möglich: {exc}")
    except browser_pool.PAGE_ERRORS as exc:
        interrupted, _reason = browser_pool.page_failure(exc, settings.timeout, "durchlaufen")
        if runner is None:
            return _unknown(target, started, t0, scrub(interrupted))
    assert runner is not None and scans is not None
    return _result(target, settings, journey, started, time.monotonic() - t0, runner.outcomes, scans, gdpr_part,
                   gdpr_counts, scrub(interrupted), scrub)


def _unknown(target: Target, started: datetime, t0: float, detail: str) -> CheckResult:
    return CheckResult(target.service_id, target.url, "journey", State.UNKNOWN, Reason.INTERNAL_ERROR, started,
                       time.monotonic() - t0, evidence={"journey": journey_name(target.url), "detail": detail})


def _result(target: Target, settings: JourneySettings, journey: Journey, started: datetime, seconds: float,
            outcomes: list[StepOutcome], scans: _StepScans, gdpr_part: dict[str, Any] | None,
            gdpr_counts: Mapping[str, float], interrupted: str, scrub: Scrubber) -> CheckResult:
    if interrupted:  # the journey's own time limit: the step that was running failed
        running = next((o for o in outcomes if o.state == "skipped"), None)
        if running is not None and all(o.state == "pass" for o in outcomes[:outcomes.index(running)]):
            running.state, running.reason = "fail", Reason.STEP_TIMEOUT.value
            running.expected, running.found = f"Strecke fertig innerhalb von {settings.timeout:g} s", interrupted
    failed = next((o for o in outcomes if o.state == "fail"), None)
    passed = [o for o in outcomes if o.state == "pass"]
    placed = _place_scans(outcomes, scans.scans)
    steps = []
    for o in outcomes:
        row = o.to_dict()
        if o.name in placed:
            row["accessibility"] = placed[o.name]
        if o.name in scans.experience:
            row["experience"] = scans.experience[o.name]
        steps.append(row)
    journey_seconds = sum(o.seconds for o in outcomes)
    measurements: JourneyMeasurements = {
        "success": 0.0 if failed is not None else 1.0, "journey_seconds": round(journey_seconds, 3),
        "steps": float(len(outcomes)), "steps_passed": float(len(passed)),
        "blocked_requests": float(sum(len(o.blocked) for o in outcomes))}
    per_key = cast(dict[str, float], measurements)
    if settings.accessibility:
        for impact in IMPACTS:
            per_key[barriers_key(impact)] = float(sum(s.get("barriers", {}).get(impact, 0) for s in scans.scans.values()))
    per_key.update(gdpr_counts)
    experience = _experience(scans.experience)
    for metric, value in experience.get("values", {}).items():
        per_key[experience_key(metric)] = value
    if experience:
        per_key["experience_poor_steps"] = float(experience["poor_steps"])
    evidence: JourneyEvidence = {"journey": journey.name, "title": journey.title_de, "steps": steps,
                                 "failed_step": failed.name if failed is not None else None,
                                 "test_system": journey.test_system}
    if gdpr_part is not None:
        evidence["gdpr"] = gdpr_part
    if experience:
        evidence["experience"] = experience
    fail_rank = IMPACTS.index(settings.fail_impact)
    barriers = sum(int(per_key.get(barriers_key(i), 0)) for i in IMPACTS[:fail_rank + 1])
    gdpr_failed = [k for k, m in (gdpr_part or {}).get("markers", {}).items() if m.get("state") == "fail"]
    if failed is not None:
        reason = Reason(failed.reason or Reason.INTERNAL_ERROR.value)
        # the monitor's own problem (a test file gone since validation): not the service's fault
        state = State.UNKNOWN if reason is Reason.INTERNAL_ERROR else State.DOWN
        evidence["detail"] = f"Schritt {failed.name} gescheitert: {failed.found}"[:500]
    elif barriers or gdpr_failed:
        state, reason = State.DEGRADED, Reason.FINDINGS
        parts = []
        if barriers:
            parts.append(f"{barriers} Barrieren mit Auswirkung '{settings.fail_impact}' oder schwerer auf der Strecke")
        if gdpr_failed:
            parts.append("DSGVO-Merkmale nicht erfüllt: " + ", ".join(gdpr_failed))
        evidence["detail"] = "; ".join(parts)
    else:
        state, reason = State.UP, Reason.OK
        evidence["detail"] = f"alle {len(passed) - 1} Schritte bis zum Haltepunkt in {journey_seconds:.1f} s"
    return CheckResult(target.service_id, target.url, "journey", state, reason, started, seconds,
                       measurements=per_key, evidence=_scrubbed(cast(dict[str, Any], evidence), scrub))


def _experience(steps: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The journey's experience from its steps: each metric's worst step (value and step name),
    the verdict from those values, the steps judged poor."""
    worst: dict[str, tuple[float, str]] = {}
    for name, row in steps.items():
        for metric, value in row["values"].items():
            if value is not None and (metric not in worst or value > worst[metric][0]):
                worst[metric] = (value, name)
    if not worst:
        return {}
    values = {m: v for m, (v, _n) in worst.items()}
    each, verdict = experience_verdicts(values)
    return {"values": values, "steps_of": {m: n for m, (_v, n) in worst.items()}, "verdicts": each,
            "verdict": verdict, "poor_steps": sum(1 for r in steps.values() if r.get("verdict") == "poor")}


def _place_scans(outcomes: list[StepOutcome], scans: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each page's scan under the step whose page it is, with the page's URL: an `open` step's
    own page; the page a click led to under the first step that runs on it (the click that
    opened it is named as `opened_by`), or under the click when no step ran on it."""
    placed: dict[str, dict[str, Any]] = {}
    for i, o in enumerate(outcomes):
        if o.name not in scans:
            continue
        scan = {**scans[o.name], "page": o.url}
        home = o.name
        if o.action != "open":
            scan["opened_by"] = o.name
            nxt = next((p for p in outcomes[i + 1:] if p.state in ("pass", "fail") and p.action != "stop"), None)
            if nxt is not None and nxt.name not in scans and nxt.name not in placed:
                home = nxt.name
        placed[home] = scan
    return placed


def _scrubbed(value: Any, scrub: Scrubber) -> Any:
    """Every string of the evidence without the journey's values (a screenshot's image data aside)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: (v if k == "data" else _scrubbed(v, scrub)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v, scrub) for v in value]
    return value


FAIL_PREFIX = "fail:"  # tally key of a failed step: fail:<step>


class StepDigest(TypedDict, total=False):
    name: str
    state: str
    seconds: float | None
    experience: dict[str, float | None]  # the step's lab values (journeys measured since issue 41)
    verdict: str | None


class JourneyDigest(TypedDict):
    """What a journey rollup keeps of its last run: its steps, where it broke, barriers, trackers."""

    title: str
    failed_step: str | None
    steps: list[StepDigest]
    barriers: dict[str, dict[str, int]]  # step -> impact -> count
    trackers: list[dict[str, str]]  # host, step


def _step_digest(step: Mapping[str, Any]) -> StepDigest:
    out: StepDigest = {"name": step["name"], "state": step["state"], "seconds": step.get("seconds")}
    if step.get("experience"):
        out["experience"] = {m: v for m, v in (step["experience"].get("values") or {}).items() if v is not None}
        out["verdict"] = step["experience"].get("verdict")
    return out


class JourneyRecords(Records):
    def latency(self, result: CheckResult) -> float:
        """A passed journey's time (the report's median and p95); a failed one ended early."""
        m = measurements_of(result)
        return float(m.get("journey_seconds", math.nan)) if m.get("success") == 1.0 else math.nan

    def digest(self, result: CheckResult) -> JourneyDigest:
        ev = evidence_of(result)
        steps = ev.get("steps") or []
        return {"title": cut(ev.get("title"), 200), "failed_step": ev.get("failed_step"),
                "steps": [_step_digest(s) for s in steps[:60]],
                "barriers": {s["name"]: dict(s["accessibility"]["barriers"]) for s in steps
                             if (s.get("accessibility") or {}).get("barriers")},
                "trackers": [{"host": cut(t.get("host"), 200), "step": cut(t.get("step"), 80)}
                             for t in ((ev.get("gdpr") or {}).get("trackers") or [])[:10]]}

    def implicated(self, result: CheckResult) -> Implicated:
        """The failed step: the requests of it that failed, the page it failed on, and the base
        service its settings name. It is known what the failure touched (`complete`)."""
        ev = evidence_of(result)
        failed = ev.get("failed_step")
        step = next((s for s in ev.get("steps") or [] if s.get("name") == failed), None)
        if step is None:
            return Implicated(urls=(), complete=False)  # the run ended before a step failed (unknown)
        urls = [*(step.get("failed_requests") or []), *([step["url"]] if step.get("url") else [])]
        return Implicated(urls=tuple(str(u) for u in urls),
                          bases=(str(step["base_service"]),) if step.get("base_service") else (), complete=True)

    def tally(self, result: CheckResult) -> dict[str, int] | None:
        """Failures per step, summed in the hour and day rollups (`fail:<step>`)."""
        failed = evidence_of(result).get("failed_step")
        return {FAIL_PREFIX + str(failed): 1} if failed else None


CHECK = CheckImplementation("journey", JourneySettings, run, pool="browser", scope="keyed", records=JourneyRecords())

__all__ = ["CHECK", "JourneyEvidence", "JourneyMeasurements", "JourneySettings", "barriers_key", "evidence_of",
           "journey_name", "measurements_of", "run"]
