"""Random but realistic retrievals for the differential test against the reference
Observatory and for the benchmark. Seeded, so every run sees the same cases."""

from __future__ import annotations

import random

HOSTS = ["example.org", "www.example.org", "service.example.com", "portal.example.net"]
CSP_DIRECTIVES = ["default-src", "script-src", "style-src", "object-src", "img-src", "media-src", "frame-ancestors",
                  "base-uri", "form-action", "report-uri", "report-to", "connect-src", "font-src",
                  "upgrade-insecure-requests", "SCRIPT-SRC", "sandbox"]
CSP_SOURCES = ["'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "'strict-dynamic'", "'nonce-abc123'",
               "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='", "https:", "http:", "data:", "*", "blob:",
               "https://cdn.example.com", "https://cdn.example.com/js/", "https://cdn.example.com/js/app.js",
               "http://cdn.example.com", "https://*.example.com", "ftp://files.example.com", "wss://ws.example.com",
               "https://example.com/a%20b/", "https://example.com/%zz", "'SELF'", "https://*", "http://*.*",
               "example.org", "*.example.org", "https://example.org:8443"]
COOKIE_NAMES = ["SESSIONID", "sessid", "login_token", "csrftoken", "XSRF-TOKEN", "prefs", "_ga", "__Host-id",
                "__Secure-id", "heroku-session-affinity", "lang", "PHPSESSID", "JSESSIONID"]
COOKIE_ATTRS = ["Secure", "HttpOnly", "SameSite=Lax", "SameSite=Strict", "SameSite=None", "SameSite=Bogus",
                "SameSite", "Path=/", "Path=/app", "Domain=example.org", "Domain=.example.org", "Domain=other.org",
                "Max-Age=0", "Max-Age=3600", "Expires=Wed, 21 Oct 2015 07:28:00 GMT", "secure", "HTTPONLY"]
HSTS = ["max-age=31536000; includeSubDomains; preload", "max-age=31536000", "max-age=63072000; includeSubDomains", "max-age=15552000", "max-age=15551999", "max-age=0",
        "max-age=abc", "includeSubDomains", "max-age=63072000; includeSubDomains", " MAX-AGE=31536000 ",
        "max-age=\"31536000\"", "max-age=31536000, max-age=1", "max-age=-1", ""]
XFO = ["DENY", "SAMEORIGIN", "deny ", "ALLOW-FROM https://example.org", "bogus", "", "DENY, DENY"]
XCTO = ["nosniff", "NoSniff ", "bogus", "", "nosniff, nosniff"]
REFERRER = ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "origin",
            "unsafe-url", "no-referrer-when-downgrade", "bogus", "no-referrer, unsafe-url",
            "unsafe-url, strict-origin-when-cross-origin", "", "Origin-When-Cross-Origin"]
CORP = ["same-site", "same-origin", "cross-origin", "bogus", "", " Same-Origin "]
SCRIPTS = ['<script src="/js/app.js"></script>', '<script src="js/app.js" integrity="sha384-x"></script>',
           '<script src="https://{host}/js/a.js"></script>', '<script src="https://cdn.other.com/a.js"></script>',
           '<script src="https://cdn.other.com/a.js" integrity="sha384-abc" crossorigin="anonymous"></script>',
           '<script src="http://cdn.other.com/a.js"></script>',
           '<script src="http://cdn.other.com/a.js" integrity="sha384-abc"></script>',
           '<script src="//cdn.other.com/a.js"></script>', '<script>var x = "<script src=http://evil.com/x.js>";</script>',
           '<!-- <script src="http://evil.com/c.js"></script> -->', '<script src="https://sub.{host}/x.js"></script>',
           "<script src='HTTPS://CDN.OTHER.COM/b.js'></script>", '<script src=""></script>',
           '<script type="module" src="https://cdn.other.com/m.js" integrity="sha256-y"></script>']
METAS = ['<meta http-equiv="Content-Security-Policy" content="{csp}">', '<meta name="referrer" content="{ref}">',
         '<meta http-equiv="content-security-policy" content="">', '<meta name="Referrer" content="unsafe-url">']


GOOD_CSP = ["default-src 'none'; form-action 'self'; frame-ancestors 'none'",
            "default-src 'self'; object-src 'none'; frame-ancestors 'self'",
            "default-src 'none'; script-src 'self' 'nonce-abc123' 'strict-dynamic'; style-src 'self'; img-src 'self' data:",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; report-uri /csp; report-uri /csp2",
            "default-src https:; object-src 'none'; script-src 'self'",
            "default-src 'self'; img-src http://images.example.com; frame-ancestors https://portal.example.org"]


def _csp(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return rng.choice(GOOD_CSP)
    parts = []
    for _ in range(rng.randint(1, 5)):
        d = rng.choice(CSP_DIRECTIVES)
        parts.append(" ".join([d, *rng.sample(CSP_SOURCES, rng.randint(0, 4))]))
    sep = rng.choice(["; ", ";", " ; ", ";;"])
    return sep.join(parts) + rng.choice(["", ";"])


def _cookie(rng: random.Random) -> str:
    return "; ".join([f"{rng.choice(COOKIE_NAMES)}=v{rng.randint(0, 9)}", *rng.sample(COOKIE_ATTRS, rng.randint(0, 5))])


def _maybe(rng: random.Random, p: float, values: list[str], key: str) -> list[list[str]]:
    out = []
    if rng.random() < p:
        out.append([key, rng.choice(values)])
        if rng.random() < 0.08:
            out.append([key, rng.choice(values)])  # the header sent twice
    return out


def case(rng: random.Random) -> dict:
    host = rng.choice(HOSTS)
    ctype = rng.choice(["text/html", "text/html; charset=utf-8", "text/html", "application/json", "TEXT/HTML",
                        "application/xhtml+xml"])
    headers = [["Content-Type", ctype]]
    if rng.random() < 0.75:
        headers.append(["Content-Security-Policy", _csp(rng)])
        if rng.random() < 0.1:
            headers.append(["Content-Security-Policy", _csp(rng)])
    elif rng.random() < 0.3:
        headers.append(["Content-Security-Policy-Report-Only", _csp(rng)])
    headers += _maybe(rng, 0.7, HSTS, "Strict-Transport-Security")
    headers += _maybe(rng, 0.6, XFO, "X-Frame-Options")
    headers += _maybe(rng, 0.6, XCTO, "X-Content-Type-Options")
    headers += _maybe(rng, 0.5, REFERRER, "Referrer-Policy")
    headers += _maybe(rng, 0.3, CORP, "Cross-Origin-Resource-Policy")
    cookies = [["Set-Cookie", _cookie(rng)] for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    body_parts = ["<!doctype html><html><head><title>Dienst</title>"]
    for _ in range(rng.randint(0, 2)):
        meta = rng.choice(METAS)
        body_parts.append(meta.format(csp=_csp(rng).replace('"', "&quot;"), ref=rng.choice(REFERRER)))
    body_parts.append("</head><body>")
    for _ in range(rng.randint(0, 4)):
        body_parts.append(rng.choice(SCRIPTS).format(host=host))
    body_parts.append("</body></html>")
    body = "".join(body_parts)

    https_ok = rng.random() < 0.85
    verified = rng.random() < 0.9
    scenario = rng.choice(["no-http", "same-host", "same-host", "off-host", "http-first", "stays-http", "no-redirect"])
    final = f"https://{host}/" if https_ok else f"http://{host}/"
    auto = {"url": final, "status": 200, "headers": headers + cookies, "body": body,
            "verified": verified if https_ok else True}
    https = dict(auto) if https_ok else None
    route: list[list] = []
    http = None
    if scenario != "no-http":
        route = [[f"http://{host}/", 301]]
        if scenario == "same-host":
            route.append([f"https://{host}/", 200])
        elif scenario == "off-host":
            route += [[f"https://www.other-{host}/", 301], [f"https://{host}/", 200]]
        elif scenario == "http-first":
            route += [[f"http://www.{host}/", 301], [f"https://www.{host}/", 200]]
        elif scenario == "stays-http":
            route += [[f"http://www.{host}/", 200]]
        else:
            route[0][1] = 200
        http = {"url": route[-1][0], "status": 200, "headers": headers, "body": body,
                "verified": verified or not route[-1][0].startswith("https")}
    cors = None
    r = rng.random()
    if r < 0.15:
        cors = {"url": final, "status": 200, "headers": [["Access-Control-Allow-Origin", "*"]], "body": ""}
    elif r < 0.3:
        cors = {"url": final, "status": 200, "headers": [["Access-Control-Allow-Origin", "https://egov-monitor.invalid"],
                                                         ["Access-Control-Allow-Credentials", rng.choice(["true", "TRUE ", "false"])]],
                "body": ""}
    elif r < 0.35:
        cors = {"url": final, "status": 200, "headers": [["Access-Control-Allow-Origin", "https://partner.example"]],
                "body": ""}
    redirect_hop = {"url": f"https://{host}/login", "status": 302, "headers": [["Set-Cookie", _cookie(rng)]], "body": ""}
    session = [redirect_hop, auto] if rng.random() < 0.3 else [auto]
    return {"hostname": host, "session_url": f"https://{host}/" if https_ok else f"http://{host}/", "auto": auto,
            "http": http, "https": https, "http_route": route, "session": session, "cors": cors}


def cases(n: int, seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    return [case(rng) for _ in range(n)]
