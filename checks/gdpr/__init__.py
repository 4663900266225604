"""DSGVO: what a page does before the visitor consented, and the legally required links.

Each configured page is loaded in a **fresh browser** (an empty profile, one-shot) and
nothing is clicked, as the EDPS website-evidence-collector does: everything recorded is
the pre-consent state. The browser records the page's network through the DevTools
performance log (every frame runs in one renderer, so a cross-site embed's own requests
are included); afterwards the cookie jar (DevTools `Storage.getCookies`, third-party
cookies included) and the local and session storage keys of every frame are read.

Hosts and cookies are first or third party by registrable domain (the public suffix list,
offline, shared with the security check). Findings, each with its evidence: trackers from
a shipped host list (`config/trackers.yaml`, extendable), third-party cookies,
non-essential first-party cookies, storage written before consent, Google Fonts, YouTube
outside youtube-nocookie.com, hosts outside the processor allowlist, Impressum and
Datenschutzerklärung links on every page, outdated legal references (TMG, TTDSG) on the
pages and the legal pages they link, forms that submit over HTTP, and HTTP without a
redirect to HTTPS. With `consent_cookies` configured, a second pass sets them first and
both passes are stored side by side.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from checks import browser as browser_pool
from checks import httpprobe
from checks.context import CheckContext
from checks.gdpr import recording
from checks.gdpr.classification import Summary, summarize, tracker_for
from checks.gdpr.markers import check_https_redirect, judge, legal_link, outdated_references
from checks.gdpr.party import party
from checks.gdpr.recording import PageCapture, Recorder, Request, capture_page
from checks.gdpr.settings import (
    CATEGORIES,
    DEFAULT_TRACKERS,
    MARKER_NAMES_DE,
    MARKERS,
    SEVERITY,
    ConsentCookie,
    GdprSettings,
    TrackerEntry,
    TrackerFileError,
    glob_escape,
    load_tracker_file,
)
from checks.kind import CheckImplementation, Records, cut
from checks.page import MAX_EVIDENCE, Marker, failure_reason, fetch_text, marker_key
from checks.result import CheckResult, Reason, State, Target
from checks.steps import after_login

# --------------------------------------------------------------------------- the check


def _page_dict(page: PageCapture, settings: GdprSettings) -> dict[str, Any]:
    out: dict[str, Any] = {"url": page.url, "final_url": page.final_url, "status": page.status, "title": page.title,
                           "load_complete": page.load_complete, "seconds": round(page.seconds, 3),
                           "queue_seconds": round(page.queue_seconds, 3),
                           "requests": len(page.requests) + page.requests_dropped}
    if page.error is not None:
        out.update(error=page.error, error_reason=page.error_reason)
    site = page.site
    third = [{"url": r.url, "type": r.type, "status": r.status, **({"error": r.error} if r.error else {})}
             for r in page.requests if party(r.host, site, settings) == "third"]
    out["third_party_requests"] = third[:200]
    out["third_party_requests_total"] = len(third)
    out["cookies_complete"] = page.cookies_complete
    if page.cookies_dropped:
        out["cookie_attempts_dropped"] = page.cookies_dropped  # beyond the per-page limit: counted, not kept
    out["forms"] = page.forms[:50]
    return out


# --------------------------------------------------------------------------- the result's payload
# Keyed once here for the writer below and every reader (monitor/kinds/gdpr.py).


class GdprMeasurements(TypedDict, total=False):
    pages_scanned: float
    pages_failed: float
    # before consent (Summary.counts()), and after consent with the prefix "after_":
    requests: float
    third_party_hosts: float
    trackers: float
    third_party_cookies: float
    first_party_cookies: float
    nonessential_cookies: float
    cookies_refused: float
    storage_keys: float
    # per DSGVO marker: marker_<name> (1 pass, 0 fail, absent when not determinable)


class GdprEvidence(TypedDict, total=False):
    pages: list[dict[str, Any]]
    summary: dict[str, Any]
    markers: dict[str, dict[str, Any]]
    findings: list[dict[str, Any]]
    legal_pages: list[dict[str, Any]]
    after_consent: dict[str, Any]
    detail: str


def after_key(count: str) -> str:
    """A count recorded after consent (after_trackers, ...)."""
    return f"after_{count}"


def measurements_of(result: CheckResult) -> GdprMeasurements:
    return cast(GdprMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> GdprEvidence:
    return cast(GdprEvidence, result.evidence)


def _pass(pool: browser_pool.BrowserPool, urls: list[str], settings: GdprSettings, consent: bool) -> list[PageCapture]:
    width = max(1, min(settings.parallel_pages or pool.size, len(urls)))
    wait = settings.worst_case_seconds()
    with concurrent.futures.ThreadPoolExecutor(max_workers=width, thread_name_prefix="gdpr-page") as ex:
        return list(ex.map(lambda u: capture_page(pool, u, settings, wait=wait, consent=consent), urls))


def _logged_in(pool: browser_pool.BrowserPool, urls: list[str], settings: GdprSettings,
               login_cookies: list[str]) -> list[PageCapture]:
    """The login journey (`after_journey`) in one fresh recording browser, then every page in
    that session (what the login itself stored counts to the first page's cookies). The
    first-party cookies the login's responses set are added to `login_cookies`."""
    assert settings.login is not None
    current: dict[str, tuple[PageCapture, Recorder]] = {}  # the page being recorded, by URL

    def start(session: browser_pool.BrowserSession) -> Callable[[str], PageCapture]:
        recorder = recording.install(session)

        def visit(url: str) -> PageCapture:
            page, rec = current[url] = (PageCapture(url=url), recording.Recorder())
            captured = recording.visit(session, page, rec, settings, recorder)
            del current[url]
            return captured

        return visit

    def failed(url: str, error: str, reason: str) -> PageCapture:
        if url in current:  # cut short while recording it: what it did so far
            page, rec = current.pop(url)
            page.error, page.error_reason = error, reason
            return recording.finish(page, rec)
        return PageCapture(url=url, error=error, error_reason=reason)

    log: list[dict[str, Any]] = []
    pages = after_login(pool, settings.login, urls, page_timeout=settings.timeout, wait=settings.worst_case_seconds(),
                        start=start, failed=failed, done="aufgezeichnet", login_log=log)
    login_cookies.extend(recording.login_cookie_names(log, urls[0], settings))
    return pages


def run(target: Target, settings: GdprSettings, ctx: CheckContext) -> CheckResult:
    """Record the service's pages before consent (and after, if configured) and judge the markers."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls = list(dict.fromkeys(target.urls or (target.url,)))[:settings.max_pages]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gdpr-redirect") as side:
        rules = ctx.host_rules + httpprobe.host_rules_from_arguments(pool.settings.arguments)
        redirect = (side.submit(check_https_redirect, urls, settings, rules, ctx.proxy, ctx.ca_bundle)
                    if "https_redirect" in settings.markers else None)
        login_cookies: list[str] = []
        before = (_logged_in(pool, urls, settings, login_cookies) if settings.login is not None
                  else _pass(pool, urls, settings, consent=False))
        if login_cookies:  # the session the citizen asked for by logging in is strictly necessary
            settings = settings.model_copy(update={"extra_necessary_names": [
                *settings.extra_necessary_names, *(glob_escape(n) for n in login_cookies)]})
        after = _pass(pool, urls, settings, consent=True) if settings.consent_cookies else None
        legal: dict[str, tuple[str | None, str | None]] = {}
        if settings.legal_pages and "current_legal_refs" in settings.markers:
            scanned_urls = {p.final_url for p in before if p.scanned} | {p.url for p in before}
            wanted: list[str] = []
            for p in before:
                for kind in ("impressum", "privacy"):
                    link = legal_link(p.links, kind) if p.scanned else None
                    if link and link[1].split("#")[0] not in scanned_urls and link[1].split("#")[0] not in wanted:
                        wanted.append(link[1].split("#")[0])
            for url in wanted[:4]:
                text, error, _links = fetch_text(pool, url, settings, wait=settings.worst_case_seconds())
                legal[url] = (text, error)
        redirect_marker = redirect.result() if redirect is not None else None
    summary = summarize(before, settings)
    markers = judge(before, summary, settings, legal, redirect_marker)
    consent_part = None
    if after is not None:
        after_summary = summarize(after, settings)
        consent_part = {"pages": [_page_dict(p, settings) for p in after], "summary": after_summary.to_dict(),
                        "cookies_set": [c.name for c in settings.consent_cookies]}
    out = _result(target, settings, started, time.monotonic() - t0, before, summary, markers, legal, consent_part)
    if settings.login is not None:  # which cookies counted as the login's (said, never silent)
        out = dataclasses.replace(out, evidence={**out.evidence, "login_cookies": login_cookies[:MAX_EVIDENCE]})
    return out


def _result(target: Target, settings: GdprSettings, started: datetime, seconds: float, pages: list[PageCapture],
            summary: Summary, markers: dict[str, Marker], legal: dict[str, tuple[str | None, str | None]],
            consent_part: dict[str, Any] | None) -> CheckResult:
    scanned = [p for p in pages if p.scanned]
    failed = [p for p in pages if not p.scanned]
    measurements: GdprMeasurements = {"pages_scanned": len(scanned), "pages_failed": len(failed)}
    per_key = cast(dict[str, float], measurements)  # counts by name, after-consent counts, markers
    if scanned:
        per_key.update({k: float(v) for k, v in summary.counts().items()})
    if consent_part is not None and scanned:
        per_key.update({after_key(k): float(v) for k, v in consent_part["summary"]["counts"].items()})
    for name, marker in markers.items():
        if marker.state != "unknown":
            per_key[marker_key(name)] = 1.0 if marker.state == "pass" else 0.0
    findings: list[dict[str, Any]] = [{"marker": name, "severity": SEVERITY[name], "message": MARKER_NAMES_DE[name] + ": nicht erfüllt",
                 "detail": m.detail, "evidence": (m.evidence or [])[:MAX_EVIDENCE]}
                for name, m in markers.items() if m.state == "fail"]
    order = {"high": 0, "medium": 1, "low": 2}
    findings.sort(key=lambda f: order[f["severity"]])
    evidence: GdprEvidence = {
        "pages": [_page_dict(p, settings) for p in pages], "summary": summary.to_dict(),
        "markers": {k: m.to_dict() for k, m in markers.items()}, "findings": findings,
        "legal_pages": [{"url": u, **({"error": e} if t is None else {"chars": len(t)})} for u, (t, e) in legal.items()],
    }
    if consent_part is not None:
        evidence["after_consent"] = consent_part
    if not scanned:
        state = State.UNKNOWN
        reason = failure_reason(failed[0].error_reason, failed[0].error) if failed else Reason.INTERNAL_ERROR
        evidence["detail"] = f"keine Seite aufgezeichnet: {failed[0].error if failed else 'keine Seiten'}"
    elif findings:
        state, reason = State.DOWN, Reason.NONCOMPLIANT
        evidence["detail"] = "DSGVO-Merkmale nicht erfüllt: " + ", ".join(f["marker"] for f in findings)
    elif failed or any(m.state == "unknown" for m in markers.values()):
        state, reason = State.DEGRADED, Reason.FINDINGS
        unknown = [k for k, m in markers.items() if m.state == "unknown"]
        evidence["detail"] = (f"{len(failed)} Seiten nicht aufgezeichnet; nicht bestimmbar: "
                              + (", ".join(unknown) or "-"))
    else:
        state, reason = State.UP, Reason.OK
    return CheckResult(target.service_id, target.url, "gdpr", state, reason, started, seconds,
                       measurements=per_key, evidence=cast(dict[str, Any], evidence))


__all__ = ["MARKERS", "GdprSettings", "PageCapture", "capture_page", "judge", "legal_link", "run", "summarize"]


class GdprDigest(TypedDict):
    """What a DSGVO rollup keeps of its last recording: markers, findings, trackers."""

    markers: dict[str, str | None]
    findings: list[dict[str, Any]]  # marker, severity, message, detail
    trackers: list[dict[str, str]]  # host, category


class GdprRecords(Records):
    def digest(self, result: CheckResult) -> GdprDigest:
        ev = result.to_dict()["evidence"]
        trackers = [h for h in (ev.get("summary") or {}).get("hosts") or [] if h.get("category")]
        return {"markers": {k: (m or {}).get("state") for k, m in (ev.get("markers") or {}).items()},
                "findings": [{"marker": f.get("marker"), "severity": f.get("severity"),
                              "message": cut(f.get("message")), "detail": cut(f.get("detail"))}
                             for f in (ev.get("findings") or [])[:12]],
                "trackers": [{"host": cut(t.get("host"), 200), "category": cut(t.get("category"), 60)}
                             for t in trackers[:10]]}


CHECK = CheckImplementation("gdpr", GdprSettings, run, pool="browser", scope="service", records=GdprRecords())

__all__ = ["CATEGORIES", "CHECK", "DEFAULT_TRACKERS", "MARKERS", "MARKER_NAMES_DE", "SEVERITY", "ConsentCookie",
           "GdprSettings", "Marker", "PageCapture", "Recorder", "Request", "Summary", "TrackerEntry", "TrackerFileError",
           "capture_page", "check_https_redirect", "judge", "legal_link", "load_tracker_file", "outdated_references",
           "party", "run", "summarize", "tracker_for"]
