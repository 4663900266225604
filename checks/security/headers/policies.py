"""Single-header policies: CORS, Referrer-Policy, X-Content-Type-Options, X-Frame-Options, CORP,
and the extra findings algorithm 4 does not score (COOP, COEP, Permissions-Policy, version disclosure)."""

from __future__ import annotations

import re

from checks.security.headers.csp import content_security_policy
from checks.security.headers.retrieval import Retrieval
from checks.security.headers.scoring import TestOutcome

# --- CORS -------------------------------------------------------------------------------

def cross_origin_resource_sharing(r: Retrieval) -> TestOutcome:
    name = "cross-origin-resource-sharing"
    result = "cross-origin-resource-sharing-not-implemented"
    data = None
    if r.cors is not None:
        acao = r.cors.first("access-control-allow-origin")
        creds = r.cors.first("access-control-allow-credentials")
        if acao:
            data = acao[:256].strip().lower()
            if data == "*":
                result = "cross-origin-resource-sharing-implemented-with-public-access"
            elif acao == r.cors_origin and creds and creds.lower().strip() == "true":
                result = "cross-origin-resource-sharing-implemented-with-universal-access"
            else:
                result = "cross-origin-resource-sharing-implemented-with-restricted-access"
    passed = result != "cross-origin-resource-sharing-implemented-with-universal-access"
    return TestOutcome(name, result, passed, {"allow_origin": data})


# --- Referrer-Policy --------------------------------------------------------------------

_REFERRER_GOOD = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
_REFERRER_BAD = ("origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade")


def referrer_policy(r: Retrieval) -> TestOutcome:
    name = "referrer-policy"
    resp = r.auto
    if resp is None:
        return TestOutcome(name, "referrer-policy-not-implemented", False)
    header = resp.values("referrer-policy")
    equiv = r.http_equiv.get("referrer-policy", [])
    if not header and not equiv:
        return TestOutcome(name, "referrer-policy-not-implemented", True)
    value = ", ".join([*header, *equiv])
    valid = [e.lower().strip() for e in value.split(",") if e.lower().strip() in _REFERRER_GOOD + _REFERRER_BAD]
    policy = valid[-1] if valid else ""
    if policy in _REFERRER_GOOD:
        result = "referrer-policy-private"
    elif policy in _REFERRER_BAD:
        result = "referrer-policy-unsafe"
    else:
        result = "referrer-policy-header-invalid"
    return TestOutcome(name, result, result == "referrer-policy-private", {"policy": policy or None})


# --- X-Content-Type-Options, X-Frame-Options, CORP ----------------------------------------

def x_content_type_options(r: Retrieval) -> TestOutcome:
    name = "x-content-type-options"
    if r.auto is None:
        return TestOutcome(name, "x-content-type-options-not-implemented", False)
    header = r.auto.first("x-content-type-options")
    if not header:
        result = "x-content-type-options-not-implemented"
    elif header[:256].strip().lower() == "nosniff":
        result = "x-content-type-options-nosniff"
    else:
        result = "x-content-type-options-header-invalid"
    return TestOutcome(name, result, result == "x-content-type-options-nosniff")


def x_frame_options(r: Retrieval, csp: TestOutcome | None = None) -> TestOutcome:
    name = "x-frame-options"
    if r.auto is None:
        return TestOutcome(name, "x-frame-options-not-implemented", False)
    header = r.auto.first("x-frame-options")
    if header:
        xfo = header[:1024].strip().lower()
        if xfo in ("deny", "sameorigin"):
            result = "x-frame-options-sameorigin-or-deny"
        elif xfo.startswith("allow-from"):
            result = "x-frame-options-allow-from-origin"
        else:
            result = "x-frame-options-header-invalid"
    else:
        result = "x-frame-options-not-implemented"
    csp = csp or content_security_policy(r)
    if csp.data and csp.data.get("frame_ancestors"):
        result = "x-frame-options-implemented-via-csp"
    passed = result in ("x-frame-options-allow-from-origin", "x-frame-options-sameorigin-or-deny",
                        "x-frame-options-implemented-via-csp")
    return TestOutcome(name, result, passed)


def cross_origin_resource_policy(r: Retrieval) -> TestOutcome:
    name = "cross-origin-resource-policy"
    if r.auto is None:
        return TestOutcome(name, "corp-not-implemented", False)
    header = r.auto.first("cross-origin-resource-policy")
    result = "corp-not-implemented"
    if header and header[:256].strip().lower():
        value = header[:256].strip().lower()
        result = {"same-site": "corp-implemented-with-same-site", "same-origin": "corp-implemented-with-same-origin",
                  "cross-origin": "corp-implemented-with-cross-origin"}.get(value, "corp-header-invalid")
    return TestOutcome(name, result, result != "corp-header-invalid")


# --- extra findings: not scored by algorithm 4 ------------------------------------------

def _structured_token(value: str) -> str:
    return value.split(";", 1)[0].strip().strip('"').lower()


def _policy_token(r: Retrieval, header: str, prefix: str, known: tuple[str, ...]) -> TestOutcome:
    """COOP/COEP: one structured-field token from a known list (the reference's draft tests)."""
    values = r.auto.values(header) if r.auto else []
    if not values:
        return TestOutcome(header, f"{prefix}-not-implemented", True)
    token = _structured_token(values[0][:1024])
    ok = "," not in values[0] and token in known
    result = f"{prefix}-implemented-with-{token}" if ok else f"{prefix}-header-invalid"
    return TestOutcome(header, result, ok)


def cross_origin_opener_policy(r: Retrieval) -> TestOutcome:
    return _policy_token(r, "cross-origin-opener-policy", "coop",
                         ("same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"))


def cross_origin_embedder_policy(r: Retrieval) -> TestOutcome:
    return _policy_token(r, "cross-origin-embedder-policy", "coep", ("require-corp", "credentialless", "unsafe-none"))


def permissions_policy(r: Retrieval) -> TestOutcome:
    name = "permissions-policy"
    present = bool(r.auto and r.auto.first("permissions-policy"))
    return TestOutcome(name, "permissions-policy-implemented" if present else "permissions-policy-not-implemented",
                       present)


_VERSION = re.compile(r"\d+\.\d+")
_DISCLOSING = ("server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version", "x-generator")


def version_disclosure(r: Retrieval) -> TestOutcome:
    """Server software with a version number in a header (a finding, not a grade)."""
    name = "version-disclosure"
    found = {}
    if r.auto is not None:
        for h in _DISCLOSING:
            v = r.auto.first(h)
            if v and (_VERSION.search(v) or h in ("x-aspnet-version", "x-aspnetmvc-version")):
                found[h] = v[:120]
    return TestOutcome(name, "version-disclosed" if found else "version-not-disclosed", not found, {"headers": found})
