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
from urllib.parse import urlsplit

from pydantic import Field

from checks import browser as browser_pool
from checks.ai_act import detect
from checks.ai_act.detect import HUMAN
from checks.ai_signatures import AiList, AiListError, Api, Widget, api_for, load_ai_list, shipped, widget_for
from checks.context import CheckContext
from checks.gdpr.markers import legal_link
from checks.gdpr.recording import PageCapture, capture_page
from checks.gdpr.settings import GdprSettings
from checks.hosts import registrable_domain
from checks.kind import CheckImplementation, Records, cut
from checks.page import MAX_EVIDENCE, Marker, failure_reason, fetch_text, fold, marker_key
from checks.result import CheckResult, Reason, State, Target
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

class AiActSettings(CheckSettings):
    """Chatbot and AI-assistant widgets: found, disclosed as AI, named in the privacy policy."""

    interval: PositiveDuration = Field(86400.0, description="Time between two scans; default daily.")
    timeout: PositiveDuration = Field(30.0, description="Upper bound per page: fresh browser, load, record, detect.")
    max_pages: int = Field(10, ge=1, le=100, description="Pages per run at most (the service's configured URLs).")
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="Markers to judge.")  # type: ignore[valid-type]
    open_widget: bool = Field(
        True, description="Click a widget's launcher to read its first message (a click only; nothing is typed or "
                          "sent). On by default: an assistant whose launcher says nothing can only be found undisclosed "
                          "(and alert) when its window was seen.")
    watch: PositiveDuration = Field(
        detect.WATCH_SECONDS, description="After load, timers due within this time are waited for (a widget a script "
                                          "injects later); a page without such timers costs nothing more.")
    human_chats: list[str] = Field(default_factory=list, description=(
        "Vendors (as in the list) or CSS selectors of chats staffed by people on this service's pages: not an AI "
        "system (Art. 3 (1) KI-VO), listed in the evidence, never judged for disclosure."))
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
    human_chats: list[dict[str, Any]]
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
    ai = settings.ai_list
    vendors = [[w.vendor, list(w.selectors), list(w.launcher)] for w in ai.widgets if w.selectors or w.launcher]
    staffing = {w.vendor: w.staffing for w in ai.widgets}

    def find(session: browser_pool.BrowserSession) -> list[dict[str, Any]]:
        found = detect.scan(session, vendors, settings.watch, budget=max(0.5, settings.timeout * 0.3))
        out = []
        for item in found:
            text = str(item.get("text") or "")
            vendor = str(item.get("vendor") or "")
            row: dict[str, Any] = {"vendor": vendor, "signal": item.get("signal", ""),
                                   "confidence": item.get("confidence", ""), "launcher_text": text[:300],
                                   "where": None, "opened": False, "frames": list(item.get("iframe_src") or []),
                                   "staffing": staffing.get(vendor) if vendor else
                                   ("ai" if item.get("ai_markup") else "either")}
            if _human_configured(settings, vendor, session, item):
                row["staffing"] = "human"
            if DISCLOSURE.search(fold(text)):
                row["where"] = "launcher"
            elif row["staffing"] != "human" and settings.open_widget and not HUMAN.search(fold(text)):
                row["open_tried"] = True  # without a launcher to click, what is visible is all there is
                row["opened"], message = detect.open_and_read(session, item, settings.open_wait, DISCLOSURE)
                row["message_text"] = message[:300]
                if DISCLOSURE.search(fold(message)):
                    row["where"] = "message"
            heard = fold(" ".join([text, row.get("message_text", "")]))
            row["human_cues"] = bool(HUMAN.search(heard))
            out.append(row)
        return out

    return find


def _human_configured(settings: AiActSettings, vendor: str, session: browser_pool.BrowserSession,
                      item: dict[str, Any]) -> bool:
    """Whether the profile names this widget as a chat staffed by people (`human_chats`)."""
    for entry in settings.human_chats:
        if entry == vendor:
            return True
        try:
            if session.driver.execute_script("try { return arguments[0].matches(arguments[1]) || "
                                             "!!arguments[0].querySelector(arguments[1]); } catch (e) { return false; }",
                                             item.get("box"), entry):
                return True
        except browser_pool.WebDriverException:
            continue
    return False


def run(target: Target, settings: AiActSettings, ctx: CheckContext) -> CheckResult:
    """Record the service's pages, find AI widgets and AI APIs, judge the markers."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls = list(dict.fromkeys(target.urls or (target.url,)))[:settings.max_pages]
    recording = GdprSettings(timeout=settings.timeout, settle=settings.settle, settle_max=max(settings.settle, 6.0),
                             markers=["no_trackers"], legal_pages=False)
    find = _detector(settings)
    pages = [capture_page(pool, u, recording, wait=settings.worst_case_seconds(), also=find, prepare=detect.install)
             for u in urls]
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
            key = seen["vendor"] or f"{seen['signal']} ({urlsplit(page.url).path or '/'})"
            row = _widget_row(widgets, key)
            row["vendor"] = seen["vendor"] or "unbekannter Anbieter"
            if page.url not in row["pages"]:
                row["pages"].append(page.url)
            row["checked"] = True
            for field in ("launcher_text", "signal", "confidence", "staffing", "frames", "open_tried"):
                row[field] = seen.get(field, row.get(field))
            if seen.get("message_text"):
                row["message_text"] = seen["message_text"]
            row["opened"] = row.get("opened", False) or seen.get("opened", False)
            row["human_cues"] = row.get("human_cues", False) or seen.get("human_cues", False)
            if seen.get("where") and not row["where"]:
                row["where"] = seen["where"]
    ai_rows = [w for w in widgets.values() if classify(w) != "human"]
    privacy = _privacy(pool, pages, settings, ai_rows) if ai_rows and "ai_provider_named" in settings.markers else {}
    markers = _judge(settings, widgets, apis, privacy, pages)
    return _result(target, started, time.monotonic() - t0, pages, widgets, apis, privacy, markers)


def _widget_row(widgets: dict[str, dict[str, Any]], vendor: str) -> dict[str, Any]:
    """A vendor's widget as the run collects it: found by its hosts, its selectors, or both."""
    return widgets.setdefault(vendor, {"vendor": vendor, "pages": [], "hosts": [], "where": None, "checked": False})


def classify(w: dict[str, Any]) -> str:
    """What a widget is, from what it says and what is known of its vendor: disclosed (an AI
    system that says so), undisclosed (an AI system that does not, as far as seen), human (a
    chat staffed by people: no AI system, Art. 3 (1) KI-VO), unseen (only its requests were
    seen), unclear (the tool cannot tell whether people or an AI answer), closed (the launcher
    says nothing and opening is off)."""
    if w.get("where"):
        return "disclosed"
    if w.get("staffing") == "human" or (w.get("human_cues") and w.get("staffing") != "ai"):
        return "human"
    if not w.get("checked"):
        return "unseen"
    if w.get("staffing") != "ai":
        return "unclear"
    if not w.get("opened") and not w.get("open_tried"):
        return "closed"
    return "undisclosed"


_CLASS_DE = {"unseen": "nur an Anfragen erkannt, im Seiteninhalt nicht gefunden",
             "unclear": "nicht erkennbar, ob Menschen oder eine KI antworten (kein Hinweis in Startknopf und Fenster)",
             "closed": "kein Hinweis im Startknopf; ob das Fenster ihn gibt, zeigt nur das Öffnen (open_widget: true)"}


def _privacy(pool: browser_pool.BrowserPool, pages: list[PageCapture], settings: AiActSettings,
             widgets: list[dict[str, Any]]) -> dict[str, Any]:
    """The linked Datenschutzerklärung and which providers it names: by vendor, legal entity,
    product name or domain (config/ai.yaml). A self-hosted assistant (no outside recipient:
    no vendor, its frames on the service's own site) needs no naming."""
    if not settings.privacy_page:
        return {"detail": "nicht geprüft (privacy_page: false)"}
    ai = settings.ai_list
    words: dict[str, list[str]] = {}
    own: list[str] = []
    site = {registrable_domain(urlsplit(p.url).hostname or "") for p in pages}
    for w in widgets:
        vendor = w["vendor"]
        listed = next((x for x in ai.widgets if x.vendor == vendor), None)
        if listed is not None:
            words[vendor] = [fold(vendor).split(" (")[0], *(fold(n) for n in listed.names),
                             *(registrable_domain(h) or h for h in listed.hosts)]
            continue
        outside = {registrable_domain(urlsplit(f).hostname or "") for f in w.get("frames") or []} - site - {None}
        if outside:
            words[vendor] = sorted(d for d in outside if d)
        else:
            own.append(vendor)
    if not words:
        return {"named": {}, "self_hosted": own, "detail": "nicht erforderlich: selbst betrieben, kein externer Anbieter"}
    link = next((found for p in pages if p.scanned and (found := legal_link(p.links, "privacy")) is not None), None)
    if link is None:
        return {"detail": "keine Datenschutzerklärung verlinkt"}
    text, error, _links = fetch_text(pool, link[1], settings)
    if text is None:
        return {"url": link[1], "detail": f"Datenschutzerklärung nicht lesbar: {error}"}
    folded = fold(text)
    named = {vendor: next((x for x in said if x and x in folded), None) for vendor, said in words.items()}
    return {"url": link[1], "named": {v: bool(x) for v, x in named.items()},
            "named_as": {v: x for v, x in named.items() if x}, "self_hosted": own}


def _judge(settings: AiActSettings, widgets: dict[str, dict[str, Any]], apis: dict[str, dict[str, Any]],
           privacy: dict[str, Any], pages: list[PageCapture]) -> dict[str, Marker]:
    out: dict[str, Marker] = {}
    if not any(p.scanned for p in pages):
        return {m: Marker.listed("unknown", "keine Seite aufgezeichnet") for m in settings.markers}
    judged = {k: classify(w) for k, w in widgets.items()}
    ai_widgets = {k: w for k, w in widgets.items() if judged[k] != "human"}
    if ai_widgets:
        rows = [{**{k: w.get(k) for k in ("vendor", "where", "signal", "confidence", "launcher_text", "message_text",
                                           "pages")}, "class": judged[k]} for k, w in ai_widgets.items()]
        undisclosed = [w["vendor"] for k, w in ai_widgets.items() if judged[k] == "undisclosed"]
        open_questions = sorted({_CLASS_DE[judged[k]] for k in ai_widgets if judged[k] in _CLASS_DE})
        if undisclosed:
            out["ai_disclosed"] = Marker.listed(
                "fail", f"{len(undisclosed)} KI-Widgets ohne Hinweis auf ein KI-System: {', '.join(undisclosed)}", rows)
        elif open_questions:
            out["ai_disclosed"] = Marker.listed("unknown", "; ".join(open_questions), rows)
        else:
            out["ai_disclosed"] = Marker.listed("pass", "jedes KI-Widget gibt sich als KI zu erkennen", rows)
        named = privacy.get("named")
        if named is None:
            out["ai_provider_named"] = Marker.listed("unknown", str(privacy.get("detail", "nicht geprüft")))
        elif not named:
            out["ai_provider_named"] = Marker.listed("pass", str(privacy.get("detail", "")))
        else:
            missing = [v for v, ok in named.items() if not ok]
            evidence = [{"vendor": v, "named": ok, "as": privacy.get("named_as", {}).get(v), "url": privacy["url"]}
                        for v, ok in named.items()]
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
    human = {k: w for k, w in widgets.items() if classify(w) == "human"}
    widgets = {k: w for k, w in widgets.items() if k not in human}
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
    if human:
        evidence["human_chats"] = [{"vendor": w["vendor"], "signal": w.get("signal"), "launcher_text":
                                    w.get("launcher_text"), "pages": w["pages"],
                                    "detail": "von Menschen betreut (Live-Chat): kein KI-System"}
                                   for w in human.values()][:MAX_EVIDENCE]
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
                              else "nicht betroffen: kein KI-Widget und kein KI-Dienst gefunden"
                              + (" (ein von Menschen betreuter Chat)" if human else ""))
    return CheckResult(target.service_id, target.url, "ai_act", state, reason, started, seconds,
                       measurements=per_key, evidence=cast(dict[str, Any], evidence))


class AiDigest(TypedDict):
    """What an AI-Act rollup keeps of its last run: affected, widgets, AI services, markers."""

    affected: bool
    widgets: list[dict[str, Any]]  # vendor, where
    apis: list[str]
    markers: dict[str, str | None]


class AiRecords(Records):
    def digest(self, result: CheckResult) -> AiDigest:
        ev = evidence_of(result)
        return {"affected": bool(ev.get("affected")),
                "widgets": [{"vendor": cut(w.get("vendor"), 100), "where": w.get("where")}
                            for w in (ev.get("widgets") or [])[:10]],
                "apis": [cut(a.get("host"), 200) for a in (ev.get("apis") or [])[:10]],
                "markers": {k: (m or {}).get("state") for k, m in (ev.get("markers") or {}).items()}}


CHECK = CheckImplementation("ai_act", AiActSettings, run, pool="browser", scope="service", records=AiRecords())

__all__ = ["CHECK", "DISCLOSURE", "MARKERS", "MARKER_NAMES_DE", "AiActSettings", "AiEvidence", "AiMeasurements",
           "evidence_of", "measurements_of", "run"]
