"""What one visit records: requests, cookies (stored and attempted), storage, frames, forms, text."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from checks import browser as browser_pool
from checks.gdpr import cookies as cookie_attempts
from checks.gdpr.party import first_party_cookie_names, party
from checks.gdpr.settings import MAX_FRAMES, MAX_LINKS, MAX_REQUESTS, MAX_TEXT, ConsentCookie, GdprSettings
from checks.hosts import registrable_domain
from checks.page import ERROR_CODE

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
        self.hops: list[Request] = []  # every hop, redirects included, in order
        # by DevTools requestId (a redirect keeps the id): its hops in order, the last one current
        self.chains: dict[str, list[Request]] = {}
        self.dropped = 0
        self._extra_seen: dict[str, int] = {}  # by requestId: how many responseReceivedExtraInfo so far
        # every Set-Cookie line seen: (requestId, which response of that request (0 = its first hop), the
        # response's status when DevTools gave it, line, Chromium's refusal reasons). The URL is resolved when
        # asked: the extra-info event of a redirect comes before or after the next hop's requestWillBeSent.
        self._header_lines: list[tuple[str, int, int, str, list[str]]] = []
        self.cookies_dropped = 0

    def feed(self, entries: list[dict]) -> int:
        """Take new log entries; returns how many requests they started."""
        started = 0
        for method, params in browser_pool.network_events(entries):
            if method == "Network.requestWillBeSent":
                url = str((params.get("request") or {}).get("url") or "")
                if not url.startswith(("http:", "https:")):
                    continue
                started += 1
                redirect = params.get("redirectResponse")
                rid = str(params.get("requestId"))
                if redirect and (hop := self._current(rid)) is not None:
                    hop.status = int(redirect.get("status") or 0)
                self._add(rid, Request(url=url[:2048], host=(urlsplit(url).hostname or "").lower(),
                                       type=str(params.get("type") or "Other"),
                                       frame_url=str(params.get("documentURL") or "")[:2048]))
            elif method == "Network.webSocketCreated":
                url = str(params.get("url") or "")
                started += 1
                self._add("ws:" + str(params.get("requestId")),
                          Request(url=url[:2048], host=(urlsplit(url).hostname or "").lower(), type="WebSocket"))
            elif method == "Network.responseReceived":
                req = self._current(str(params.get("requestId")))
                if req is not None:
                    req.status = int((params.get("response") or {}).get("status") or 0)
            elif method == "Network.loadingFailed":
                req = self._current(str(params.get("requestId")))
                if req is not None:
                    req.error = str(params.get("blockedReason") or params.get("errorText") or "")[:100]
            elif method == "Network.responseReceivedExtraInfo":
                headers = params.get("headers") or {}
                rid = str(params.get("requestId"))
                ordinal = self._extra_seen.get(rid, 0)
                self._extra_seen[rid] = ordinal + 1
                status = int(params.get("statusCode") or 0)
                blocked = {str(b.get("cookieLine") or ""): [str(r) for r in b.get("blockedReasons") or []]
                           for b in params.get("blockedCookies") or [] if isinstance(b, dict)}
                lines = "\n".join(str(v) for k, v in headers.items() if k.lower() == "set-cookie").split("\n")
                lines += [line for line in blocked if line not in lines]
                for line in lines:
                    if not line.strip():
                        continue
                    if len(self._header_lines) >= cookie_attempts.MAX_ATTEMPTS:
                        self.cookies_dropped += 1
                        continue
                    self._header_lines.append((rid, ordinal, status, line, blocked.get(line, [])))
        return started

    @property
    def header_count(self) -> int:
        return len(self._header_lines)

    def header_cookies(self, start: int = 0) -> list[tuple[str, str, list[str]]]:
        """The Set-Cookie lines seen (from the `start`th on): (URL of the response that sent it, line,
        Chromium's refusal reasons)."""
        return [(self._response_url(rid, ordinal, status), line, reasons)
                for rid, ordinal, status, line, reasons in self._header_lines[start:]]

    def _response_url(self, rid: str, ordinal: int, status: int) -> str:
        """The hop whose response an extra-info event belongs to: the events of one request come in the
        order of its responses, one per hop; a response that is no redirect ends the chain (its last hop)."""
        chain = self.chains.get(rid)
        if not chain:
            return ""
        if status and not 300 <= status < 400:
            return chain[-1].url
        return chain[min(ordinal, len(chain) - 1)].url

    def _current(self, rid: str) -> Request | None:
        """The request's latest hop."""
        chain = self.chains.get(rid)
        return chain[-1] if chain else None

    def _add(self, rid: str, req: Request) -> None:
        if len(self.hops) >= MAX_REQUESTS:
            self.dropped += 1
            return
        self.hops.append(req)
        self.chains.setdefault(rid, []).append(req)


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
    links: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (label, href), outside consent banners
    # links inside a consent banner or dialog: gone once a visitor has chosen, so they never count
    # as a link "from every page" (privacy_link, impressum_link); kept to say where a link was
    banner_links: list[tuple[str, str]] = dataclasses.field(default_factory=list)
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
const links = [], banner = [];
const BANNER = /cookie|consent|(^|[^a-z])cmp([^a-z]|$)|usercentrics|klaro|borlabs|cookiebot|onetrust|didomi|tarteaucitron|cc-window|cc-banner|gdpr-banner|einwilligung/i;
const DIALOG_TEXT = /cookie|einwillig|consent|zustimm/i;
const inBanner = a => {
  for (let e = a.parentElement, i = 0; e && e !== document.body && i < 30; e = e.parentElement, i++) {
    const marks = [e.id, typeof e.className === 'string' ? e.className : '', e.getAttribute('aria-label')].join(' ');
    if (BANNER.test(marks)) return true;
    if (e.matches('dialog, [role=dialog], [role=alertdialog], [aria-modal=true]') &&
        DIALOG_TEXT.test((e.textContent || '').slice(0, 3000))) return true;
  }
  return false;
};
for (const a of document.querySelectorAll('a[href], area[href]')) {
  if (links.length + banner.length >= maxLinks) break;
  const alts = Array.from(a.querySelectorAll('img[alt]')).map(i => i.alt).join(' ');
  const label = [a.textContent, a.getAttribute('aria-label'), a.getAttribute('title'), alts].map(clean).filter(x => x).join(' ');
  (inBanner(a) ? banner : links).push([label.slice(0, 300), String(a.href).slice(0, 2048)]);
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
        links: links, banner_links: banner, forms: forms, text: text};
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


def login_cookie_names(log: list[dict[str, Any]], start_url: str, settings: GdprSettings) -> list[str]:
    """The first-party cookies the responses of a login set (`Set-Cookie` headers in the login
    steps' DevTools events, `log`): the session the citizen asked for by logging in (TDDDG § 25
    (2) Nr. 2). Cookies a script set are not among them."""
    rec = Recorder()
    rec.feed(log)
    return sorted(first_party_cookie_names(((url, line) for url, line, _r in rec.header_cookies()), start_url,
                                           settings.first_party))


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
                 consent: bool = False, also: Callable[[browser_pool.BrowserSession], Any] | None = None,
                 prepare: Callable[[browser_pool.BrowserSession], Any] | None = None) -> PageCapture:
    """One visit in a fresh browser. Never raises; failures are in the PageCapture.

    `also` runs in the same session once everything is recorded (one visit serving two checks);
    `prepare` before the page is opened (an init script of the other check)."""
    started = time.monotonic()
    last = None
    for _ in range(2):  # one retry when the browser died under us
        last = _capture_once(pool, url, settings, wait, consent, also, prepare)
        if last.error_reason != "browser_crashed":
            break
    assert last is not None
    total = time.monotonic() - started
    last.queue_seconds = min(last.queue_seconds, total)
    last.seconds = total - last.queue_seconds
    return last


def _capture_once(pool: browser_pool.BrowserPool, url: str, settings: GdprSettings, wait: float | None,
                  consent: bool, also: Callable[[browser_pool.BrowserSession], Any] | None = None,
                  prepare: Callable[[browser_pool.BrowserSession], Any] | None = None) -> PageCapture:
    budget = settings.timeout
    page = PageCapture(url=url)
    rec = Recorder()
    asked = time.monotonic()
    page.queue_seconds = budget + (wait or budget)  # no browser at all: all of it was waiting
    try:
        with pool.session(deadline=budget, wait=wait, what=url, fresh=True) as session:
            page.queue_seconds = time.monotonic() - asked
            if prepare is not None:
                prepare(session)
            return visit(session, page, rec, settings, install(session), consent=consent, also=also)
    except browser_pool.PAGE_ERRORS as exc:
        page.error, page.error_reason = browser_pool.page_failure(exc, budget, "aufgezeichnet")
        page.load_complete = page.load_complete and page.error_reason != "timeout"
    return _finish(page, rec)


def visit(session: browser_pool.BrowserSession, page: PageCapture, rec: Recorder, settings: GdprSettings,
          recorder: str, *, consent: bool = False,
          also: Callable[[browser_pool.BrowserSession], Any] | None = None) -> PageCapture:
    """Record `page.url` in a recording session the caller holds (`install`ed), within
    `settings.timeout`, into `page` and `rec`. Raises the pool's errors; the caller then
    finishes what was recorded so far (`finish`)."""
    budget = settings.timeout
    url = page.url
    t0 = time.monotonic()
    until = t0 + budget * 0.75  # leave time to read cookies and storage
    session.set_timeouts(page_load=max(1.0, budget * 0.5), script=max(1.0, budget * 0.2))
    session.performance_log()  # drop what the browser logged before (its own blank tab, a login)
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
        code = driver.execute_script(ERROR_CODE) or "Netzwerkfehler"
        page.error, page.error_reason = f"Seite nicht geladen: {code}", "load_failed"
        return _finish(page, rec)
    page.status = int(facts.get("status") or 0)
    page.title = str(facts.get("title") or "")
    page.links = [(str(label), str(href)) for label, href in facts.get("links") or []]
    page.banner_links = [(str(label), str(href)) for label, href in facts.get("banner_links") or []]
    page.forms = list(facts.get("forms") or [])
    page.text = str(facts.get("text") or "")
    page.storage, page.script_cookies = _frames(session, recorder)
    page.cookies_raw, page.cookies_complete = _cookies(session)
    rec.feed(session.performance_log())
    if page.status >= 400:
        page.error, page.error_reason = f"HTTP-Status {page.status}", "http_status"
    elif also is not None:
        page.also = also(session)
    return _finish(page, rec)


def install(session: browser_pool.BrowserSession) -> str:
    """Record `document.cookie` assignments in every new document of the session (once per
    session); returns the recorder's name for `visit` and `read_visit`."""
    if not session.cookie_recorder or not session.has_init_script("cookie-recorder"):  # removed by a measurement
        source, session.cookie_recorder = cookie_attempts.recorder_script()
        session.add_init_script("cookie-recorder", source)
    return session.cookie_recorder


def finish(page: PageCapture, rec: Recorder) -> PageCapture:
    """What a visit recorded until it was cut short (the watchdog, a crash)."""
    return _finish(page, rec)


def read_visit(session: browser_pool.BrowserSession, page: PageCapture, rec: Recorder, recorder: str) -> PageCapture:
    """Cookies (attempted and stored), storage keys and the network `rec` saw, for the page the
    session shows now (the end of a journey, a page after a login)."""
    page.storage, page.script_cookies = _frames(session, recorder)
    page.cookies_raw, page.cookies_complete = _cookies(session)
    rec.feed(session.performance_log())
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

    for url, line, reasons in rec.header_cookies():
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
