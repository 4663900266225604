"""Accessibility: axe-core in every frame of every scanned page, plus the BITV 2.0 markers.

One run covers a whole service: its configured URLs and, optionally, a stable sample
from its sitemap. Each page is loaded in a pooled Chromium (`checks.browser`); axe-core
4.10.2 (bundled with axe-selenium-python 3.x) is injected into the top document and,
recursively, into every frame, following @axe-core/webdriverjs: `getFrameContexts`,
`runPartial` per frame, then `finishRun` on the collected partials in a blank window, so a
page cannot tamper with the final step. Options travel as WebDriver script arguments,
that is as JSON, never pasted into JavaScript source.

The BITV markers are what the federal monitoring body checks in its simplified
monitoring: the accessibility statement linked from every page, its feedback mechanism,
the Schlichtungsverfahren and its date; Leichte Sprache and Deutsche Gebärdensprache
reachable from the start page; `<html lang>`. Each is pass, fail or not determinable,
with the evidence.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import time
from datetime import UTC, date, datetime
from typing import Any, TypedDict, cast

from checks import browser as browser_pool
from checks import sitemap
from checks.accessibility import wcag
from checks.accessibility.axe import (
    PageScan,
    Violation,
    _AxeRun,
    axe_source,
    axe_source_path,
    axe_version,
    scan_in_session,
    scan_page,
)
from checks.accessibility.markers import judge_markers, statement_candidates, statement_link
from checks.accessibility.settings import (
    IMPACT_WEIGHTS,
    IMPACTS,
    MARKER_NAMES_DE,
    MARKERS,
    MAX_TARGET_CHARS,
    MAX_TARGETS_PER_RULE,
    WCAG21_AA,
    AccessibilitySettings,
    RuleExclusion,
    SitemapSettings,
)
from checks.accessibility.statement import read as read_statement
from checks.context import CheckContext
from checks.kind import CheckImplementation, Records, cut
from checks.page import Link, Marker, failure_reason, fetch_text, marker_key
from checks.proxy import Proxy
from checks.result import CheckResult, Reason, State, Target
from checks.steps import after_login

BrowserPool = browser_pool.BrowserPool

# --------------------------------------------------------------------------- the check


def _stable_sample(urls: list[str], n: int, salt: str) -> list[str]:
    """n URLs chosen by hash, so the sample stays the same from run to run while the sitemap barely changes."""
    ranked = sorted(set(urls), key=lambda u: hashlib.sha256((salt + u).encode()).digest())
    return sorted(ranked[:n])


def pages_for(target: Target, settings: AccessibilitySettings, proxy: Proxy | None = None,
              ctx: CheckContext | None = None) -> tuple[list[str], dict[str, Any]]:
    """Configured URLs first, then a sitemap sample, at most `max_pages` (the sitemap fetched
    with the process's trust: browser.ca_files and browser.hosts, unless the check names a CA file)."""
    pages = list(dict.fromkeys(target.urls or (target.url,)))
    info: dict[str, Any] = {}
    if settings.sitemap.enabled and len(pages) < settings.max_pages:
        found = sitemap.discover(target.url, settings.sitemap.url, max_files=settings.sitemap.max_files,
                                 timeout=min(settings.timeout, 30.0), max_bytes=settings.max_body_bytes,
                                 ca_file=str(settings.ca_file) if settings.ca_file else (ctx.ca_bundle if ctx else None),
                                 proxy=proxy, host_rules=ctx.host_rules if ctx else ())
        room = min(settings.sitemap.max_pages, settings.max_pages - len(pages))
        candidates = [u for u in found.urls if u not in pages]
        sample = _stable_sample(candidates, room, target.service_id)
        pages += sample
        info = {"files": list(found.files), "urls_found": len(found.urls), "sampled": sample,
                "errors": list(found.errors)}
    return pages[:settings.max_pages], info


def run(target: Target, settings: AccessibilitySettings, ctx: CheckContext) -> CheckResult:
    """Scan the service's pages with axe and judge the BITV markers."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls, sitemap_info = pages_for(target, settings, ctx.proxy, ctx)
    width = settings.parallel_pages or pool.size
    wait = settings.worst_case_seconds()
    if settings.login is not None:
        pages = _logged_in(pool, urls, settings, wait)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(width, len(urls))),
                                                   thread_name_prefix="a11y-page") as ex:
            pages = list(ex.map(lambda u: scan_page(pool, u, settings, wait=wait), urls))

    statement_url, statement, tried = _statement(pool, pages, settings, wait, ctx.date())
    serious = len({v.rule for p in pages if p.scanned for v in p.violations if v.impact in ("critical", "serious")})
    markers = judge_markers(pages, statement, statement_url, list(settings.markers), ctx.date(),
                            settings.statement_max_age_days, serious)
    if tried and "statement_linked" in markers:
        markers["statement_linked"] = dataclasses.replace(
            markers["statement_linked"], facts={**markers["statement_linked"].facts, "candidates": tried})
    return _result(target, settings, started, time.monotonic() - t0, pages, markers, statement_url, sitemap_info)


def _logged_in(pool: BrowserPool, urls: list[str], settings: AccessibilitySettings, wait: float) -> list[PageScan]:
    """The login journey (`after_journey`) in one fresh browser, then every page in that session."""
    assert settings.login is not None
    return after_login(pool, settings.login, urls, page_timeout=settings.timeout, wait=wait,
                       start=lambda session: lambda url: scan_in_session(session, url, settings),
                       failed=lambda url, error, reason: PageScan(url=url, error=error, error_reason=reason))


def _statement(pool: BrowserPool, pages: list[PageScan], settings: AccessibilitySettings, wait: float, today: date
               ) -> tuple[str | None, tuple[str | None, str | None, tuple[Link, ...]] | None, list[dict[str, Any]]]:
    """The statement: the linked candidates in order (strongest wording first, at most three),
    the first that reads like a statement. Returns its URL and (text, error, links), or the
    first candidate's when none does, and what was tried."""
    if not any(m.startswith("statement_") for m in settings.markers):
        return None, None, []
    first: tuple[str | None, tuple[str | None, str | None, tuple[Link, ...]] | None] = (None, None)
    tried: list[dict[str, Any]] = []
    for link in statement_candidates(pages):
        got = fetch_text(pool, link.href, settings, wait=wait)
        text, error, links = got
        is_statement = text is not None and read_statement(link.href, text, links, today).is_statement
        tried.append({"url": link.href, "text": link.label[:200], "statement": is_statement,
                      **({"error": error} if error else {})})
        if is_statement:
            return link.href, got, tried
        if first[0] is None:
            first = (link.href, got)
    return first[0], first[1], tried


# --------------------------------------------------------------------------- the result's payload
# Keyed once here for the writer below and every reader (monitor/kinds/accessibility.py).


class AccessibilityMeasurements(TypedDict, total=False):
    pages_scanned: float
    pages_failed: float
    rules_violated: float
    incomplete: float
    pages_with_serious: float
    score: float
    # per impact (IMPACTS): violations_<impact> (elements) and rules_<impact>; per BITV marker:
    # marker_<name> (1 pass, 0 fail, absent when not determinable)


class AccessibilityEvidence(TypedDict, total=False):
    axe_version: str
    tags: list[str]
    excluded_rules: list[dict[str, Any]]
    pages: list[dict[str, Any]]
    markers: dict[str, dict[str, Any]]
    statement_url: str | None
    targets: dict[str, int]
    sitemap: dict[str, Any]
    detail: str


def violations_key(impact: str) -> str:
    return f"violations_{impact}"


def rules_key(impact: str) -> str:
    return f"rules_{impact}"


def measurements_of(result: CheckResult) -> AccessibilityMeasurements:
    return cast(AccessibilityMeasurements, result.measurements)


def evidence_of(result: CheckResult) -> AccessibilityEvidence:
    return cast(AccessibilityEvidence, result.evidence)


def _result(target: Target, settings: AccessibilitySettings, started: datetime, seconds: float, pages: list[PageScan],
            markers: dict[str, Marker], statement_url: str | None, sitemap_info: dict[str, Any]) -> CheckResult:
    scanned = [p for p in pages if p.scanned]
    failed = [p for p in pages if not p.scanned]
    nodes = dict.fromkeys(IMPACTS, 0)
    rules: dict[str, str] = {}
    for page in scanned:
        for v in page.violations:
            nodes[v.impact] = nodes.get(v.impact, 0) + v.nodes
            rules[v.rule] = v.impact
    measurements: AccessibilityMeasurements = {
        "pages_scanned": len(scanned), "pages_failed": len(failed), "rules_violated": len(rules),
        "incomplete": len({i for p in scanned for i in p.incomplete}),
        "pages_with_serious": sum(1 for p in scanned if any(v.impact in ("critical", "serious") for v in p.violations)),
    }
    per_key = cast(dict[str, float], measurements)  # the families keyed by impact and marker
    for impact in IMPACTS:
        per_key[violations_key(impact)] = nodes.get(impact, 0)
        per_key[rules_key(impact)] = sum(1 for i in rules.values() if i == impact)
    if scanned:
        measurements["score"] = max(0.0, 100.0 - sum(p.penalty() for p in scanned) / len(scanned))
    for name, marker in markers.items():
        if marker.state != "unknown":
            per_key[marker_key(name)] = 1.0 if marker.state == "pass" else 0.0
    evidence: AccessibilityEvidence = {
        "axe_version": axe_version(), "tags": list(settings.tags),
        "excluded_rules": [ex.model_dump() for ex in settings.exclude_rules],
        "pages": [p.to_dict() for p in pages], "markers": {k: m.to_dict() for k, m in markers.items()},
        "statement_url": statement_url,
    }
    evidence["targets"] = _bound_targets(evidence["pages"])
    if sitemap_info:
        evidence["sitemap"] = sitemap_info
    fail_rank = IMPACTS.index(settings.fail_impact)
    binding = [r for r, i in rules.items() if i in IMPACTS and IMPACTS.index(i) <= fail_rank]
    failing_markers = [k for k, m in markers.items() if m.state == "fail"]
    if not scanned:
        reason = failure_reason(failed[0].error_reason, failed[0].error) if failed else Reason.INTERNAL_ERROR
        evidence["detail"] = f"keine Seite geprüft: {failed[0].error if failed else 'keine Seiten'}"
        state = State.UNKNOWN
    elif binding or failing_markers:
        state, reason = State.DOWN, Reason.NONCOMPLIANT
        parts = []
        if binding:
            parts.append(f"{len(binding)} Regeln mit Auswirkung '{settings.fail_impact}' oder schwerer verletzt")
        if failing_markers:
            parts.append("BITV-Merkmale nicht erfüllt: " + ", ".join(failing_markers))
        evidence["detail"] = "; ".join(parts)
    elif rules or failed or any(m.state == "unknown" for m in markers.values()):
        state, reason = State.DEGRADED, Reason.FINDINGS
        evidence["detail"] = (f"{len(rules)} Regeln verletzt (unterhalb der Schwelle), "
                              f"{len(failed)} Seiten nicht prüfbar")
    else:
        state, reason = State.UP, Reason.OK
    return CheckResult(target.service_id, target.url, "accessibility", state, reason, started, seconds,
                       measurements=cast(dict[str, float], measurements), evidence=cast(dict[str, Any], evidence))


def _bound_targets(pages: list[dict[str, Any]]) -> dict[str, int]:
    """Keep every violating element's selector up to MAX_TARGET_CHARS per result; count the rest."""
    budget = MAX_TARGET_CHARS
    kept = total = 0
    for page in pages:
        for v in page.get("violations", ()):
            targets = v.get("targets") or []
            total += int(v.get("nodes") or 0)
            keep = []
            for t in targets:
                if len(t) > budget:
                    break
                budget -= len(t)
                keep.append(t)
            v["targets"] = keep
            kept += len(keep)
            cut = int(v.get("nodes") or 0) - len(keep)
            if cut > 0:
                v["targets_cut"] = cut
    return {"total": total, "kept": kept, "cut": total - kept, "limit_chars": MAX_TARGET_CHARS}


def dedupe(result: CheckResult) -> list[dict[str, Any]]:
    """Violations across the service's pages, one row per rule: pages, elements, an example."""
    rows: dict[str, dict[str, Any]] = {}
    for page in result.evidence.get("pages", ()):
        for v in page.get("violations", ()):
            row = rows.setdefault(v["rule"], {"rule": v["rule"], "impact": v["impact"], "help": v.get("help", ""),
                                              "help_url": v.get("help_url", ""), "pages": 0, "nodes": 0,
                                              "example_url": page["url"],
                                              "example_target": (v.get("targets") or [""])[0]})
            row["pages"] += 1
            row["nodes"] += int(v["nodes"])
    order = {i: n for n, i in enumerate(IMPACTS)}
    return sorted(rows.values(), key=lambda r: (order.get(r["impact"], 9), -r["pages"], -r["nodes"], r["rule"]))


class RuleDigest(TypedDict):
    impact: str | None
    nodes: int
    help: str
    pages: int


class AccessibilityDigest(TypedDict):
    """What an accessibility rollup keeps of its last scan: rules, the worst pages, the markers."""

    rules: dict[str, RuleDigest]
    pages: list[dict[str, Any]]  # url, title, serious_nodes
    markers: dict[str, str | None]


class AccessibilityRecords(Records):
    def digest(self, result: CheckResult) -> AccessibilityDigest:
        ev = result.to_dict()["evidence"]
        rules: dict[str, RuleDigest] = {}
        worst: list[dict[str, Any]] = []
        for page in ev.get("pages") or []:
            serious = 0
            for v in page.get("violations") or []:
                entry = rules.setdefault(cut(v.get("rule"), 80), {"impact": v.get("impact"), "nodes": 0,
                                                                 "help": cut(v.get("help"), 200), "pages": 0})
                entry["nodes"] += int(v.get("nodes") or 0)
                entry["pages"] += 1
                serious += int(v.get("nodes") or 0) if v.get("impact") in ("critical", "serious") else 0
            if serious:
                worst.append({"url": cut(page.get("url"), 500), "title": cut(page.get("title"), 200),
                              "serious_nodes": serious})
        worst.sort(key=lambda p: -p["serious_nodes"])
        return {"rules": dict(sorted(rules.items())[:60]), "pages": worst[:3],
                "markers": {k: (m or {}).get("state") for k, m in (ev.get("markers") or {}).items()}}


CHECK = CheckImplementation("accessibility", AccessibilitySettings, run, pool="browser", scope="service",
                            records=AccessibilityRecords())

__all__ = ["CHECK", "IMPACTS", "IMPACT_WEIGHTS", "MARKERS", "MARKER_NAMES_DE", "MAX_TARGETS_PER_RULE", "MAX_TARGET_CHARS",
           "WCAG21_AA", "AccessibilitySettings", "Link", "Marker", "PageScan", "RuleExclusion", "SitemapSettings",
           "Violation", "_AxeRun", "axe_source", "axe_source_path", "axe_version", "dedupe", "fetch_text",
           "judge_markers", "pages_for", "run", "scan_page", "statement_candidates", "statement_link", "wcag"]
