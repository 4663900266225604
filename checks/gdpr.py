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
import fnmatch
import functools
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from checks import browser as browser_pool
from checks import cookies as cookie_attempts
from checks import httpprobe
from checks.accessibility import _ERROR_CODE, _failure_reason, _fold, fetch_text
from checks.kind import CheckContext, CheckImplementation
from checks.result import CheckKind, CheckResult, Reason, State, Target
from checks.security.headers.hosts import registrable_domain
from checks.settings import CheckSettings, PositiveDuration

DEFAULT_TRACKERS = Path(__file__).resolve().parents[1] / "config" / "trackers.yaml"
CATEGORIES = ("analytics", "advertising", "social", "session_replay", "tag_manager", "video", "fonts", "consent", "other")
MARKERS = ("no_trackers", "no_third_party_cookies", "no_nonessential_cookies", "no_storage", "no_google_fonts",
           "youtube_nocookie", "processors_only", "impressum_link", "privacy_link", "current_legal_refs",
           "forms_https", "https_redirect")
MARKER_NAMES_DE = {
    "no_trackers": "Keine Tracker vor der Einwilligung",
    "no_third_party_cookies": "Keine Drittanbieter-Cookies vor der Einwilligung",
    "no_nonessential_cookies": "Nur technisch notwendige eigene Cookies",
    "no_storage": "Kein Local/Session Storage vor der Einwilligung (außer notwendigem)",
    "no_google_fonts": "Keine Google Fonts von Google-Servern",
    "youtube_nocookie": "YouTube nur über youtube-nocookie.com",
    "processors_only": "Nur Drittanbieter aus der Liste der Auftragsverarbeiter",
    "impressum_link": "Impressum von jeder Seite verlinkt",
    "privacy_link": "Datenschutzerklärung von jeder Seite verlinkt",
    "current_legal_refs": "Keine veralteten Rechtsgrundlagen (TMG, TTDSG)",
    "forms_https": "Formulare senden nur über HTTPS",
    "https_redirect": "HTTP leitet auf HTTPS um",
}
SEVERITY = {"no_trackers": "high", "no_third_party_cookies": "high", "no_nonessential_cookies": "medium",
            "no_storage": "low", "no_google_fonts": "high", "youtube_nocookie": "high", "processors_only": "medium",
            "impressum_link": "high", "privacy_link": "high", "current_legal_refs": "low", "forms_https": "high",
            "https_redirect": "medium"}
# Cookie and storage names that are strictly necessary (§25 (2) Nr. 2 TDDDG) on typical
# public-sector stacks: sessions, CSRF tokens, load-balancer stickiness, the consent state
# itself. Shell-style patterns, case-insensitive; operators add their own.
NECESSARY_NAMES = (
    "PHPSESSID", "JSESSIONID", "ASP.NET_SessionId", "ASPSESSIONID*", "SESSION", "SESS*", "session", "session_id",
    "sessionid", "sid", "*_session", "fe_typo_user", "be_typo_user", "XSRF-TOKEN", "csrftoken", "csrf_token",
    "_csrf", "__RequestVerificationToken*", "BIGipServer*", "TS01*", "AWSALB", "AWSALBCORS", "ROUTEID",
    "SERVERID", "__cf_bm", "cookieconsent_status", "CookieConsent", "cookie_consent*", "consent*", "borlabs-cookie",
    "klaro", "uc_settings", "uc_user_interaction", "OptanonConsent", "OptanonAlertBoxClosed", "cmplz_*",
    "cookiefirst-consent", "CookieScriptConsent", "_pk_testcookie*", "KEYCLOAK_*", "AUTH_SESSION_ID*", "lang",
    "language",
)
GOOGLE_FONTS_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com")
YOUTUBE_DOMAINS = ("youtube.com", "youtu.be", "ytimg.com", "googlevideo.com")
MAX_REQUESTS = 2000  # recorded per page; more are counted, not kept
MAX_LINKS = 3000
MAX_FRAMES = 20  # frames whose storage is read
MAX_TEXT = 300_000  # characters of page text searched for legal references
MAX_EVIDENCE = 25  # items kept per marker
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


# --------------------------------------------------------------------------- settings


class TrackerEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: str = Field(description="Host or domain; subdomains match too.")
    category: Literal[CATEGORIES] = Field(description=", ".join(CATEGORIES))  # type: ignore[valid-type]
    owner: str = Field("", max_length=200)

    @field_validator("domain")
    @classmethod
    def _hostname(cls, value: str) -> str:
        value = value.strip().lower().rstrip(".")
        if not _HOST.match(value):
            raise ValueError(f"{value!r} ist kein Hostname; nur den Host angeben, z. B. google-analytics.com (ohne Pfad)")
        return value


class TrackerFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = ""
    trackers: list[TrackerEntry] = Field(default_factory=list)


class ConsentCookie(BaseModel):
    """A cookie set before the second pass, as the site's consent banner would set it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    value: str = Field("", max_length=4000)
    domain: str | None = Field(None, description="Cookie domain; default: the page's host.")
    path: str = "/"


class GdprSettings(CheckSettings):
    """Pre-consent recording in a fresh browser, the legally required links, and HTTPS."""

    interval: PositiveDuration = Field(86400.0, description="Time between two scans; default daily.")
    timeout: PositiveDuration = Field(30.0, description="Upper bound per page: start a fresh browser, load, record.")
    settle: PositiveDuration = Field(
        1.5, description="After the load event, record until no new request came for this long ...")
    settle_max: PositiveDuration = Field(6.0, description="... but at most this long (pages that poll forever).")
    max_pages: int = Field(20, ge=1, le=500, description="Pages per run at most (the service's configured URLs).")
    markers: list[Literal[MARKERS]] = Field(list(MARKERS), description="Markers to judge.")  # type: ignore[valid-type]
    necessary_names: list[str] = Field(
        list(NECESSARY_NAMES), description="Strictly necessary cookie and storage names (shell patterns, case-insensitive).")
    extra_necessary_names: list[str] = Field(default_factory=list, description="Added to necessary_names.")
    first_party: list[str] = Field(
        default_factory=list, description="Further domains that count as first party (the operator's own).")
    processors: list[str] | None = Field(
        None, description="Allowed third-party domains (processors under Art. 28 DSGVO); unset = not judged.")
    trackers: list[TrackerEntry] = Field(default_factory=list, description="Tracker hosts added to the shipped list.")
    tracker_files: list[Path] = Field(
        default_factory=list, description="Further tracker lists (format of config/trackers.yaml), relative to config/.")
    shipped_trackers: bool = Field(True, description="Use config/trackers.yaml shipped with egov-monitor.")
    consent_cookies: list[ConsentCookie] = Field(
        default_factory=list, description="Set before a second pass that shows what changes after consent.")
    legal_pages: bool = Field(True, description="Read the linked Impressum and Datenschutzerklärung for TMG/TTDSG.")
    https_redirect_timeout: PositiveDuration = Field(10.0, description="Timeout of the HTTP-to-HTTPS probe.")
    parallel_pages: int = Field(0, ge=0, le=64, description="Pages recorded at once; 0 = the browser pool's size.")
    ca_file: Path | None = Field(None, description="Extra CA bundle for the HTTP-to-HTTPS probe.")

    @field_validator("first_party", "processors")
    @classmethod
    def _domains(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        out = []
        for value in values:
            value = value.strip().lower().rstrip(".")
            if not _HOST.match(value):
                raise ValueError(f"{value!r} ist kein Domainname; z. B. saarland.de oder *.cdn.example.org")
            out.append(value.removeprefix("*."))
        return out

    def worst_case_seconds(self) -> float:
        passes = 2 if self.consent_cookies else 1
        return self.timeout * (self.max_pages * passes + 4) + self.https_redirect_timeout

    def bind_paths(self, base: Path) -> GdprSettings:
        """Tracker files relative to config/, each loaded once now so a bad file is a config error."""
        files = [p if p.is_absolute() else (base / p) for p in self.tracker_files]
        for f in files:
            load_tracker_file(f)
        return self.model_copy(update={"tracker_files": files})

    @functools.cached_property
    def tracker_map(self) -> dict[str, TrackerEntry]:
        entries: dict[str, TrackerEntry] = {}
        files = ([DEFAULT_TRACKERS] if self.shipped_trackers else []) + list(self.tracker_files)
        for f in files:
            entries.update({e.domain: e for e in load_tracker_file(f)})
        entries.update({e.domain: e for e in self.trackers})
        return entries

    @functools.cached_property
    def necessary_patterns(self) -> re.Pattern[str]:
        names = [*self.necessary_names, *self.extra_necessary_names]
        names += [glob_escape(c.name) for c in self.consent_cookies]  # the consent state itself is necessary
        parts = [fnmatch.translate(p) for p in names]
        return re.compile("|".join(parts) if parts else r"(?!)", re.IGNORECASE)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class TrackerFileError(ValueError):
    """A tracker list that cannot be used: names the file, the line and the fix."""


@functools.lru_cache(maxsize=16)
def _load_tracker_file(path: str, mtime: float) -> tuple[TrackerEntry, ...]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TrackerFileError(f"{path}:{mark.line + 1 if mark else '?'}: kein gültiges YAML") from None
    try:
        return tuple(TrackerFile.model_validate(data).trackers)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = err["loc"]
        line = "?"
        if len(loc) >= 2 and loc[0] == "trackers" and isinstance(loc[1], int) and isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == "trackers" and isinstance(v, yaml.SequenceNode) and loc[1] < len(v.value):
                    line = v.value[loc[1]].start_mark.line + 1
        field = ".".join(str(p) for p in loc)
        raise TrackerFileError(f"{path}:{line}: Feld '{field}': {err['msg']}") from None


def load_tracker_file(path: Path) -> tuple[TrackerEntry, ...]:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise TrackerFileError(f"{path}: Tracker-Liste nicht gefunden; Pfad in tracker_files korrigieren "
                               "(relativ zu config/)") from None
    return _load_tracker_file(str(path), mtime)


# --------------------------------------------------------------------------- what one visit records


@dataclasses.dataclass(slots=True)
class Request:
    url: str
    host: str
    type: str
    frame_url: str = ""
    status: int = 0
    error: str = ""
    set_cookies: tuple[str, ...] = ()


class Recorder:
    """Folds the DevTools performance log of one visit into requests and cookie origins."""

    def __init__(self) -> None:
        self.requests: dict[str, Request] = {}  # by DevTools requestId (a redirect keeps the id: last hop wins)
        self.hops: list[Request] = []  # every hop, redirects included, in order
        self.dropped = 0
        # every Set-Cookie line seen: (requestId, URL when known at the time, line, Chromium's refusal reasons)
        self.header_cookies: list[tuple[str, str, str, list[str]]] = []
        self.cookies_dropped = 0

    def feed(self, entries: list[dict]) -> int:
        """Take new log entries; returns how many requests they started."""
        started = 0
        for entry in entries:
            raw = entry.get("message") or ""
            if '"Network.' not in raw:
                continue
            try:
                msg = json.loads(raw)["message"]
            except (ValueError, KeyError, TypeError):
                continue
            method, params = msg.get("method"), msg.get("params") or {}
            if method == "Network.requestWillBeSent":
                url = str((params.get("request") or {}).get("url") or "")
                if not url.startswith(("http:", "https:")):
                    continue
                started += 1
                redirect = params.get("redirectResponse")
                rid = str(params.get("requestId"))
                if redirect and rid in self.requests:
                    self.requests[rid].status = int(redirect.get("status") or 0)
                self._add(rid, Request(url=url[:2048], host=(urlsplit(url).hostname or "").lower(),
                                       type=str(params.get("type") or "Other"),
                                       frame_url=str(params.get("documentURL") or "")[:2048]))
            elif method == "Network.webSocketCreated":
                url = str(params.get("url") or "")
                started += 1
                self._add("ws:" + str(params.get("requestId")),
                          Request(url=url[:2048], host=(urlsplit(url).hostname or "").lower(), type="WebSocket"))
            elif method == "Network.responseReceived":
                req = self.requests.get(str(params.get("requestId")))
                if req is not None:
                    req.status = int((params.get("response") or {}).get("status") or 0)
            elif method == "Network.loadingFailed":
                req = self.requests.get(str(params.get("requestId")))
                if req is not None:
                    req.error = str(params.get("blockedReason") or params.get("errorText") or "")[:100]
            elif method == "Network.responseReceivedExtraInfo":
                headers = params.get("headers") or {}
                rid = str(params.get("requestId"))
                req = self.requests.get(rid)
                blocked = {str(b.get("cookieLine") or ""): [str(r) for r in b.get("blockedReasons") or []]
                           for b in params.get("blockedCookies") or [] if isinstance(b, dict)}
                lines = "\n".join(str(v) for k, v in headers.items() if k.lower() == "set-cookie").split("\n")
                lines += [line for line in blocked if line not in lines]
                for line in lines:
                    if not line.strip():
                        continue
                    if len(self.header_cookies) >= cookie_attempts.MAX_ATTEMPTS:
                        self.cookies_dropped += 1
                        continue
                    self.header_cookies.append((rid, req.url if req else "", line, blocked.get(line, [])))
        return started

    def _add(self, rid: str, req: Request) -> None:
        if len(self.hops) >= MAX_REQUESTS:
            self.dropped += 1
            return
        self.requests[rid] = req
        self.hops.append(req)


@dataclasses.dataclass(slots=True)
class PageCapture:
    """Everything one pre-consent visit saw, or why it saw nothing."""

    url: str
    final_url: str = ""
    status: int = 0
    title: str = ""
    load_complete: bool = True
    requests: list[Request] = dataclasses.field(default_factory=list)
    requests_dropped: int = 0
    # every cookie the page tried to set (headers and scripts), stored or refused, plus stored ones no attempt explains
    cookies: list[cookie_attempts.CookieAttempt] = dataclasses.field(default_factory=list)
    cookies_dropped: int = 0  # attempts beyond cookie_attempts.MAX_ATTEMPTS: counted, not kept
    cookies_raw: list[dict] = dataclasses.field(default_factory=list)  # the jar as DevTools gave it, until _finish
    script_cookies: list[dict] = dataclasses.field(default_factory=list)  # per frame: href, host, lines, until _finish
    cookies_complete: bool = True  # False when the remote end offered no DevTools (only the page's own cookies)
    storage: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {origin, kind, key}
    links: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (label, href)
    forms: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    text: str = ""
    error: str | None = None
    error_reason: str | None = None
    seconds: float = 0.0  # the visit itself, from the moment a browser was free
    queue_seconds: float = 0.0  # waiting for a free browser before that
    also: Any = None  # what the caller's `also` step returned (e.g. an axe run on the same visit)

    @property
    def scanned(self) -> bool:
        return self.error is None

    @property
    def site(self) -> str:
        host = (urlsplit(self.final_url or self.url).hostname or "").lower()
        return registrable_domain(host) or host


# Inputs travel as WebDriver arguments (JSON), never pasted into the source.
_FACTS = """
const maxLinks = arguments[0], maxText = arguments[1];
const clean = s => (s || '').replace(/\\s+/g, ' ').trim().slice(0, 200);
const links = [];
for (const a of document.querySelectorAll('a[href], area[href]')) {
  if (links.length >= maxLinks) break;
  const alts = Array.from(a.querySelectorAll('img[alt]')).map(i => i.alt).join(' ');
  const label = [a.textContent, a.getAttribute('aria-label'), a.getAttribute('title'), alts].map(clean).filter(x => x).join(' ');
  links.push([label.slice(0, 300), String(a.href).slice(0, 2048)]);
}
const abs = v => { try { return String(new URL(v || '', document.baseURI)); } catch (e) { return String(v || ''); } };
const forms = [];
for (const f of document.querySelectorAll('form')) {
  if (forms.length >= 200) break;
  const fields = f.querySelectorAll('input:not([type=hidden]):not([type=submit]):not([type=button]), textarea, select').length;
  forms.push({action: abs(f.getAttribute('action')).slice(0, 2048), method: (f.getAttribute('method') || 'get').toLowerCase().slice(0, 10),
              name: clean(f.getAttribute('id') || f.getAttribute('name') || f.getAttribute('aria-label')), fields: fields});
  for (const b of f.querySelectorAll('[formaction]')) {
    forms.push({action: abs(b.getAttribute('formaction')).slice(0, 2048), method: (b.getAttribute('formmethod') || f.getAttribute('method') || 'get').toLowerCase().slice(0, 10),
                name: clean(b.getAttribute('id') || b.getAttribute('name') || b.textContent), fields: fields});
  }
}
let text = '';
if (document.body) {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {acceptNode: n => {
    const p = n.parentElement && n.parentElement.closest('script,style,noscript,template');
    return p ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT; }});
  const parts = []; let size = 0;
  while (size < maxText && walker.nextNode()) { const t = walker.currentNode.nodeValue; parts.push(t); size += t.length; }
  text = parts.join(' ').replace(/\\s+/g, ' ').slice(0, maxText);
}
let status = 0;
try { const nav = performance.getEntriesByType('navigation')[0]; status = (nav && nav.responseStatus) || 0; } catch (e) {}
return {url: String(location.href).slice(0, 2048), title: (document.title || '').slice(0, 300), status: status,
        links: links, forms: forms, text: text};
"""
_STORAGE = """
const keys = kind => { try { const s = window[kind]; const out = [];
  for (let i = 0; i < s.length && i < 500; i++) out.push(String(s.key(i)).slice(0, 200)); return out; } catch (e) { return []; } };
return {origin: String(location.origin).slice(0, 300), local: keys('localStorage'), session: keys('sessionStorage')};
"""


def _record(session: browser_pool.BrowserSession, rec: Recorder, settle: float, settle_max: float,
            until: float) -> None:
    """Read the log until the network was quiet for `settle` seconds (or `settle_max` passed)."""
    now = time.monotonic()
    end = min(now + settle_max, until)
    quiet_since = now
    while True:
        if rec.feed(session.performance_log()):
            quiet_since = time.monotonic()
        now = time.monotonic()
        if now - quiet_since >= settle or now >= end:
            return
        time.sleep(min(0.15, max(0.0, end - now)))


def _set_consent_cookies(session: browser_pool.BrowserSession, url: str, cookies: list[ConsentCookie]) -> None:
    for c in cookies:
        params: dict[str, Any] = {"name": c.name, "value": c.value, "path": c.path, "url": url}
        if c.domain:
            params["domain"] = c.domain
        session.cdp("Network.setCookie", **params)


def _cookies(session: browser_pool.BrowserSession) -> tuple[list[dict], bool]:
    """Every cookie in the profile (third-party ones included), or the page's own when DevTools is not offered."""
    try:
        return list(session.cdp("Storage.getCookies").get("cookies") or []), True
    except browser_pool.WebDriverException:
        pass
    try:
        return list(session.cdp("Network.getAllCookies").get("cookies") or []), True
    except browser_pool.WebDriverException:
        return [{"name": c.get("name"), "domain": c.get("domain"), "path": c.get("path", "/"),
                 "expires": c.get("expiry", -1), "secure": c.get("secure", False), "httpOnly": c.get("httpOnly", False),
                 "sameSite": c.get("sameSite", "")} for c in session.driver.get_cookies()], False


def _frames(session: browser_pool.BrowserSession, recorder: str
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Storage keys and recorded `document.cookie` assignments of the top document and of its
    frames (one level; frames that refuse are skipped), in one script call per frame."""
    driver = session.driver
    script = ("const storage = (function() {" + _STORAGE + "})();"
              "const cookies = (function() {" + cookie_attempts.read_script(recorder) + "})();"
              "return {storage: storage, cookies: cookies};")
    found = [driver.execute_script(script) or {}]
    frames = driver.find_elements("css selector", "iframe, frame")[:MAX_FRAMES]
    for frame in frames:
        try:
            driver.switch_to.frame(frame)
            found.append(driver.execute_script(script) or {})
        except browser_pool.WebDriverException:
            pass
        finally:
            driver.switch_to.default_content()
    out, seen = [], set()
    scripts: list[dict[str, Any]] = []
    for item in found:
        f = item.get("storage") or {}
        origin = str(f.get("origin") or "")
        for kind in ("local", "session"):
            for key in f.get(kind) or ():
                if (origin, kind, key) not in seen:
                    seen.add((origin, kind, key))
                    out.append({"origin": origin, "kind": kind, "key": str(key)})
        c = item.get("cookies") or {}
        if c.get("lines") or c.get("dropped"):
            scripts.append({"href": str(c.get("href") or ""), "host": str(c.get("host") or "").lower(),
                            "lines": [str(x) for x in c.get("lines") or []][:cookie_attempts.MAX_ATTEMPTS],
                            "dropped": int(c.get("dropped") or 0)})
    return out, scripts


def capture_page(pool: browser_pool.BrowserPool, url: str, settings: GdprSettings, wait: float | None = None,
                 consent: bool = False, also: Callable[[browser_pool.BrowserSession], Any] | None = None) -> PageCapture:
    """One visit in a fresh browser. Never raises; failures are in the PageCapture.

    `also` runs in the same session once everything is recorded (one visit serving two checks)."""
    started = time.monotonic()
    last = None
    for _ in range(2):  # one retry when the browser died under us
        last = _capture_once(pool, url, settings, wait, consent, also)
        if last.error_reason != "browser_crashed":
            break
    assert last is not None
    total = time.monotonic() - started
    last.queue_seconds = min(last.queue_seconds, total)
    last.seconds = total - last.queue_seconds
    return last


def _capture_once(pool: browser_pool.BrowserPool, url: str, settings: GdprSettings, wait: float | None,
                  consent: bool, also: Callable[[browser_pool.BrowserSession], Any] | None = None) -> PageCapture:
    budget = settings.timeout
    rec = Recorder()
    page = PageCapture(url=url)
    asked = time.monotonic()
    page.queue_seconds = budget + (wait or budget)  # no browser at all: all of it was waiting
    try:
        with pool.session(deadline=budget, wait=wait, what=url, fresh=True) as session:
            t0 = time.monotonic()
            page.queue_seconds = t0 - asked
            until = t0 + budget * 0.75  # leave time to read cookies and storage
            session.set_timeouts(page_load=max(1.0, budget * 0.5), script=max(1.0, budget * 0.2))
            session.performance_log()  # drop what the browser logged while starting (its own blank tab)
            source, recorder = cookie_attempts.recorder_script()
            session.add_init_script("cookie-recorder", source)  # before the page: document.cookie in every frame
            if consent and settings.consent_cookies:
                _set_consent_cookies(session, url, settings.consent_cookies)
            driver = session.driver
            try:
                driver.get(url)
            except browser_pool.TimeoutException:
                page.load_complete = False  # record what there is, as a visitor would have sent it
                rec.feed(session.performance_log())
                driver.execute_script("window.stop();")
            _record(session, rec, settings.settle, settings.settle_max, until)
            facts = driver.execute_script(_FACTS, MAX_LINKS, MAX_TEXT) or {}
            page.final_url = str(facts.get("url") or driver.current_url)
            if page.final_url.startswith("chrome-error:"):
                code = driver.execute_script(_ERROR_CODE) or "Netzwerkfehler"
                page.error, page.error_reason = f"Seite nicht geladen: {code}", "load_failed"
                return _finish(page, rec)
            page.status = int(facts.get("status") or 0)
            page.title = str(facts.get("title") or "")
            page.links = [(str(label), str(href)) for label, href in facts.get("links") or []]
            page.forms = list(facts.get("forms") or [])
            page.text = str(facts.get("text") or "")
            page.storage, page.script_cookies = _frames(session, recorder)
            page.cookies_raw, page.cookies_complete = _cookies(session)
            rec.feed(session.performance_log())
            if page.status >= 400:
                page.error, page.error_reason = f"HTTP-Status {page.status}", "http_status"
            elif also is not None:
                page.also = also(session)
    except browser_pool.PAGE_ERRORS as exc:
        page.error, page.error_reason = browser_pool.page_failure(exc, budget, "aufgezeichnet")
        page.load_complete = page.load_complete and page.error_reason != "timeout"
    return _finish(page, rec)


def _finish(page: PageCapture, rec: Recorder) -> PageCapture:
    page.requests = rec.hops
    page.requests_dropped = rec.dropped
    raw, page.cookies_raw = page.cookies_raw, []
    scripts, page.script_cookies = page.script_cookies, []
    jar = {(str(c.get("name") or ""), str(c.get("domain") or "").lower()): c for c in raw}
    site = page.site
    merged: dict[tuple[str, str, str], cookie_attempts.CookieAttempt] = {}

    def keep(a: cookie_attempts.CookieAttempt) -> None:
        old = merged.get(a.key)
        if old is None or (a.stored and not old.stored):  # refused once, stored later: it is on the device
            merged[a.key] = a

    for rid, url, line, reasons in rec.header_cookies:
        url = url or (rec.requests[rid].url if rid in rec.requests else "")
        a = cookie_attempts.parse(line, (urlsplit(url).hostname or "").lower(), "header", url)
        if a is None:
            continue
        a.domain = _jar_domain(line, a.domain)
        a.stored = not reasons
        a.refused = cookie_attempts.refusals_de(reasons)
        keep(a)
    for frame in scripts:
        third_context = party(frame["host"], site, None) == "third"
        for line in frame["lines"]:
            a = cookie_attempts.parse(line, frame["host"], "script", "")
            if a is None:
                continue
            a.domain = _jar_domain(line, a.domain)
            a.set_by = "Skript" if not frame["href"] else f"Skript in {frame['href']}"
            a.stored = (a.name, a.domain) in jar
            if not a.stored:
                a.refused, a.reason_inferred = [cookie_attempts.infer_refusal(a, third_context)], True
            keep(a)
        page.cookies_dropped += frame["dropped"]
    page.cookies_dropped += rec.cookies_dropped
    seen = {(a.name, a.domain) for a in merged.values()}
    for (name, domain), c in jar.items():
        if (name, domain) not in seen:  # stored without an attempt we saw (e.g. set over DevTools, a service worker)
            merged[(name, domain, str(c.get("path") or "/"))] = cookie_attempts.CookieAttempt(
                name=name, domain=domain, path=str(c.get("path") or "/"), expires=float(c.get("expires") or -1),
                same_site=str(c.get("sameSite") or ""), secure=bool(c.get("secure")),
                http_only=bool(c.get("httpOnly")), source="jar", set_by="")
    page.cookies = list(merged.values())
    return page


def _jar_domain(line: str, domain: str) -> str:
    """The domain as Chromium's jar writes it: with a leading dot for a Domain attribute."""
    has_domain = any(p.strip().lower().startswith("domain=") and p.split("=", 1)[1].strip()
                     for p in line.split(";")[1:])
    return "." + domain if has_domain and not domain.startswith(".") else domain

# --------------------------------------------------------------------------- classification


def _matches(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def party(host: str, site: str, settings: GdprSettings | None) -> str:
    """'first' when `host` shares the page's registrable domain (or is an operator's own), else 'third'."""
    host = host.lower().strip(".")
    reg = registrable_domain(host) or host
    if reg == site or host == site or (settings is not None and _matches(host, settings.first_party)):
        return "first"
    return "third"


def tracker_for(host: str, trackers: dict[str, TrackerEntry]) -> TrackerEntry | None:
    labels = host.lower().strip(".").split(".")
    for i in range(len(labels) - 1):
        entry = trackers.get(".".join(labels[i:]))
        if entry is not None:
            return entry
    return None


@dataclasses.dataclass(slots=True)
class Summary:
    """One pass over the service's pages, folded: hosts, cookies and storage, each once."""

    hosts: dict[str, dict[str, Any]]
    cookies: dict[tuple[str, str, str], dict[str, Any]]
    storage: dict[tuple[str, str, str], dict[str, Any]]
    requests: int

    def third_party_hosts(self) -> list[dict[str, Any]]:
        return [h for h in self.hosts.values() if h["party"] == "third"]

    def trackers(self) -> list[dict[str, Any]]:
        return [h for h in self.hosts.values() if h.get("category") and h["party"] == "third"]

    def cookies_of(self, party_: str, necessary: bool | None = None) -> list[dict[str, Any]]:
        return [c for c in self.cookies.values()
                if c["party"] == party_ and (necessary is None or c["necessary"] == necessary)]

    def nonessential_storage(self) -> list[dict[str, Any]]:
        return [s for s in self.storage.values() if not s["necessary"]]

    def counts(self) -> dict[str, int]:
        return {"requests": self.requests, "third_party_hosts": len(self.third_party_hosts()),
                "trackers": len(self.trackers()), "third_party_cookies": len(self.cookies_of("third")),
                "first_party_cookies": len(self.cookies_of("first")),
                "nonessential_cookies": len(self.cookies_of("first", necessary=False)),
                "cookies_refused": sum(1 for c in self.cookies.values() if not c["stored"]),
                "storage_keys": len(self.nonessential_storage())}

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts(), "hosts": sorted(self.hosts.values(), key=lambda h: (h["party"], h["host"])),
                "cookies": list(self.cookies.values()), "storage": list(self.storage.values())}


def summarize(pages: list[PageCapture], settings: GdprSettings) -> Summary:
    trackers = settings.tracker_map
    necessary = settings.necessary_patterns
    hosts: dict[str, dict[str, Any]] = {}
    cookies: dict[tuple[str, str, str], dict[str, Any]] = {}
    storage: dict[tuple[str, str, str], dict[str, Any]] = {}
    total = 0
    for page in pages:
        if page.final_url.startswith("chrome-error:") or (page.error and not page.final_url):
            continue  # nothing was loaded: nothing to judge
        site = page.site
        for req in page.requests:
            total += 1
            h = hosts.get(req.host)
            if h is None:
                entry = tracker_for(req.host, trackers)
                h = hosts[req.host] = {"host": req.host, "party": party(req.host, site, settings), "requests": 0,
                                       "example": req.url, "page": page.url, "types": []}
                if entry is not None:
                    h.update(category=entry.category, owner=entry.owner, listed_as=entry.domain)
            h["requests"] += 1
            if req.type not in h["types"] and len(h["types"]) < 8:
                h["types"].append(req.type)
        for c in page.cookies:
            row = {**cookie_attempts.to_dict(c), "party": party(c.domain, site, settings),
                   "necessary": bool(necessary.fullmatch(c.name)), "page": page.url}
            old = cookies.get(c.key)
            if old is None or (row["stored"] and not old["stored"]):
                cookies[c.key] = row
        for s in page.storage:
            key = (s["origin"], s["kind"], s["key"])
            if key not in storage:
                storage[key] = {**s, "necessary": bool(necessary.fullmatch(s["key"])), "page": page.url,
                                "party": party(urlsplit(s["origin"]).hostname or "", site, settings)}
    return Summary(hosts, cookies, storage, total)


# --------------------------------------------------------------------------- markers

_IMPRESSUM = re.compile(r"impressum|imprint|anbieterkennzeichnung|legal notice")
_PRIVACY_TEXT = re.compile(r"\bdatenschutz(erklaerung|hinweise?|information(en)?|bestimmungen|richtlinie|"
                           r"info)?\b|\bdsgvo\b|\bprivacy\b|\bdatenschutzerklaerung")
_PRIVACY_URL = re.compile(r"datenschutz(?!einstellung)|privacy|dsgvo")
_OUTDATED = re.compile(r"\b(TMG|TTDSG)\b|Telemediengesetz(es)?|Telekommunikation-Telemedien-Datenschutz-Gesetz(es)?")
_NOT_A_PAGE = ("mailto:", "tel:", "javascript:", "data:")


@dataclasses.dataclass(slots=True)
class Marker:
    state: Literal["pass", "fail", "unknown"]
    detail: str = ""
    evidence: list[Any] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail, "evidence": self.evidence[:MAX_EVIDENCE],
                "evidence_total": len(self.evidence)}


def legal_link(links: list[tuple[str, str]], kind: Literal["impressum", "privacy"]) -> tuple[str, str] | None:
    """The first link whose text or URL names the Impressum (or the Datenschutzerklärung)."""
    text_re, url_re = (_IMPRESSUM, _IMPRESSUM) if kind == "impressum" else (_PRIVACY_TEXT, _PRIVACY_URL)
    by_url = None
    for label, href in links:
        if href.lower().startswith(_NOT_A_PAGE):
            continue
        if text_re.search(_fold(label)):
            return label, href
        if by_url is None and url_re.search(_fold(urlsplit(href).path + "?" + urlsplit(href).query)):
            by_url = (label, href)
    return by_url


def outdated_references(text: str, url: str) -> list[dict[str, str]]:
    out = []
    for m in _OUTDATED.finditer(text):
        start, end = max(0, m.start() - 60), min(len(text), m.end() + 60)
        out.append({"url": url, "reference": m.group(0), "context": text[start:end].strip()})
        if len(out) >= 5:
            break
    return out


def _items(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: r.get(k) for k in keys if r.get(k) not in (None, "", [])} for r in rows]


def judge(pages: list[PageCapture], summary: Summary, settings: GdprSettings,
          legal_texts: dict[str, tuple[str | None, str | None]], redirect: Marker | None) -> dict[str, Marker]:
    """Every wanted marker: pass, fail, or unknown (with why), each with its evidence."""
    scanned = [p for p in pages if p.scanned]
    out: dict[str, Marker] = {}
    if not scanned:
        return {m: Marker("unknown", "keine Seite aufgezeichnet") for m in settings.markers}

    def fail_if(rows: list[Any], what: str) -> Marker:
        return Marker("fail", f"{len(rows)} {what}", rows) if rows else Marker("pass")

    trackers = summary.trackers()
    out["no_trackers"] = fail_if(_items(trackers, "host", "category", "owner", "requests", "example", "page"),
                                 "Tracker-Hosts vor der Einwilligung kontaktiert")
    cookie_keys = ("name", "domain", "path", "expires", "same_site", "secure", "http_only", "source", "set_by",
                   "stored", "refused", "reason_inferred", "page")

    def cookie_marker(rows: list[dict[str, Any]], what: str) -> Marker:
        # attempts count, stored or not (§ 25 TDDDG: the attempt to store); the evidence says which were refused
        refused = sum(1 for r in rows if not r["stored"])
        marker = fail_if(_items(rows, *cookie_keys), what)
        if refused:
            marker.detail += f" (davon {refused} vom Browser abgelehnt, von anderen Browsern womöglich gespeichert)"
        return marker

    out["no_third_party_cookies"] = cookie_marker(summary.cookies_of("third"),
                                                  "Drittanbieter-Cookies vor der Einwilligung gesetzt oder versucht")
    out["no_nonessential_cookies"] = cookie_marker(summary.cookies_of("first", necessary=False),
                                                   "nicht notwendige eigene Cookies vor der Einwilligung")
    out["no_storage"] = fail_if(_items(summary.nonessential_storage(), "origin", "kind", "key", "page"),
                                "Einträge in Local/Session Storage vor der Einwilligung")
    fonts = [h for h in summary.hosts.values() if h["host"] in GOOGLE_FONTS_HOSTS]
    out["no_google_fonts"] = fail_if(_items(fonts, "host", "requests", "example", "page"),
                                     "Google-Fonts-Hosts kontaktiert (IP-Adresse geht an Google)")
    youtube = [h for h in summary.hosts.values() if _matches(h["host"], ("youtube.com", "youtu.be"))]
    out["youtube_nocookie"] = fail_if(_items(youtube, "host", "requests", "example", "page"),
                                      "YouTube-Hosts statt youtube-nocookie.com kontaktiert")
    if settings.processors is None:
        # No list yet: the page's own site and the operator's domains (first_party) are allowed, every other
        # host is named for review, so the marker says something useful from the first run on.
        third = summary.third_party_hosts()
        out["processors_only"] = (
            Marker("fail", f"{len(third)} Drittanbieter-Hosts zu prüfen (keine Liste der Auftragsverarbeiter "
                           "konfiguriert: processors)", _items(third, "host", "requests", "category", "example", "page"))
            if third else Marker("pass", "nur eigene Hosts kontaktiert"))
    else:
        outside = [h for h in summary.third_party_hosts() if not _matches(h["host"], settings.processors)]
        out["processors_only"] = fail_if(_items(outside, "host", "requests", "category", "example", "page"),
                                         "Drittanbieter-Hosts außerhalb der Auftragsverarbeiter-Liste")
    for name, kind in (("impressum_link", "impressum"), ("privacy_link", "privacy")):
        found, missing = [], []
        for p in scanned:
            link = legal_link(p.links, kind)  # type: ignore[arg-type]
            if link is None:
                missing.append({"page": p.url, "found": False})
            else:
                found.append({"page": p.url, "found": True, "text": link[0][:200], "url": link[1]})
        what = "Impressum" if kind == "impressum" else "Datenschutzerklärung"
        out[name] = (Marker("fail", f"{len(missing)} Seiten ohne Link zu {what}", missing + found) if missing
                     else Marker("pass", "", found))
    refs: list[dict[str, str]] = []
    unreadable = []
    for p in scanned:
        refs += outdated_references(p.text, p.url)
    for url, (text, error) in legal_texts.items():
        if text is None:
            unreadable.append({"url": url, "error": error})
        else:
            refs += outdated_references(text, url)
    out["current_legal_refs"] = (Marker("fail", f"{len(refs)} veraltete Verweise (TMG/TTDSG)", refs) if refs
                                 else Marker("pass", "Rechtstexte nicht lesbar: " + ", ".join(u["url"] for u in unreadable)
                                             if unreadable else "", unreadable))
    http_forms = [{**f, "page": p.url} for p in scanned for f in p.forms
                  if urlsplit(str(f.get("action") or "")).scheme == "http"]
    out["forms_https"] = fail_if(http_forms, "Formulare senden über HTTP")
    out["https_redirect"] = redirect or Marker("unknown", "nicht geprüft")
    return {m: out[m] for m in settings.markers}


def _http_variant(url: str) -> str:
    """The http:// URL of an https:// page: port 80, unless the page names its own port (then the same one)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(("http", netloc, parts.path or "/", parts.query, ""))


def check_https_redirect(urls: list[str], settings: GdprSettings,
                         host_rules: tuple[tuple[str, str], ...] = ()) -> Marker:
    """Does plain HTTP redirect to HTTPS? One probe per origin; refusing HTTP altogether passes.

    `host_rules`: the browser's --host-resolver-rules, so the probe reaches the servers the
    browser reached (an estate mapped by the operator is judged, not "unknown")."""
    evidence, states = [], []
    seen: set[tuple[str, int | None]] = set()
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "http":
            http_url = url
        else:
            http_url = _http_variant(url)
        key = (parts.hostname or "", parts.port)
        if key in seen:
            continue
        seen.add(key)
        outcome = httpprobe.fetch(http_url, httpprobe.FetchOptions(
            timeout=settings.https_redirect_timeout, max_redirects=10, max_body_bytes=1024 * 1024, truncate_body=True,
            ca_file=str(settings.ca_file) if settings.ca_file else None, host_rules=host_rules))
        first = outcome.hops[0] if outcome.hops else None
        location = {k.lower(): v for k, v in first.headers}.get("location", "") if first else ""
        row = {"http_url": http_url, "status": first.status if first else 0, "location": location[:2048]}
        if first is not None and first.status in httpprobe.REDIRECT_CODES:
            # The first hop decides: a later TLS problem is the security check's business, not a leak here.
            # A chain that reaches HTTPS only after more plain-HTTP hops passes too.
            target = urljoin(http_url, location.strip())
            ok = urlsplit(target).scheme == "https" or outcome.final_url.startswith("https:")
            row["final_url"] = outcome.final_url[:2048]
            states.append("pass" if ok else "fail")
            if not ok:
                row["detail"] = "Umleitung bleibt bei HTTP"
        elif first is not None:
            states.append("fail")
            row["detail"] = "keine Umleitung auf HTTPS"
        elif outcome.error is not None and outcome.error.reason is Reason.CONNECT_REFUSED and parts.scheme == "https":
            states.append("pass")
            row["detail"] = "HTTP wird nicht angeboten (Verbindung abgelehnt)"
        else:
            states.append("unknown")
            row["detail"] = f"nicht prüfbar: {outcome.error.detail if outcome.error else 'keine Antwort'}"[:300]
        evidence.append(row)
    if "fail" in states:
        return Marker("fail", "HTTP-Aufruf ohne Umleitung auf HTTPS", evidence)
    if "unknown" in states:
        return Marker("unknown", "HTTP-Umleitung nicht prüfbar", evidence)
    return Marker("pass", "", evidence)


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


def _pass(pool: browser_pool.BrowserPool, urls: list[str], settings: GdprSettings, consent: bool) -> list[PageCapture]:
    width = max(1, min(settings.parallel_pages or pool.size, len(urls)))
    wait = settings.worst_case_seconds()
    with concurrent.futures.ThreadPoolExecutor(max_workers=width, thread_name_prefix="gdpr-page") as ex:
        return list(ex.map(lambda u: capture_page(pool, u, settings, wait=wait, consent=consent), urls))


def run(target: Target, settings: GdprSettings, ctx: CheckContext) -> CheckResult:
    """Record the service's pages before consent (and after, if configured) and judge the markers."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    pool = ctx.pool()
    urls = list(dict.fromkeys(target.urls or (target.url,)))[:settings.max_pages]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gdpr-redirect") as side:
        rules = httpprobe.host_rules_from_arguments(pool.settings.arguments)
        redirect = (side.submit(check_https_redirect, urls, settings, rules)
                    if "https_redirect" in settings.markers else None)
        before = _pass(pool, urls, settings, consent=False)
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
    return _result(target, settings, started, time.monotonic() - t0, before, summary, markers, legal, consent_part)


def _result(target: Target, settings: GdprSettings, started: datetime, seconds: float, pages: list[PageCapture],
            summary: Summary, markers: dict[str, Marker], legal: dict[str, tuple[str | None, str | None]],
            consent_part: dict[str, Any] | None) -> CheckResult:
    scanned = [p for p in pages if p.scanned]
    failed = [p for p in pages if not p.scanned]
    measurements: dict[str, float] = {"pages_scanned": len(scanned), "pages_failed": len(failed)}
    if scanned:
        measurements.update({k: float(v) for k, v in summary.counts().items()})
    if consent_part is not None and scanned:
        measurements.update({f"after_{k}": float(v) for k, v in consent_part["summary"]["counts"].items()})
    for name, marker in markers.items():
        if marker.state != "unknown":
            measurements[f"marker_{name}"] = 1.0 if marker.state == "pass" else 0.0
    findings = [{"marker": name, "severity": SEVERITY[name], "message": MARKER_NAMES_DE[name] + ": nicht erfüllt",
                 "detail": m.detail, "evidence": m.evidence[:MAX_EVIDENCE]}
                for name, m in markers.items() if m.state == "fail"]
    order = {"high": 0, "medium": 1, "low": 2}
    findings.sort(key=lambda f: order[f["severity"]])
    evidence: dict[str, Any] = {
        "pages": [_page_dict(p, settings) for p in pages], "summary": summary.to_dict(),
        "markers": {k: m.to_dict() for k, m in markers.items()}, "findings": findings,
        "legal_pages": [{"url": u, **({"error": e} if t is None else {"chars": len(t)})} for u, (t, e) in legal.items()],
    }
    if consent_part is not None:
        evidence["after_consent"] = consent_part
    if not scanned:
        state = State.UNKNOWN
        reason = _failure_reason(failed[0]) if failed else Reason.INTERNAL_ERROR
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
    return CheckResult(target.service_id, target.url, CheckKind.GDPR, state, reason, started, seconds,
                       measurements=measurements, evidence=evidence)


__all__ = ["MARKERS", "GdprSettings", "PageCapture", "capture_page", "judge", "legal_link", "run", "summarize"]


CHECK = CheckImplementation(CheckKind.GDPR, GdprSettings, run, pool="browser", scope="service")
