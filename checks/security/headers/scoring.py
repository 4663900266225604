"""The Observatory's score table (algorithm 4), grades and the outcome of one test."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

ALGORITHM = "mdn-http-observatory"
ALGORITHM_VERSION = 4
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
CORS_ORIGIN = "https://egov-monitor.invalid"  # the foreign origin our CORS preflight claims to come from

# --- the score table (charts.js SCORE_TABLE), expectation -> modifier -----------------

SCORE_TABLE: dict[str, int] = {
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
    result: str
    passed: bool
    data: Any = None

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
