"""HTTPS transport: redirection to HTTPS, HSTS and the preload list."""

from __future__ import annotations

import functools
import math
import re
from typing import Any
from urllib.parse import urlsplit

import hstspreload

from checks.hosts import is_ip
from checks.security.headers.retrieval import Retrieval
from checks.security.headers.scoring import SIX_MONTHS, TestOutcome

# --- HSTS preload list --------------------------------------------------------------------

def is_hsts_preloaded(host: str, extra: frozenset[str] | None = None) -> bool:
    """In Chromium's preload list (bundled `hstspreload` package) or the operator's list."""
    host = host.lower().rstrip(".")
    if extra:
        labels = host.split(".")
        if any(".".join(labels[i:]) in extra for i in range(len(labels))):
            return True
    if not host or is_ip(host):
        return False
    return bool(hstspreload.in_hsts_preload(host))


# --- Redirection ------------------------------------------------------------------------

def redirection(r: Retrieval) -> TestOutcome:
    name = "redirection"
    resp = r.http
    route = [u for u, _ in r.route]
    data: dict[str, Any] = {"route": route[:12], "status_code": resp.status if resp else None}
    if resp is None:
        result = "redirection-not-needed-no-http"
    elif not resp.verified:
        result = "redirection-invalid-cert"
    elif all(is_hsts_preloaded(urlsplit(u).hostname or "", r.preloaded) for u in route):
        result = "redirection-all-redirects-preloaded"
    elif len(route) == 1:
        result = "redirection-missing"
    else:
        first, second, last = urlsplit(route[0]), urlsplit(route[1]), urlsplit(route[-1])
        if last.scheme != "https":
            result = "redirection-not-to-https"
        elif second.scheme == "http":
            result = "redirection-not-to-https-on-initial-redirection"
        elif first.scheme == "http" and second.scheme == "https" and first.hostname != second.hostname:
            result = "redirection-off-host-from-http"
        else:
            result = "redirection-to-https"
    passed = result in ("redirection-not-needed-no-http", "redirection-all-redirects-preloaded", "redirection-to-https")
    return TestOutcome(name, result, passed, data)


# --- Strict-Transport-Security ----------------------------------------------------------

_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def _js_parse_int(text: str) -> float:
    m = _LEADING_INT.match(text)
    return int(m.group(1)) if m else float("nan")


@functools.lru_cache(maxsize=1024)
def _parse_hsts(header: str) -> tuple[str, dict[str, Any]]:
    data = header[:1024]
    info: dict[str, Any] = {"max_age": None, "include_subdomains": False, "preload": False}
    if "," in data:  # set twice (joined by the HTTP layer)
        return "hsts-header-invalid", info
    max_age: float | None = None
    for p in (i.strip().lower() for i in data.split(";")):
        if p.startswith("max-age="):
            max_age = _js_parse_int(p[8:128])
        elif p == "includesubdomains":
            info["include_subdomains"] = True
        elif p == "preload":
            info["preload"] = True
    if max_age is None:
        return "hsts-header-invalid", info
    # reference: a max-age that is not a number (NaN) is not "less than six months"
    info["max_age"] = None if math.isnan(max_age) else max_age
    if max_age < SIX_MONTHS:
        return "hsts-implemented-max-age-less-than-six-months", info
    return "hsts-implemented-max-age-at-least-six-months", info


def strict_transport_security(r: Retrieval) -> TestOutcome:
    name = "strict-transport-security"
    resp = r.https
    info: dict[str, Any] = {"max_age": None, "include_subdomains": False, "preload": False, "preloaded": False}
    if resp is None:
        result = "hsts-not-implemented-no-https"
    elif not resp.verified:
        result = "hsts-invalid-cert"
    else:
        headers = resp.values("strict-transport-security")
        if headers:
            result, parsed = _parse_hsts(headers[0])
            info.update(parsed)
        else:
            result = "hsts-not-implemented"
    if resp is not None and is_hsts_preloaded(r.hostname, r.preloaded):
        result = "hsts-preloaded"
        info["preloaded"] = True
    passed = result in ("hsts-implemented-max-age-at-least-six-months", "hsts-preloaded")
    return TestOutcome(name, result, passed, info)
