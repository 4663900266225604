"""One HTTP(S) request chain over fresh connections, timed by phase.

The phases are the ones blackbox_exporter reports, summed over redirect hops:
resolve (DNS), connect (TCP), tls (handshake), processing (request sent to first
response byte) and transfer (first byte to end of body). Sockets, TLS and timing are
done here by hand because no HTTP library exposes them; parsing the response is left to
the standard library's `http.client`. One deadline bounds the whole chain, so a server
that drips one byte at a time still costs no more than the timeout.

This module only fetches. It never decides up or down: that is the check's job.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fnmatch
import functools
import http.client
import io
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from checks.httptext import MAX_HEADER_BYTES, HeadersTooLarge, InvalidRedirect, german_error, redirect_target
from checks.proxy import Proxy
from checks.result import Reason

USER_AGENT = "egov-monitor/0.1 (+https://github.com/ego-saar/egov-monitor)"
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PHASES = ("resolve", "connect", "tls", "processing", "transfer")

# http.client refuses header lines over 64 KiB and more than 100 headers. Real servers send
# long CSPs and many Set-Cookie lines, and the security check must still give a verdict,
# so both limits are raised (module globals: http.client offers no other way).
# Chromium has no limit on the number of header fields, only on their size (256 KiB in all),
# so the count is lifted and the size counted over the whole header block instead.
http.client._MAXLINE = max(http.client._MAXLINE, MAX_HEADER_BYTES)  # type: ignore[attr-defined]
http.client._MAXHEADERS = max(http.client._MAXHEADERS, MAX_HEADER_BYTES)  # type: ignore[attr-defined]




# OpenSSL verify codes that have a reason of their own (x509_vfy.h); checks/security/tls.py uses them too.
X509_V_ERR_CERT_HAS_EXPIRED = 10
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_IP_ADDRESS_MISMATCH = 64

# getaddrinfo() cannot be interrupted; a small shared pool lets us stop waiting for it.
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="resolve")

IpFamily = Literal["ipv4", "ipv6", "auto"]


class ProbeError(Exception):
    """A failure with a reason from the fixed set, raised inside one fetch."""

    def __init__(self, reason: Reason, detail: str, verify_code: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.verify_code = verify_code  # OpenSSL's verify code when the certificate was rejected


@dataclasses.dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str
    cipher: str
    earliest_cert_expiry: float | None  # unix seconds, over the chain when known
    subject: str | None
    issuer: str | None
    aia_issuer_url: str | None = None  # the intermediate the server did not send was fetched from here


@dataclasses.dataclass(frozen=True, slots=True)
class Hop:
    """One response of a redirect chain."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]


@dataclasses.dataclass(slots=True)
class FetchOutcome:
    """Everything a fetch learned, successful or not."""

    url: str
    final_url: str
    started_at: datetime
    error: ProbeError | None = None
    status: int = 0
    http_version: float = 0.0
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b""
    body_truncated: bool = False
    content_length: int = 0
    redirects: int = 0
    redirect_chain: list[str] = dataclasses.field(default_factory=list)
    hops: list[Hop] = dataclasses.field(default_factory=list)  # every response of the chain, final one last
    phases: dict[str, float] = dataclasses.field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    duration: float = 0.0
    ip: str | None = None
    ip_protocol: int = 0
    tls: TlsInfo | None = None
    proxy: str | None = None  # host:port of the proxy the (last) hop went through

    @property
    def used_tls(self) -> bool:
        return urlsplit(self.final_url).scheme == "https"


@dataclasses.dataclass(frozen=True, slots=True)
class FetchOptions:
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0
    follow_redirects: bool = True
    max_redirects: int = 10
    max_body_bytes: int = 10 * 1024 * 1024
    ip_family: IpFamily = "ipv4"
    ip_fallback: bool = True
    verify_tls: bool = True
    ca_file: str | None = None
    truncate_body: bool = False  # keep the first max_body_bytes of a larger body instead of failing
    # Chromium's --host-resolver-rules as (pattern, replacement) pairs: the same names reach the
    # same servers as in the operator's browser (see host_rules_from_arguments)
    host_rules: tuple[tuple[str, str], ...] = ()
    proxy: Proxy | None = None  # HTTP proxy (CONNECT for HTTPS); hosts in its no_proxy go direct
    http2: bool = True  # HTTP/2 where the server offers it over TLS (libcurl prober; this one speaks 1.1)


# The probe asks what a citizen's browser would get, so that `down` means a browser fails too:
# it offers what Chromium offers. CLIENT_PROFILE names that offer and is stored with every
# HTTPS result; BROWSER_CIPHERS are the TLS 1.2 suites of Chromium 156's ClientHello (read off
# Debian's chromium 156.0.8078.73, in its order: ECDHE with AES-GCM and ChaCha20, ECDHE-RSA
# with AES-CBC-SHA, then static RSA with AES-GCM and AES-CBC-SHA); TLS 1.3 offers OpenSSL's three
# suites, which are Chromium's. TLS 1.2 and 1.3 only, like Chromium since version 84. Refusing
# weak TLS is the security check's job (checks/security/tls.py), not availability's.
CLIENT_PROFILE = "chromium-156"
BROWSER_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384",
    "AES128-SHA", "AES256-SHA",
)
BROWSER_CIPHERS = ":".join(BROWSER_SUITES)


def client_context(verify: bool, ca_file: str | None, *, browser: bool = True) -> ssl.SSLContext:
    """A new client context: verifying (system CAs or `ca_file`) or accepting anything.

    With `browser` (the default) it offers CLIENT_PROFILE's protocol versions and suites;
    without, OpenSSL's defaults, for callers that set their own offer.
    """
    if verify:
        ctx = ssl.create_default_context(cafile=ca_file)
        # Python 3.13 adds VERIFY_X509_STRICT to its defaults, which rejects certificates that
        # browsers accept (e.g. without an Authority Key Identifier): a false outage. Verify as
        # Chromium does; the security check reports such certificate defects itself.
        ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if browser:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(BROWSER_CIPHERS)
    return ctx


@functools.lru_cache(maxsize=32)
def _tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    # Building a context loads the CA bundle (milliseconds): build each kind once.
    ctx = client_context(verify, ca_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class _Deadline:
    def __init__(self, timeout: float) -> None:
        self.end = time.monotonic() + timeout

    def remaining(self, what: Reason, detail: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise ProbeError(what, detail)
        return left


class _DeadlineReader(io.RawIOBase):
    """Raw stream over a socket: every read respects the overall deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline, prefix: bytes) -> None:
        self._sock = sock
        self._deadline = deadline
        self._prefix = prefix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        self._sock.settimeout(self._deadline.remaining(Reason.READ_TIMEOUT, "Antwort vor der Zeitgrenze nicht vollständig"))
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError as exc:
            raise ProbeError(Reason.READ_TIMEOUT, "Antwort vor der Zeitgrenze nicht vollständig") from exc


class _SocketShim:
    """What http.client.HTTPResponse needs from a socket: makefile()."""

    def __init__(self, raw: _DeadlineReader) -> None:
        self._raw = raw

    def makefile(self, *_args: Any, **_kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._raw, buffer_size=65536)


def host_rules_from_arguments(arguments: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The MAP rules of Chromium's `--host-resolver-rules=...` among browser arguments, in order:
    ("pattern", "host[:port]" or "~NOTFOUND"). EXCLUDE rules are kept as (pattern, "") so that they
    stop the search as in Chromium."""
    rules: list[tuple[str, str]] = []
    for arg in arguments:
        if not arg.startswith("--host-resolver-rules="):
            continue
        for rule in arg.split("=", 1)[1].split(","):
            words = rule.split()
            if len(words) == 3 and words[0].upper() == "MAP":
                rules.append((words[1].lower(), words[2]))
            elif len(words) == 2 and words[0].upper() == "EXCLUDE":
                rules.append((words[1].lower(), ""))
    return tuple(rules)


def mapped(host: str, port: int, rules: tuple[tuple[str, str], ...]) -> tuple[str, int]:
    """The address and port `host:port` is reached at under the host rules (browser.hosts, the
    browser's --host-resolver-rules); ProbeError(dns) for a name mapped to ~NOTFOUND."""
    for pattern, replacement in rules:
        if fnmatch.fnmatchcase(host.lower(), pattern):
            if not replacement:  # EXCLUDE
                return host, port
            if replacement.upper() == "~NOTFOUND":
                raise ProbeError(Reason.DNS, f"Namensauflösung für {host} gescheitert: ~NOTFOUND in den Host-Regeln")
            target, port_text = replacement, ""
            if replacement.startswith("["):  # [::1]:8443 or [::1]
                end = replacement.find("]")
                target, rest = replacement[1:end], replacement[end + 1:]
                port_text = rest[1:] if rest.startswith(":") else ""
            elif replacement.count(":") == 1:
                target, port_text = replacement.split(":")
            return target, int(port_text) if port_text.isdigit() else port
    return host, port


def _resolve(host: str, port: int, options: FetchOptions, deadline: _Deadline) -> tuple[int, tuple]:
    if options.host_rules:
        host, port = mapped(host, port, options.host_rules)
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return family, (str(ip), port)

    def lookup() -> list[Any]:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)

    future = _RESOLVER.submit(lookup)
    try:
        infos = future.result(timeout=deadline.remaining(Reason.DNS, "DNS lookup timed out"))
    except concurrent.futures.TimeoutError as exc:
        raise ProbeError(Reason.DNS, f"Namensauflösung für {host}: Zeitgrenze überschritten") from exc
    except socket.gaierror as exc:
        raise ProbeError(Reason.DNS, f"Namensauflösung für {host} gescheitert: {exc.strerror}") from exc
    preferred = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}.get(options.ip_family)
    if preferred is not None:
        chosen = [i for i in infos if i[0] == preferred]
        if not chosen and not options.ip_fallback:
            raise ProbeError(Reason.DNS, f"{host} hat keine {options.ip_family}-Adresse")
        infos = chosen or infos
    if not infos:
        raise ProbeError(Reason.DNS, f"{host} hat keine Adresse")
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, sockaddr


def _connect(family: int, sockaddr: tuple, deadline: _Deadline) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(deadline.remaining(Reason.CONNECT_TIMEOUT, "no time left to connect"))
        sock.connect(sockaddr)
        return sock
    except ConnectionRefusedError as exc:
        sock.close()
        raise ProbeError(Reason.CONNECT_REFUSED, f"Verbindung zu {sockaddr[0]} Port {sockaddr[1]} abgelehnt") from exc
    except TimeoutError as exc:
        sock.close()
        raise ProbeError(Reason.CONNECT_TIMEOUT, f"Verbindung zu {sockaddr[0]} Port {sockaddr[1]}: Zeitgrenze überschritten") from exc
    except OSError as exc:
        sock.close()
        raise ProbeError(Reason.CONNECT_ERROR, f"Verbindung zu {sockaddr[0]} gescheitert: {exc.strerror or exc}") from exc


def _cert_expiry(der_certs: list[bytes]) -> tuple[float | None, str | None, str | None]:
    from cryptography import x509  # imported lazily: plain-HTTP probes never need it

    earliest = None
    subject = issuer = None
    for i, der in enumerate(der_certs):
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        expiry = cert.not_valid_after_utc.timestamp()
        earliest = expiry if earliest is None else min(earliest, expiry)
        if i == 0:
            subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    return earliest, subject, issuer


def _handshake(sock: socket.socket, host: str, options: FetchOptions, deadline: _Deadline,
               ctx: ssl.SSLContext | None = None) -> tuple[ssl.SSLSocket, TlsInfo]:
    ctx = ctx or _tls_context(options.verify_tls, options.ca_file)
    tls = ctx.wrap_socket(sock, server_hostname=host.strip("[]"), do_handshake_on_connect=False)
    try:
        tls.settimeout(deadline.remaining(Reason.READ_TIMEOUT, "no time left for the TLS handshake"))
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        tls.close()
        code = exc.verify_code
        if code == X509_V_ERR_CERT_HAS_EXPIRED:
            reason = Reason.TLS_EXPIRED
        elif code in (X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH):
            reason = Reason.TLS_HOSTNAME
        else:
            reason = Reason.TLS_INVALID_CERTIFICATE
        raise ProbeError(reason, f"Zertifikat abgelehnt: {exc.verify_message}", code) from exc
    except TimeoutError as exc:
        tls.close()
        raise ProbeError(Reason.READ_TIMEOUT, "TLS-Handshake vor der Zeitgrenze nicht abgeschlossen") from exc
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        tls.close()
        raise ProbeError(Reason.TLS_ERROR, f"TLS-Handshake gescheitert: {getattr(exc, 'reason', None) or exc}") from exc
    chain: list[bytes] = []
    get_chain = getattr(tls, "get_verified_chain", None)  # Python 3.13+
    if options.verify_tls and get_chain is not None:
        try:
            chain = list(get_chain())
        except (ssl.SSLError, ValueError):  # the leaf alone is still useful
            chain = []
    if not chain:
        leaf = tls.getpeercert(binary_form=True)
        chain = [leaf] if leaf else []
    expiry, subject, issuer = _cert_expiry(chain)
    cipher = tls.cipher()
    info = TlsInfo(version=tls.version() or "", cipher=cipher[0] if cipher else "",
                   earliest_cert_expiry=expiry, subject=subject, issuer=issuer)
    return tls, info


def issuer_via_aia(cert_der: bytes, timeout: float, proxy: Proxy | None = None) -> tuple[str, bytes, bool] | None:
    """The issuer of `cert_der` from its AIA "CA Issuers" URL, as browsers fetch an intermediate
    a server did not send: (url, DER certificate, whether it is a self-signed root), or None.
    A root found this way is never to be trusted: only an intermediate may complete a chain.
    Plain HTTP only (as CAs publish it; HTTPS would need the very chain being completed), through
    `proxy` where the check goes through one (a CA's server is as far outside as the service)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    try:
        cert = x509.load_der_x509_certificate(cert_der)
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    end = time.monotonic() + timeout
    for desc in list(aia)[:4]:
        url = desc.access_location.value
        if desc.access_method != x509.oid.AuthorityInformationAccessOID.CA_ISSUERS or not isinstance(url, str):
            continue
        left = end - time.monotonic()
        if urlsplit(url).scheme != "http" or left <= 0:
            continue
        out = fetch(url, FetchOptions(timeout=left, max_body_bytes=64 * 1024, max_redirects=3, proxy=proxy))
        if out.error is not None or out.status != 200:
            continue
        candidates: list[x509.Certificate] = []
        for load in (x509.load_der_x509_certificate, x509.load_pem_x509_certificate):
            try:
                candidates = [load(out.body)]
                break
            except ValueError:
                pass
        if not candidates:
            try:  # .p7c, as some CAs publish
                candidates = pkcs7.load_der_pkcs7_certificates(out.body)
            except ValueError:
                continue
        for issuer in candidates:
            if issuer.subject == cert.issuer:
                return url, issuer.public_bytes(Encoding.DER), issuer.subject == issuer.issuer
    return None


def trust_intermediate(ctx: ssl.SSLContext, issuer_der: bytes) -> ssl.SSLContext:
    """`ctx` with an intermediate found over AIA available for path building; it must still
    chain to a trusted root (never an anchor itself, as Python 3.13's partial-chain default would make it)."""
    ctx.load_verify_locations(cadata=issuer_der)
    ctx.verify_flags &= ~ssl.VERIFY_X509_PARTIAL_CHAIN
    return ctx


def _handshake_completing_chain(connect: Callable[[], socket.socket], host: str, options: FetchOptions,
                                deadline: _Deadline, rejected: ProbeError) -> tuple[ssl.SSLSocket, TlsInfo]:
    """The server did not send the issuer of its certificate: fetch it from the AIA URL and verify
    again, as Chromium does, so a missing intermediate alone is no outage. Raises `rejected` when
    that does not help. `connect()` opens a new connection to the service (through the proxy
    where the probe goes through one)."""
    sock = connect()
    try:
        look, _ = _handshake(sock, host, options, deadline, _tls_context(False, None))
        leaf = look.getpeercert(binary_form=True)
        look.close()
    except ProbeError:
        raise rejected from None
    found = issuer_via_aia(leaf, deadline.remaining(rejected.reason, rejected.detail), options.proxy) if leaf else None
    if found is None or found[2]:  # nothing found, or an untrusted root
        raise rejected
    url, issuer, _root = found
    ctx = trust_intermediate(client_context(True, options.ca_file), issuer)
    ctx.set_alpn_protocols(["http/1.1"])
    sock = connect()
    tls, info = _handshake(sock, host, options, deadline, ctx)
    return tls, dataclasses.replace(info, aia_issuer_url=url)


def _request_bytes(method: str, url_parts: Any, options: FetchOptions, proxy: Proxy | None = None) -> bytes:
    """The request; through a proxy (plain HTTP) in absolute form with its credentials."""
    path = url_parts.path or "/"
    if url_parts.query:
        path += "?" + url_parts.query
    host = url_parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if url_parts.scheme == "https" else 80
    if url_parts.port and url_parts.port != default_port:
        host = f"{host}:{url_parts.port}"
    if proxy is not None:
        path = f"{url_parts.scheme}://{host}{path}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if proxy is not None and proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    names = {name.lower() for name, _ in options.headers}
    if "user-agent" not in names:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in names:
        lines.append("Accept: */*")
    lines.extend(f"{name}: {value}" for name, value in options.headers)
    lines.append("Connection: close")  # one fresh connection per probe, as blackbox does
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _via_proxy[T](step: Callable[[], T], proxy: Proxy) -> T:
    """Resolve or connect to the proxy; its failure is the monitor's own network (proxy_error)."""
    try:
        return step()
    except ProbeError as exc:
        raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address} nicht erreichbar: {exc.detail}") from exc


def _tunnel(sock: socket.socket, host: str, port: int, proxy: Proxy, deadline: _Deadline) -> None:
    """CONNECT through the proxy. Its refusal or a broken answer is proxy_error (unknown); a
    gateway error (502, 503, 504) means the proxy could not reach the service: a connect error
    of the service, which the canaries tell from a failing proxy as for any outage."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}", f"User-Agent: {USER_AGENT}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    answer = b""
    try:
        sock.settimeout(deadline.remaining(Reason.CONNECT_TIMEOUT, "keine Zeit mehr für den Proxy-Tunnel"))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while b"\r\n\r\n" not in answer:
            sock.settimeout(deadline.remaining(Reason.CONNECT_TIMEOUT, "Proxy-Tunnel: Zeitgrenze überschritten"))
            chunk = sock.recv(4096)
            if not chunk or len(answer) > 16384:
                raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address}: keine gültige Antwort auf CONNECT")
            answer += chunk
    except TimeoutError as exc:
        raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address}: keine Antwort auf CONNECT vor der Zeitgrenze") from exc
    except OSError as exc:
        raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address}: Verbindung abgebrochen ({exc})") from exc
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    fields = status_line.split(" ", 2)
    code = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    if 200 <= code < 300:
        return
    if code in (502, 503, 504):
        raise ProbeError(Reason.CONNECT_ERROR, f"der Proxy erreicht {authority} nicht ({code})")
    if code == 407:
        raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address} verlangt eine (andere) Anmeldung (407)")
    raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address} lehnt den Tunnel ab: {status_line[:80]}")


def open_tunnel(proxy: Proxy, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to host:port through the proxy's CONNECT tunnel (the security check's
    TLS handshakes). ProbeError: PROXY_ERROR when the proxy fails, CONNECT_ERROR when the proxy
    cannot reach the host."""
    deadline = _Deadline(timeout)
    family, sockaddr = _via_proxy(lambda: _resolve(proxy.host, proxy.port, FetchOptions(timeout=timeout), deadline),
                                  proxy)
    sock = _via_proxy(lambda: _connect(family, sockaddr, deadline), proxy)
    try:
        _tunnel(sock, host, port, proxy, deadline)
    except BaseException:
        sock.close()
        raise
    return sock


def _one_hop(url: str, method: str, options: FetchOptions, deadline: _Deadline, out: FetchOutcome) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(Reason.PROTOCOL_ERROR, f"keine http(s)-Adresse: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = options.proxy if options.proxy is not None and options.proxy.applies_to(parts.hostname) else None
    t0 = time.monotonic()
    if proxy is None:
        family, sockaddr = _resolve(parts.hostname, port, options, deadline)
    else:
        family, sockaddr = _via_proxy(lambda: _resolve(proxy.host, proxy.port, options, deadline), proxy)
        out.proxy = proxy.address
    t1 = time.monotonic()
    out.phases["resolve"] += t1 - t0
    out.ip = sockaddr[0]
    out.ip_protocol = 6 if family == socket.AF_INET6 else 4
    host = parts.hostname

    def connect() -> socket.socket:
        """A connection to the service: direct, or through the proxy (a CONNECT tunnel for HTTPS)."""
        if proxy is None:
            return _connect(family, sockaddr, deadline)
        sock = _via_proxy(lambda: _connect(family, sockaddr, deadline), proxy)
        try:
            if parts.scheme == "https":
                _tunnel(sock, host, port, proxy, deadline)
        except BaseException:
            sock.close()
            raise
        return sock

    sock = connect()
    t2 = time.monotonic()
    out.phases["connect"] += t2 - t1
    try:
        if parts.scheme == "https":
            try:
                sock, out.tls = _handshake(sock, parts.hostname, options, deadline)
            except ProbeError as exc:
                if exc.verify_code != X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
                    raise
                sock, out.tls = _handshake_completing_chain(connect, parts.hostname, options, deadline, exc)
            out.phases["tls"] += time.monotonic() - t2
        t3 = time.monotonic()
        try:
            sock.settimeout(deadline.remaining(Reason.READ_TIMEOUT, "no time left to send the request"))
            sock.sendall(_request_bytes(method, parts, options, proxy if parts.scheme == "http" else None))
            sock.settimeout(deadline.remaining(Reason.READ_TIMEOUT, "keine Antwort vor der Zeitgrenze"))
            first = sock.recv(65536)
        except TimeoutError as exc:
            raise ProbeError(Reason.READ_TIMEOUT, "keine Antwort vor der Zeitgrenze") from exc
        except OSError as exc:
            raise ProbeError(Reason.PROTOCOL_ERROR, f"Verbindung beim Warten auf die Antwort abgebrochen: {exc}") from exc
        if not first:
            raise ProbeError(Reason.PROTOCOL_ERROR, "der Server schloss die Verbindung ohne Antwort")
        if proxy is not None and parts.scheme == "http" and first.startswith((b"HTTP/1.1 407", b"HTTP/1.0 407")):
            raise ProbeError(Reason.PROXY_ERROR, f"Proxy {proxy.address} verlangt eine (andere) Anmeldung (407)")
        t4 = time.monotonic()
        out.phases["processing"] += t4 - t3
        # the shim offers the one method HTTPResponse uses (makefile)
        response = http.client.HTTPResponse(_SocketShim(_DeadlineReader(sock, deadline, first)),  # type: ignore[arg-type]
                                            method=method)
        try:
            response.begin()
        except ProbeError:
            raise
        except HeadersTooLarge as exc:
            raise ProbeError(Reason.PROTOCOL_ERROR, f"keine gültige HTTP-Antwort: {exc} (Chromium lädt sie nicht)") from exc
        except (http.client.HTTPException, ValueError, OSError) as exc:
            raise ProbeError(Reason.PROTOCOL_ERROR, f"keine gültige HTTP-Antwort: {german_error(exc)}") from exc
        response._egov_socket = sock  # type: ignore[attr-defined]  # closed by the caller
        response._egov_first_byte = t4  # type: ignore[attr-defined]
        return response
    except BaseException:
        sock.close()
        raise


def _read_body(response: http.client.HTTPResponse, options: FetchOptions, out: FetchOutcome) -> None:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > options.max_body_bytes and not options.truncate_body:
        out.content_length = int(declared)
        raise ProbeError(Reason.TOO_LARGE, f"Content-Length {declared} über der Grenze von {options.max_body_bytes} Bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = response.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > options.max_body_bytes and options.truncate_body:
                chunks.append(chunk[: len(chunk) - (size - options.max_body_bytes)])
                out.body_truncated = True
                size = options.max_body_bytes
                break
            if size > options.max_body_bytes:
                out.content_length = size
                raise ProbeError(Reason.TOO_LARGE, f"Inhalt über der Grenze von {options.max_body_bytes} Bytes")
            chunks.append(chunk)
    except ProbeError:
        raise
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise ProbeError(Reason.PROTOCOL_ERROR, f"Inhalt unvollständig: {german_error(exc)}") from exc
    out.body = b"".join(chunks)
    out.content_length = size


def next_url(current: str, location: str) -> str:
    """The URL a redirect leads to (httptext.redirect_target); ProbeError where a browser would not follow."""
    try:
        return redirect_target(current, location)
    except InvalidRedirect as exc:
        raise ProbeError(Reason.PROTOCOL_ERROR, str(exc)) from exc


def fetch(url: str, options: FetchOptions) -> FetchOutcome:
    """Fetch `url`, following redirects, within `options.timeout` seconds in total."""
    out = FetchOutcome(url=url, final_url=url, started_at=datetime.now(UTC))
    deadline = _Deadline(options.timeout)
    start = time.monotonic()
    method = options.method
    current = url
    seen: list[str] = []
    try:
        while True:
            out.final_url = current
            response = _one_hop(current, method, options, deadline, out)
            sock = response._egov_socket  # type: ignore[attr-defined]
            try:
                out.status = response.status
                out.http_version = {10: 1.0, 11: 1.1}.get(response.version, 0.0)
                out.headers = [(k, v) for k, v in response.getheaders()]
                out.hops.append(Hop(current, response.status, tuple(out.headers)))
                location = response.getheader("Location")
                if options.follow_redirects and response.status in REDIRECT_CODES and location:
                    seen.append(current)
                    nxt = next_url(current, location)
                    out.redirects += 1
                    out.redirect_chain = seen[-10:] + [nxt]
                    if out.redirects > options.max_redirects:
                        raise ProbeError(Reason.TOO_MANY_REDIRECTS,
                                         f"mehr als {options.max_redirects} Weiterleitungen (zuletzt nach {nxt[:200]})")
                    if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                        method = "GET"
                    out.phases["transfer"] += time.monotonic() - response._egov_first_byte  # type: ignore[attr-defined]
                    current = nxt
                    continue
                if method != "HEAD":
                    _read_body(response, options, out)
                out.phases["transfer"] += time.monotonic() - response._egov_first_byte  # type: ignore[attr-defined]
                break
            finally:
                response.close()
                sock.close()
    except ProbeError as exc:
        out.error = exc
    out.duration = time.monotonic() - start
    return out
