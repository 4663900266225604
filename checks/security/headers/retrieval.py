"""What the retriever hands over, and the retriever: the only part that touches the network."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from checks.httpprobe import FetchOptions

from checks.security.headers.page import parse_page
from checks.security.headers.scoring import CORS_ORIGIN, HTML_TYPES

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

    __slots__ = ("_by_name", "body", "headers", "status", "url", "verified")

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
        return parse_page(resp.body).http_equiv

    @property
    def route(self) -> tuple[tuple[str, int], ...]:
        if self.http_route or self.http is None:
            return self.http_route
        return ((self.http.url, self.http.status),)


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
