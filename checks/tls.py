"""TLS configuration against BSI TR-02102-2: which protocol versions a server accepts,
forward secrecy, and the certificate (chain, host name, expiry, key).

Like sslyze, each protocol version is tried in a handshake of its own, so a server that
prefers TLS 1.3 but still accepts TLS 1.0 is caught. The verdict: TLS 1.2 and/or 1.3
only, forward secrecy only, a valid certificate for the host name.
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

from checks.httpprobe import client_context
from checks.result import Finding

# Versions we try, oldest first. SSL 3.0 cannot be offered by this OpenSSL at all.
VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ACCEPTABLE = frozenset({"TLSv1.2", "TLSv1.3"})  # BSI TR-02102-2
_SSL_VERSION = {"TLSv1": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2", "TLSv1.3": "TLSv1_3"}
_X509_V_ERR_CERT_HAS_EXPIRED = 10
_X509_V_ERR_HOSTNAME_MISMATCH = 62
_X509_V_ERR_IP_ADDRESS_MISMATCH = 64
RSA_MIN_BITS = 2048  # below: broken
RSA_BSI_BITS = 3000  # BSI TR-02102-1 asks for 3000 bits from 2024 on
EC_MIN_BITS = 250


class TlsUnreachable(Exception):
    """No TCP connection to the TLS port at all: no verdict is possible."""


@dataclasses.dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    not_after: datetime
    key_type: str  # "RSA", "EC", "Ed25519", ...
    key_bits: int
    signature_hash: str | None
    names: tuple[str, ...]
    chain: tuple[str, ...]  # subjects, leaf first

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject[:300], "issuer": self.issuer[:300], "not_after": self.not_after.isoformat(),
                "key_type": self.key_type, "key_bits": self.key_bits, "signature_hash": self.signature_hash,
                "names": list(self.names[:20]), "chain": [c[:300] for c in self.chain[:10]]}


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
    verify_reason: str | None  # "expired", "hostname", "untrusted"
    findings: tuple[Finding, ...]

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
                "certificate": self.certificate.to_dict() if self.certificate else None,
                "verify_error": self.verify_error, "verify_reason": self.verify_reason, "compliant": self.compliant,
                "findings": [f.to_dict() for f in self.findings]}


def _context(version: str | None, ciphers: str | None, verify: bool, ca_file: str | None) -> ssl.SSLContext:
    ctx = client_context(verify, ca_file)  # a fresh one: versions and ciphers are set on it below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # asking for TLS 1.0 on purpose
        if version is not None:
            v = getattr(ssl.TLSVersion, _SSL_VERSION[version])
            ctx.minimum_version = v
            ctx.maximum_version = v
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        elif version in ("TLSv1", "TLSv1.1"):
            ctx.set_ciphers("ALL:@SECLEVEL=0")  # old versions need SHA-1 signatures
    return ctx


def _handshake(host: str, port: int, server_name: str, ctx: ssl.SSLContext, deadline: float) -> ssl.SSLSocket:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no time left")
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


def _chain(tls: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13 has public get_verified_chain(); 3.12 has it on the internal object.
    for getter in ("get_verified_chain", "get_unverified_chain"):
        fn = getattr(tls, getter, None) or getattr(getattr(tls, "_sslobj", None), getter, None)
        if fn is None:
            continue
        try:
            certs = fn() or []
        except (ssl.SSLError, ValueError):
            continue
        out = [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in certs]
        if out:
            return out
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _certificate(chain: list[bytes]) -> Certificate | None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if not chain:
        return None
    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
    except ValueError:
        return None
    leaf = certs[0]
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
                       bits, hash_alg.name if hash_alg else None, names, tuple(c.subject.rfc4514_string() for c in certs))


def scan(host: str, port: int = 443, *, server_name: str | None = None, timeout: float = 10.0,
         ca_file: str | None = None, warn_days: int = 30) -> TlsReport:
    """Probe `host:port`. Raises TlsUnreachable when no TCP connection is possible."""
    server_name = server_name or host
    deadline = time.monotonic() + timeout
    per_try = max(1.0, timeout / 8)
    accepted: dict[str, bool | None] = {}
    for version in VERSIONS:
        try:
            tls = _handshake(host, port, server_name, _context(version, None, False, None),
                             min(deadline, time.monotonic() + per_try))
            accepted[version] = tls.version() == version
            tls.close()
        except TlsUnreachable:
            raise
        except (ssl.SSLError, ConnectionError):
            accepted[version] = False  # refused by alert or reset: not accepted
        except (TimeoutError, OSError):
            accepted[version] = None

    verify_error = verify_reason = None
    negotiated = cipher = None
    chain: list[bytes] = []
    try:
        tls = _handshake(host, port, server_name, _context(None, None, True, ca_file), deadline)
        negotiated, cipher = tls.version(), (tls.cipher() or (None,))[0]
        chain = _chain(tls)
        tls.close()
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc.verify_message or str(exc)
        verify_reason = {_X509_V_ERR_CERT_HAS_EXPIRED: "expired", _X509_V_ERR_HOSTNAME_MISMATCH: "hostname",
                         _X509_V_ERR_IP_ADDRESS_MISMATCH: "hostname"}.get(exc.verify_code, "untrusted")
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
        verify_error = f"handshake failed: {getattr(exc, 'reason', None) or exc}"
        verify_reason = "handshake"
    if not chain:  # the certificate was rejected: look at it without verification
        try:
            tls = _handshake(host, port, server_name, _context(None, None, False, None), deadline)
            negotiated, cipher = negotiated or tls.version(), cipher or (tls.cipher() or (None,))[0]
            chain = _chain(tls)
            tls.close()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError, TlsUnreachable):
            pass
    forward_secrecy = negotiated == "TLSv1.3" or bool(cipher and ("ECDHE" in cipher or "DHE" in cipher))
    non_fs: bool | None
    try:
        tls = _handshake(host, port, server_name, _context("TLSv1.2", "kRSA:@SECLEVEL=0", False, None),
                         min(deadline, time.monotonic() + per_try))
        non_fs = True
        tls.close()
    except (ssl.SSLError, ConnectionError):
        non_fs = False
    except (TimeoutError, OSError, TlsUnreachable):
        non_fs = None
    cert = _certificate(chain)
    findings = _judge(accepted, forward_secrecy, non_fs, cert, verify_error, verify_reason, negotiated, warn_days)
    return TlsReport(host, port, accepted, negotiated, cipher, forward_secrecy and not non_fs, non_fs, cert,
                     verify_error, verify_reason, tuple(findings))


def _judge(accepted, forward_secrecy, non_fs, cert, verify_error, verify_reason, negotiated, warn_days) -> list[Finding]:
    f: list[Finding] = []
    old = [v for v in ("TLSv1", "TLSv1.1") if accepted.get(v)]
    if old:
        names = ", ".join(v.replace("TLSv1", "TLS 1.0") if v == "TLSv1" else v.replace("TLSv", "TLS ") for v in old)
        f.append(Finding("old-protocol", "critical",
                            f"Server akzeptiert {names}. BSI TR-02102-2 erlaubt nur TLS 1.2 und TLS 1.3. "
                            "Abhilfe: z. B. nginx 'ssl_protocols TLSv1.2 TLSv1.3;', Apache 'SSLProtocol -all +TLSv1.2 +TLSv1.3'."))
    if not any(accepted.get(v) for v in ACCEPTABLE) and negotiated is None:
        f.append(Finding("no-modern-protocol", "critical", "Weder TLS 1.2 noch TLS 1.3 werden angeboten."))
    if non_fs:
        f.append(Finding("no-forward-secrecy", "critical",
                            "Server akzeptiert Cipher-Suites ohne Forward Secrecy (RSA-Schlüsseltausch). "
                            "Abhilfe: nur ECDHE-/DHE-Suites zulassen, z. B. 'ECDHE+AESGCM:ECDHE+CHACHA20'."))
    elif negotiated and not forward_secrecy:
        f.append(Finding("no-forward-secrecy", "critical",
                            "Die ausgehandelte Verbindung nutzt keine Forward Secrecy."))
    if verify_error is not None:
        label = {"expired": "Zertifikat abgelaufen", "hostname": "Zertifikat passt nicht zum Hostnamen",
                 "untrusted": "Zertifikatskette nicht vertrauenswürdig",
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
