"""Cookies: parsed from Set-Cookie, judged for Secure, HttpOnly and SameSite."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from checks.hosts import is_ip, registrable_domain
from checks.security.headers.retrieval import HttpResponse, Retrieval
from checks.security.headers.scoring import TestOutcome, worse
from checks.security.headers.transport import strict_transport_security

# --- Cookies ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Cookie:
    name: str
    domain: str
    path: str
    secure: bool
    http_only: bool
    same_site: str | None  # "strict", "lax", "none" or None (absent or unrecognised)
    host_only: bool
    expires: str | None = None
    max_age: str | None = None


_CONTROL = re.compile(r"[\x00-\x1f]")


def parse_set_cookie(header: str, request_url: str) -> Cookie | None:
    """One Set-Cookie header -> Cookie, or None where a cookie jar would drop it.

    Follows tough-cookie (the reference's jar): name=value required, control characters
    reject the cookie, the last of repeated attributes wins, Domain must match the host,
    __Secure-/__Host- prefixes are enforced silently.
    """
    text = header.strip()
    for t in ("\n", "\r", "\0"):
        i = text.find(t)
        if i >= 0:
            text = text[:i]
    pair, _, rest = text.partition(";")
    eq = pair.find("=")
    if eq <= 0:
        return None
    name, value = pair[:eq].strip(), pair[eq + 1:].strip()
    if not name or _CONTROL.search(name) or _CONTROL.search(value):
        return None
    domain = path = expires = max_age = same_site = None
    secure = http_only = False
    for av in rest.split(";"):
        av = av.strip()
        if not av:
            continue
        key, sep, val = av.partition("=")
        key = key.strip().lower()
        val = val.strip() if sep else ""
        if key == "domain" and val:
            d = val.removeprefix(".").lower()
            domain = d or domain
        elif key == "path":
            path = val if val.startswith("/") else None
        elif key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
        elif key == "samesite":
            v = val.lower()
            same_site = v if v in ("strict", "lax", "none") else None
        elif key == "expires" and val:
            expires = val[:64]
        elif key == "max-age" and re.fullmatch(r"-?\d+", val):
            max_age = val
    parts = urlsplit(request_url)
    host = (parts.hostname or "").lower()
    if domain is not None:
        if not (host == domain or (host.endswith("." + domain) and not is_ip(host))):
            return None  # not this host's domain: a jar refuses it
        if domain != host and not is_ip(domain) and registrable_domain(domain) is None:
            return None  # Domain=<public suffix>: a jar refuses it
        host_only = False
    else:
        domain, host_only = host, True
    if path is None:
        p = parts.path or "/"
        path = p[: p.rfind("/")] or "/" if p.startswith("/") else "/"
    if name.startswith("__Secure-") and not secure:
        return None
    if name.startswith("__Host-") and not (secure and host_only and path == "/"):
        return None
    return Cookie(name, domain, path, secure, http_only, same_site, host_only, expires, max_age)




def cookie_jar(responses: Iterable[HttpResponse]) -> list[Cookie]:
    """Cookies a jar holds after these responses, in the order they were first set."""
    jar: dict[tuple[str, str, str], Cookie] = {}
    for resp in responses:
        for header in resp.values("set-cookie"):
            c = parse_set_cookie(header, resp.url)
            if c is not None:
                jar[(c.domain, c.path, c.name)] = c
    return [c for c in jar.values() if c.name and c.name != "heroku-session-affinity"]


def _invalid_samesite(raw: str) -> bool:
    for part in raw.strip().split(";"):
        pieces = part.strip().split("=")
        key = pieces[0]
        value = pieces[1] if len(pieces) > 1 else None
        if key.strip().lower() == "samesite" and (not value or value.strip().lower() not in ("lax", "strict", "none")):
            return True
    return False


_COOKIE_ORDER = (
    "cookies-without-secure-flag-but-protected-by-hsts", "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts", "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag", "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)


def cookies(r: Retrieval, hsts_outcome: TestOutcome | None = None) -> TestOutcome:
    name = "cookies"
    hsts = (hsts_outcome or strict_transport_security(r)).passed
    result: str | None = None
    if r.auto is not None:
        for raw in r.auto.values("set-cookie"):
            if _invalid_samesite(raw):
                result = worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
    jar = cookie_jar(r.session or ((r.auto,) if r.auto else ()))
    if not jar:
        return TestOutcome(name, "cookies-not-found", True)
    missing_samesite = False
    problems: dict[str, list[str]] = {}
    for c in jar:
        key = c.name.lower()
        session = "login" in key or "sess" in key
        anticsrf = "csrf" in key
        found: list[str] = []
        if not c.secure and c.same_site == "none":
            found.append("cookies-samesite-flag-invalid")
        if not c.secure:
            found.append("cookies-without-secure-flag-but-protected-by-hsts" if hsts else "cookies-without-secure-flag")
        if anticsrf and not c.same_site:
            found.append("cookies-anticsrf-without-samesite-flag")
        if session and not c.secure:
            found.append("cookies-session-without-secure-flag-but-protected-by-hsts" if hsts
                         else "cookies-session-without-secure-flag")
        if session and not c.http_only:
            found.append("cookies-session-without-httponly-flag")
        if not c.same_site:
            missing_samesite = True
        for f in found:
            result = worse(f, result, _COOKIE_ORDER)
            problems.setdefault(f, []).append(c.name[:100])
    if not result:
        result = ("cookies-secure-with-httponly-sessions" if missing_samesite
                  else "cookies-secure-with-httponly-sessions-and-samesite")
    data = {"cookies": [{"name": c.name[:100], "domain": c.domain[:100], "path": c.path[:100], "secure": c.secure,
                         "httponly": c.http_only, "samesite": c.same_site} for c in jar[:50]],
            "problems": {k: v[:20] for k, v in problems.items()}}
    passed = result in ("cookies-not-found", "cookies-secure-with-httponly-sessions-and-samesite",
                        "cookies-secure-with-httponly-sessions")
    return TestOutcome(name, result, passed, data)
