"""The DSGVO markers judged on what the pages did before consent, and the legal links."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from checks import httpprobe
from checks.ai_signatures import api_for
from checks.gdpr.classification import Summary
from checks.gdpr.party import in_domains
from checks.gdpr.recording import PageCapture
from checks.gdpr.settings import GOOGLE_FONTS_HOSTS, GdprSettings
from checks.page import Marker, fold
from checks.proxy import Proxy
from checks.result import Reason

# --------------------------------------------------------------------------- markers

_IMPRESSUM = re.compile(r"impressum|imprint|anbieterkennzeichnung|legal notice")
_PRIVACY_TEXT = re.compile(r"\bdatenschutz(erklaerung|hinweise?|information(en)?|bestimmungen|richtlinie|"
                           r"info)?\b|\bdsgvo\b|\bprivacy\b|\bdatenschutzerklaerung")
_PRIVACY_URL = re.compile(r"datenschutz(?!einstellung)|privacy|dsgvo")
_OUTDATED = re.compile(r"\b(TMG|TTDSG)\b|Telemediengesetz(es)?|Telekommunikation-Telemedien-Datenschutz-Gesetz(es)?")
_NOT_A_PAGE = ("mailto:", "tel:", "javascript:", "data:")


def legal_link(links: list[tuple[str, str]], kind: Literal["impressum", "privacy"]) -> tuple[str, str] | None:
    """The first link whose text or URL names the Impressum (or the Datenschutzerklärung)."""
    text_re, url_re = (_IMPRESSUM, _IMPRESSUM) if kind == "impressum" else (_PRIVACY_TEXT, _PRIVACY_URL)
    by_url = None
    for label, href in links:
        if href.lower().startswith(_NOT_A_PAGE):
            continue
        if text_re.search(fold(label)):
            return label, href
        if by_url is None and url_re.search(fold(urlsplit(href).path + "?" + urlsplit(href).query)):
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
        return {m: Marker.listed("unknown", "keine Seite aufgezeichnet") for m in settings.markers}

    def fail_if(rows: list[Any], what: str) -> Marker:
        return Marker.listed("fail", f"{len(rows)} {what}", rows) if rows else Marker.listed("pass")

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
            marker = dataclasses.replace(marker, detail=(marker.detail or "") + f" (davon {refused} vom Browser "
                                         "abgelehnt, von anderen Browsern womöglich gespeichert)")
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
    youtube = [h for h in summary.hosts.values() if in_domains(h["host"], ("youtube.com", "youtu.be"))]
    out["youtube_nocookie"] = fail_if(_items(youtube, "host", "requests", "example", "page"),
                                      "YouTube-Hosts statt youtube-nocookie.com kontaktiert")
    ai = [{**h, "vendor": api.vendor} for h in summary.hosts.values()
          if (api := api_for(h["host"], settings.ai_list)) is not None]
    out["no_ai_api"] = fail_if(_items(ai, "host", "vendor", "requests", "example", "page"),
                               "KI-Dienste (config/ai.yaml) vor der Einwilligung kontaktiert")
    if settings.processors is None:
        # No list yet: the page's own site and the operator's domains (first_party) are allowed, every other
        # host is named for review, so the marker says something useful from the first run on.
        third = summary.third_party_hosts()
        out["processors_only"] = (
            Marker.listed("fail", f"{len(third)} Drittanbieter-Hosts zu prüfen (keine Liste der Auftragsverarbeiter "
                           "konfiguriert: processors)", _items(third, "host", "requests", "category", "example", "page"))
            if third else Marker.listed("pass", "nur eigene Hosts kontaktiert"))
    else:
        outside = [h for h in summary.third_party_hosts() if not in_domains(h["host"], settings.processors)]
        out["processors_only"] = fail_if(_items(outside, "host", "requests", "category", "example", "page"),
                                         "Drittanbieter-Hosts außerhalb der Auftragsverarbeiter-Liste")
    for name, kind in (("impressum_link", "impressum"), ("privacy_link", "privacy")):
        found, missing = [], []
        only_banner = 0
        for p in scanned:
            link = legal_link(p.links, kind)  # type: ignore[arg-type]
            if link is None:
                row: dict[str, Any] = {"page": p.url, "found": False}
                in_banner = legal_link(p.banner_links, kind)  # type: ignore[arg-type]
                if in_banner is not None:  # gone once the visitor has chosen: not reachable from every page
                    row.update(where="Cookie-Banner", text=in_banner[0][:200], url=in_banner[1])
                    only_banner += 1
                missing.append(row)
            else:
                found.append({"page": p.url, "found": True, "where": "Seite", "text": link[0][:200], "url": link[1]})
        what = "Impressum" if kind == "impressum" else "Datenschutzerklärung"
        detail = f"{len(missing)} Seiten ohne Link zu {what}"
        if only_banner:
            detail += f" (auf {only_banner} davon nur im Cookie-Banner, der nach der Auswahl verschwindet)"
        out[name] = (Marker.listed("fail", detail, missing + found) if missing else Marker.listed("pass", "", found))
    refs: list[dict[str, str]] = []
    unreadable: list[dict[str, Any]] = []
    for p in scanned:
        refs += outdated_references(p.text, p.url)
    for url, (text, error) in legal_texts.items():
        if text is None:
            unreadable.append({"url": url, "error": error})
        else:
            refs += outdated_references(text, url)
    out["current_legal_refs"] = (Marker.listed("fail", f"{len(refs)} veraltete Verweise (TMG/TTDSG)", refs) if refs
                                 else Marker.listed("pass", "Rechtstexte nicht lesbar: " + ", ".join(u["url"] for u in unreadable)
                                             if unreadable else "", unreadable))
    http_forms = [{**f, "page": p.url} for p in scanned for f in p.forms
                  if urlsplit(str(f.get("action") or "")).scheme == "http"]
    out["forms_https"] = fail_if(http_forms, "Formulare senden über HTTP")
    out["https_redirect"] = redirect or Marker.listed("unknown", "nicht geprüft")
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


def check_https_redirect(urls: list[str], settings: GdprSettings, host_rules: tuple[tuple[str, str], ...] = (),
                         proxy: Proxy | None = None, ca_bundle: str | None = None) -> Marker:
    """Does plain HTTP redirect to HTTPS? One probe per origin; refusing HTTP altogether passes.

    `host_rules`: browser.hosts and the browser's --host-resolver-rules, so the probe reaches the
    servers the browser reached (an estate mapped by the operator is judged, not "unknown");
    `ca_bundle`: browser.ca_files with the system's CAs, unless the check names its own CA file."""
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
            ca_file=str(settings.ca_file) if settings.ca_file else ca_bundle, host_rules=host_rules, proxy=proxy))
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
        return Marker.listed("fail", "HTTP-Aufruf ohne Umleitung auf HTTPS", evidence)
    if "unknown" in states:
        return Marker.listed("unknown", "HTTP-Umleitung nicht prüfbar", evidence)
    return Marker.listed("pass", "", evidence)
