"""Accessibility: axe-core in every frame of every scanned page, plus the BITV 2.0 markers.

One run covers a whole service: its configured URLs and, optionally, a stable sample
from its sitemap. Each page is loaded in a pooled Chromium (`checks.browser`); axe-core
4.10.2 (bundled with axe-selenium-python 3.x) is injected into the top document and,
recursively, into every frame, following @axe-core/webdriverjs: `getFrameContexts`,
`runPartial` per frame, then `finishRun` on the collected partials in a blank tab, so a
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
import functools
import hashlib
import re
import time
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from checks import browser as browser_pool
from checks import sitemap
from checks.kind import CheckContext, CheckImplementation
from checks.result import CheckKind, CheckResult, Reason, State, Target
from checks.settings import CheckSettings, PositiveDuration

IMPACTS = ("critical", "serious", "moderate", "minor")
# Weights for the trend score, as Lighthouse weighs audits: a critical barrier counts ten
# times a minor one. Score = 100 - mean over scanned pages of the sum of the weights of
# the distinct rules violated on that page, floored at 0.
IMPACT_WEIGHTS = {"critical": 10, "serious": 7, "moderate": 3, "minor": 1}
WCAG21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
MARKERS = ("statement_linked", "statement_feedback", "statement_arbitration", "statement_current",
           "easy_language", "sign_language", "html_lang")
MARKER_NAMES_DE = {
    "statement_linked": "Erklärung zur Barrierefreiheit von jeder Seite verlinkt",
    "statement_feedback": "Erklärung nennt einen Feedback-Mechanismus",
    "statement_arbitration": "Erklärung nennt das Schlichtungsverfahren",
    "statement_current": "Erklärung ist höchstens 12 Monate alt",
    "easy_language": "Leichte Sprache von der Startseite erreichbar",
    "sign_language": "Deutsche Gebärdensprache von der Startseite erreichbar",
    "html_lang": "Seitensprache angegeben (html lang, Startseite deutsch)",
}
# Evidence names every violating element: an operator fixes them, an auditor verifies them.
# Bounds: MAX_TARGETS_PER_RULE selectors per rule and page come back from the browser, and
# MAX_TARGET_CHARS characters of selectors are stored per result; what lies beyond is counted
# (`targets_cut` per violation, `evidence.targets` for the result), never dropped silently.
MAX_TARGETS_PER_RULE = 5000
MAX_TARGET_CHARS = 512 * 1024
MAX_LINKS = 3000


def axe_source_path() -> Path:
    import axe_selenium_python

    return Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


@functools.cache
def axe_source() -> str:
    return axe_source_path().read_text(encoding="utf-8")


@functools.cache
def _axe_init_script() -> str:
    return _INIT_SCRIPT % axe_source()


@functools.cache
def _axe_inject_script() -> str:
    return _INJECT % axe_source()


@functools.cache
def axe_version() -> str:
    match = re.search(r"axe v(\d+\.\d+\.\d+)", axe_source()[:500])
    return match.group(1) if match else "unknown"


# --------------------------------------------------------------------------- settings


class RuleExclusion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str = Field(..., pattern=r"^[a-z0-9-]+$", description="axe rule id, e.g. color-contrast")
    reason: str = Field(..., min_length=3, description="Why this rule is not checked here (shown in the report).")


class SitemapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(False, description="Add pages from the site's sitemap to the configured URLs.")
    url: str | None = Field(None, description="Sitemap URL; default: robots.txt Sitemap lines, else /sitemap.xml.")
    max_pages: int = Field(10, ge=1, le=1000, description="How many sitemap pages to add (a stable sample).")
    max_files: int = Field(20, ge=1, le=200, description="How many sitemap files (index entries) to read at most.")


class AccessibilitySettings(CheckSettings):
    """axe-core rules by tag, rule exclusions with reasons, sitemap sampling and the BITV markers."""

    interval: PositiveDuration = Field(86400.0, description="Time between two scans; default daily.")
    timeout: PositiveDuration = Field(30.0, description="Upper bound per page: load, axe in every frame, markers.")
    tags: list[str] = Field(list(WCAG21_AA), min_length=1,
                            description="axe tags to run (not cumulative): wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa, "
                                        "EN-301-549, best-practice, ...")
    exclude_rules: list[RuleExclusion] = Field(default_factory=list, description="Rules not checked, each with a reason.")
    axe_options: dict[str, Any] = Field(default_factory=dict,
                                        description="Further axe.run options as JSON (e.g. {\"rules\": {...}}).")
    fail_impact: Literal["critical", "serious", "moderate", "minor"] = Field(
        "serious", description="Violations of this impact or worse make the result noncompliant (down).")
    sitemap: SitemapSettings = Field(default_factory=SitemapSettings)
    max_pages: int = Field(20, ge=1, le=1000, description="Pages per run at most, configured URLs first.")
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="BITV markers to check.")  # type: ignore[valid-type]
    statement_max_age_days: int = Field(365, ge=1, description="How old the statement's date may be.")
    parallel_pages: int = Field(0, ge=0, le=64, description="Pages scanned at once; 0 = the browser pool's size.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Size cap for sitemap files.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for sitemap downloads.")

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", tag):
                raise ValueError(f"{tag!r} ist kein axe-Tag; z. B. wcag2aa, wcag21aa, EN-301-549, best-practice")
        return tags

    @field_validator("axe_options")
    @classmethod
    def _no_run_only(cls, options: dict[str, Any]) -> dict[str, Any]:
        if "runOnly" in options:
            raise ValueError("runOnly wird aus 'tags' gebildet; Regeln stattdessen über 'tags' oder 'exclude_rules' wählen")
        return options

    def worst_case_seconds(self) -> float:
        return self.timeout * (self.max_pages + 2)

    def run_options(self) -> dict[str, Any]:
        """The axe.run options object: tags, exclusions, and only violations in full."""
        options: dict[str, Any] = {"resultTypes": ["violations"], **self.axe_options}
        options["runOnly"] = {"type": "tag", "values": list(self.tags)}
        rules = dict(options.get("rules") or {})
        for ex in self.exclude_rules:
            rules[ex.rule] = {"enabled": False}
        if rules:
            options["rules"] = rules
        return options


# --------------------------------------------------------------------------- browser scripts

# Each script takes its inputs as WebDriver arguments (JSON), never by string pasting.
_INJECT = "if (typeof window.axe === 'undefined') { %s\n }; return window.axe ? window.axe.version : null;"
_INIT_SCRIPT = "(function () { if (typeof window.axe === 'undefined') { %s\n } })();"
_AXE_LOADED = "return window.axe && typeof window.axe.runPartial === 'function' ? window.axe.version : null;"
_FRAME_CONTEXTS = """
const ctx = arguments[0] || {exclude: []};
return window.axe.utils.getFrameContexts(ctx).map(fc => ({
  frameSelector: fc.frameSelector, frameContext: fc.frameContext,
  frame: window.axe.utils.shadowSelect(fc.frameSelector)}));
"""
_RUN_PARTIAL = """
const done = arguments[arguments.length - 1];
window.axe.runPartial(arguments[0] || document, arguments[1]).then(r => done(JSON.stringify(r)),
  e => done(JSON.stringify({__error: String(e && e.message || e)})));
"""
# The summary each side sends back: per rule its impact, element count and a few targets.
_SUMMARY = """
function summary(r, maxTargets) {
  return {violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            tags: v.tags, nodes: v.nodes.length, targets: v.nodes.slice(0, maxTargets).map(n => n.target)})),
          incomplete: r.incomplete.map(v => v.id), passes: r.passes.length, inapplicable: r.inapplicable.length};
}
"""
_FINISH = _SUMMARY + """
const done = arguments[arguments.length - 1];
const partials = JSON.parse(arguments[0]);
window.axe.finishRun(partials, arguments[1]).then(r => done(summary(r, arguments[2])),
  e => done({__error: String(e && e.message || e)}));
"""
# A page without frames: axe.run in the page gives what runPartial + finishRun would, with
# one round trip less and no partial results to ship.
_RUN_SINGLE = _SUMMARY + """
const done = arguments[arguments.length - 1];
window.axe.run(arguments[0] || document, arguments[1]).then(r => done(summary(r, arguments[2])),
  e => done({__error: String(e && e.message || e)}));
"""
_PAGE_FACTS = """
const max = arguments[0];
const clean = s => (s || '').replace(/\\s+/g, ' ').trim().slice(0, 200);
const links = [];
for (const a of document.querySelectorAll('a[href], area[href]')) {
  if (links.length >= max) break;
  const alts = Array.from(a.querySelectorAll('img[alt]')).map(i => i.alt).join(' ');
  links.push([clean(a.textContent), String(a.href).slice(0, 2048), clean(a.getAttribute('aria-label')),
              clean(a.getAttribute('title')), clean(alts)]);
}
// Whether axe is already loaded (by the session's init script) and the page has no frames,
// so the scan can go straight to axe.run without another round trip.
const axeReady = !!(window.axe && typeof window.axe.runPartial === 'function');
const noFrames = axeReady && window.axe.utils.getFrameContexts({exclude: []}).length === 0;
let status = 0;
try { const nav = performance.getEntriesByType('navigation')[0]; status = (nav && nav.responseStatus) || 0; } catch (e) {}
return {lang: document.documentElement.getAttribute('lang'), title: (document.title || '').slice(0, 300),
        status: status, links: links, url: String(location.href).slice(0, 2048), no_frames: noFrames};
"""
_ERROR_CODE = "const m = ((document.body && document.body.innerText) || '').match(/(?:net::)?ERR_[A-Z_]+/); return m && m[0];"
_PAGE_TEXT = "return ((document.body && document.body.innerText) || '').slice(0, arguments[0]);"


# --------------------------------------------------------------------------- one page


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    text: str
    href: str
    aria_label: str
    title: str
    alt: str

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.text, self.aria_label, self.title, self.alt) if p)

    def to_dict(self) -> dict[str, str]:
        return {"text": self.label[:200], "url": self.href}


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    impact: str
    nodes: int
    help: str
    help_url: str
    targets: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "impact": self.impact, "nodes": self.nodes, "help": self.help,
                "help_url": self.help_url, "targets": list(self.targets)}


@dataclasses.dataclass(frozen=True, slots=True)
class PageScan:
    """What one page gave: axe results, the page's links and language, or why it failed."""

    url: str
    final_url: str = ""
    status: int = 0
    title: str = ""
    lang: str | None = None
    load_complete: bool = True
    violations: tuple[Violation, ...] = ()
    incomplete: tuple[str, ...] = ()
    passes: int = 0
    frames: int = 0  # documents axe ran in, the top one included
    frames_failed: int = 0
    links: tuple[Link, ...] = ()
    error: str | None = None  # set when axe could not run on the page
    error_reason: str | None = None
    seconds: float = 0.0

    @property
    def scanned(self) -> bool:
        return self.error is None

    def penalty(self) -> int:
        return sum(IMPACT_WEIGHTS.get(v.impact, 0) for v in self.violations)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "final_url": self.final_url, "status": self.status,
                               "title": self.title, "lang": self.lang, "load_complete": self.load_complete,
                               "seconds": round(self.seconds, 3)}
        if self.error is not None:
            out.update(error=self.error, error_reason=self.error_reason)
        else:
            out.update(violations=[v.to_dict() for v in self.violations], incomplete=list(self.incomplete),
                       passes=self.passes, frames=self.frames, frames_failed=self.frames_failed)
        return out


def _stringify_target(target: Any) -> str:
    """axe's node target as one string: frame levels joined by ' >>> ', shadow roots by ' >> '.

    axe gives a list with one entry per frame level; an entry inside shadow DOM is itself a
    list of selectors, one per shadow root."""
    if isinstance(target, list):
        return " >>> ".join(" >> ".join(str(s) for s in t) if isinstance(t, list) else str(t)
                            for t in target)[:600]
    return str(target)[:600]


class _AxeRun:
    """axe in the current page and all its frames, then finishRun in the session's blank tab."""

    def __init__(self, session: browser_pool.BrowserSession, options: dict[str, Any]) -> None:
        self.driver = session.driver
        self.session = session
        self.options = options
        self.frames = 0
        self.frames_failed = 0

    def _inject(self) -> None:
        if self.driver.execute_script(_AXE_LOADED):
            return  # loaded by the session's init script
        version = self.driver.execute_script(_axe_inject_script())
        if not version:
            raise RuntimeError("axe-core ließ sich nicht laden (Content Security Policy oder Skriptfehler)")

    def _partials(self, context: Any, depth: int = 0) -> list[str | None]:
        self._inject()
        frame_contexts = self.driver.execute_script(_FRAME_CONTEXTS, context)  # must precede runPartial
        partials: list[str | None] = [self.driver.execute_async_script(_RUN_PARTIAL, context, self.options)]
        self.frames += 1
        for fc in frame_contexts or []:
            switched = False
            try:
                if fc.get("frame") is None or depth > 10:
                    raise RuntimeError("frame not found")
                self.driver.switch_to.frame(fc["frame"])
                switched = True
                partials.extend(self._partials(fc.get("frameContext"), depth + 1))
                self.driver.switch_to.parent_frame()
            except browser_pool.WebDriverException as exc:
                if "timeout" in str(exc).lower() or self.session.broken:
                    raise  # the session is in doubt: let the pool retire it
                if switched:
                    self.driver.switch_to.parent_frame()
                partials.append(None)  # as webdriverjs: an unreachable frame is reported, not fatal
                self.frames_failed += 1
            except RuntimeError:  # axe could not be loaded in the frame (its CSP, a script error)
                if switched:
                    self.driver.switch_to.parent_frame()
                partials.append(None)
                self.frames_failed += 1
        return partials

    def run(self, frames_known_empty: bool = False) -> dict[str, Any]:
        self.driver.switch_to.default_content()
        if not frames_known_empty:
            self._inject()
        if frames_known_empty or not self.driver.execute_script(_FRAME_CONTEXTS, None):
            self.frames = 1
            result = self.driver.execute_async_script(_RUN_SINGLE, None, self.options, MAX_TARGETS_PER_RULE)
            if not isinstance(result, dict) or "__error" in result:
                raise RuntimeError(f"axe.run: {(result or {}).get('__error', 'keine Antwort')}")
            return result
        partials = self._partials(None)
        page_handle = self.driver.current_window_handle
        blank = self.session.blank_tab()
        self.driver.switch_to.window(blank)
        try:
            if not self.session.axe_in_blank:
                self._inject()
                self.session.axe_in_blank = True
            payload = "[" + ",".join(p if isinstance(p, str) and not p.startswith('{"__error"') else "null"
                                     for p in partials) + "]"
            result = self.driver.execute_async_script(_FINISH, payload, self.options, MAX_TARGETS_PER_RULE)
        finally:
            self.driver.switch_to.window(page_handle)
        if not isinstance(result, dict) or "__error" in result:
            raise RuntimeError(f"axe finishRun: {(result or {}).get('__error', 'keine Antwort')}")
        return result


def scan_page(pool: browser_pool.BrowserPool, url: str, settings: AccessibilitySettings,
              wait: float | None = None) -> PageScan:
    """Load one page and run axe in all its frames. Never raises; failures are in the PageScan."""
    started = time.monotonic()
    attempts = 2  # one retry when the session died under us (crashed or killed chromedriver)
    last: PageScan | None = None
    for _ in range(attempts):
        last = _scan_once(pool, url, settings, wait)
        if last.error_reason != "browser_crashed":
            break
    assert last is not None
    return dataclasses.replace(last, seconds=time.monotonic() - started)


def _open(session: browser_pool.BrowserSession, url: str, settings: CheckSettings) -> tuple[PageScan, bool]:
    """Load `url` in the session: a PageScan with the page's facts (or why there is nothing to
    scan), and whether axe is loaded already in a page without frames."""
    session.set_timeouts(page_load=max(1.0, settings.timeout * 0.5), script=max(1.0, settings.timeout * 0.4))
    session.add_init_script("axe", _axe_init_script())  # saves shipping axe with every page
    driver = session.driver
    load_complete = True
    try:
        driver.get(url)
    except browser_pool.TimeoutException:
        load_complete = False  # scan what is there, as a person would see it
        driver.execute_script("window.stop();")
    facts = driver.execute_script(_PAGE_FACTS, MAX_LINKS) or {}
    final_url = str(facts.get("url") or driver.current_url)
    if final_url.startswith("chrome-error:"):  # Chromium's own error page: nothing to scan
        code = driver.execute_script(_ERROR_CODE) or "Netzwerkfehler"
        return PageScan(url=url, error=f"Seite nicht geladen: {code}", error_reason="load_failed"), False
    page = PageScan(url=url, final_url=final_url, status=int(facts.get("status") or 0),
                    title=str(facts.get("title") or ""), lang=facts.get("lang"), load_complete=load_complete,
                    links=tuple(Link(*[str(x or "") for x in row]) for row in facts.get("links") or []))
    if page.status >= 400:
        return dataclasses.replace(page, error=f"HTTP-Status {page.status}", error_reason="http_status"), False
    return page, bool(facts.get("no_frames"))


def _scan_once(pool: browser_pool.BrowserPool, url: str, settings: AccessibilitySettings,
               wait: float | None) -> PageScan:
    budget = settings.timeout
    try:
        with pool.session(deadline=budget, wait=wait, what=url) as session:
            base, no_frames = _open(session, url, settings)
            if base.error is not None:
                return base
            axe = _AxeRun(session, settings.run_options())
            raw = axe.run(frames_known_empty=no_frames)
    except RuntimeError as exc:
        return PageScan(url=url, error=str(exc)[:300], error_reason="axe_failed")
    except browser_pool.PAGE_ERRORS as exc:
        error, reason = browser_pool.page_failure(exc, budget)
        return PageScan(url=url, error=error, error_reason=reason, load_complete=reason != "timeout")
    violations = tuple(
        Violation(rule=str(v["id"]), impact=str(v.get("impact") or "minor"), nodes=int(v.get("nodes") or 0),
                  help=str(v.get("help") or "")[:300], help_url=str(v.get("helpUrl") or "")[:300],
                  targets=tuple(_stringify_target(t) for t in v.get("targets") or []))
        for v in raw.get("violations") or [])
    return dataclasses.replace(base, violations=violations, incomplete=tuple(str(i) for i in raw.get("incomplete") or []),
                               passes=int(raw.get("passes") or 0), frames=axe.frames, frames_failed=axe.frames_failed)


def fetch_text(pool: browser_pool.BrowserPool, url: str, settings: CheckSettings,
               wait: float | None = None) -> tuple[str | None, str | None, tuple[Link, ...]]:
    """(rendered text, None, links) of a page (the statement, a linked Impressum), or (None, error, ()).

    Only `settings.timeout` is used, so any check kind's settings will do."""
    try:
        with pool.session(deadline=settings.timeout, wait=wait, what=url) as session:
            page, _ = _open(session, url, settings)
            if page.error is not None:
                return None, page.error, ()
            return str(session.driver.execute_script(_PAGE_TEXT, 200_000) or ""), None, page.links
    except browser_pool.PAGE_ERRORS as exc:
        return None, browser_pool._short(exc), ()


# --------------------------------------------------------------------------- BITV markers


def _fold(text: str) -> str:
    """Lower case, umlauts spelled out, so 'Erklärung', 'Erklaerung' and 'ERKLÄRUNG' match alike."""
    text = unicodedata.normalize("NFC", text).lower()
    return text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")


_STATEMENT_TEXT = re.compile(r"erklaerung zur barrierefreiheit|barrierefreiheitserklaerung|"
                             r"erklaerung (?:der|über die|ueber die) barrierefreiheit|accessibility statement")
_STATEMENT_WEAK = re.compile(r"\bbarrierefreiheit\b|\bbarrierefrei\b")
_STATEMENT_URL = re.compile(r"barrierefreiheit|barrierefrei|accessibility")
_EASY_LANGUAGE = re.compile(r"leichte[\s_-]*sprache|leichtesprache")
_SIGN_LANGUAGE = re.compile(r"gebaerdensprache|gebardensprache|\bdgs\b|gebaerden")
_FEEDBACK = re.compile(r"feedback|barriere melden|barrieren melden|rueckmeldung|kontaktformular|kontakt|"
                       r"mailto:|[\w.+-]+@[\w-]+\.[\w.-]+")
_ARBITRATION = re.compile(r"schlichtungsstelle|schlichtungsverfahren|schlichtung")
_MONTHS = {"januar": 1, "jaenner": 1, "februar": 2, "maerz": 3, "april": 4, "mai": 5, "juni": 6, "juli": 7,
           "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12}
_DATE_PATTERNS = (
    (re.compile(r"\b(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})\b"), lambda m: date(int(m[3]), int(m[2]), int(m[1]))),
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), lambda m: date(int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"\b(\d{1,2})\.\s?(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"),
     lambda m: date(int(m[3]), _MONTHS[m[2]], int(m[1]))),
    (re.compile(r"\b(" + "|".join(_MONTHS) + r")\s+(\d{4})\b"), lambda m: date(int(m[2]), _MONTHS[m[1]], 1)),
)
_DATE_CONTEXT = re.compile(r"stand|erstellt|ueberprueft|aktualisiert|datum|zuletzt|letzte")


def statement_link(links: tuple[Link, ...]) -> Link | None:
    """The link to the accessibility statement: by its words first, then by a weaker word, then by URL."""
    for test in (lambda l: _STATEMENT_TEXT.search(_fold(l.label)),
                 lambda l: _STATEMENT_WEAK.search(_fold(l.label)) and "melden" not in _fold(l.label),
                 lambda l: _STATEMENT_URL.search(_fold(urlsplit(l.href).path))):
        for link in links:
            if link.href.startswith(("http://", "https://")) and test(link):
                return link
    return None


def first_statement_link(pages: list[PageScan]) -> Link | None:
    """The statement link of the first loaded page that has one."""
    return next((link for p in pages if p.final_url and (link := statement_link(p.links)) is not None), None)


def _find_link(links: tuple[Link, ...], pattern: re.Pattern[str]) -> Link | None:
    for link in links:
        if pattern.search(_fold(link.label)) or pattern.search(_fold(urlsplit(link.href).path)):
            return link
    return None


def statement_dates(text: str) -> list[tuple[date, bool]]:
    """Every date in the statement, with whether words like 'Stand' or 'erstellt' stand just before it."""
    folded = _fold(text)
    found = []
    for pattern, build in _DATE_PATTERNS:
        for m in pattern.finditer(folded):
            try:
                day = build(m)
            except (ValueError, KeyError):
                continue
            context = folded[max(0, m.start() - 60):m.start()]
            found.append((day, bool(_DATE_CONTEXT.search(context))))
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class Marker:
    state: Literal["pass", "fail", "unknown"]
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, **self.evidence}


def judge_markers(pages: list[PageScan], statement: tuple[str | None, str | None, tuple[Link, ...]] | None,
                  statement_url: str | None, wanted: list[str], today: date, max_age_days: int) -> dict[str, Marker]:
    """Judge each wanted BITV marker from the scanned pages and the statement's text."""
    out: dict[str, Marker] = {}
    start = pages[0] if pages else None
    loaded = [p for p in pages if p.final_url]  # pages whose DOM we saw (axe may still have failed)
    if "statement_linked" in wanted:
        if not loaded:
            out["statement_linked"] = Marker("unknown", {"detail": "keine Seite geladen"})
        else:
            missing = [p.url for p in loaded if statement_link(p.links) is None]
            link = first_statement_link(loaded)
            ev: dict[str, Any] = {"pages": len(loaded)}
            if link:
                ev["link"] = link.to_dict()
            if missing:
                ev["missing_on"] = missing[:20]
            out["statement_linked"] = Marker("fail" if missing else "pass", ev)
    text, error, st_links = statement or (None, None, ())
    for name, pattern in (("statement_feedback", _FEEDBACK), ("statement_arbitration", _ARBITRATION)):
        if name not in wanted:
            continue
        if statement_url is None:  # statement_linked fails for that; these cannot be judged without it
            out[name] = Marker("unknown", {"detail": "nicht bestimmbar: keine Erklärung zur Barrierefreiheit gefunden"})
        elif text is None:
            out[name] = Marker("unknown", {"statement": statement_url, "detail": f"Erklärung nicht lesbar: {error}"})
        else:
            haystack = _fold(text) + " " + " ".join(_fold(l.href) for l in st_links if l.href.startswith("mailto:"))
            m = pattern.search(haystack)
            ev = {"statement": statement_url}
            if m:
                ev["found"] = m.group(0)[:100]
            out[name] = Marker("pass" if m else "fail", ev)
    if "statement_current" in wanted:
        if statement_url is None:
            out["statement_current"] = Marker("unknown",
                                              {"detail": "nicht bestimmbar: keine Erklärung zur Barrierefreiheit gefunden"})
        elif text is None:
            out["statement_current"] = Marker("unknown", {"statement": statement_url, "detail": f"Erklärung nicht lesbar: {error}"})
        else:
            dates = [(d, ctx) for d, ctx in statement_dates(text) if d <= today]
            preferred = [d for d, ctx in dates if ctx] or [d for d, _ in dates]
            if not preferred:
                out["statement_current"] = Marker("unknown", {"statement": statement_url, "detail": "kein Datum gefunden"})
            else:
                newest = max(preferred)
                age = (today - newest).days
                out["statement_current"] = Marker("pass" if age <= max_age_days else "fail",
                                                  {"statement": statement_url, "date": newest.isoformat(), "age_days": age})
    for name, pattern in (("easy_language", _EASY_LANGUAGE), ("sign_language", _SIGN_LANGUAGE)):
        if name not in wanted:
            continue
        if start is None or not start.final_url:
            out[name] = Marker("unknown", {"detail": "Startseite nicht geladen"})
            continue
        link = _find_link(start.links, pattern)
        out[name] = Marker("pass" if link else "fail", {"link": link.to_dict()} if link else {"page": start.url})
    if "html_lang" in wanted:
        if start is None or not start.final_url:
            out["html_lang"] = Marker("unknown", {"detail": "Startseite nicht geladen"})
        else:
            langs = {p.url: p.lang for p in loaded}
            start_ok = bool(start.lang) and _fold(start.lang).split("-")[0] == "de"
            without = [u for u, lang in langs.items() if not (lang or "").strip()]
            ev = {"start_page_lang": start.lang}
            if without:
                ev["missing_on"] = without[:20]
            out["html_lang"] = Marker("pass" if start_ok and not without else "fail", ev)
    return out


# --------------------------------------------------------------------------- the check


def _stable_sample(urls: list[str], n: int, salt: str) -> list[str]:
    """n URLs chosen by hash, so the sample stays the same from run to run while the sitemap barely changes."""
    ranked = sorted(set(urls), key=lambda u: hashlib.sha256((salt + u).encode()).digest())
    return sorted(ranked[:n])


def pages_for(target: Target, settings: AccessibilitySettings) -> tuple[list[str], dict[str, Any]]:
    """Configured URLs first, then a sitemap sample, at most `max_pages`."""
    pages = list(dict.fromkeys(target.urls or (target.url,)))
    info: dict[str, Any] = {}
    if settings.sitemap.enabled and len(pages) < settings.max_pages:
        found = sitemap.discover(target.url, settings.sitemap.url, max_files=settings.sitemap.max_files,
                                 timeout=min(settings.timeout, 30.0), max_bytes=settings.max_body_bytes,
                                 ca_file=settings.ca_file)
        room = min(settings.sitemap.max_pages, settings.max_pages - len(pages))
        candidates = [u for u in found.urls if u not in pages]
        sample = _stable_sample(candidates, room, target.service_id)
        pages += sample
        info = {"files": list(found.files), "urls_found": len(found.urls), "sampled": sample,
                "errors": list(found.errors)}
    return pages[:settings.max_pages], info


_NET_ERRORS = ((re.compile(r"ERR_NAME_NOT_RESOLVED|ERR_NAME_RESOLUTION_FAILED"), Reason.DNS),
               (re.compile(r"ERR_CONNECTION_REFUSED"), Reason.CONNECT_REFUSED),
               (re.compile(r"ERR_CONNECTION_TIMED_OUT|ERR_TIMED_OUT"), Reason.CONNECT_TIMEOUT),
               (re.compile(r"ERR_CERT_DATE_INVALID"), Reason.TLS_EXPIRED),
               (re.compile(r"ERR_CERT_COMMON_NAME_INVALID"), Reason.TLS_HOSTNAME),
               (re.compile(r"ERR_CERT_"), Reason.TLS_INVALID_CERTIFICATE),
               (re.compile(r"ERR_SSL_|ERR_BAD_SSL"), Reason.TLS_ERROR),
               (re.compile(r"ERR_TOO_MANY_REDIRECTS"), Reason.TOO_MANY_REDIRECTS))


def _failure_reason(page: PageScan) -> Reason:
    """The fixed-set reason for a page that could not be scanned, from Chromium's net error where there is one."""
    if page.error_reason == "load_failed":
        for pattern, reason in _NET_ERRORS:
            if pattern.search(page.error or ""):
                return reason
        return Reason.CONNECT_ERROR
    return _REASONS.get(page.error_reason or "", Reason.INTERNAL_ERROR)


_REASONS = {"timeout": Reason.READ_TIMEOUT, "http_status": Reason.HTTP_STATUS,
            "browser_unavailable": Reason.INTERNAL_ERROR, "browser_crashed": Reason.INTERNAL_ERROR,
            "webdriver": Reason.INTERNAL_ERROR, "axe_failed": Reason.INTERNAL_ERROR}


def run(target: Target, settings: AccessibilitySettings, ctx: CheckContext) -> CheckResult:
    """Scan the service's pages with axe and judge the BITV markers."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls, sitemap_info = pages_for(target, settings)
    width = settings.parallel_pages or pool.size
    wait = settings.worst_case_seconds()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(width, len(urls))),
                                               thread_name_prefix="a11y-page") as ex:
        pages = list(ex.map(lambda u: scan_page(pool, u, settings, wait=wait), urls))

    statement_url = None
    statement = None
    wanted = list(settings.markers)
    if any(m.startswith("statement_") and m != "statement_linked" for m in wanted):
        link = first_statement_link(pages)
        if link is not None:
            statement_url = link.href
            statement = fetch_text(pool, statement_url, settings, wait=wait)
    markers = judge_markers(pages, statement, statement_url, wanted, ctx.date(),
                            settings.statement_max_age_days)
    return _result(target, settings, started, time.monotonic() - t0, pages, markers, statement_url, sitemap_info)


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
    measurements: dict[str, float] = {
        "pages_scanned": len(scanned), "pages_failed": len(failed), "rules_violated": len(rules),
        "incomplete": len({i for p in scanned for i in p.incomplete}),
        "pages_with_serious": sum(1 for p in scanned if any(v.impact in ("critical", "serious") for v in p.violations)),
    }
    for impact in IMPACTS:
        measurements[f"violations_{impact}"] = nodes.get(impact, 0)
        measurements[f"rules_{impact}"] = sum(1 for i in rules.values() if i == impact)
    if scanned:
        measurements["score"] = max(0.0, 100.0 - sum(p.penalty() for p in scanned) / len(scanned))
    for name, marker in markers.items():
        if marker.state != "unknown":
            measurements[f"marker_{name}"] = 1.0 if marker.state == "pass" else 0.0
    evidence: dict[str, Any] = {
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
        reason = _failure_reason(failed[0]) if failed else Reason.INTERNAL_ERROR
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
    return CheckResult(target.service_id, target.url, CheckKind.ACCESSIBILITY, state, reason, started, seconds,
                       measurements=measurements, evidence=evidence)


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


__all__ = ["AccessibilitySettings", "PageScan", "axe_version", "dedupe", "judge_markers", "run", "scan_page"]



CHECK = CheckImplementation(CheckKind.ACCESSIBILITY, AccessibilitySettings, run, pool="browser", scope="service")
