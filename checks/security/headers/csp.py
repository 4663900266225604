"""Content-Security-Policy, parsed and judged as the Observatory does."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from checks.security.headers.retrieval import Retrieval
from checks.security.headers.scoring import TestOutcome

# --- Content-Security-Policy ------------------------------------------------------------

_DANGEROUSLY_BROAD = frozenset({"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"})
_UNSAFE_INLINE = frozenset({"'unsafe-inline'", "data:"})
_BROAD_OR_INLINE = _DANGEROUSLY_BROAD | _UNSAFE_INLINE
_PASSIVE = ("img-src", "media-src")
_NONCES_HASHES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
_DISALLOWED_IN_META = ("frame-ancestors", "report-uri", "sandbox")
_ALLOWED_DUPLICATES = frozenset({"report-uri", "report-to"})
DUPLICATE_WARNINGS = "_observatory_duplicate_key_warnings"

# reference: sources are sorted with Intl.Collator("en"), whose order for ASCII differs from
# code points (punctuation, then digits, then letters). The order decides which neighbour a
# source is compared with, so we sort with the same ranks.
_ICU_ASCII = "\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ"
# Each ASCII character becomes one whose code point has its ICU rank; other ASCII controls
# go after them, everything beyond ASCII keeps its (higher) code point.
_ICU_TABLE = {ord(c): chr(1 + i) for i, c in enumerate(_ICU_ASCII)}
_ICU_TABLE.update({i: chr(100 + i) for i in range(128) if i not in _ICU_TABLE})


def _collation_key(s: str) -> str:
    return s.translate(_ICU_TABLE)


class CspError(ValueError):
    """The policy cannot be parsed (the reference's csp-header-invalid)."""


def _decode_uri_component(piece: str) -> str:
    """JavaScript's decodeURIComponent: raises on a malformed escape, as the reference does."""
    if "%" not in piece:
        return piece
    if re.search(r"%(?![0-9a-fA-F]{2})", piece):
        raise CspError(f"malformed escape in {piece[:40]!r}")
    try:
        return unquote_to_bytes(piece).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CspError(f"malformed escape in {piece[:40]!r}") from exc


def _path_part_match(a: str, b: str) -> bool:
    if not a:
        return True
    if a == "/" and not b:
        return True
    exact = not a.endswith("/")
    la, lb = a.split("/"), b.split("/")
    if len(la) > len(lb):
        return False
    if exact and len(la) != len(lb):
        return False
    if not exact:
        la.pop()
    return all(_decode_uri_component(x) == _decode_uri_component(y) for x, y in zip(la, lb, strict=False))


_WS = re.compile(r"\s+")


def parse_csp(policies: Sequence[str]) -> dict[str, set[str]]:
    """Parse one or more policies into directive -> sources (reference: parseCsp)."""
    clean = [p.replace("\r", "").replace("\n", "").strip() for p in policies]
    if not clean:
        return {}
    for p in clean:
        if len(p) < len("img-src") - 1:
            raise CspError(f"policy too short: {p!r}")
    csp: dict[str, list[list]] = {}  # directive -> [source, policy index, keep]
    duplicates: set[str] = set()
    for index, policy in enumerate(clean):
        seen: set[str] = set()
        for entry in policy.lower().split(";"):  # directives and sources are both compared lower-case
            tokens = _WS.split(entry.strip())
            directive = tokens[0]
            if not directive:
                continue
            if directive in seen:
                if directive in _ALLOWED_DUPLICATES:
                    duplicates.add(directive)
                else:
                    raise CspError(f"directive {directive} repeated in policy {index + 1}")
            else:
                seen.add(directive)
            keep = index == 0
            values: list[list[Any]] = [[s, index, keep] for s in tokens[1:]]
            if not values and directive.endswith("-src"):
                values = [["'none'", index, keep]]
            combined = values if index == 0 else [*csp.get(directive, []), *values]
            if len(combined) > 1:
                combined.sort(key=lambda v: _collation_key(v[0]))
                for i in range(1, len(combined)):
                    src, prev = combined[i], combined[i - 1]
                    if src[1] == prev[1] and src[0].startswith(prev[0]):
                        src[2] = False  # a longer source under a shorter one adds nothing
                    if src[1] != prev[1] and _path_part_match(prev[0], src[0]):
                        src[2] = True  # in both policies: it counts
            csp[directive] = [v for v in combined if v[2]]
            if index == 0 and len(policies) > 1:
                for v in csp[directive]:
                    v[2] = False
    final = {d: ({v[0] for v in vs} if vs else {"'none'"}) for d, vs in csp.items()}
    if duplicates:
        final[DUPLICATE_WARNINGS] = duplicates
    return final


def parse_csp_meta(policies: Sequence[str]) -> dict[str, set[str]]:
    parsed = parse_csp(policies)
    for d in _DISALLOWED_IN_META:
        parsed.pop(d, None)
    return parsed


def _first(*sets: set[str] | None) -> set[str]:
    """JavaScript's `a || b || c` over Sets: an empty Set still counts (it is an object)."""
    for s in sets:
        if s is not None:
            return s
    raise ValueError("no set")


def _has_nonce_or_hash(sources: Iterable[str]) -> bool:
    return any(s.startswith(_NONCES_HASHES) for s in sources)


def content_security_policy(r: Retrieval) -> TestOutcome:
    name = "content-security-policy"
    resp = r.auto
    if resp is None or not r.session_url:
        return TestOutcome(name, "csp-not-implemented", False)
    header = resp.values("content-security-policy")
    equiv = r.http_equiv.get("content-security-policy", [])
    try:
        csp = parse_csp([*header, *equiv])
    except CspError as exc:
        return TestOutcome(name, "csp-header-invalid", False, {"error": str(exc)[:200]})
    if not equiv:  # the usual case: the combined policy is the header's policy
        header_only, meta = csp, {}
    else:
        try:
            header_only = parse_csp(header)
        except CspError:
            header_only = {}
        try:
            meta = parse_csp_meta(equiv)
        except CspError:
            meta = {}
    if len(header_only) + len(meta) == 0:
        if resp.first("content-security-policy-report-only"):
            return TestOutcome(name, "csp-not-implemented-but-reporting-enabled", False)
        return TestOutcome(name, "csp-not-implemented", False)

    result: str | None = None
    https = urlsplit(r.session_url).scheme == "https"
    # reference: the same set objects are shared (script-src may *be* default-src) and
    # edited in place below; we keep that aliasing on purpose.
    default_src = csp.get("default-src")
    object_src = _first(csp.get("object-src"), default_src, {"*"})
    script_src = _first(csp.get("script-src"), default_src, {"*"})
    style_src = _first(csp.get("style-src"), default_src, {"*"})
    for sources in (script_src, style_src):
        if _has_nonce_or_hash(sources) and "'unsafe-inline'" in sources:
            sources.discard("'unsafe-inline'")
    strict_dynamic = False
    if _has_nonce_or_hash(script_src) and "'strict-dynamic'" in script_src:
        for s in list(script_src):
            if any(s.startswith(b) for b in _DANGEROUSLY_BROAD) or s in ("'self'", "'unsafe-inline'"):
                script_src.discard(s)
        strict_dynamic = True
    elif "'strict-dynamic'" in script_src:
        result = result or "csp-header-invalid"

    active = [s for d, srcs in csp.items() if d not in _PASSIVE and d != "script-src" for s in srcs]
    active.extend(script_src)
    passive = [s for d in _PASSIVE for s in _first(csp.get(d), default_src, set())]

    unsafe_inline = bool(script_src & _BROAD_OR_INLINE) or bool(object_src & _DANGEROUSLY_BROAD)
    if unsafe_inline:
        result = result or "csp-implemented-with-unsafe-inline"
    insecure_active = https and any(s.startswith(("http:", "ftp:")) for s in active)
    if insecure_active:
        result = result or "csp-implemented-with-insecure-scheme"
    unsafe_eval = "'unsafe-eval'" in script_src or "'unsafe-eval'" in style_src
    if unsafe_eval:
        result = result or "csp-implemented-with-unsafe-eval"
    insecure_passive = https and any(s.startswith(("http:", "ftp:")) for s in passive)
    if insecure_passive:
        result = result or "csp-implemented-with-insecure-scheme-in-passive-content-only"
    unsafe_style = bool(style_src & _BROAD_OR_INLINE)
    if unsafe_style:
        result = result or "csp-implemented-with-unsafe-inline-in-style-src-only"
    default_src = csp.get("default-src")
    default_none = default_src is not None and "'none'" in default_src and len(default_src) == 1
    if default_none:
        result = result or "csp-implemented-with-no-unsafe-default-src-none"
    else:
        result = result or "csp-implemented-with-no-unsafe"

    frame_ancestors = _first(header_only.get("frame-ancestors"), {"*"})
    policy = {
        "antiClickjacking": not (frame_ancestors & _DANGEROUSLY_BROAD),
        "defaultNone": default_none,
        "insecureBaseUri": bool(_first(csp.get("base-uri"), {"*"}) & _BROAD_OR_INLINE),
        "insecureFormAction": bool(_first(csp.get("form-action"), {"*"}) & _DANGEROUSLY_BROAD),
        "insecureSchemeActive": insecure_active,
        "insecureSchemePassive": insecure_passive,
        "strictDynamic": strict_dynamic,
        "unsafeEval": unsafe_eval,
        "unsafeInline": unsafe_inline,
        "unsafeInlineStyle": unsafe_style,
        "unsafeObjects": bool(object_src & _DANGEROUSLY_BROAD),
    }
    passed = result in ("csp-implemented-with-no-unsafe", "csp-implemented-with-no-unsafe-default-src-none",
                        "csp-implemented-with-unsafe-inline-in-style-src-only",
                        "csp-implemented-with-insecure-scheme-in-passive-content-only")
    if passed and DUPLICATE_WARNINGS in csp:
        result = "csp-implemented-but-duplicate-directives"
    data = {d[:60]: sorted(v)[:50] for d, v in list(csp.items())[:40] if d != DUPLICATE_WARNINGS}  # evidence, capped
    return TestOutcome(name, result, passed, {"directives": data, "policy": policy, "http": bool(header),
                                              "meta": bool(equiv), "frame_ancestors": "frame-ancestors" in csp})
