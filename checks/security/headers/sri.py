"""Subresource Integrity of the scripts a page loads."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from checks.hosts import registrable_domain
from checks.security.headers.page import parse_page
from checks.security.headers.retrieval import Retrieval
from checks.security.headers.scoring import HTML_TYPES, TestOutcome, worse

# --- Subresource Integrity ----------------------------------------------------------------

_SRI_ORDER = (
    "sri-implemented-and-all-scripts-loaded-securely", "sri-implemented-and-external-scripts-loaded-securely",
    "sri-implemented-but-external-scripts-not-loaded-securely",
    "sri-not-implemented-but-external-scripts-loaded-securely",
    "sri-not-implemented-and-external-scripts-not-loaded-securely", "sri-not-implemented-response-not-html",
)
_URL_STRIP = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")






def _script_src(raw: str) -> tuple[str, str | None, str | None]:
    """(value the DOM reports as script.src, scheme, host) for an attribute value."""
    s = raw.strip(_URL_STRIP)
    m = _SCHEME.match(s)
    if m is None:
        return raw, None, None  # relative: about:blank cannot resolve it, the raw value stays
    scheme = m.group(1).lower()
    if scheme not in ("http", "https"):
        return s, scheme, None
    rest = s[m.end():].lstrip("/\\")
    authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    else:
        host = host.split(":")[0]
    if not host:
        return raw, None, None
    return f"{scheme}://{host.lower()}", scheme, host.lower()


def subresource_integrity(r: Retrieval) -> TestOutcome:
    name = "subresource-integrity"
    resp = r.auto
    if resp is None:
        return TestOutcome(name, "sri-not-implemented-but-no-scripts-loaded", False)
    mime = (resp.first("content-type") or "").split(";")[0]
    if mime not in HTML_TYPES:
        return TestOutcome(name, "sri-not-implemented-response-not-html", True)
    page = parse_page(resp.body)
    result: str | None = None
    foreign = False
    site_https = urlsplit(r.session_url).scheme == "https"
    own_domain = registrable_domain(r.hostname)
    scripts: dict[str, dict[str, Any]] = {}
    for attrs in page.scripts:
        src_attr = attrs.get("src")
        if not src_attr:
            continue
        src, scheme, host = _script_src(src_attr)
        integrity = attrs.get("integrity")
        relative_origin = relative_protocol = same_sld = False
        if re.match(r"^//[^/]", src):
            relative_protocol = same_sld = True
        elif re.match(r"^https?://", src):
            same_sld = registrable_domain(host or "") == own_domain
        else:
            relative_origin = same_sld = True
        secure_origin = relative_origin or (same_sld and not relative_protocol)
        if not secure_origin:
            foreign = True
        secure_scheme = scheme == "https" if not (relative_protocol or relative_origin) else False
        if relative_origin and site_https:
            secure_scheme = True
        if not secure_origin:
            if len(scripts) < 100:
                scripts[src[:300]] = {"integrity": (integrity or None) and integrity[:200],
                                      "crossorigin": attrs.get("crossorigin")}
            if integrity and not secure_scheme:
                result = worse("sri-implemented-but-external-scripts-not-loaded-securely", result, _SRI_ORDER)
            elif not integrity and secure_scheme:
                result = worse("sri-not-implemented-but-external-scripts-loaded-securely", result, _SRI_ORDER)
            elif not integrity and not secure_scheme:
                result = worse("sri-not-implemented-and-external-scripts-not-loaded-securely", result, _SRI_ORDER)
        elif integrity and secure_scheme and not result:
            result = "sri-implemented-and-all-scripts-loaded-securely"
    if not page.scripts:
        result = "sri-not-implemented-but-no-scripts-loaded"
    elif not result:
        result = ("sri-implemented-and-external-scripts-loaded-securely" if foreign
                  else "sri-not-implemented-but-all-scripts-loaded-from-secure-origin")
    passed = result in (
        "sri-implemented-and-all-scripts-loaded-securely", "sri-implemented-and-external-scripts-loaded-securely",
        "sri-not-implemented-response-not-html", "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
        "sri-not-implemented-but-no-scripts-loaded")
    return TestOutcome(name, result, passed, {"external_scripts": scripts})
