"""KI-Verordnung (AI Act, Art. 50 (1)): chatbots and AI assistants on a service's pages must tell
people they are talking to an AI system.

Each page is recorded as the DSGVO check records it (a fresh browser, nothing clicked, the
network before consent; its recorder is reused, a composite kind like the journey kind).
Widgets are found by a request to a vendor's host or by the vendor's CSS selectors in the
page (`config/ai.yaml`, extended per profile). For each widget: is it disclosed as an AI
system, in German or English, in its launcher or, when the profile allows opening it
(`open_widget`), in its first message; and does the linked Datenschutzerklärung name the
provider. An AI API contacted before consent is a finding too (and a DSGVO marker). A page
with no widget and no AI API is "nicht betroffen": not affected, which is no pass.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from pydantic import Field

from checks import browser as browser_pool
from checks.ai_signatures import AiList, AiListError, Api, Widget, api_for, load_ai_list, shipped, widget_for
from checks.gdpr.markers import legal_link
from checks.gdpr.recording import PageCapture, capture_page
from checks.gdpr.settings import GdprSettings
from checks.hosts import registrable_domain
from checks.kind import CheckContext, CheckImplementation
from checks.page import MAX_EVIDENCE, Marker, failure_reason, fetch_text, fold, marker_key
from checks.result import CheckKind, CheckResult, Reason, State, Target
from checks.settings import CheckSettings, PositiveDuration, SettingsFileError

MARKERS = ("ai_disclosed", "ai_provider_named", "no_ai_api")
MARKER_NAMES_DE = {
    "ai_disclosed": "KI-Widget gibt sich als KI-System zu erkennen (Art. 50 Abs. 1 KI-VO)",
    "ai_provider_named": "Datenschutzerklärung nennt den Anbieter des KI-Widgets",
    "no_ai_api": "Keine KI-Dienste vor der Einwilligung kontaktiert",
}
# Disclosure wording, German and English, folded (umlauts spelled out).
DISCLOSURE = re.compile(
    r"\bki\b|\bki-|kuenstliche(?:n|r)?\s+intelligenz|chatbot|\bbot\b|(?:virtuelle|digitale)(?:r|n)?\s+assistent|"
    r"automatisch(?:e|en)?\s+(?:antwort|erstellt)|sprachmodell|\bai\b|artificial\s+intelligence|ai[- ]assistant|"
    r"ai[- ]powered|virtual\s+assistant|automated\s+(?:assistant|answers?)|language\s+model")

# The widgets in the page: per vendor, the first element one of its selectors finds, with the
# text a visitor sees on it (and what a screen reader hears: aria-label, title, alt).
_DETECT = r"""
const out = [];
const said = el => [el.innerText || '', el.getAttribute('aria-label') || '', el.getAttribute('title') || '',
  ...Array.from(el.querySelectorAll('[aria-label],[title],img[alt]')).slice(0, 50)
     .map(x => x.getAttribute('aria-label') || x.getAttribute('title') || x.getAttribute('alt') || '')]
  .join(' ').replace(/\s+/g, ' ').trim().slice(0, 1000);
for (const [vendor, selectors, launchers] of arguments[0]) {
  let el = null, how = '';
  for (const s of selectors) { try { el = document.querySelector(s); } catch (e) { el = null; } if (el) { how = s; break; } }
  let launcher = null;
  for (const s of launchers) { try { launcher = document.querySelector(s); } catch (e) { launcher = null; } if (launcher) break; }
  if (!el && launcher) { el = launcher; how = 'launcher'; }
  if (!el) continue;
  const text = [said(el), launcher && launcher !== el ? said(launcher) : ''].join(' ').trim();
  out.push({vendor: vendor, selector: how, text: text, iframe: el.tagName === 'IFRAME', launcher: launcher || el});
}
return out;
"""
_READ = "return arguments[0].isConnected ? (arguments[0].innerText || '').replace(/\\s+/g, ' ').trim().slice(0, 2000) : '';"


class AiActSettings(CheckSettings):
    """Chatbot and AI-assistant widgets: found, disclosed as AI, named in the privacy policy."""

    interval: PositiveDuration = Field(86400.0, description="Time between two scans; default daily.")
    timeout: PositiveDuration = Field(30.0, description="Upper bound per page: fresh browser, load, record, detect.")
    max_pages: int = Field(10, ge=1, le=100, description="Pages per run at most (the service's configured URLs).")
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="Markers to judge.")  # type: ignore[valid-type]
    open_widget: bool = Field(
        False, description="Click a widget's launcher to read its first message (a click only; nothing is sent).")
    open_wait: PositiveDuration = Field(5.0, description="How long an opened widget may take to show its first message.")
    privacy_page: bool = Field(True, description="Read the linked Datenschutzerklärung for the provider's name.")
    widgets: list[Widget] = Field(default_factory=list, description="Widgets added to the shipped list.")
    apis: list[Api] = Field(default_factory=list, description="AI APIs added to the shipped list.")
    ai_files: list[Path] = Field(default_factory=list, description="Further lists (format of config/ai.yaml), relative to config/.")
    shipped_list: bool = Field(True, description="Use config/ai.yaml shipped with egov-monitor.")
    settle: PositiveDuration = Field(1.5, description="After load, record until no new request came for this long.")

    def worst_case_seconds(self) -> float:
        return self.timeout * (self.max_pages + 2)

    def bind_paths(self, base: Path) -> AiActSettings:
        files = [p if p.is_absolute() else base / p for p in self.ai_files]
        for f in files:
            try:
                load_ai_list(f)
            except AiListError as exc:
                raise SettingsFileError(("ai_files",), str(exc)) from None
        return self.model_copy(update={"ai_files": files})

    @functools.cached_property
    def ai_list(self) -> AiList:
        ai = shipped() if self.shipped_list else AiList()
        for f in self.ai_files:
            ai = ai.merged(load_ai_list(f))
        return ai.merged(AiList(widgets=tuple(self.widgets), apis=tuple(self.apis)))


class AiMeasurements(TypedDict, total=False):
    pages_scanned: float
    pages_failed: float
    widgets: float  # distinct widget vendors found (0: not affected unless an AI API was contacted)
    ai_apis: float  # distinct AI API hosts contacted before consent
    # per marker: marker_<name> (1 pass, 0 fail; absent when not determinable or not applicable)


class AiEvidence(TypedDict, total=False):
    affected: bool
    widgets: list[dict[str, Any]]
    apis: list[dict[str, Any]]
    pages: list[dict[str, Any]]
    privacy: dict[str, Any]
    markers: dict[str, dict[str, Any]]
    detail: str


def measurements_of(result: CheckResult) -> AiMeasurements:
    return cast(AiMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> AiEvidence:
    return cast(AiEvidence, result.evidence)


def _detector(settings: AiActSettings) -> Callable[[browser_pool.BrowserSession], list[dict[str, Any]]]:
    """What runs in the recording session once the page is recorded: find, read, maybe open."""
    vendors = [[w.vendor, list(w.selectors), list(w.launcher)] for w in settings.ai_list.widgets
               if w.selectors or w.launcher]

    def detect(session: browser_pool.BrowserSession) -> list[dict[str, Any]]:
        driver = session.driver
        found = list(driver.execute_script(_DETECT, vendors) or [])
        out = []
        for item in found:
            text = str(item.get("text") or "")
            if item.get("iframe"):
                text += " " + _frame_text(session, item.get("launcher"))
            row: dict[str, Any] = {"vendor": item["vendor"], "selector": item.get("selector", ""),
                                   "launcher_text": text[:300], "where": None, "opened": False}
            if DISCLOSURE.search(fold(text)):
                row["where"] = "launcher"
            elif settings.open_widget and item.get("launcher") is not None:
                row["opened"] = True
                message = _open(session, item["launcher"], settings.open_wait)
                row["message_text"] = message[:300]
                if DISCLOSURE.search(fold(message)):
                    row["where"] = "message"
            out.append(row)
        return out

    return detect


def _frame_text(session: browser_pool.BrowserSession, frame: Any) -> str:
    driver = session.driver
    try:
        driver.switch_to.frame(frame)
        return str(driver.execute_script("return (document.body && document.body.innerText) || '';") or "")[:1000]
    except browser_pool.WebDriverException:
        return ""
    finally:
        driver.switch_to.default_content()


def _open(session: browser_pool.BrowserSession, launcher: Any, wait: float) -> str:
    """Click the launcher and read what the widget then shows (the page's text that is new)."""
    driver = session.driver
    before = str(driver.execute_script("return document.body ? document.body.innerText : '';") or "")
    try:
        launcher.click()
    except browser_pool.WebDriverException:
        try:
            driver.execute_script("arguments[0].click();", launcher)
        except browser_pool.WebDriverException:
            return ""
    deadline = time.monotonic() + wait
    text = ""
    while time.monotonic() < deadline:
        now = str(driver.execute_script("return document.body ? document.body.innerText : '';") or "")
        frames = [_frame_text(session, f) for f in driver.find_elements("css selector", "iframe")[:5]]
        text = " ".join([now.replace(before, " ") if before and before in now else now, *frames])
        if DISCLOSURE.search(fold(text)):
            break
        time.sleep(0.2)
    return re.sub(r"\s+", " ", text).strip()


def run(target: Target, settings: AiActSettings, ctx: CheckContext) -> CheckResult:
    """Record the service's pages, find AI widgets and AI APIs, judge the markers."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls = list(dict.fromkeys(target.urls or (target.url,)))[:settings.max_pages]
    recording = GdprSettings(timeout=settings.timeout, settle=settings.settle, settle_max=max(settings.settle, 6.0),
                             markers=["no_trackers"], legal_pages=False)
    detect = _detector(settings)
    pages = [capture_page(pool, u, recording, wait=settings.worst_case_seconds(), also=detect) for u in urls]
    ai = settings.ai_list
    widgets: dict[str, dict[str, Any]] = {}
    apis: dict[str, dict[str, Any]] = {}
    for page in pages:
        if not page.scanned:
            continue
        for req in page.requests:
            if (w := widget_for(req.host, ai)) is not None:
                row = _widget_row(widgets, w.vendor)
                if req.host not in row["hosts"]:
                    row["hosts"].append(req.host)
                if page.url not in row["pages"]:
                    row["pages"].append(page.url)
            if (a := api_for(req.host, ai)) is not None:
                entry = apis.setdefault(req.host, {"host": req.host, "vendor": a.vendor, "requests": 0,
                                                   "example": req.url[:300], "page": page.url})
                entry["requests"] += 1
        for seen in page.also or []:
            row = _widget_row(widgets, seen["vendor"])
            if page.url not in row["pages"]:
                row["pages"].append(page.url)
            row["checked"] = True
            row["launcher_text"] = seen.get("launcher_text", "")
            if seen.get("message_text"):
                row["message_text"] = seen["message_text"]
            row["opened"] = row.get("opened", False) or seen.get("opened", False)
            if seen.get("where") and not row["where"]:
                row["where"] = seen["where"]
    privacy = _privacy(pool, pages, settings, list(widgets)) if widgets and "ai_provider_named" in settings.markers \
        else {}
    markers = _judge(settings, widgets, apis, privacy, pages)
    return _result(target, started, time.monotonic() - t0, pages, widgets, apis, privacy, markers)


def _widget_row(widgets: dict[str, dict[str, Any]], vendor: str) -> dict[str, Any]:
    """A vendor's widget as the run collects it: found by its hosts, its selectors, or both."""
    return widgets.setdefault(vendor, {"vendor": vendor, "pages": [], "hosts": [], "where": None, "checked": False})


def _privacy(pool: browser_pool.BrowserPool, pages: list[PageCapture], settings: AiActSettings,
             vendors: list[str]) -> dict[str, Any]:
    """The linked Datenschutzerklärung and which widget vendors it names (by name or by domain)."""
    if not settings.privacy_page:
        return {"detail": "nicht geprüft (privacy_page: false)"}
    link = next((found for p in pages if p.scanned and (found := legal_link(p.links, "privacy")) is not None), None)
    if link is None:
        return {"detail": "keine Datenschutzerklärung verlinkt"}
    text, error, _links = fetch_text(pool, link[1], settings)
    if text is None:
        return {"url": link[1], "detail": f"Datenschutzerklärung nicht lesbar: {error}"}
    folded = fold(text)
    ai = settings.ai_list
    named = {}
    for vendor in vendors:
        widget = next((w for w in ai.widgets if w.vendor == vendor), None)
        words = [fold(vendor).split(" (")[0]] + [registrable_domain(h) or h for h in (widget.hosts if widget else ())]
        named[vendor] = any(w and w in folded for w in words)
    return {"url": link[1], "named": named}


def _judge(settings: AiActSettings, widgets: dict[str, dict[str, Any]], apis: dict[str, dict[str, Any]],
           privacy: dict[str, Any], pages: list[PageCapture]) -> dict[str, Marker]:
    out: dict[str, Marker] = {}
    if not any(p.scanned for p in pages):
        return {m: Marker.listed("unknown", "keine Seite aufgezeichnet") for m in settings.markers}
    if widgets:
        undisclosed = [w for w in widgets.values() if w["where"] is None and (w.get("opened") or not w["checked"])]
        only_inside = [w for w in widgets.values() if w["where"] is None and w["checked"] and not w.get("opened")]
        rows = [{k: w.get(k) for k in ("vendor", "where", "launcher_text", "message_text", "pages")} for w in widgets.values()]
        if undisclosed:
            unseen = [w["vendor"] for w in undisclosed if not w["checked"]]
            detail = f"{len(undisclosed)} KI-Widgets ohne Hinweis auf ein KI-System"
            if unseen:
                detail += " (nur an Anfragen erkannt, im Seiteninhalt nicht gefunden: " + ", ".join(unseen) + ")"
            out["ai_disclosed"] = Marker.listed("fail", detail, rows)
        elif only_inside:
            out["ai_disclosed"] = Marker.listed(
                "unknown", "kein Hinweis im Startknopf; ob die erste Nachricht ihn gibt, zeigt nur das Öffnen "
                           "(open_widget: true im Profil)", rows)
        else:
            out["ai_disclosed"] = Marker.listed("pass", "jedes KI-Widget gibt sich als KI zu erkennen", rows)
        named = privacy.get("named")
        if named is None:
            out["ai_provider_named"] = Marker.listed("unknown", str(privacy.get("detail", "nicht geprüft")))
        else:
            missing = [v for v, ok in named.items() if not ok]
            evidence = [{"vendor": v, "named": ok, "url": privacy["url"]} for v, ok in named.items()]
            out["ai_provider_named"] = (Marker.listed("fail", "Datenschutzerklärung nennt nicht: " + ", ".join(missing),
                                                      evidence) if missing
                                        else Marker.listed("pass", "", evidence))
    rows = list(apis.values())
    out["no_ai_api"] = (Marker.listed("fail", f"{len(rows)} KI-Dienste vor der Einwilligung kontaktiert", rows)
                        if rows else Marker.listed("pass"))
    return {m: out[m] for m in settings.markers if m in out}


def _result(target: Target, started: datetime, seconds: float, pages: list[PageCapture],
            widgets: dict[str, dict[str, Any]], apis: dict[str, dict[str, Any]], privacy: dict[str, Any],
            markers: dict[str, Marker]) -> CheckResult:
    scanned = [p for p in pages if p.scanned]
    failed = [p for p in pages if not p.scanned]
    measurements: AiMeasurements = {"pages_scanned": len(scanned), "pages_failed": len(failed)}
    per_key = cast(dict[str, float], measurements)
    if scanned:
        measurements["widgets"] = len(widgets)
        measurements["ai_apis"] = len(apis)
    for name, marker in markers.items():
        if marker.state != "unknown":
            per_key[marker_key(name)] = 1.0 if marker.state == "pass" else 0.0
    affected = bool(widgets or apis)
    evidence: AiEvidence = {
        "affected": affected, "widgets": list(widgets.values())[:MAX_EVIDENCE], "apis": list(apis.values())[:MAX_EVIDENCE],
        "pages": [{"url": p.url, "final_url": p.final_url, **({"error": p.error} if p.error else {})} for p in pages],
        "privacy": privacy, "markers": {k: m.to_dict() for k, m in markers.items()}}
    failing = [k for k, m in markers.items() if m.state == "fail"]
    if not scanned:
        state = State.UNKNOWN
        reason = failure_reason(failed[0].error_reason, failed[0].error) if failed else Reason.INTERNAL_ERROR
        evidence["detail"] = f"keine Seite aufgezeichnet: {failed[0].error if failed else 'keine Seiten'}"
    elif any(k in ("ai_disclosed", "no_ai_api") for k in failing):
        state, reason = State.DOWN, Reason.NONCOMPLIANT
        evidence["detail"] = "nicht erfüllt: " + ", ".join(MARKER_NAMES_DE[k] for k in failing)
    elif failing or failed or any(m.state == "unknown" for m in markers.values()):
        state, reason = State.DEGRADED, Reason.FINDINGS
        evidence["detail"] = ("nicht erfüllt: " + ", ".join(MARKER_NAMES_DE[k] for k in failing) if failing
                              else "nicht alles feststellbar")
    else:
        state, reason = State.UP, Reason.OK
        evidence["detail"] = ("KI-Widgets geben sich als KI zu erkennen" if widgets
                              else "nicht betroffen: kein KI-Widget und kein KI-Dienst gefunden")
    return CheckResult(target.service_id, target.url, CheckKind.AI_ACT, state, reason, started, seconds,
                       measurements=per_key, evidence=cast(dict[str, Any], evidence))


CHECK = CheckImplementation(CheckKind.AI_ACT, AiActSettings, run, pool="browser", scope="service")

__all__ = ["CHECK", "DISCLOSURE", "MARKERS", "MARKER_NAMES_DE", "AiActSettings", "AiEvidence", "AiMeasurements",
           "evidence_of", "measurements_of", "run"]
