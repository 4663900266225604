"""Security headers, analysed and graded the way the MDN HTTP Observatory does it.

Three stages, as in the Observatory: `retrieve()` fetches once (the HTTP URL, the HTTPS
URL with redirects and cookies, a CORS preflight), the analysers are pure functions over
that `Retrieval`, and `grade()` turns their results into score and grade. Analysers never
touch the network, so they are tested on in-memory responses.

The scored tests, their expectations and modifiers follow MDN HTTP Observatory scoring
algorithm version 4 (npm package @mdn/mdn-http-observatory 1.4.x: src/analyzer/tests,
src/grader/charts.js, src/scanner/index.js). Where the reference has a quirk, it is kept
on purpose so that our grades equal its grades; the quirks are marked "reference:".
COOP, COEP, Permissions-Policy and version disclosure are reported as extra findings
with no score modifier: algorithm 4 does not score them.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

import hstspreload

if TYPE_CHECKING:
    from checks.httpprobe import FetchOptions

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


# --- what the retriever hands over ------------------------------------------------------

# Node's http module keeps only the first of these when a header repeats; the reference
# sees headers through it, so we do the same. Every other repeated header is joined ", ".
_FIRST_ONLY = frozenset({
    "age", "authorization", "content-length", "content-type", "etag", "expires", "from", "host",
    "if-modified-since", "if-unmodified-since", "last-modified", "location", "max-forwards",
    "proxy-authorization", "referer", "retry-after", "server", "user-agent",
})


class HttpResponse:
    """One HTTP response as fetched: the final one of a chain, or one hop of it. Treated as immutable.

    A plain class with slots rather than a frozen dataclass: thousands are built per
    second in the benchmark, and a frozen dataclass's __init__ costs three times as much.
    """

    __slots__ = ("url", "status", "headers", "body", "verified", "_by_name")

    def __init__(self, url: str, status: int, headers: tuple[tuple[str, str], ...] = (), body: str = "",
                 verified: bool = True) -> None:
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body
        self.verified = verified  # False when the TLS chain was invalid and we retried without checking
        self._by_name: dict[str, list[str]] | None = None

    def __repr__(self) -> str:
        return f"HttpResponse({self.url!r}, {self.status}, {len(self.headers)} headers)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HttpResponse) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (self.url, self.status, self.headers, self.body, self.verified)

    def replace(self, **changes: Any) -> HttpResponse:
        values = dict(zip(("url", "status", "headers", "body", "verified"), self._key(), strict=True))
        values.update(changes)
        return HttpResponse(**values)

    def _index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for k, v in self.headers:
            k = k.lower()
            if k in index:
                index[k].append(v)
            else:
                index[k] = [v]
        self._by_name = index
        return index

    def values(self, name: str) -> list[str]:
        """Header values (`name` in lower case) as the reference sees them (Node's joining rules)."""
        index = self._by_name or self._index()
        found = index.get(name)
        if not found or name == "set-cookie":
            return found or []
        if name in _FIRST_ONLY:
            return found[:1]
        return [", ".join(found)] if len(found) > 1 else found

    def first(self, name: str) -> str | None:
        v = self.values(name)
        return v[0] if v else None


@dataclasses.dataclass(frozen=True)
class Retrieval:
    """Everything the analysers read. Built by `retrieve()` or, in tests, by hand.

    auto: the HTTPS response when HTTPS answered at all (even with a bad certificate),
    else the HTTP one; it is the page that is graded. http_route: URL and status of every
    hop the HTTP URL went through, final one included. session: every response of the
    chain that produced `auto`, in order (their Set-Cookie headers fill the cookie jar).
    """

    hostname: str
    auto: HttpResponse | None
    http: HttpResponse | None = None
    https: HttpResponse | None = None
    http_route: tuple[tuple[str, int], ...] = ()
    session: tuple[HttpResponse, ...] = ()
    session_url: str = ""  # the URL the chosen chain started from (decides "is this site https")
    cors: HttpResponse | None = None
    cors_origin: str = CORS_ORIGIN
    preloaded: frozenset[str] | None = None  # extra HSTS-preloaded names; None: only the bundled list

    @functools.cached_property
    def http_equiv(self) -> dict[str, list[str]]:
        resp = self.auto
        if resp is None or resp.body == "":
            return {"content-security-policy": []}
        ctype = (resp.first("content-type") or "").split(";")[0]
        if ctype not in HTML_TYPES:
            return {"content-security-policy": []}
        return _page(resp.body).http_equiv

    @property
    def route(self) -> tuple[tuple[str, int], ...]:
        if self.http_route or self.http is None:
            return self.http_route
        return ((self.http.url, self.http.status),)


# --- a small HTML scanner: <meta> and <script> start tags only --------------------------

_TOKENS = re.compile(r"<!--|<(/?)(script|meta|style|template|textarea|title)(?=[\s/>])", re.IGNORECASE)
_ATTR = re.compile(r"""[\s/]*(?:([^\s"'>/=][^\s>/=]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]*)))?)?""")


_END_TAG = {t: re.compile(f"</{t}", re.IGNORECASE) for t in ("script", "style", "textarea", "title")}


@dataclasses.dataclass(slots=True)
class _Page:
    http_equiv: dict[str, list[str]]
    scripts: list[dict[str, str]]  # attributes of every <script>, inline ones included


def _attributes(text: str, pos: int) -> tuple[dict[str, str], int]:
    """Attributes of the start tag whose name ended at `pos`; returns them and the end."""
    attrs: dict[str, str] = {}
    n = len(text)
    while pos < n:
        if text[pos] == ">":
            return attrs, pos + 1
        m = _ATTR.match(text, pos)
        if m is None or m.end() == pos:
            pos += 1  # a stray character the pattern does not take: skip it, as browsers do
            continue
        name = m.group(1)
        if name is not None:
            name = name.lower()
            if name not in attrs:  # the first of duplicate attributes wins
                value = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4) or ""
                attrs[name] = html.unescape(value) if "&" in value else value
        pos = m.end()
    return attrs, n


@functools.lru_cache(maxsize=256)
def _page(body: str) -> _Page:
    equiv: dict[str, list[str]] = {"content-security-policy": []}
    scripts: list[dict[str, str]] = []
    template_depth = 0
    pos = 0
    while True:
        m = _TOKENS.search(body, pos)
        if m is None:
            break
        if m.group(0) == "<!--":
            end = body.find("-->", m.end())
            pos = len(body) if end < 0 else end + 3
            continue
        closing, tag = m.group(1), m.group(2).lower()
        if tag == "template":
            template_depth = max(0, template_depth + (-1 if closing else 1))
            pos = body.find(">", m.end()) + 1 or len(body)
            continue
        if closing:
            pos = m.end()
            continue
        attrs, pos = _attributes(body, m.end())
        if tag in ("script", "style", "textarea", "title"):
            # raw text: nothing inside is a tag, up to the matching end tag
            end_match = _END_TAG[tag].search(body, pos)
            if tag == "script" and template_depth == 0:
                scripts.append(attrs)
            pos = len(body) if end_match is None else end_match.start()
            continue
        if template_depth:
            continue
        # tag == "meta"
        if "http-equiv" in attrs and "content" in attrs:
            content = attrs["content"]
            if content and attrs["http-equiv"].lower().strip() == "content-security-policy":
                equiv["content-security-policy"].append(content)
        elif attrs.get("name", "").lower().strip() == "referrer" and attrs.get("content"):
            equiv["referrer-policy"] = [attrs["content"]]
    return _Page(equiv, scripts)


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


def _worse(new: str, old: str | None, order: Sequence[str]) -> str:
    """reference: onlyIfWorse() - index in `order` decides; unknown entries count as -1."""
    if not old:
        return new
    return new if _index(order, new) > _index(order, old) else old


def _index(order: Sequence[str], item: str) -> int:
    try:
        return order.index(item)
    except ValueError:
        return -1


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
            values = [[s, index, keep] for s in tokens[1:]]
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
        if not (host == domain or (host.endswith("." + domain) and not _is_ip(host))):
            return None  # not this host's domain: a jar refuses it
        if domain != host and not _is_ip(domain) and registrable_domain(domain) is None:
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


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+", host)) or ":" in host


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
                result = _worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
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
            result = _worse(f, result, _COOKIE_ORDER)
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


# --- HSTS preload list --------------------------------------------------------------------

def is_hsts_preloaded(host: str, extra: frozenset[str] | None = None) -> bool:
    """In Chromium's preload list (bundled `hstspreload` package) or the operator's list."""
    host = host.lower().rstrip(".")
    if extra:
        labels = host.split(".")
        if any(".".join(labels[i:]) in extra for i in range(len(labels))):
            return True
    if not host or _is_ip(host):
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


# --- Subresource Integrity ----------------------------------------------------------------

_SRI_ORDER = (
    "sri-implemented-and-all-scripts-loaded-securely", "sri-implemented-and-external-scripts-loaded-securely",
    "sri-implemented-but-external-scripts-not-loaded-securely",
    "sri-not-implemented-but-external-scripts-loaded-securely",
    "sri-not-implemented-and-external-scripts-not-loaded-securely", "sri-not-implemented-response-not-html",
)
_URL_STRIP = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")


@functools.lru_cache(maxsize=1)
def _extractor():
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=False)


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str | None:
    """The registrable domain of `host` as tldts (the reference's library) reports it."""
    host = host.lower().strip(".")
    if not host or _is_ip(host):
        return None
    ext = _extractor()(host)
    if ext.suffix:
        return f"{ext.domain}.{ext.suffix}" if ext.domain else None
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else None  # unknown TLD: tldts' default rule "*"


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
    page = _page(resp.body)
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
                result = _worse("sri-implemented-but-external-scripts-not-loaded-securely", result, _SRI_ORDER)
            elif not integrity and secure_scheme:
                result = _worse("sri-not-implemented-but-external-scripts-loaded-securely", result, _SRI_ORDER)
            elif not integrity and not secure_scheme:
                result = _worse("sri-not-implemented-and-external-scripts-not-loaded-securely", result, _SRI_ORDER)
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


# --- grading ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Grade:
    score: int
    grade: str
    tests: dict[str, TestOutcome]
    extra: dict[str, TestOutcome]

    @property
    def tests_passed(self) -> int:
        return sum(1 for t in self.tests.values() if t.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"algorithm": ALGORITHM, "algorithm_version": ALGORITHM_VERSION, "score": self.score,
                "grade": self.grade, "tests_passed": self.tests_passed,
                "tests_failed": len(self.tests) - self.tests_passed,
                "tests": {n: t.to_dict() for n, t in self.tests.items()},
                "extra": {n: t.to_dict() for n, t in self.extra.items()}}


def grade_for_score(score: int) -> str:
    score = max(score, 0)
    return GRADE_CHART[min(score - score % 5, 100)]


def analyse(r: Retrieval) -> dict[str, TestOutcome]:
    """Run every scored test, in the reference's order."""
    csp = content_security_policy(r)
    hsts = strict_transport_security(r)
    return {
        "content-security-policy": csp,
        "cookies": cookies(r, hsts),
        "cross-origin-resource-sharing": cross_origin_resource_sharing(r),
        "redirection": redirection(r),
        "referrer-policy": referrer_policy(r),
        "strict-transport-security": hsts,
        "subresource-integrity": subresource_integrity(r),
        "x-content-type-options": x_content_type_options(r),
        "x-frame-options": x_frame_options(r, csp),
        "cross-origin-resource-policy": cross_origin_resource_policy(r),
    }


def grade(r: Retrieval) -> Grade:
    """Score and grade: 100 plus every modifier; bonuses count only if the score
    without them is at least 90; never below 0."""
    tests = analyse(r)
    with_bonus = uncurved = 100
    for t in tests.values():
        modifier = SCORE_TABLE.get(t.result, 0)
        with_bonus += modifier
        if modifier < 0:
            uncurved += modifier
    score = max(with_bonus if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved, 0)
    extra = {f.__name__.replace("_", "-"): f(r) for f in (cross_origin_opener_policy, cross_origin_embedder_policy,
                                                           permissions_policy, version_disclosure)}
    return Grade(score, grade_for_score(score), tests, extra)


# --- plain-data form (the store, the differential tests against the reference) ----------

def _response_to_dict(r: HttpResponse | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"url": r.url, "status": r.status, "headers": [list(h) for h in r.headers], "body": r.body,
            "verified": r.verified}


def _response_from_dict(d: dict[str, Any] | None) -> HttpResponse | None:
    if d is None:
        return None
    return HttpResponse(d["url"], int(d["status"]), tuple(map(tuple, d.get("headers", ()))),
                        d.get("body", ""), bool(d.get("verified", True)))


def retrieval_to_dict(r: Retrieval) -> dict[str, Any]:
    return {"hostname": r.hostname, "session_url": r.session_url, "auto": _response_to_dict(r.auto),
            "http": _response_to_dict(r.http), "https": _response_to_dict(r.https),
            "http_route": [list(x) for x in r.http_route], "session": [_response_to_dict(x) for x in r.session],
            "cors": _response_to_dict(r.cors)}


def retrieval_from_dict(d: dict[str, Any]) -> Retrieval:
    return Retrieval(
        hostname=d["hostname"], auto=_response_from_dict(d.get("auto")), http=_response_from_dict(d.get("http")),
        https=_response_from_dict(d.get("https")), http_route=tuple((u, int(s)) for u, s in d.get("http_route", ())),
        session=tuple(x for x in (_response_from_dict(s) for s in d.get("session", ())) if x is not None),
        session_url=d.get("session_url", ""), cors=_response_from_dict(d.get("cors")),
    )


# --- the retriever: the only part that touches the network --------------------------------

_CERT_REASONS = frozenset({"tls_invalid_certificate", "tls_expired", "tls_hostname"})


@dataclasses.dataclass(frozen=True, slots=True)
class SessionResult:
    """One chain (HTTP or HTTPS) as fetched, with why it failed if it did."""

    url: str
    hops: tuple[HttpResponse, ...]  # every response, final one last (it alone has the body)
    verified: bool
    error: Any = None  # httpprobe.ProbeError

    @property
    def response(self) -> HttpResponse | None:
        return self.hops[-1] if self.hops else None


def _session(url: str, options: FetchOptions) -> SessionResult:
    from checks.httpprobe import fetch

    out = fetch(url, options)
    verified = options.verify_tls
    if out.error is not None and out.error.reason.value in _CERT_REASONS and options.verify_tls:
        # reference: a bad certificate is retried without verification and marked unverified
        out = fetch(url, dataclasses.replace(options, verify_tls=False))
        verified = False
    if not out.hops:
        return SessionResult(url, (), verified, out.error)
    if out.error is not None and out.error.reason.value not in ("too_many_redirects",):
        return SessionResult(url, (), verified, out.error)
    body = out.body.decode("utf-8", "replace") if out.error is None else ""
    hops = [HttpResponse(h.url, h.status, h.headers, "", verified) for h in out.hops]
    hops[-1] = hops[-1].replace(body=body)
    return SessionResult(url, tuple(hops), verified, out.error)


def site_urls(url: str, http_port: int | None = None, https_port: int | None = None) -> tuple[str, str]:
    """The HTTP and the HTTPS URL of the page at `url` (same host and path)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    own = parts.port
    hp = http_port or (own if parts.scheme == "http" and own else 80)
    sp = https_port or (own if parts.scheme == "https" and own else 443)
    http_url = f"http://{host}{'' if hp == 80 else f':{hp}'}{path}"
    https_url = f"https://{host}{'' if sp == 443 else f':{sp}'}{path}"
    return http_url, https_url


def retrieve(url: str, options: FetchOptions, *, http_port: int | None = None, https_port: int | None = None,
             preloaded: frozenset[str] | None = None) -> tuple[Retrieval, SessionResult, SessionResult]:
    """Fetch the page over HTTP and HTTPS (concurrently), then a CORS preflight.

    `options` are httpprobe.FetchOptions; their timeout bounds each of the three steps.
    """
    import concurrent.futures

    from checks.httpprobe import fetch

    http_url, https_url = site_urls(url, http_port, https_port)
    opts = dataclasses.replace(options, truncate_body=True, follow_redirects=True, max_redirects=10,
                               headers=(("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="security-fetch") as pool:
        f_http, f_https = pool.submit(_session, http_url, opts), pool.submit(_session, https_url, opts)
        http_s, https_s = f_http.result(), f_https.result()
    chosen = https_s if https_s.response is not None else http_s
    cors = None
    if chosen.response is not None:
        preflight = fetch(chosen.response.url, dataclasses.replace(
            opts, method="OPTIONS", verify_tls=chosen.verified, max_body_bytes=64 * 1024,
            headers=(("Access-Control-Request-Method", "GET"), ("Origin", CORS_ORIGIN))))
        if preflight.error is None and 200 <= preflight.status < 300:
            cors = HttpResponse(preflight.final_url, preflight.status, tuple(preflight.headers))
    retrieval = Retrieval(
        hostname=urlsplit(url).hostname or "", auto=chosen.response, http=http_s.response, https=https_s.response,
        http_route=tuple((h.url, h.status) for h in http_s.hops), session=chosen.hops,
        session_url=chosen.url if chosen.response is not None else "", cors=cors, preloaded=preloaded)
    return retrieval, http_s, https_s
