"""TLS configuration against BSI TR-02102-2: which protocol versions and cipher suites a
server accepts, forward secrecy, and the certificate (chain, host name, expiry, key).

Like sslyze, each protocol version is tried in a handshake of its own, so a server that
prefers TLS 1.3 but still accepts TLS 1.0 is caught. For every accepted version up to TLS
1.2 the accepted suites are enumerated: offer every suite this OpenSSL knows, note the one
the server picks, offer the rest again, until the server refuses (one handshake per accepted
suite, plus one). Each suite is then judged against the TR-02102-2 tables. TLS 1.3 suites
cannot be chosen through Python's ssl module: they are offered one at a time through
libcurl (TLS13_CIPHERS), so a server taking TLS_CHACHA20_POLY1305_SHA256 beside the
TR-02102-2 suites is seen (every TLS 1.3 suite is AEAD with forward secrecy; ChaCha20 is
outside the tables).

`certificate.chain` is the chain the server sent, leaf first; `certificate.verified_path` is
the path verification built (root included), empty when verification failed. A server
that does not send its intermediate certificate is told apart from an unknown CA by
fetching the missing issuer from the leaf's AIA "CA Issuers" URL, as browsers do.
"""

from __future__ import annotations

import _ssl  # ENCODING_DER for the chain's certificate objects
import dataclasses
import socket
import ssl
import time
import warnings
from datetime import UTC, datetime
from typing import Any

from checks.httpprobe import (
    BROWSER_CIPHERS,
    X509_V_ERR_CERT_HAS_EXPIRED,
    X509_V_ERR_HOSTNAME_MISMATCH,
    X509_V_ERR_IP_ADDRESS_MISMATCH,
    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    ProbeError,
    client_context,
    issuer_via_aia,
    open_tunnel,
    trust_intermediate,
)
from checks.proxy import Proxy
from checks.result import Finding, Reason
from checks.tr02102 import ENUMERATE_ALL, _suites, suite_class

# Versions we try, oldest first. SSL 3.0 cannot be offered by this OpenSSL at all.
VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# Versions as people (and blackbox_exporter's probe_tls_version_info) spell them.
VERSION_NAMES = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}
ACCEPTABLE = frozenset({"TLSv1.2", "TLSv1.3"})  # BSI TR-02102-2
_SSL_VERSION = {"TLSv1": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2", "TLSv1.3": "TLSv1_3"}
RSA_MIN_BITS = 2048  # below: broken
RSA_BSI_BITS = 3000  # BSI TR-02102-1 asks for 3000 bits from 2024 on
EC_MIN_BITS = 250


MAX_SUITES = 64  # enumeration bound per version (a server accepting more is reported as cut)
_SUITES = _suites()  # TR-02102-2's tables and suite classes: checks.tr02102 (shared with the mail transport)


class TlsUnreachable(Exception):
    """No TCP connection to the TLS port at all: no verdict is possible."""


class TlsProxyError(Exception):
    """The proxy the scan goes through failed: the monitor's own network, no verdict on the service."""


@dataclasses.dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    not_after: datetime
    key_type: str  # "RSA", "EC", "Ed25519", ...
    key_bits: int
    signature_hash: str | None
    names: tuple[str, ...]
    chain: tuple[str, ...]  # subjects of the chain the server sent, leaf first
    verified_path: tuple[str, ...] = ()  # subjects of the verified path, root included; () if not verified

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject[:300], "issuer": self.issuer[:300], "not_after": self.not_after.isoformat(),
                "key_type": self.key_type, "key_bits": self.key_bits, "signature_hash": self.signature_hash,
                "names": list(self.names[:20]), "names_total": len(self.names),
                "chain": [c[:300] for c in self.chain[:10]], "chain_total": len(self.chain),
                "verified_path": [c[:300] for c in self.verified_path[:10]]}


@dataclasses.dataclass(frozen=True, slots=True)
class TlsReport:
    host: str
    port: int
    accepted: dict[str, bool | None]  # version -> accepted; None: could not tell (timeout)
    negotiated: str | None
    cipher: str | None
    forward_secrecy: bool
    non_forward_secret_accepted: bool | None
    certificate: Certificate | None
    verify_error: str | None  # None: chain and host name verified
    verify_reason: str | None  # "expired", "hostname", "untrusted", "incomplete-chain", "issuer-unknown", "handshake"
    findings: tuple[Finding, ...]
    suites: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # version -> accepted suites
    suites_complete: dict[str, bool] = dataclasses.field(default_factory=dict)  # False: enumeration was cut
    aia_issuer_url: str | None = None  # where the missing intermediate was found

    @property
    def compliant(self) -> bool:
        return not any(f.severity == "critical" for f in self.findings)

    @property
    def days_left(self) -> float | None:
        if self.certificate is None:
            return None
        return (self.certificate.not_after - datetime.now(UTC)).total_seconds() / 86400

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "accepted": dict(self.accepted), "negotiated": self.negotiated,
                "cipher": self.cipher, "forward_secrecy": self.forward_secrecy,
                "non_forward_secret_accepted": self.non_forward_secret_accepted,
                "suites": {v: [{"name": n, "class": suite_class(n)} for n in names] for v, names in self.suites.items()},
                "suites_complete": dict(self.suites_complete),
                "certificate": self.certificate.to_dict() if self.certificate else None,
                "verify_error": self.verify_error, "verify_reason": self.verify_reason,
                "aia_issuer_url": self.aia_issuer_url, "compliant": self.compliant,
                "findings": [f.to_dict() for f in self.findings]}


def _context(version: str | None, ciphers: str | None, verify: bool, ca_file: str | None,
             extra_ca: bytes | None = None) -> ssl.SSLContext:
    ctx = client_context(verify, ca_file, browser=False)  # a fresh one: versions and ciphers are set below
    if extra_ca is not None:
        trust_intermediate(ctx, extra_ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # asking for TLS 1.0 on purpose
        if version is not None:
            v = getattr(ssl.TLSVersion, _SSL_VERSION[version])
            ctx.minimum_version = v
            ctx.maximum_version = v
        elif ciphers is None:  # every suite, every version: certificate facts from any handshake that succeeds
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers or ENUMERATE_ALL)  # old versions need SHA-1 signatures: level 0
    return ctx


def _handshake(host: str, port: int, server_name: str, ctx: ssl.SSLContext, deadline: float,
               proxy: Proxy | None = None) -> ssl.SSLSocket:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no time left")
    if proxy is not None and proxy.applies_to(host):
        try:
            sock = open_tunnel(proxy, host, port, left)
        except ProbeError as exc:
            if exc.reason is Reason.PROXY_ERROR:
                raise TlsProxyError(exc.detail) from exc
            if exc.reason is Reason.CONNECT_TIMEOUT:
                raise TimeoutError(exc.detail) from exc
            raise TlsUnreachable(f"{host} port {port}: {exc.detail}") from exc
    else:
        try:
            sock = socket.create_connection((host, port), timeout=left)
        except TimeoutError:
            raise
        except OSError as exc:
            raise TlsUnreachable(f"{host} port {port}: {exc.strerror or exc}") from exc
    try:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        return ctx.wrap_socket(sock, server_hostname=server_name.strip("[]"))
    except BaseException:
        sock.close()
        raise


def _ders(certs: Any) -> list[bytes]:
    return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in certs or []]


def _chain(tls: ssl.SSLSocket, which: str = "get_unverified_chain") -> list[bytes]:
    # Python 3.13 has them public; 3.12 has them on the internal object.
    fn = getattr(tls, which, None) or getattr(getattr(tls, "_sslobj", None), which, None)
    if fn is not None:
        try:
            out = _ders(fn())
        except (ssl.SSLError, ValueError):
            out = []
        if out or which == "get_verified_chain":
            return out
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _subjects(ders: list[bytes]) -> tuple[str, ...]:
    from cryptography import x509

    out = []
    for der in ders:
        try:
            out.append(x509.load_der_x509_certificate(der).subject.rfc4514_string())
        except ValueError:
            out.append("?")
    return tuple(out)


def _certificate(chain: list[bytes], verified: list[bytes]) -> Certificate | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if not chain:
        return None
    try:
        leaf = x509.load_der_x509_certificate(chain[0])
    except ValueError:
        return None
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_type, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, bits = "EC", key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type, bits = "Ed25519", 256
    elif isinstance(key, ed448.Ed448PublicKey):
        key_type, bits = "Ed448", 456
    elif isinstance(key, dsa.DSAPublicKey):
        key_type, bits = "DSA", key.key_size
    else:
        key_type, bits = type(key).__name__, 0
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n.value) for n in san)
    except x509.ExtensionNotFound:
        names = ()
    hash_alg = leaf.signature_hash_algorithm
    return Certificate(leaf.subject.rfc4514_string(), leaf.issuer.rfc4514_string(), leaf.not_valid_after_utc, key_type,
                       bits, hash_alg.name if hash_alg else None, names, _subjects(chain), _subjects(verified))


def _enumerate(host: str, port: int, server_name: str, version: str, deadline: float,
               per_try: float, proxy: Proxy | None = None) -> tuple[list[str], bool, list[bytes]]:
    """Suites `version` accepts, whether the list is complete, and the chain sent in the first handshake."""
    offer = [name for name, info in _SUITES.items() if info.get("protocol") != "TLSv1.3"]
    found: list[str] = []
    chain: list[bytes] = []
    while offer and len(found) < MAX_SUITES:
        try:
            ctx = _context(version, ":".join(offer) + ":@SECLEVEL=0", False, None)
        except ssl.SSLError:  # nothing left that this version can offer
            return found, True, chain
        try:
            tls = _handshake(host, port, server_name, ctx, min(deadline, time.monotonic() + per_try), proxy)
        except (ssl.SSLError, ConnectionError):
            return found, True, chain  # refused: every accepted suite is found
        except (TimeoutError, OSError, TlsUnreachable):
            return found, False, chain
        try:
            picked = (tls.cipher() or (None,))[0]
            if not chain:
                chain = _chain(tls)
        finally:
            tls.close()
        if not picked or picked not in offer:
            return found, False, chain
        found.append(picked)
        offer.remove(picked)
    return found, not offer, chain


# Every TLS 1.3 suite (RFC 8446 B.4); OpenSSL takes them by these names in its TLS 1.3 list.
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256")


def _enumerate13(host: str, port: int, server_name: str, deadline: float, per_try: float,
                 proxy: Proxy | None = None) -> tuple[list[str], bool]:
    """The TLS 1.3 suites the server accepts: one handshake per suite, each offering that suite
    alone (Python's ssl module cannot choose TLS 1.3 suites; libcurl's TLS13_CIPHERS can).
    Returns (accepted, complete): complete False when a handshake neither succeeded nor was
    refused (time, network) or this libcurl cannot offer single suites."""
    import pycurl

    found: list[str] = []
    complete = True
    for suite in TLS13_SUITES:
        left = deadline - time.monotonic()
        if left <= 0.2:
            return found, False
        c = pycurl.Curl()
        try:
            c.setopt(pycurl.URL, f"https://{server_name}:{port}/")
            if host != server_name:
                c.setopt(pycurl.CONNECT_TO, [f"{server_name}:{port}:{host}:{port}"])
            c.setopt(pycurl.CONNECT_ONLY, 1)  # the handshake, no request
            c.setopt(pycurl.SSLVERSION, pycurl.SSLVERSION_TLSv1_3 | pycurl.SSLVERSION_MAX_TLSv1_3)
            c.setopt(pycurl.TLS13_CIPHERS, suite)
            c.setopt(pycurl.SSL_VERIFYPEER, 0)
            c.setopt(pycurl.SSL_VERIFYHOST, 0)
            c.setopt(pycurl.NOSIGNAL, 1)
            c.setopt(pycurl.TIMEOUT_MS, max(200, int(min(per_try, left) * 1000)))
            c.setopt(pycurl.PROXY, f"http://{proxy.address}" if proxy is not None and proxy.applies_to(host) else "")
            if proxy is not None and proxy.applies_to(host):
                c.setopt(pycurl.HTTPPROXYTUNNEL, 1)
                if proxy.authorization:
                    c.setopt(pycurl.PROXYHEADER, [f"Proxy-Authorization: {proxy.authorization}"])
            c.perform()
            found.append(suite)
        except pycurl.error as exc:
            code = exc.args[0] if exc.args else 0
            if code == pycurl.E_SSL_CONNECT_ERROR:
                continue  # refused: the server does not take this suite
            if code in (pycurl.E_NOT_BUILT_IN, pycurl.E_UNKNOWN_OPTION, 59):  # 59: CURLE_SSL_CIPHER (cannot offer it)
                complete = False
                continue
            complete = False  # time, network: unknown
        finally:
            c.close()
    return found, complete


def scan(host: str, port: int = 443, *, server_name: str | None = None, timeout: float = 10.0,
         ca_file: str | None = None, warn_days: int = 30, proxy: Proxy | None = None) -> TlsReport:
    """Probe `host:port` (through `proxy`'s CONNECT tunnel unless `host` is in its no_proxy).
    Raises TlsUnreachable when no TCP connection is possible, TlsProxyError when the proxy fails."""
    server_name = server_name or host
    deadline = time.monotonic() + timeout
    per_try = max(1.0, timeout / 8)
    accepted: dict[str, bool | None] = {}
    negotiated13: str | None = None
    for version in VERSIONS:
        try:
            tls = _handshake(host, port, server_name, _context(version, None, False, None),
                             min(deadline, time.monotonic() + per_try), proxy)
            accepted[version] = tls.version() == version
            if version == "TLSv1.3" and accepted[version]:
                negotiated13 = (tls.cipher() or (None,))[0]
            tls.close()
        except TlsUnreachable:
            raise
        except (ssl.SSLError, ConnectionError):
            accepted[version] = False  # refused by alert or reset: not accepted
        except (TimeoutError, OSError):
            accepted[version] = None

    suites: dict[str, tuple[str, ...]] = {}
    complete: dict[str, bool] = {}
    sent: list[bytes] = []
    for version in VERSIONS[:-1]:
        if accepted.get(version):
            names, done, chain = _enumerate(host, port, server_name, version, deadline, per_try, proxy)
            suites[version], complete[version] = tuple(names), done
            sent = sent or chain
    if negotiated13:  # each TLS 1.3 suite offered alone; the negotiated one is known in any case
        names13, done13 = _enumerate13(host, port, server_name, deadline, per_try, proxy)
        if negotiated13 not in names13:
            names13, done13 = [negotiated13, *names13], False
        suites["TLSv1.3"], complete["TLSv1.3"] = tuple(names13), done13

    # Verification as a browser sees it first; with every suite when the browser's offer is refused.
    verify_error = verify_reason = None
    negotiated = cipher = None
    verified: list[bytes] = []
    aia_url: str | None = None
    verify_code: int | None = None
    for offer in (BROWSER_CIPHERS, None):
        try:
            tls = _handshake(host, port, server_name, _context(None, offer, True, ca_file), deadline, proxy)
        except ssl.SSLCertVerificationError as exc:
            verify_code = exc.verify_code
            verify_error = exc.verify_message or str(exc)
            verify_reason = {X509_V_ERR_CERT_HAS_EXPIRED: "expired", X509_V_ERR_HOSTNAME_MISMATCH: "hostname",
                             X509_V_ERR_IP_ADDRESS_MISMATCH: "hostname"}.get(exc.verify_code, "untrusted")
            break
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError, TlsUnreachable) as exc:
            verify_error = f"handshake failed: {getattr(exc, 'reason', None) or exc}"
            verify_reason = "handshake"
            continue
        verify_error = verify_reason = None
        negotiated, cipher = tls.version(), (tls.cipher() or (None,))[0]
        sent = _chain(tls) or sent
        verified = _chain(tls, "get_verified_chain")
        tls.close()
        break
    if not sent:  # nothing seen yet (e.g. TLS 1.3 only): look at the certificate without verification
        try:
            tls = _handshake(host, port, server_name, _context(None, None, False, None), deadline, proxy)
            negotiated, cipher = negotiated or tls.version(), cipher or (tls.cipher() or (None,))[0]
            sent = _chain(tls)
            tls.close()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError, TlsUnreachable):
            pass
    if negotiated is None and sent:
        negotiated = next((v for v in reversed(VERSIONS) if accepted.get(v)), None)
        cipher = cipher or next(iter(suites.get(negotiated or "", ())), None)
    if verify_code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY and sent:
        # Unknown CA or missing intermediate? Fetch the issuer named in the AIA extension and verify again.
        verify_reason = "issuer-unknown"
        fetched = issuer_via_aia(sent[-1], max(0.5, deadline - time.monotonic()), proxy)
        if fetched is not None and fetched[2]:
            aia_url, verify_reason = fetched[0], "untrusted"  # the issuer is a root nobody trusts: an unknown CA
        elif fetched is not None:
            aia_url, issuer_der, _root = fetched
            try:
                tls = _handshake(host, port, server_name, _context(None, None, True, ca_file, issuer_der), deadline,
                                 proxy)
                verified = _chain(tls, "get_verified_chain")
                tls.close()
                verify_reason = "incomplete-chain"
            except (ssl.SSLError, ConnectionError, TimeoutError, OSError, TlsUnreachable):
                verify_reason = "untrusted"  # the issuer was found, and it is not trusted
    all_suites = [n for names in suites.values() for n in names]
    non_fs: bool | None = any(suite_class(n) == "no-forward-secrecy" for n in all_suites)
    if not all_suites:
        non_fs = None
    elif not non_fs and not all(complete.get(v, True) for v in suites if v != "TLSv1.3"):
        non_fs = None  # cut short: cannot say none is accepted
    forward_secrecy = negotiated == "TLSv1.3" or bool(cipher and suite_class(cipher) != "no-forward-secrecy")
    cert = _certificate(sent, verified)
    findings = _judge(accepted, forward_secrecy, non_fs, cert, verify_error, verify_reason, negotiated, warn_days,
                      suites, aia_url)
    return TlsReport(host, port, accepted, negotiated, cipher, forward_secrecy and not non_fs, non_fs, cert,
                     verify_error, verify_reason, tuple(findings), suites, complete, aia_url)


def _version_name(v: str) -> str:
    return "TLS 1.0" if v == "TLSv1" else v.replace("TLSv", "TLS ")


def _suite_findings(suites: dict[str, tuple[str, ...]]) -> list[Finding]:
    by_class: dict[str, list[str]] = {}
    for names in suites.values():
        for n in names:
            by_class.setdefault(suite_class(n), [])
            if n not in by_class[suite_class(n)]:
                by_class[suite_class(n)].append(n)
    f: list[Finding] = []
    if by_class.get("broken"):
        f.append(Finding("broken-suites", "critical",
                         f"Server akzeptiert gebrochene Cipher-Suites: {', '.join(by_class['broken'])}. "
                         "Abhilfe: nur die Suites der Tabellen von BSI TR-02102-2 zulassen."))
    if by_class.get("sha1-mac"):
        f.append(Finding("sha1-mac-suites", "warning",
                         f"Server akzeptiert CBC-Suites mit SHA-1-MAC, die BSI TR-02102-2 nicht aufführt: "
                         f"{', '.join(by_class['sha1-mac'])}. Abhilfe: nur AES-GCM- oder AES-CBC-SHA256/384-Suites "
                         "mit ECDHE/DHE zulassen."))
    if by_class.get("outside-tables"):
        f.append(Finding("suites-outside-tr02102", "notice",
                         f"Server akzeptiert Cipher-Suites mit Forward Secrecy, die nicht in den Tabellen von "
                         f"BSI TR-02102-2 stehen: {', '.join(by_class['outside-tables'])}."))
    return f


def _judge(accepted: dict[str, Any], forward_secrecy: Any, non_fs: Any, cert: Any, verify_error: Any,
           verify_reason: Any, negotiated: Any, warn_days: int, suites: Any = None,
           aia_url: str | None = None) -> list[Finding]:
    f: list[Finding] = []
    old = [v for v in ("TLSv1", "TLSv1.1") if accepted.get(v)]
    if old:
        names = ", ".join(_version_name(v) for v in old)
        f.append(Finding("old-protocol", "critical",
                            f"Server akzeptiert {names}. BSI TR-02102-2 erlaubt nur TLS 1.2 und TLS 1.3. "
                            "Abhilfe: z. B. nginx 'ssl_protocols TLSv1.2 TLSv1.3;', Apache 'SSLProtocol -all +TLSv1.2 +TLSv1.3'."))
    if not any(accepted.get(v) for v in ACCEPTABLE) and negotiated is None:
        f.append(Finding("no-modern-protocol", "critical", "Weder TLS 1.2 noch TLS 1.3 werden angeboten."))
    if non_fs:
        static = [n for names in (suites or {}).values() for n in names if suite_class(n) == "no-forward-secrecy"]
        listed = f" ({', '.join(dict.fromkeys(static))})" if static else ""
        f.append(Finding("no-forward-secrecy", "critical",
                            f"Server akzeptiert Cipher-Suites ohne Forward Secrecy (RSA-Schlüsseltausch){listed}. "
                            "Abhilfe: nur ECDHE-/DHE-Suites zulassen, z. B. 'ECDHE+AESGCM:ECDHE+CHACHA20'."))
    elif negotiated and not forward_secrecy:
        f.append(Finding("no-forward-secrecy", "critical",
                            "Die ausgehandelte Verbindung nutzt keine Forward Secrecy."))
    f.extend(_suite_findings(suites or {}))
    if verify_error is not None:
        if verify_reason == "incomplete-chain":
            f.append(Finding("certificate-incomplete-chain", "critical",
                             "Server sendet die Zwischenzertifikate nicht. Browser laden sie teils über die "
                             f"AIA-Angabe nach ({(aia_url or '')[:200]}), andere Clients scheitern. Abhilfe: die "
                             "vollständige Kette (Zertifikat und Zwischenzertifikate) ausliefern, z. B. nginx "
                             "'ssl_certificate fullchain.pem'."))
        else:
            label = {"expired": "Zertifikat abgelaufen", "hostname": "Zertifikat passt nicht zum Hostnamen",
                     "untrusted": "Zertifikatskette nicht vertrauenswürdig",
                     "issuer-unknown": "Aussteller des Zertifikats unbekannt (unbekannte CA, oder der Server sendet "
                                       "die Zwischenzertifikate nicht und das Zertifikat nennt keine AIA-Adresse)",
                     "handshake": "TLS-Handshake fehlgeschlagen"}.get(verify_reason or "", "Zertifikat ungültig")
            f.append(Finding(f"certificate-{verify_reason}", "critical", f"{label}: {verify_error[:200]}"))
    if cert is not None:
        days = (cert.not_after - datetime.now(UTC)).total_seconds() / 86400
        if 0 <= days < warn_days:
            f.append(Finding("certificate-expiring", "warning",
                                f"Zertifikat läuft in {days:.0f} Tagen ab ({cert.not_after.date().isoformat()})."))
        if cert.key_type == "RSA" and cert.key_bits < RSA_MIN_BITS:
            f.append(Finding("weak-key", "critical", f"RSA-Schlüssel mit nur {cert.key_bits} Bit."))
        elif cert.key_type == "RSA" and cert.key_bits < RSA_BSI_BITS:
            f.append(Finding("rsa-below-bsi", "notice",
                                f"RSA-Schlüssel mit {cert.key_bits} Bit; BSI TR-02102-1 empfiehlt ab 2024 mindestens "
                                f"{RSA_BSI_BITS} Bit oder ECDSA."))
        elif cert.key_type == "EC" and cert.key_bits < EC_MIN_BITS:
            f.append(Finding("weak-key", "critical", f"EC-Schlüssel mit nur {cert.key_bits} Bit."))
        if cert.signature_hash in ("sha1", "md5"):
            f.append(Finding("weak-signature", "critical", f"Zertifikat mit {cert.signature_hash.upper()} signiert."))
    return f
