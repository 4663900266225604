"""What the browser kinds share about a page: loading it, its links and text, why it failed,
and the one `Marker` type their legal and BITV markers are judged in.

Neutral ground: the accessibility and the DSGVO kind both import from here, never from
each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from checks import browser as browser_pool
from checks.browser_host import DIALOGS_OF, ca_bundle
from checks.proxy import from_browser_arguments
from checks.result import Reason
from checks.settings import CheckSettings

MAX_LINKS = 3000  # links read from one page
MAX_EVIDENCE = 25  # itemised evidence kept per marker (the total is kept too)

PAGE_FACTS = """
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
        status: status, links: links, url: String(location.href).slice(0, 2048), no_frames: noFrames,
        dialogs: """ + DIALOGS_OF + """};
"""
ERROR_CODE = ("const m = ((document.body && document.body.innerText) || '').match(/(?:net::)?ERR_[A-Z_]+/); "
              "return m && m[0];")
PAGE_TEXT = "return ((document.body && document.body.innerText) || '').slice(0, arguments[0]);"


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
class LoadedPage:
    """A page as the browser loaded it: its facts, or why there is nothing to read. The one
    page record of the browser kinds: the accessibility scan extends it (`PageScan`)."""

    url: str
    final_url: str = ""
    status: int = 0
    title: str = ""
    lang: str | None = None
    load_complete: bool = True
    links: tuple[Link, ...] = ()
    no_frames: bool = False  # axe is loaded already and the page has no frames
    error: str | None = None
    error_reason: str | None = None  # load_failed, http_status, timeout, browser_crashed, not_a_page, ...
    dialogs: tuple[dict[str, str], ...] = ()  # alert/confirm/prompt the page opened (dismissed), in order
    dialogs_dropped: int = 0  # more than were kept

    @property
    def scanned(self) -> bool:
        """Whether the page could be read (and, for a scan, axe ran on it)."""
        return self.error is None


def open_page(session: browser_pool.BrowserSession, url: str, settings: CheckSettings) -> LoadedPage:
    """Load `url` in the session (a slow page is read as far as it got, as a person would see it)."""
    session.set_timeouts(page_load=max(1.0, settings.timeout * 0.5), script=max(1.0, settings.timeout * 0.4))
    driver = session.driver
    load_complete = True
    try:
        driver.get(url)
    except browser_pool.TimeoutException:
        load_complete = False
        driver.execute_script("window.stop();")
    facts = driver.execute_script(PAGE_FACTS, MAX_LINKS) or {}
    final_url = str(facts.get("url") or driver.current_url)
    if final_url.startswith("chrome-error:"):  # Chromium's own error page: nothing to read
        code = driver.execute_script(ERROR_CODE) or _net_error(session, url) or "Netzwerkfehler"
        return LoadedPage(url=url, error=f"Seite nicht geladen: {code}", error_reason="load_failed")
    if not final_url.startswith(("http://", "https://")):
        # the navigation did not commit a page (a download, or nothing at all): the browser still
        # shows what it showed before (a new tab), which is never scanned as if it were the service
        return _not_a_page(session, url, settings, final_url)
    dialogs = (facts.get("dialogs") or {}) if session.dialogs_recorded else {}  # read with the facts
    page = LoadedPage(url=url, final_url=final_url, status=int(facts.get("status") or 0),
                      title=str(facts.get("title") or ""), lang=facts.get("lang"), load_complete=load_complete,
                      links=tuple(Link(*[str(x or "") for x in row]) for row in facts.get("links") or []),
                      no_frames=bool(facts.get("no_frames")),
                      dialogs=tuple({"type": str(d.get("type", "")), "message": str(d.get("message", ""))[:300]}
                                    for d in dialogs.get("dialogs") or []),
                      dialogs_dropped=int(dialogs.get("dropped") or 0))
    if page.status >= 400:
        return dataclasses.replace(page, error=f"HTTP-Status {page.status}", error_reason="http_status")
    return page


def _net_error(session: browser_pool.BrowserSession, url: str) -> str | None:
    """Chromium's net error for `url` where its error page names none (the headless shell's is
    empty): DevTools' Page.navigate answers with it. One more attempt, only for a failed page."""
    with contextlib.suppress(browser_pool.WebDriverException):
        found = re.search(r"ERR_[A-Z0-9_]+", str(session.cdp("Page.navigate", url=url).get("errorText") or ""))
        return found.group(0) if found else None
    return None


def _not_a_page(session: browser_pool.BrowserSession, url: str, settings: CheckSettings, shown: str) -> LoadedPage:
    """The address did not open a page: ask the server what it is (content type, file name) in
    a short side request, and say so (reason not_a_page; load_failed when it answers nothing)."""
    from checks import httpprobe

    browser = session.settings  # the side request trusts and maps names as the session's browser does
    options = httpprobe.FetchOptions(timeout=max(1.0, min(5.0, settings.timeout * 0.2)), max_body_bytes=1024,
                                     truncate_body=True, verify_tls=not browser.accept_insecure_certs,
                                     ca_file=ca_bundle(browser.ca_files), proxy=from_browser_arguments(browser.arguments),
                                     host_rules=tuple(browser.hosts.items())
                                     + httpprobe.host_rules_from_arguments(browser.arguments))
    out = httpprobe.fetch(url, options)
    headers = {name.lower(): value for name, value in out.headers}
    ctype = headers.get("content-type", "").split(";")[0].strip() or "ohne Inhaltstyp"
    disposition = headers.get("content-disposition", "")
    name = re.search(r"""filename\*?=(?:UTF-8'')?["']?([^"';]+)""", disposition, re.IGNORECASE)
    if out.error is None and (disposition.lower().startswith("attachment") or "html" not in ctype):
        what = f"{ctype}, Datei {name.group(1)[:120]!r}" if name else ctype
        return LoadedPage(url=url, final_url=out.final_url, status=out.status,
                          error=f"keine Webseite: die Adresse liefert eine Datei zum Herunterladen ({what}); "
                                "nicht gespeichert, nicht geprüft", error_reason="not_a_page")
    return LoadedPage(url=url, error=f"Seite nicht geladen: der Browser zeigt {shown[:80]!r} statt der Adresse",
                      error_reason="load_failed")


def fetch_text(pool: browser_pool.BrowserPool, url: str, settings: CheckSettings,
               wait: float | None = None) -> tuple[str | None, str | None, tuple[Link, ...]]:
    """(rendered text, None, links) of a page (the statement, a linked Impressum), or (None, error, ()).

    Only `settings.timeout` is used, so any check kind's settings will do."""
    try:
        with pool.session(deadline=settings.timeout, wait=wait, what=url) as session:
            page = open_page(session, url, settings)
            if page.error is not None:
                return None, page.error, ()
            return str(session.driver.execute_script(PAGE_TEXT, 200_000) or ""), None, page.links
    except browser_pool.PAGE_ERRORS as exc:
        return None, browser_pool._short(exc), ()


def fold(text: str) -> str:
    """Lower case, umlauts spelled out, so 'Erklärung', 'Erklaerung' and 'ERKLÄRUNG' match alike."""
    text = unicodedata.normalize("NFC", text).lower()
    return text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")


_NET_ERRORS = ((re.compile(r"ERR_NAME_NOT_RESOLVED|ERR_NAME_RESOLUTION_FAILED"), Reason.DNS),
               (re.compile(r"ERR_CONNECTION_REFUSED"), Reason.CONNECT_REFUSED),
               (re.compile(r"ERR_CONNECTION_TIMED_OUT|ERR_TIMED_OUT"), Reason.CONNECT_TIMEOUT),
               (re.compile(r"ERR_CERT_DATE_INVALID"), Reason.TLS_EXPIRED),
               (re.compile(r"ERR_CERT_COMMON_NAME_INVALID"), Reason.TLS_HOSTNAME),
               (re.compile(r"ERR_CERT_"), Reason.TLS_INVALID_CERTIFICATE),
               (re.compile(r"ERR_SSL_|ERR_BAD_SSL"), Reason.TLS_ERROR),
               (re.compile(r"ERR_TOO_MANY_REDIRECTS"), Reason.TOO_MANY_REDIRECTS))
_REASONS = {"timeout": Reason.READ_TIMEOUT, "http_status": Reason.HTTP_STATUS, "not_a_page": Reason.NOT_A_PAGE,
            "browser_unavailable": Reason.INTERNAL_ERROR, "browser_crashed": Reason.INTERNAL_ERROR,
            "memory_limit": Reason.INTERNAL_ERROR,
            "webdriver": Reason.INTERNAL_ERROR, "axe_failed": Reason.INTERNAL_ERROR}


def failure_reason(error_reason: str | None, error: str | None) -> Reason:
    """The fixed-set reason for a page that could not be read, from Chromium's net error where there is one."""
    if error_reason == "load_failed":
        for pattern, reason in _NET_ERRORS:
            if pattern.search(error or ""):
                return reason
        return Reason.CONNECT_ERROR
    if error_reason is not None and error_reason in Reason._value2member_map_:  # already from the fixed set
        return Reason(error_reason)  # (a failed login's step)
    return _REASONS.get(error_reason or "", Reason.INTERNAL_ERROR)


def marker_key(name: str) -> str:
    """The measurement of a marker: marker_<name>, 1 pass, 0 fail, absent when not determinable."""
    return f"marker_{name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Marker:
    """One legal or BITV marker: pass, fail or not determinable, with what shows it.

    `facts` are named facts stored flat beside the state (the link found, the statement's
    date); `evidence` is itemised (hosts, cookies, pages), stored up to MAX_EVIDENCE with
    its total, never cut silently. A marker made with `Marker.listed` always stores
    `detail`, `evidence` and `evidence_total`."""

    state: Literal["pass", "fail", "unknown"]
    facts: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    detail: str | None = None
    evidence: list[Any] | None = None

    @classmethod
    def listed(cls, state: Literal["pass", "fail", "unknown"], detail: str = "",
               evidence: list[Any] | None = None) -> Marker:
        return cls(state, {}, detail, list(evidence or []))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.evidence is not None:
            out.update(detail=self.detail or "", evidence=self.evidence[:MAX_EVIDENCE],
                       evidence_total=len(self.evidence))
        out.update(self.facts)
        return out
