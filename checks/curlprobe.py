"""The availability prober on libcurl (pycurl): one multi handle runs every probe of the
process in one thread, outside the GIL; callers wait for their own.

It keeps what the Python prober (checks/httpprobe.py) does and returns the same
FetchOutcome: blackbox_exporter's phases summed over redirect hops (redirects are followed
here, hop by hop, so each hop's phases and headers are known), one deadline for the whole
chain, the fixed reasons, body limits, CA files, the IPv4/IPv6 choice, Chromium's TLS offer,
host rules, the proxy; and it speaks HTTP/2 where the server offers it (ALPN). libcurl
reports the phases itself (name lookup, connect, app connect, start transfer, total; see
libcurl's CURLINFO_*_TIME). A server that does not send its intermediate certificate is
handed to the Python prober, which completes the chain over AIA as Chromium does.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import logging
import os
import select
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pycurl

from checks import httpprobe
from checks.httpprobe import (
    BROWSER_CIPHERS,
    MAX_HEADER_BYTES,
    REDIRECT_CODES,
    USER_AGENT,
    X509_V_ERR_CERT_HAS_EXPIRED,
    X509_V_ERR_HOSTNAME_MISMATCH,
    X509_V_ERR_IP_ADDRESS_MISMATCH,
    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    FetchOptions,
    FetchOutcome,
    Hop,
    ProbeError,
    TlsInfo,
)
from checks.result import Reason

_OPT_CERTINFO = 172  # CURLOPT_CERTINFO
_OPT_SUPPRESS_CONNECT_HEADERS = 265
_HEADER_SEPARATE = 1  # CURLHEADER_SEPARATE: proxy headers only to the proxy
_E_PROXY = 97
_E_UNABLE_TO_GET_ISSUER = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
_HTTP_VERSIONS = {1: 1.0, 2: 1.1, 3: 2.0, 30: 3.0}  # CURLINFO_HTTP_VERSION -> probe_http_version
log = logging.getLogger(__name__)
_PROTOCOL_ERRORS = {1, 8, 16, 18, 52, 55, 56, 92, 95}
_E_TOO_LARGE = 100  # CURLE_TOO_LARGE (libcurl 8.6+): e.g. a header line or block over libcurl's limits
# What a libcurl error code means, for operators (libcurl's own message follows in brackets).
_GERMAN = {
    1: "Protokoll nicht unterstützt", 3: "ungültige Adresse", 8: "unverständliche Antwort des Servers",
    16: "Fehler im HTTP/2-Protokoll", 18: "Antwort kürzer als angekündigt", 23: "Inhalt konnte nicht gelesen werden",
    43: "interner Fehler der HTTP-Bibliothek", 52: "der Server schloss die Verbindung ohne Antwort",
    55: "Senden der Anfrage gescheitert", 56: "Empfang der Antwort abgebrochen", 61: "unbekannte Inhaltskodierung",
    92: "HTTP/2-Datenstrom abgebrochen", 95: "Fehler im HTTP/3-Protokoll",
    _E_TOO_LARGE: "Antwort überschreitet eine Größengrenze (z. B. Kopfzeilen)",
}


class _Transfer:
    """One fetch: its chain of hops on one easy handle."""

    def __init__(self, url: str, options: FetchOptions, handle: pycurl.Curl,
                 callback: Callable[[FetchOutcome], None] | None = None) -> None:
        self.options = options
        self.callback = callback  # None: a caller waits on `done`
        self.finished = False  # set once when the outcome is handed over (never twice)
        self.out = FetchOutcome(url=url, final_url=url, started_at=datetime.now(UTC))
        self.start = time.monotonic()
        self.began: float | None = None  # when the loop started the first hop: the probe's own time
        self.end = self.start + options.timeout
        self.method = options.method
        self.current = url
        self.seen: list[str] = []
        # released when the fetch ends: a plain lock wakes its one waiter for less than an Event
        self.done = threading.Lock()
        self.done.acquire()
        self.handle = handle
        self.handle.transfer = self  # type: ignore[attr-defined]  # found again from info_read()
        self.hand_over = False  # to the Python prober (intermediate certificate over AIA)
        self.proxy: str | None = None
        self.family: str | None = None  # the other family, after the preferred one had no address
        self._reset_hop()

    def _reset_hop(self) -> None:
        self.raw_headers: list[bytes] = []
        self.header_bytes = 0
        self.chunks: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.truncated = False
        self.tls_text = ""

    # ------------------------------------------------------------------ libcurl callbacks (loop thread)

    def on_header(self, line: bytes) -> int | None:
        """Only when the body is cut at the limit (truncate_body); otherwise lines go to a list."""
        self.header_bytes += len(line)
        if self.header_bytes > MAX_HEADER_BYTES:
            return 0  # aborts: protocol_error
        self.raw_headers.append(line)
        return None

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The last response's header fields, in order (after its status line: not those of a 1xx)."""
        lines = self.raw_headers
        last = max((i for i, line in enumerate(lines) if line[:5] == b"HTTP/"), default=-1)
        fields = []
        for line in lines[last + 1:]:
            name, colon, value = line.decode("latin-1").partition(":")
            if colon:
                fields.append((name.strip(), value.strip()))
        return fields

    def on_body(self, data: bytes) -> int | None:
        self.size += len(data)
        if self.size > self.options.max_body_bytes:
            if self.options.truncate_body:
                keep = len(data) - (self.size - self.options.max_body_bytes)
                self.chunks.append(data[:keep])
                self.size = self.options.max_body_bytes
                self.truncated = True
            else:
                self.too_large = True
            return 0  # stops the transfer (CURLE_WRITE_ERROR)
        self.chunks.append(data)
        return None

    def on_debug(self, kind: int, data: bytes) -> None:
        if kind == 0 and data.startswith(b"SSL connection using"):
            self.tls_text = data.decode("latin-1").strip()

    # ------------------------------------------------------------------ hops

    def configure(self) -> None:
        """Set the handle up for the hop to `self.current`. Raises ProbeError (host rules, deadline)."""
        c, options = self.handle, self.options
        c.reset()
        self._reset_hop()
        left = self.end - time.monotonic()
        if left <= 0:
            raise ProbeError(Reason.READ_TIMEOUT, "keine Zeit mehr für die nächste Weiterleitung")
        parts = self.parts = urlsplit(self.current)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProbeError(Reason.PROTOCOL_ERROR, f"keine http(s)-Adresse: {self.current}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        c.setopt(pycurl.URL, self.current)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.FRESH_CONNECT, 1)  # one fresh connection per probe, as blackbox does
        c.setopt(pycurl.FORBID_REUSE, 1)
        c.setopt(pycurl.TIMEOUT_MS, max(1, int(left * 1000)))
        c.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(left * 1000)))
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2TLS if options.http2 else pycurl.CURL_HTTP_VERSION_1_1)
        if self.method == "HEAD":
            c.setopt(pycurl.NOBODY, 1)
        elif self.method == "POST":
            c.setopt(pycurl.POSTFIELDS, b"")
        elif self.method != "GET":
            c.setopt(pycurl.CUSTOMREQUEST, self.method)
        names = {name.lower() for name, _ in options.headers}
        headers = [f"{name}: {value}" for name, value in options.headers]
        if "user-agent" not in names:
            headers.append(f"User-Agent: {USER_AGENT}")
        if "accept" not in names:
            headers.append("Accept: */*")
        headers.append("Expect:")
        c.setopt(pycurl.HTTPHEADER, headers)
        c.setopt(pycurl.IPRESOLVE, {"ipv4": pycurl.IPRESOLVE_V4, "ipv6": pycurl.IPRESOLVE_V6}.get(
            self.family or options.ip_family, pycurl.IPRESOLVE_WHATEVER))
        if parts.scheme == "https":
            c.setopt(pycurl.SSL_VERIFYPEER, 1 if options.verify_tls else 0)
            c.setopt(pycurl.SSL_VERIFYHOST, 2 if options.verify_tls else 0)
            if options.ca_file:
                c.setopt(pycurl.CAINFO, options.ca_file)
            c.setopt(pycurl.SSL_CIPHER_LIST, BROWSER_CIPHERS)
            c.setopt(pycurl.SSLVERSION, pycurl.SSLVERSION_TLSv1_2)
            c.setopt(_OPT_CERTINFO, 1)
            c.setopt(pycurl.SSL_SESSIONID_CACHE, 0)  # a full handshake each time: the chain is seen, as by a new visitor
            c.setopt(pycurl.VERBOSE, 1)  # the negotiated version and cipher come as debug text
            c.setopt(pycurl.DEBUGFUNCTION, self.on_debug)
        if options.host_rules:
            target = httpprobe.mapped(parts.hostname, port, options.host_rules)  # raises for ~NOTFOUND
            if target != (parts.hostname, port):
                host = f"[{target[0]}]" if ":" in target[0] else target[0]
                c.setopt(pycurl.CONNECT_TO, [f"{parts.hostname}:{port}:{host}:{target[1]}"])
        proxy = options.proxy if options.proxy is not None and options.proxy.applies_to(parts.hostname) else None
        self.proxy = proxy.address if proxy is not None else None
        c.setopt(pycurl.PROXY, f"http://{proxy.address}" if proxy is not None else "")  # "": no proxy from the env
        if proxy is not None:
            c.setopt(_OPT_SUPPRESS_CONNECT_HEADERS, 1)
            if proxy.authorization:
                c.setopt(pycurl.HEADEROPT, _HEADER_SEPARATE)
                c.setopt(pycurl.PROXYHEADER, [f"Proxy-Authorization: {proxy.authorization}"])
        if options.truncate_body:  # keep the first max_body_bytes: our own callbacks count
            c.setopt(pycurl.HEADERFUNCTION, self.on_header)
            c.setopt(pycurl.WRITEFUNCTION, self.on_body)
        else:  # libcurl enforces the limit (Content-Length, and while reading one without it)
            c.setopt(pycurl.MAXFILESIZE_LARGE, options.max_body_bytes)
            c.setopt(pycurl.HEADERFUNCTION, self.raw_headers.append)
            c.setopt(pycurl.WRITEFUNCTION, self.chunks.append)

    def finish_hop(self, code: int, message: str) -> bool:
        """Account the hop that ended (`code` 0: completed). Returns True when another hop follows."""
        c, out = self.handle, self.out
        name_t, connect_t = c.getinfo(pycurl.NAMELOOKUP_TIME), c.getinfo(pycurl.CONNECT_TIME)
        app_t, start_t, total_t = (c.getinfo(pycurl.APPCONNECT_TIME), c.getinfo(pycurl.STARTTRANSFER_TIME),
                                   c.getinfo(pycurl.TOTAL_TIME))
        out.phases["resolve"] += name_t
        if connect_t:
            out.phases["connect"] += max(0.0, connect_t - name_t)
            if app_t:
                out.phases["tls"] += max(0.0, app_t - connect_t)
            if start_t:
                out.phases["processing"] += max(0.0, start_t - max(app_t, connect_t))
                out.phases["transfer"] += max(0.0, total_t - start_t)
        ip = c.getinfo(pycurl.PRIMARY_IP)
        if ip:
            out.ip, out.ip_protocol = ip, 6 if ":" in ip else 4
        out.proxy = self.proxy
        if code == pycurl.E_WRITE_ERROR and self.truncated:
            code = 0  # we stopped reading at the limit on purpose
        if code == pycurl.E_FILESIZE_EXCEEDED:
            self.too_large = True
            declared = c.getinfo(pycurl.CONTENT_LENGTH_DOWNLOAD_T)
            self.size = max(sum(len(chunk) for chunk in self.chunks), int(declared) if declared > 0 else 0)
        if code:
            raise self._error(code, message, connect_t)
        status = int(c.getinfo(pycurl.RESPONSE_CODE))
        if self.proxy and status == 407 and self.parts.scheme == "http":
            raise ProbeError(Reason.PROXY_ERROR, f"Proxy {self.proxy} verlangt eine (andere) Anmeldung (407)")
        out.status = status
        out.http_version = _HTTP_VERSIONS.get(int(c.getinfo(pycurl.INFO_HTTP_VERSION)), 0.0)
        out.headers = headers = self.headers
        out.hops.append(Hop(self.current, status, tuple(headers)))
        if self.parts.scheme == "https":
            out.tls = self._tls_info()
        location = next((v for k, v in reversed(headers) if k.lower() == "location"), None)
        if self.options.follow_redirects and status in REDIRECT_CODES and location:
            self.seen.append(self.current)
            nxt = httpprobe.next_url(self.current, location)
            out.redirects += 1
            out.redirect_chain = self.seen[-10:] + [nxt]
            if out.redirects > self.options.max_redirects:
                raise ProbeError(Reason.TOO_MANY_REDIRECTS,
                                 f"mehr als {self.options.max_redirects} Weiterleitungen (zuletzt nach {nxt[:200]})")
            if status == 303 or (status in (301, 302) and self.method == "POST"):
                self.method = "GET"
            self.current = out.final_url = nxt
            return True
        out.body = b"".join(self.chunks)
        out.body_truncated = self.truncated
        out.content_length = self.size if self.options.truncate_body else len(out.body)
        return False

    def _error(self, code: int, message: str, connect_t: float) -> ProbeError:
        c = self.handle
        if self.proxy:
            connect_code = int(c.getinfo(pycurl.HTTP_CONNECTCODE))
            if connect_code in (502, 503, 504):
                return ProbeError(Reason.CONNECT_ERROR, f"der Proxy erreicht {self.parts.netloc} nicht ({connect_code})")
            if connect_code == 407:
                return ProbeError(Reason.PROXY_ERROR, f"Proxy {self.proxy} verlangt eine (andere) Anmeldung (407)")
            if connect_code and not 200 <= connect_code < 300:
                return ProbeError(Reason.PROXY_ERROR, f"Proxy {self.proxy} lehnt den Tunnel ab ({connect_code})")
            if code in (pycurl.E_COULDNT_RESOLVE_PROXY, pycurl.E_COULDNT_CONNECT, _E_PROXY) or \
                    (code == pycurl.E_OPERATION_TIMEDOUT and not connect_t):
                return ProbeError(Reason.PROXY_ERROR, f"Proxy {self.proxy} nicht erreichbar: {message}")
        if self.too_large:
            self.out.content_length = self.size
            return ProbeError(Reason.TOO_LARGE, f"Inhalt über der Grenze von {self.options.max_body_bytes} Bytes")
        host = self.parts.hostname or ""
        if code == pycurl.E_COULDNT_RESOLVE_HOST:
            return ProbeError(Reason.DNS, f"Namensauflösung für {host} gescheitert")
        if code == pycurl.E_COULDNT_CONNECT:
            os_errno = int(c.getinfo(pycurl.OS_ERRNO))
            if os_errno == errno.ECONNREFUSED:
                return ProbeError(Reason.CONNECT_REFUSED, f"Verbindung zu {host} abgelehnt")
            if os_errno == errno.ETIMEDOUT:
                return ProbeError(Reason.CONNECT_TIMEOUT, f"Verbindung zu {host}: Zeitgrenze überschritten")
            return ProbeError(Reason.CONNECT_ERROR, f"Verbindung zu {host} gescheitert: {os.strerror(os_errno) or message}")
        if code == pycurl.E_OPERATION_TIMEDOUT:
            if not connect_t:
                if not c.getinfo(pycurl.NAMELOOKUP_TIME) and host and not host.replace(".", "").isdigit():
                    return ProbeError(Reason.DNS, f"Namensauflösung für {host}: Zeitgrenze überschritten")
                return ProbeError(Reason.CONNECT_TIMEOUT, f"Verbindung zu {host}: Zeitgrenze überschritten")
            return ProbeError(Reason.READ_TIMEOUT, "keine vollständige Antwort vor der Zeitgrenze")
        if code == pycurl.E_PEER_FAILED_VERIFICATION:
            verify = int(c.getinfo(pycurl.SSL_VERIFYRESULT))
            if verify == X509_V_ERR_CERT_HAS_EXPIRED:
                return ProbeError(Reason.TLS_EXPIRED, f"Zertifikat abgelehnt: {message}", verify)
            # libcurl checks the name itself ("... subject name ... target host name / IPv4 address")
            if verify in (X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH) or "subject name" in message:
                return ProbeError(Reason.TLS_HOSTNAME, f"Zertifikat abgelehnt: {message}", verify)
            return ProbeError(Reason.TLS_INVALID_CERTIFICATE, f"Zertifikat abgelehnt: {message}", verify)
        if code == pycurl.E_SSL_CONNECT_ERROR:
            return ProbeError(Reason.TLS_ERROR, f"TLS-Handshake gescheitert: {message}")
        why = _GERMAN.get(code, "")
        said = f" ({message})" if message else ""
        if code in _PROTOCOL_ERRORS or code == pycurl.E_WRITE_ERROR:
            return ProbeError(Reason.PROTOCOL_ERROR, f"keine gültige HTTP-Antwort: {why or 'Fehler beim Lesen'}{said}")
        return ProbeError(Reason.PROTOCOL_ERROR,
                          f"Abruf gescheitert: {why or f'Fehler {code} der HTTP-Bibliothek libcurl'}{said}")

    def _tls_info(self) -> TlsInfo:
        version = cipher = ""
        if self.tls_text:  # "SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384 / x25519 / ..."
            fields = [f.strip() for f in self.tls_text.removeprefix("SSL connection using").split("/")]
            version, cipher = fields[0], fields[1] if len(fields) > 1 else ""
        pems = []
        for cert in self.handle.getinfo(pycurl.INFO_CERTINFO) or []:
            pem = next((v for k, v in cert if k == "Cert"), None)
            if pem:
                pems.append(pem)
        expiry, subject, issuer = _chain_facts(pems)
        return TlsInfo(version=version, cipher=cipher, earliest_cert_expiry=expiry, subject=subject, issuer=issuer)


def _chain_facts(pems: list[str]) -> tuple[float | None, str | None, str | None]:
    """Earliest expiry over the certificates the server sent, subject and issuer of the leaf."""
    ders = []
    for pem in pems:
        try:
            ders.append(ssl.PEM_cert_to_DER_cert(pem))
        except ValueError:
            continue
    return httpprobe._cert_expiry(ders)


class CurlEngine:
    """One CurlMulti and the thread that drives it; `fetch` is called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incoming: collections.deque[_Transfer] = collections.deque()
        self._thread: threading.Thread | None = None
        self._handles: list[pycurl.Curl] = []  # idle easy handles, reused (reset per hop)
        self._sleeping = False  # the loop waits for its sockets (under _lock): a new fetch must wake it
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def fetch(self, url: str, options: FetchOptions) -> FetchOutcome:
        """Fetch `url`; the calling thread waits for the outcome."""
        transfer = self._enqueue(url, options, None)
        if not transfer.done.acquire(timeout=options.timeout + 30):  # libcurl's timeout ends every hop long before
            transfer.out.error = ProbeError(Reason.INTERNAL_ERROR, "Prober antwortete nicht (interner Fehler)")
            transfer.out.duration = time.monotonic() - transfer.start
            return transfer.out
        self._release(transfer)
        if transfer.hand_over:
            return self._handed_over(transfer)
        return transfer.out

    def submit(self, url: str, options: FetchOptions, callback: Callable[[FetchOutcome], None]) -> None:
        """Fetch `url` without a waiting thread: `callback(outcome)` runs on the loop thread when
        it is done (it must return quickly and never wait for another fetch), or on a thread of
        its own for the rare probe the Python prober finishes (an intermediate over AIA)."""
        self._enqueue(url, options, callback)

    def _enqueue(self, url: str, options: FetchOptions, callback: Callable[[FetchOutcome], None] | None) -> _Transfer:
        with self._lock:
            handle = self._handles.pop() if self._handles else pycurl.Curl()
        transfer = _Transfer(url, options, handle, callback)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="curl", daemon=True)
                self._thread.start()
            self._incoming.append(transfer)
            wake, self._sleeping = self._sleeping, False
        if wake:  # a loop that is busy takes it on its next turn without a write and a wake-up
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass  # woken already
        return transfer

    def _release(self, transfer: _Transfer) -> None:
        """Give the transfer's easy handle back for the next fetch."""
        transfer.handle.transfer = None  # type: ignore[attr-defined]
        transfer.handle.reset()  # drops the callbacks, and with them this transfer's body
        with self._lock:
            if len(self._handles) < 256:
                self._handles.append(transfer.handle)
            else:
                transfer.handle.close()

    @staticmethod
    def _handed_over(transfer: _Transfer) -> FetchOutcome:
        """An intermediate certificate over AIA: the Python prober knows how, in the time left."""
        left = transfer.end - time.monotonic()
        if left > 0:
            return httpprobe.fetch(transfer.out.url, dataclasses.replace(transfer.options, timeout=left))
        transfer.out.error = ProbeError(Reason.READ_TIMEOUT, "keine Zeit mehr, das Zwischenzertifikat zu laden")
        return transfer.out

    def _loop(self) -> None:
        multi = pycurl.CurlMulti()
        active: set[_Transfer] = set()
        poll = _SocketPoll(multi, self._wake_r)
        while True:
            try:
                self._turn(multi, poll, active)
            except Exception as exc:  # never leave a caller waiting: end what runs, go on
                for transfer in list(active):
                    with_error = ProbeError(Reason.PROTOCOL_ERROR, f"interner Fehler des Probers: {type(exc).__name__}")
                    try:
                        multi.remove_handle(transfer.handle)
                    except pycurl.error:
                        pass
                    active.discard(transfer)
                    self._finish(transfer, with_error)

    def _turn(self, multi: pycurl.CurlMulti, poll: _SocketPoll, active: set[_Transfer]) -> None:
        """Start what came in, wait for the sockets libcurl watches (or its next timer), let
        libcurl act on those that are ready, and account the hops that ended. libcurl's socket
        interface: each turn costs what happened, not how many transfers run."""
        while self._incoming:
            self._start(multi, self._incoming.popleft(), active)
        with self._lock:
            self._sleeping = not self._incoming
        poll.wait(1.0 if self._sleeping else 0.0)
        self._sleeping = False
        while True:
            queued, ok, failed = multi.info_read()
            for handle in ok:
                self._hop_ended(multi, handle.transfer, 0, "", active)
            for handle, code, message in failed:
                self._hop_ended(multi, handle.transfer, code, message, active)
            if not queued:
                break

    def _start(self, multi: pycurl.CurlMulti, transfer: _Transfer, active: set[_Transfer]) -> None:
        """Start the transfer's next hop; any way that fails ends the transfer with a reason."""
        if transfer.began is None:
            transfer.began = time.monotonic()
        try:
            transfer.configure()
            multi.add_handle(transfer.handle)
        except ProbeError as exc:
            self._finish(transfer, exc)
            return
        except (pycurl.error, UnicodeError, ValueError, TypeError) as exc:  # a URL or value libcurl refuses
            self._finish(transfer, ProbeError(
                Reason.PROTOCOL_ERROR, f"Adresse nicht abrufbar: {transfer.current[:200]!r} ({_exc_text(exc)})"))
            return
        except Exception as exc:  # never lose a transfer: it ends here, with what is known
            log.exception("starting a probe of %s failed", transfer.out.url[:200])
            self._finish(transfer, ProbeError(Reason.INTERNAL_ERROR, f"interner Fehler des Probers: {type(exc).__name__}"))
            return
        active.add(transfer)

    def _hop_ended(self, multi: pycurl.CurlMulti, transfer: _Transfer, code: int, message: str,
                   active: set[_Transfer]) -> None:
        multi.remove_handle(transfer.handle)
        active.discard(transfer)
        try:
            if code == pycurl.E_PEER_FAILED_VERIFICATION and transfer.options.verify_tls and \
                    int(transfer.handle.getinfo(pycurl.SSL_VERIFYRESULT)) == _E_UNABLE_TO_GET_ISSUER:
                transfer.hand_over = True
                self._done(transfer)
                return
            if code == pycurl.E_COULDNT_RESOLVE_HOST and transfer.options.ip_fallback and transfer.family is None \
                    and transfer.options.ip_family in ("ipv4", "ipv6"):
                transfer.family = "ipv6" if transfer.options.ip_family == "ipv4" else "ipv4"  # the other family
                self._start(multi, transfer, active)
                return
            if code == _E_TOO_LARGE:
                # libcurl refuses a header line over 100 KB, Chromium a header block over 256 KB:
                # the Python prober reads what Chromium reads, in the time left
                transfer.hand_over = True
                self._done(transfer)
                return
            if transfer.finish_hop(code, message):
                transfer.family = None
                self._start(multi, transfer, active)
                return
            self._finish(transfer, None)
        except ProbeError as exc:
            self._finish(transfer, exc)
        except Exception as exc:  # a bug in accounting a hop: the transfer ends all the same
            log.exception("accounting a probe of %s failed", transfer.out.url[:200])
            self._finish(transfer, ProbeError(Reason.INTERNAL_ERROR, f"interner Fehler des Probers: {type(exc).__name__}"))

    def _finish(self, transfer: _Transfer, error: ProbeError | None) -> None:
        transfer.out.error = error
        transfer.out.duration = time.monotonic() - (transfer.began or transfer.start)
        self._done(transfer)

    def _done(self, transfer: _Transfer) -> None:
        """Hand the outcome over: wake the waiting caller, or call the callback (loop thread). Once."""
        if transfer.finished:
            return
        transfer.finished = True
        callback = transfer.callback
        if callback is None:
            transfer.done.release()
            return
        self._release(transfer)
        if transfer.hand_over:  # the Python prober blocks: not on the loop thread
            threading.Thread(target=lambda: _call(callback, self._handed_over(transfer)), name="curl-aia",
                             daemon=True).start()
            return
        _call(callback, transfer.out)


def _exc_text(exc: BaseException) -> str:
    if isinstance(exc, UnicodeError):
        return "Zeichen außerhalb von ASCII"
    if isinstance(exc, pycurl.error) and exc.args:
        code = exc.args[0] if isinstance(exc.args[0], int) else 0
        return _GERMAN.get(code, "von der HTTP-Bibliothek abgelehnt")
    return type(exc).__name__


def _call(callback: Callable[[FetchOutcome], None], outcome: FetchOutcome) -> None:
    try:
        callback(outcome)
    except Exception:  # a caller's bug must not end the loop every probe depends on
        log.exception("callback of a probe failed")


class _SocketPoll:
    """The sockets libcurl asks to watch (CURLMOPT_SOCKETFUNCTION) in one epoll set, and its
    timer (CURLMOPT_TIMERFUNCTION); `wait` hands the ready ones to curl_multi_socket_action."""

    def __init__(self, multi: pycurl.CurlMulti, wake_fd: int) -> None:
        self.multi = multi
        self.epoll = select.epoll()
        self.wake_fd = wake_fd
        self.epoll.register(wake_fd, select.EPOLLIN)
        self.watched: set[int] = set()
        self.deadline: float | None = None  # libcurl's next timeout (monotonic), None: none
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)

    def _on_socket(self, what: int, fd: int, _multi: object, _data: object) -> None:
        if what == pycurl.POLL_REMOVE:
            if fd in self.watched:
                self.watched.discard(fd)
                try:
                    self.epoll.unregister(fd)
                except (FileNotFoundError, OSError):
                    pass  # closed already: epoll forgot it
            return
        mask = (select.EPOLLIN if what & pycurl.POLL_IN else 0) | (select.EPOLLOUT if what & pycurl.POLL_OUT else 0)
        if fd in self.watched:
            try:
                self.epoll.modify(fd, mask)
                return
            except FileNotFoundError:  # the number was closed and reused unseen
                pass
        try:
            self.epoll.register(fd, mask)
        except FileExistsError:
            self.epoll.modify(fd, mask)
        self.watched.add(fd)

    def _on_timer(self, timeout_ms: int) -> None:
        self.deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000

    def wait(self, longest: float) -> None:
        """Wait up to `longest` seconds (less when libcurl's timer is due) and act on what is ready."""
        now = time.monotonic()
        wait = longest if self.deadline is None else max(0.0, min(longest, self.deadline - now))
        for fd, event in self.epoll.poll(wait):
            if fd == self.wake_fd:
                try:
                    while os.read(fd, 4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            mask = ((pycurl.CSELECT_IN if event & (select.EPOLLIN | select.EPOLLHUP) else 0)
                    | (pycurl.CSELECT_OUT if event & select.EPOLLOUT else 0)
                    | (pycurl.CSELECT_ERR if event & select.EPOLLERR else 0))
            self.multi.socket_action(fd, mask)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.deadline = None
            self.multi.socket_action(pycurl.SOCKET_TIMEOUT, 0)


_ENGINE = CurlEngine()


def fetch(url: str, options: FetchOptions) -> FetchOutcome:
    """Fetch `url` as checks.httpprobe.fetch does, on libcurl."""
    return _ENGINE.fetch(url, options)


def submit(url: str, options: FetchOptions, callback: Callable[[FetchOutcome], None]) -> None:
    """`fetch` without a waiting thread: `callback(outcome)` when done (see CurlEngine.submit)."""
    _ENGINE.submit(url, options, callback)
