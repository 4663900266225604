"""The Observatory's score table (algorithm 4), grades and the outcome of one test."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

ALGORITHM = "mdn-http-observatory"
ALGORITHM_VERSION = 4
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
CORS_ORIGIN = "https://egov-monitor.invalid"  # the foreign origin our CORS preflight claims to come from

# --- the score table (charts.js SCORE_TABLE), expectation -> modifier -----------------

class Expectation(enum.StrEnum):
    """Every outcome a test can have: the scored expectations of algorithm 4 (the reference's
    ids, SCORE_TABLE below) and the outcomes of the extra, unscored tests. A test outcome
    outside this set is a bug, refused when the outcome is made."""

    CSP_IMPLEMENTED_WITH_NO_UNSAFE_DEFAULT_SRC_NONE = "csp-implemented-with-no-unsafe-default-src-none"
    CSP_IMPLEMENTED_WITH_NO_UNSAFE = "csp-implemented-with-no-unsafe"
    CSP_IMPLEMENTED_WITH_UNSAFE_INLINE_IN_STYLE_SRC_ONLY = "csp-implemented-with-unsafe-inline-in-style-src-only"
    CSP_IMPLEMENTED_WITH_INSECURE_SCHEME_IN_PASSIVE_CONTENT_ONLY = "csp-implemented-with-insecure-scheme-in-passive-content-only"
    CSP_IMPLEMENTED_WITH_UNSAFE_EVAL = "csp-implemented-with-unsafe-eval"
    CSP_IMPLEMENTED_WITH_UNSAFE_INLINE = "csp-implemented-with-unsafe-inline"
    CSP_IMPLEMENTED_WITH_INSECURE_SCHEME = "csp-implemented-with-insecure-scheme"
    CSP_HEADER_INVALID = "csp-header-invalid"
    CSP_NOT_IMPLEMENTED = "csp-not-implemented"
    CSP_NOT_IMPLEMENTED_BUT_REPORTING_ENABLED = "csp-not-implemented-but-reporting-enabled"
    CSP_IMPLEMENTED_BUT_DUPLICATE_DIRECTIVES = "csp-implemented-but-duplicate-directives"
    COOKIES_SECURE_WITH_HTTPONLY_SESSIONS_AND_SAMESITE = "cookies-secure-with-httponly-sessions-and-samesite"
    COOKIES_SECURE_WITH_HTTPONLY_SESSIONS = "cookies-secure-with-httponly-sessions"
    COOKIES_NOT_FOUND = "cookies-not-found"
    COOKIES_WITHOUT_SECURE_FLAG_BUT_PROTECTED_BY_HSTS = "cookies-without-secure-flag-but-protected-by-hsts"
    COOKIES_SESSION_WITHOUT_SECURE_FLAG_BUT_PROTECTED_BY_HSTS = "cookies-session-without-secure-flag-but-protected-by-hsts"
    COOKIES_WITHOUT_SECURE_FLAG = "cookies-without-secure-flag"
    COOKIES_SAMESITE_FLAG_INVALID = "cookies-samesite-flag-invalid"
    COOKIES_ANTICSRF_WITHOUT_SAMESITE_FLAG = "cookies-anticsrf-without-samesite-flag"
    COOKIES_SESSION_WITHOUT_HTTPONLY_FLAG = "cookies-session-without-httponly-flag"
    COOKIES_SESSION_WITHOUT_SECURE_FLAG = "cookies-session-without-secure-flag"
    CROSS_ORIGIN_RESOURCE_SHARING_NOT_IMPLEMENTED = "cross-origin-resource-sharing-not-implemented"
    CROSS_ORIGIN_RESOURCE_SHARING_IMPLEMENTED_WITH_PUBLIC_ACCESS = "cross-origin-resource-sharing-implemented-with-public-access"
    CROSS_ORIGIN_RESOURCE_SHARING_IMPLEMENTED_WITH_RESTRICTED_ACCESS = "cross-origin-resource-sharing-implemented-with-restricted-access"
    CROSS_ORIGIN_RESOURCE_SHARING_IMPLEMENTED_WITH_UNIVERSAL_ACCESS = "cross-origin-resource-sharing-implemented-with-universal-access"
    REDIRECTION_ALL_REDIRECTS_PRELOADED = "redirection-all-redirects-preloaded"
    REDIRECTION_TO_HTTPS = "redirection-to-https"
    REDIRECTION_NOT_NEEDED_NO_HTTP = "redirection-not-needed-no-http"
    REDIRECTION_OFF_HOST_FROM_HTTP = "redirection-off-host-from-http"
    REDIRECTION_NOT_TO_HTTPS_ON_INITIAL_REDIRECTION = "redirection-not-to-https-on-initial-redirection"
    REDIRECTION_NOT_TO_HTTPS = "redirection-not-to-https"
    REDIRECTION_MISSING = "redirection-missing"
    REDIRECTION_INVALID_CERT = "redirection-invalid-cert"
    REFERRER_POLICY_PRIVATE = "referrer-policy-private"
    REFERRER_POLICY_NOT_IMPLEMENTED = "referrer-policy-not-implemented"
    REFERRER_POLICY_UNSAFE = "referrer-policy-unsafe"
    REFERRER_POLICY_HEADER_INVALID = "referrer-policy-header-invalid"
    HSTS_PRELOADED = "hsts-preloaded"
    HSTS_IMPLEMENTED_MAX_AGE_AT_LEAST_SIX_MONTHS = "hsts-implemented-max-age-at-least-six-months"
    HSTS_IMPLEMENTED_MAX_AGE_LESS_THAN_SIX_MONTHS = "hsts-implemented-max-age-less-than-six-months"
    HSTS_NOT_IMPLEMENTED = "hsts-not-implemented"
    HSTS_HEADER_INVALID = "hsts-header-invalid"
    HSTS_NOT_IMPLEMENTED_NO_HTTPS = "hsts-not-implemented-no-https"
    HSTS_INVALID_CERT = "hsts-invalid-cert"
    SRI_IMPLEMENTED_AND_ALL_SCRIPTS_LOADED_SECURELY = "sri-implemented-and-all-scripts-loaded-securely"
    SRI_IMPLEMENTED_AND_EXTERNAL_SCRIPTS_LOADED_SECURELY = "sri-implemented-and-external-scripts-loaded-securely"
    SRI_NOT_IMPLEMENTED_RESPONSE_NOT_HTML = "sri-not-implemented-response-not-html"
    SRI_NOT_IMPLEMENTED_BUT_NO_SCRIPTS_LOADED = "sri-not-implemented-but-no-scripts-loaded"
    SRI_NOT_IMPLEMENTED_BUT_ALL_SCRIPTS_LOADED_FROM_SECURE_ORIGIN = "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    SRI_NOT_IMPLEMENTED_BUT_EXTERNAL_SCRIPTS_LOADED_SECURELY = "sri-not-implemented-but-external-scripts-loaded-securely"
    SRI_IMPLEMENTED_BUT_EXTERNAL_SCRIPTS_NOT_LOADED_SECURELY = "sri-implemented-but-external-scripts-not-loaded-securely"
    SRI_NOT_IMPLEMENTED_AND_EXTERNAL_SCRIPTS_NOT_LOADED_SECURELY = "sri-not-implemented-and-external-scripts-not-loaded-securely"
    X_CONTENT_TYPE_OPTIONS_NOSNIFF = "x-content-type-options-nosniff"
    X_CONTENT_TYPE_OPTIONS_NOT_IMPLEMENTED = "x-content-type-options-not-implemented"
    X_CONTENT_TYPE_OPTIONS_HEADER_INVALID = "x-content-type-options-header-invalid"
    X_FRAME_OPTIONS_IMPLEMENTED_VIA_CSP = "x-frame-options-implemented-via-csp"
    X_FRAME_OPTIONS_SAMEORIGIN_OR_DENY = "x-frame-options-sameorigin-or-deny"
    X_FRAME_OPTIONS_ALLOW_FROM_ORIGIN = "x-frame-options-allow-from-origin"
    X_FRAME_OPTIONS_NOT_IMPLEMENTED = "x-frame-options-not-implemented"
    X_FRAME_OPTIONS_HEADER_INVALID = "x-frame-options-header-invalid"
    CORP_HEADER_INVALID = "corp-header-invalid"
    CORP_IMPLEMENTED_WITH_CROSS_ORIGIN = "corp-implemented-with-cross-origin"
    CORP_IMPLEMENTED_WITH_SAME_ORIGIN = "corp-implemented-with-same-origin"
    CORP_IMPLEMENTED_WITH_SAME_SITE = "corp-implemented-with-same-site"
    CORP_NOT_IMPLEMENTED = "corp-not-implemented"
    HTML_NOT_PARSEABLE = "html-not-parseable"
    # extra findings, not scored
    PERMISSIONS_POLICY_IMPLEMENTED = "permissions-policy-implemented"
    PERMISSIONS_POLICY_NOT_IMPLEMENTED = "permissions-policy-not-implemented"
    VERSION_DISCLOSED = "version-disclosed"
    VERSION_NOT_DISCLOSED = "version-not-disclosed"
    COOP_NOT_IMPLEMENTED = "coop-not-implemented"
    COOP_HEADER_INVALID = "coop-header-invalid"
    COOP_IMPLEMENTED_WITH_SAME_ORIGIN = "coop-implemented-with-same-origin"
    COOP_IMPLEMENTED_WITH_SAME_ORIGIN_ALLOW_POPUPS = "coop-implemented-with-same-origin-allow-popups"
    COOP_IMPLEMENTED_WITH_NOOPENER_ALLOW_POPUPS = "coop-implemented-with-noopener-allow-popups"
    COOP_IMPLEMENTED_WITH_UNSAFE_NONE = "coop-implemented-with-unsafe-none"
    COEP_NOT_IMPLEMENTED = "coep-not-implemented"
    COEP_HEADER_INVALID = "coep-header-invalid"
    COEP_IMPLEMENTED_WITH_REQUIRE_CORP = "coep-implemented-with-require-corp"
    COEP_IMPLEMENTED_WITH_CREDENTIALLESS = "coep-implemented-with-credentialless"
    COEP_IMPLEMENTED_WITH_UNSAFE_NONE = "coep-implemented-with-unsafe-none"


_EXPECTATIONS = frozenset(e.value for e in Expectation)

SCORE_TABLE: dict[str, int] = {  # expectation -> score modifier
    # content-security-policy
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    "csp-not-implemented-but-reporting-enabled": -25,
    "csp-implemented-but-duplicate-directives": 0,
    # cookies
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    # cross-origin-resource-sharing
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    # redirection
    "redirection-all-redirects-preloaded": 0,
    "redirection-to-https": 0,
    "redirection-not-needed-no-http": 0,
    "redirection-off-host-from-http": -5,
    "redirection-not-to-https-on-initial-redirection": -10,
    "redirection-not-to-https": -20,
    "redirection-missing": -20,
    "redirection-invalid-cert": -20,
    # referrer-policy
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    # strict-transport-security
    "hsts-preloaded": 5,
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    "hsts-not-implemented-no-https": -20,
    "hsts-invalid-cert": -20,
    # subresource-integrity
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    # x-content-type-options
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    # x-frame-options
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 0,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    # cross-origin-resource-policy
    "corp-header-invalid": -5,
    "corp-implemented-with-cross-origin": 0,
    "corp-implemented-with-same-origin": 10,
    "corp-implemented-with-same-site": 10,
    "corp-not-implemented": 0,
    # generic
    "html-not-parseable": -20,
}

GRADE_CHART = {100: "A+", 95: "A", 90: "A", 85: "A-", 80: "B+", 75: "B", 70: "B", 65: "B-", 60: "C+", 55: "C",
               50: "C", 45: "C-", 40: "D+", 35: "D", 30: "D", 25: "D-", 20: "F", 15: "F", 10: "F", 5: "F", 0: "F"}
GRADES = ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")  # best first

SCORED_TESTS = (
    "content-security-policy", "cookies", "cross-origin-resource-sharing", "redirection", "referrer-policy",
    "strict-transport-security", "subresource-integrity", "x-content-type-options", "x-frame-options",
    "cross-origin-resource-policy",
)
EXTRA_TESTS = ("cross-origin-opener-policy", "cross-origin-embedder-policy", "permissions-policy", "version-disclosure")
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
SIX_MONTHS = 15552000  # reference: 15768000 is six months, it accepts the common 15552000


# --- results --------------------------------------------------------------------------

@dataclasses.dataclass(slots=True)
class TestOutcome:
    """One test's outcome: the reference's expectation id, pass/fail, and its modifier."""

    name: str
    result: str  # an Expectation; analysers may pass its value
    passed: bool
    data: Any = None

    def __post_init__(self) -> None:
        if self.result not in _EXPECTATIONS:  # a set lookup: this runs for every test of every analysis
            raise ValueError(f"unknown expectation {self.result!r} for {self.name}")

    @property
    def modifier(self) -> int:
        return SCORE_TABLE.get(self.result, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "pass": self.passed, "modifier": self.modifier, "data": self.data}


def worse(new: str, old: str | None, order: Sequence[str]) -> str:
    """reference: onlyIfWorse() - index in `order` decides; unknown entries count as -1."""
    if not old:
        return new
    return new if _index(order, new) > _index(order, old) else old


def _index(order: Sequence[str], item: str) -> int:
    try:
        return order.index(item)
    except ValueError:
        return -1
