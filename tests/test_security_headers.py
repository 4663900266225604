"""Every analyser over in-memory responses: at least one case per outcome the HTTP
Observatory distinguishes, plus the grader's arithmetic and hostile input."""

from __future__ import annotations

import time

import pytest

from checks.security import headers as sh
from checks.security.headers import HttpResponse, Retrieval

HOST = "example.org"


def make(headers=(), body="", *, https=True, verified=True, http="redirect", route=None, cors=None, session=None,
         ctype="text/html", host=HOST, preloaded=None) -> Retrieval:
    """A retrieval of https://example.org/ (or http:// when https=False) with these headers."""
    hdrs = tuple(([("Content-Type", ctype)] if ctype else []) + list(headers))
    final = f"https://{host}/" if https else f"http://{host}/"
    auto = HttpResponse(final, 200, hdrs, body, verified if https else True)
    http_resp = None
    if http == "redirect":
        route = route or ((f"http://{host}/", 301), (f"https://{host}/", 200))
        http_resp = HttpResponse(route[-1][0], 200, hdrs, body, verified)
    elif http == "plain":
        route = route or ((f"http://{host}/", 200),)
        http_resp = HttpResponse(route[-1][0], 200, hdrs, body, True)
    return Retrieval(hostname=host, auto=auto, http=http_resp, https=auto if https else None, http_route=route or (),
                     session=tuple(session) if session else (auto,), session_url=final,
                     cors=HttpResponse(final, 200, tuple(cors)) if cors is not None else None,
                     preloaded=frozenset(preloaded) if preloaded else None)


CSP = "Content-Security-Policy"
CSP_CASES = [
    ("none", make(), "csp-not-implemented", False),
    ("report-only", make([("Content-Security-Policy-Report-Only", "default-src 'self'")]),
     "csp-not-implemented-but-reporting-enabled", False),
    ("default-src none", make([(CSP, "default-src 'none'; form-action 'self'")]),
     "csp-implemented-with-no-unsafe-default-src-none", True),
    ("self", make([(CSP, "default-src 'self'")]), "csp-implemented-with-no-unsafe", True),
    ("unsafe-inline script", make([(CSP, "default-src 'self'; script-src 'self' 'unsafe-inline'")]),
     "csp-implemented-with-unsafe-inline", False),
    ("data: in script-src", make([(CSP, "default-src 'self'; script-src data:")]), "csp-implemented-with-unsafe-inline", False),
    ("no script restriction", make([(CSP, "img-src 'self'")]), "csp-implemented-with-unsafe-inline", False),
    ("object-src https:", make([(CSP, "default-src 'self'; object-src https:")]), "csp-implemented-with-unsafe-inline", False),
    ("nonce neutralises unsafe-inline", make([(CSP, "default-src 'self'; script-src 'nonce-abc' 'unsafe-inline'")]),
     "csp-implemented-with-no-unsafe", True),
    ("strict-dynamic with nonce", make([(CSP, "default-src 'none'; script-src 'nonce-abc' 'strict-dynamic' https:")]),
     "csp-implemented-with-no-unsafe-default-src-none", True),
    ("strict-dynamic without nonce", make([(CSP, "default-src 'self'; script-src 'strict-dynamic'")]),
     "csp-header-invalid", False),
    ("http: active on https", make([(CSP, "default-src 'self'; connect-src http://api.example.org")]),
     "csp-implemented-with-insecure-scheme", False),
    ("http: active on plain http site", make([(CSP, "default-src 'self'; connect-src http://api.example.org")],
                                             https=False, http="plain"), "csp-implemented-with-no-unsafe", True),
    ("unsafe-eval", make([(CSP, "default-src 'self'; script-src 'self' 'unsafe-eval'")]),
     "csp-implemented-with-unsafe-eval", False),
    ("http: images only", make([(CSP, "default-src 'self'; img-src http://img.example.org")]),
     "csp-implemented-with-insecure-scheme-in-passive-content-only", True),
    ("unsafe-inline style only", make([(CSP, "default-src 'self'; style-src 'self' 'unsafe-inline'")]),
     "csp-implemented-with-unsafe-inline-in-style-src-only", True),
    ("duplicate report-uri", make([(CSP, "default-src 'self'; report-uri /a; report-uri /b")]),
     "csp-implemented-but-duplicate-directives", True),
    ("duplicate directive", make([(CSP, "default-src 'self'; default-src 'none'")]), "csp-header-invalid", False),
    ("too short", make([(CSP, "a")]), "csp-header-invalid", False),
    ("meta policy", make(body='<meta http-equiv="Content-Security-Policy" content="default-src \'self\'">'),
     "csp-implemented-with-no-unsafe", True),
    ("meta with only frame-ancestors", make(body='<meta http-equiv="Content-Security-Policy" '
                                               'content="frame-ancestors \'none\'">'), "csp-not-implemented", False),
    ("meta in a comment", make(body='<!-- <meta http-equiv="Content-Security-Policy" content="default-src \'none\'"> -->'),
     "csp-not-implemented", False),
    ("meta on a JSON response", make(body='<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">',
                                     ctype="application/json"), "csp-not-implemented", False),
    ("malformed escape across header and meta", make([(CSP, "default-src https://a.example/%zz/")],
                                                     '<meta http-equiv="Content-Security-Policy" '
                                                     'content="default-src https://a.example/%zz/x">'),
     "csp-header-invalid", False),
]

COOKIE_CASES = [
    ("none", make(), "cookies-not-found", True),
    ("secure httponly samesite", make([("Set-Cookie", "SESSIONID=1; Secure; HttpOnly; SameSite=Lax")]),
     "cookies-secure-with-httponly-sessions-and-samesite", True),
    ("secure httponly, no samesite", make([("Set-Cookie", "SESSIONID=1; Secure; HttpOnly")]),
     "cookies-secure-with-httponly-sessions", True),
    ("not secure, HSTS", make([("Strict-Transport-Security", "max-age=31536000"), ("Set-Cookie", "lang=de; SameSite=Lax")]),
     "cookies-without-secure-flag-but-protected-by-hsts", False),
    ("session not secure, HSTS", make([("Strict-Transport-Security", "max-age=31536000"),
                                       ("Set-Cookie", "sessionid=1; HttpOnly; SameSite=Lax")]),
     "cookies-session-without-secure-flag-but-protected-by-hsts", False),
    ("not secure", make([("Set-Cookie", "lang=de; SameSite=Lax")]), "cookies-without-secure-flag", False),
    ("samesite bogus", make([("Set-Cookie", "lang=de; Secure; SameSite=Bogus")]), "cookies-samesite-flag-invalid", False),
    ("samesite none without secure", make([("Strict-Transport-Security", "max-age=31536000"),
                                           ("Set-Cookie", "lang=de; SameSite=None")]), "cookies-samesite-flag-invalid", False),
    ("csrf without samesite", make([("Set-Cookie", "csrftoken=1; Secure")]), "cookies-anticsrf-without-samesite-flag", False),
    ("session without httponly", make([("Set-Cookie", "PHPSESSID=1; Secure; SameSite=Lax")]),
     "cookies-session-without-httponly-flag", False),
    ("session without secure", make([("Set-Cookie", "login=1; HttpOnly; SameSite=Lax")]),
     "cookies-session-without-secure-flag", False),
    ("cookie on a redirect hop counts", make(session=[
        HttpResponse(f"https://{HOST}/start", 302, (("Set-Cookie", "JSESSIONID=1"),)),
        HttpResponse(f"https://{HOST}/", 200, (("Content-Type", "text/html"),))]), "cookies-session-without-secure-flag", False),
    ("foreign domain is refused", make([("Set-Cookie", "sessionid=1; Domain=other.org")]), "cookies-not-found", True),
    ("__Host- without Secure is refused", make([("Set-Cookie", "__Host-sess=1; Path=/")]), "cookies-not-found", True),
    ("no name=value is refused", make([("Set-Cookie", "justgarbage; Secure")]), "cookies-not-found", True),
]

CORS_CASES = [
    ("none", make(), "cross-origin-resource-sharing-not-implemented", True),
    ("public", make(cors=[("Access-Control-Allow-Origin", "*")]),
     "cross-origin-resource-sharing-implemented-with-public-access", True),
    ("restricted", make(cors=[("Access-Control-Allow-Origin", "https://partner.example")]),
     "cross-origin-resource-sharing-implemented-with-restricted-access", True),
    ("reflected with credentials", make(cors=[("Access-Control-Allow-Origin", sh.CORS_ORIGIN),
                                              ("Access-Control-Allow-Credentials", "true")]),
     "cross-origin-resource-sharing-implemented-with-universal-access", False),
]

R = "redirection"
REDIRECT_CASES = [
    ("to https on the same host", make(), "redirection-to-https", True),
    ("no http listener", make(http=None), "redirection-not-needed-no-http", True),
    ("stays on http", make(http="plain"), "redirection-missing", False),
    ("ends on http", make(route=(("http://example.org/", 301), ("http://www.example.org/", 200))),
     "redirection-not-to-https", False),
    ("http first", make(route=(("http://example.org/", 301), ("http://www.example.org/", 301),
                               ("https://www.example.org/", 200))), "redirection-not-to-https-on-initial-redirection", False),
    ("off host", make(route=(("http://example.org/", 301), ("https://www.example.org/", 200))),
     "redirection-off-host-from-http", False),
    ("invalid certificate", make(verified=False), "redirection-invalid-cert", False),
    # the reference's own list is not loaded in the differential harness: names are ours
    ("all preloaded", make(host="portal.example.org", preloaded=["example.org"],
                           route=(("http://portal.example.org/", 301), ("https://portal.example.org/", 200))),
     "redirection-all-redirects-preloaded", True),
]

STS = "Strict-Transport-Security"
HSTS_CASES = [
    ("one year", make([(STS, "max-age=31536000; includeSubDomains")]), "hsts-implemented-max-age-at-least-six-months", True),
    ("exactly 15552000", make([(STS, "max-age=15552000")]), "hsts-implemented-max-age-at-least-six-months", True),
    ("too short", make([(STS, "max-age=86400")]), "hsts-implemented-max-age-less-than-six-months", False),
    ("missing", make(), "hsts-not-implemented", False),
    ("no max-age", make([(STS, "includeSubDomains")]), "hsts-header-invalid", False),
    ("sent twice", make([(STS, "max-age=31536000"), (STS, "max-age=1")]), "hsts-header-invalid", False),
    ("no https", make(https=False, http="plain"), "hsts-not-implemented-no-https", False),
    ("invalid certificate", make([(STS, "max-age=31536000")], verified=False), "hsts-invalid-cert", False),
    ("preloaded", make(preloaded=["example.org"]), "hsts-preloaded", True),
    ("max-age not a number (reference quirk)", make([(STS, "max-age=abc")]),
     "hsts-implemented-max-age-at-least-six-months", True),
]

RP = "Referrer-Policy"
REFERRER_CASES = [
    ("strict-origin-when-cross-origin", make([(RP, "strict-origin-when-cross-origin")]), "referrer-policy-private", True),
    ("none", make(), "referrer-policy-not-implemented", True),
    ("unsafe-url", make([(RP, "unsafe-url")]), "referrer-policy-unsafe", False),
    ("bogus", make([(RP, "bogus")]), "referrer-policy-header-invalid", False),
    ("last valid value wins", make([(RP, "unsafe-url, no-referrer, bogus")]), "referrer-policy-private", True),
    ("meta overrides header", make([(RP, "no-referrer")], body='<meta name="referrer" content="unsafe-url">'),
     "referrer-policy-unsafe", False),
]

SRI_CASES = [
    ("not html", make(ctype="application/json"), "sri-not-implemented-response-not-html", True),
    ("no scripts", make(body="<p>hi</p>"), "sri-not-implemented-but-no-scripts-loaded", True),
    ("same origin", make(body='<script src="/app.js"></script>'),
     "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", True),
    ("same origin with integrity", make(body='<script src="/app.js" integrity="sha384-x"></script>'),
     "sri-implemented-and-all-scripts-loaded-securely", True),
    ("external with integrity", make(body='<script src="https://cdn.other.com/a.js" integrity="sha384-x"></script>'),
     "sri-implemented-and-external-scripts-loaded-securely", True),
    ("external https without integrity", make(body='<script src="https://cdn.other.com/a.js"></script>'),
     "sri-not-implemented-but-external-scripts-loaded-securely", False),
    ("external http with integrity", make(body='<script src="http://cdn.other.com/a.js" integrity="sha384-x"></script>'),
     "sri-implemented-but-external-scripts-not-loaded-securely", False),
    ("external http without integrity", make(body='<script src="http://cdn.other.com/a.js"></script>'),
     "sri-not-implemented-and-external-scripts-not-loaded-securely", False),
    ("protocol-relative", make(body='<script src="//cdn.other.com/a.js"></script>'),
     "sri-not-implemented-and-external-scripts-not-loaded-securely", False),
    ("subdomain counts as own", make(body='<script src="https://static.example.org/a.js"></script>'),
     "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", True),
    ("script text is not a tag", make(body='<script>document.write("<script src=http://evil.com/x.js>")</script>'),
     "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", True),
]

XCTO_CASES = [
    ("nosniff", make([("X-Content-Type-Options", "nosniff")]), "x-content-type-options-nosniff", True),
    ("missing", make(), "x-content-type-options-not-implemented", False),
    ("bogus", make([("X-Content-Type-Options", "sniff-please")]), "x-content-type-options-header-invalid", False),
]

XFO_CASES = [
    ("deny", make([("X-Frame-Options", "DENY")]), "x-frame-options-sameorigin-or-deny", True),
    ("allow-from", make([("X-Frame-Options", "ALLOW-FROM https://a.example")]), "x-frame-options-allow-from-origin", True),
    ("missing", make(), "x-frame-options-not-implemented", False),
    ("bogus", make([("X-Frame-Options", "maybe")]), "x-frame-options-header-invalid", False),
    ("sent twice", make([("X-Frame-Options", "DENY"), ("X-Frame-Options", "DENY")]), "x-frame-options-header-invalid", False),
    ("via csp", make([(CSP, "default-src 'self'; frame-ancestors 'self'")]), "x-frame-options-implemented-via-csp", True),
]

CORP_CASES = [
    ("same-site", make([("Cross-Origin-Resource-Policy", "same-site")]), "corp-implemented-with-same-site", True),
    ("same-origin", make([("Cross-Origin-Resource-Policy", "same-origin")]), "corp-implemented-with-same-origin", True),
    ("cross-origin", make([("Cross-Origin-Resource-Policy", "cross-origin")]), "corp-implemented-with-cross-origin", True),
    ("missing", make(), "corp-not-implemented", True),
    ("bogus", make([("Cross-Origin-Resource-Policy", "nobody")]), "corp-header-invalid", False),
]

EXTRA_CASES = [
    ("coop same-origin", make([("Cross-Origin-Opener-Policy", "same-origin")]), "cross-origin-opener-policy",
     "coop-implemented-with-same-origin", True),
    ("coop missing", make(), "cross-origin-opener-policy", "coop-not-implemented", True),
    ("coop bogus", make([("Cross-Origin-Opener-Policy", "whatever")]), "cross-origin-opener-policy", "coop-header-invalid", False),
    ("coep require-corp", make([("Cross-Origin-Embedder-Policy", "require-corp")]), "cross-origin-embedder-policy",
     "coep-implemented-with-require-corp", True),
    ("coep bogus", make([("Cross-Origin-Embedder-Policy", "x")]), "cross-origin-embedder-policy", "coep-header-invalid", False),
    ("permissions-policy", make([("Permissions-Policy", "camera=()")]), "permissions-policy",
     "permissions-policy-implemented", True),
    ("no permissions-policy", make(), "permissions-policy", "permissions-policy-not-implemented", False),
    ("server version", make([("Server", "nginx/1.22.1")]), "version-disclosure", "version-disclosed", False),
    ("php version", make([("X-Powered-By", "PHP/8.1.2")]), "version-disclosure", "version-disclosed", False),
    ("bare server name", make([("Server", "nginx")]), "version-disclosure", "version-not-disclosed", True),
]

TABLE = [(sh.content_security_policy, *c) for c in CSP_CASES] + [(sh.cookies, *c) for c in COOKIE_CASES] + \
    [(sh.cross_origin_resource_sharing, *c) for c in CORS_CASES] + [(sh.redirection, *c) for c in REDIRECT_CASES] + \
    [(sh.strict_transport_security, *c) for c in HSTS_CASES] + [(sh.referrer_policy, *c) for c in REFERRER_CASES] + \
    [(sh.subresource_integrity, *c) for c in SRI_CASES] + [(sh.x_content_type_options, *c) for c in XCTO_CASES] + \
    [(sh.x_frame_options, *c) for c in XFO_CASES] + [(sh.cross_origin_resource_policy, *c) for c in CORP_CASES]


@pytest.mark.parametrize(("analyser", "case", "retrieval", "expected", "passed"), TABLE,
                         ids=[f"{t[0].__name__}: {t[1]}" for t in TABLE])
def test_analyser(analyser, case, retrieval, expected, passed):
    outcome = analyser(retrieval)
    assert (outcome.result, outcome.passed) == (expected, passed)
    assert outcome.result in sh.SCORE_TABLE


@pytest.mark.parametrize(("case", "retrieval", "test", "expected", "passed"), EXTRA_CASES, ids=[c[0] for c in EXTRA_CASES])
def test_extra_findings_are_reported_but_not_scored(case, retrieval, test, expected, passed):
    g = sh.grade(retrieval)
    assert (g.extra[test].result, g.extra[test].passed) == (expected, passed)
    assert test not in g.tests


def test_every_scored_outcome_has_a_case():
    covered = {c[3] for c in TABLE}
    scored = {k for k in sh.SCORE_TABLE if k != "html-not-parseable"}  # jsdom never fails to parse; neither do we
    assert scored <= covered, f"no table case for: {sorted(scored - covered)}"


# --- the grader -----------------------------------------------------------------------------

STRICT = [(CSP, "default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
          (STS, "max-age=63072000; includeSubDomains"), ("X-Content-Type-Options", "nosniff"),
          ("Referrer-Policy", "no-referrer"), ("Cross-Origin-Resource-Policy", "same-origin"),
          ("Set-Cookie", "SESSIONID=1; Secure; HttpOnly; SameSite=Strict")]


def test_strict_headers_earn_every_bonus():
    # 100 + csp 10 + cookies 5 + referrer 5 + xfo-via-csp 5 + corp 10 = 135
    g = sh.grade(make(STRICT, '<script src="/a.js" integrity="sha384-x"></script>'))
    assert (g.score, g.grade, g.tests_passed) == (140, "A+", 10)  # and SRI on own scripts: +5


def test_bonuses_count_only_from_90_on():
    # Missing X-Content-Type-Options (-5) and HSTS (-20): 75 without bonuses, bonuses ignored.
    headers = [h for h in STRICT if h[0] not in ("X-Content-Type-Options", STS)]
    g = sh.grade(make(headers))
    assert (g.score, g.grade) == (75, "B")
    # With only -5 the uncurved score is 95: every bonus counts.
    headers = [h for h in STRICT if h[0] != "X-Content-Type-Options"]
    assert sh.grade(make(headers)).score == 130


def test_no_headers_at_all():
    # csp -25, hsts -20, xcto -5, xfo -20 = 30 on a page that redirects properly.
    g = sh.grade(make())
    assert (g.score, g.grade) == (30, "D")


def test_score_never_below_zero_and_grade_boundaries():
    bad = [("Set-Cookie", "sessionid=1"), (CSP, "script-src 'strict-dynamic'")]
    g = sh.grade(make(bad, '<script src="http://cdn.other.com/a.js"></script>', http="plain", verified=False,
                      cors=[("Access-Control-Allow-Origin", sh.CORS_ORIGIN), ("Access-Control-Allow-Credentials", "true")]))
    assert g.score == 0 and g.grade == "F"
    assert [sh.grade_for_score(s) for s in (100, 99, 90, 89, 85, 25, 24, 0, 135)] == \
        ["A+", "A", "A", "A-", "A-", "D-", "F", "F", "A+"]


def test_algorithm_version_is_in_every_result():
    d = sh.grade(make()).to_dict()
    assert d["algorithm"] == "mdn-http-observatory" and d["algorithm_version"] == 4


# --- hostile input --------------------------------------------------------------------------

def test_header_of_64_kib_gives_a_verdict():
    huge = "default-src 'self' " + " ".join(f"https://h{i}.example.org" for i in range(3000))
    assert len(huge) > 64 * 1024
    g = sh.grade(make([(CSP, huge), ("X-Frame-Options", "D" * 70000)]))
    assert g.tests["content-security-policy"].result == "csp-implemented-with-no-unsafe"
    assert g.tests["x-frame-options"].result == "x-frame-options-header-invalid"


def test_csp_with_10000_sources_is_fast_and_bounded():
    policy = "default-src 'self'; script-src " + " ".join(f"https://cdn{i}.example.org/js/" for i in range(10000))
    t0 = time.perf_counter()
    outcome = sh.content_security_policy(make([(CSP, policy)]))
    assert time.perf_counter() - t0 < 2.0
    assert outcome.result == "csp-implemented-with-no-unsafe"
    assert len(outcome.data["directives"]["script-src"]) <= 50  # evidence is capped


@pytest.mark.parametrize("cookie", ["=novalue", "", ";;;", "a=b; Domain=", "a=b; SameSite", "a\x01=b", "x=" + "y" * 70000,
                                    "a=b; Expires=not a date; Max-Age=abc; Path=relative", "Ä=ö; Secure"])
def test_malformed_cookies_never_crash(cookie):
    outcome = sh.cookies(make([("Set-Cookie", cookie)]))
    assert outcome.result in sh.SCORE_TABLE


def test_non_utf8_header_bytes_never_crash():
    # http.client hands header bytes over as latin-1: every byte maps to a character.
    raw = bytes(range(128, 256)).decode("latin-1")
    g = sh.grade(make([(CSP, "default-src 'self' " + raw), (STS, raw), ("Referrer-Policy", raw),
                       ("X-Content-Type-Options", raw), ("Set-Cookie", f"s{raw}=1")], body="\udcff<script src=x>"))
    assert g.grade in sh.GRADES
    assert g.tests["strict-transport-security"].result == "hsts-header-invalid"


def test_retrieval_round_trips_through_plain_data():
    r = make(STRICT, "<p>", cors=[("Access-Control-Allow-Origin", "*")])
    again = sh.retrieval_from_dict(sh.retrieval_to_dict(r))
    assert sh.grade(again).score == sh.grade(r).score
