"""Secure e-mail transport (BSI TR-03108): STARTTLS on every mail host, the TLS it negotiates
judged by TR-02102-2 like the web server's, DANE (TLSA records, DNSSEC-signed, matching the
certificate the host presents), and the DKIM keys of configured selectors (TR-03182)."""

from __future__ import annotations

import base64
import errno
import hashlib
import smtplib
import socket
import ssl
import time
from typing import Any

import dns.name
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from checks.domain.resolve import Chain, DnsError, Resolver, verify_records, walk
from checks.tr02102 import suite_class

EHLO_NAME = "egov-monitor.invalid"
TLS_OK = ("TLSv1.2", "TLSv1.3")  # TR-02102-2
DKIM_RSA_MIN = 2048


def _context() -> ssl.SSLContext:
    """Accept whatever the server offers: the monitor judges it, it does not refuse it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def starttls(host: str, addresses: list[str], port: int, timeout: float) -> dict[str, Any]:
    """EHLO, STARTTLS and the handshake on the first address that answers: offered (bool), the
    version, suite, its TR-02102-2 class and the leaf certificate (DER, for DANE); or `error`."""
    last = "keine Adresse"
    for address in addresses:
        try:
            with smtplib.SMTP(timeout=timeout, local_hostname=EHLO_NAME) as smtp:
                smtp.connect(address, port)
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    return {"host": host, "address": address, "offered": False}
                setattr(smtp, "_host", host)  # noqa: B010 - SNI: the mail host's name, as a sending MTA gives it
                smtp.starttls(context=_context())
                sock = smtp.sock
                assert isinstance(sock, ssl.SSLSocket)
                version, cipher = sock.version() or "", (sock.cipher() or ("", "", 0))[0]
                der = sock.getpeercert(binary_form=True) or b""
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    pass
            return {"host": host, "address": address, "offered": True, "version": version, "cipher": cipher,
                    "suite_class": suite_class(cipher), "certificate": der}
        except (OSError, smtplib.SMTPException, ssl.SSLError, ValueError) as exc:
            last = f"{address}: {type(exc).__name__}: {exc}"
    return {"host": host, "error": last[:300]}


def judge_tls(probe: dict[str, Any]) -> str | None:
    """Why a STARTTLS probe does not meet TR-02102-2 (None: it does)."""
    if "error" in probe:
        return f"{probe['host']}: nicht erreichbar ({probe['error']})"
    if not probe["offered"]:
        return f"{probe['host']}: bietet kein STARTTLS an"
    if probe["version"] not in TLS_OK:
        return f"{probe['host']}: {probe['version']} (TLS 1.2 oder 1.3 nötig)"
    if probe["suite_class"] in ("broken", "no-forward-secrecy", "sha1-mac"):
        return f"{probe['host']}: Cipher-Suite {probe['cipher']} ({probe['suite_class']})"
    return None


def tlsa_matches(records: list[Any], der: bytes) -> tuple[bool, str]:
    """Whether a TLSA record (DANE-EE or PKIX-EE: usage 3 or 1) matches the leaf `der`; usages
    0 and 2 name a CA of the chain, which the leaf alone cannot show."""
    if not der:
        return False, "kein Zertifikat"
    cert = x509.load_der_x509_certificate(der)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    chain_only = True
    for record in records:
        if record.usage not in (1, 3):
            continue
        chain_only = False
        data = der if record.selector == 0 else spki
        digest = {0: data, 1: hashlib.sha256(data).digest(), 2: hashlib.sha512(data).digest()}.get(record.mtype)
        if digest is not None and digest == record.cert:
            return True, f"TLSA {record.usage} {record.selector} {record.mtype} passt zum Zertifikat"
    if chain_only:
        return False, "nur TLSA für die Zertifizierungsstelle (Nutzung 0/2): mit dem Server-Zertifikat allein nicht prüfbar"
    return False, "kein TLSA-Eintrag passt zum vorgelegten Zertifikat"


def dane(resolver: Resolver, chain: Chain, host: str, port: int, der: bytes,
         anchors: dns.rrset.RRset) -> tuple[str, str]:
    """(state, detail) of DANE for one mail host: its TLSA records exist, validate with DNSSEC and
    match. A host in the domain's own zone is validated with the domain's keys; a host elsewhere
    (a provider's mail server) by walking its own chain of trust from the anchor."""
    owner = f"_{port}._tcp.{host}"
    try:
        answer = resolver.ask(owner, "TLSA")
    except DnsError as exc:
        return "unknown", str(exc)
    if answer.rrset is None:
        return "fail", f"{host}: kein TLSA-Eintrag ({owner})"
    name = dns.name.from_text(host)
    if chain.keys is None or not name.is_subdomain(chain.keys.name):
        chain = walk(resolver, host, anchors)
        if chain.outcome == "unknown":
            return "unknown", f"{host}: {chain.detail}"
        if chain.outcome == "bogus":
            return "fail", f"{host}: DNSSEC ungültig ({chain.detail})"
    if chain.keys is None:
        return "fail", f"{host}: TLSA nicht mit DNSSEC abgesichert (ohne Signatur wertlos)"
    why = verify_records(resolver, chain, [(owner, "TLSA")])
    if why:
        return "fail", f"{host}: {why}"
    ok, detail = tlsa_matches(list(answer.rrset), der)
    return ("pass" if ok else "fail"), f"{host}: {detail}"


def dkim(resolver: Resolver, domain: str, selectors: list[str]) -> list[dict[str, Any]]:
    """Each configured selector's key: found, type, size, and what is wrong with it (German)."""
    out = []
    for selector in selectors:
        name = f"{selector}._domainkey.{domain}"
        try:
            answer = resolver.ask(name, "TXT")
        except DnsError as exc:
            out.append({"selector": selector, "error": str(exc)})
            continue
        texts = ["".join(s.decode(errors="replace") for s in r.strings) for r in answer.rrset] if answer.rrset else []
        record = next((t for t in texts if "p=" in t), None)
        if record is None:
            out.append({"selector": selector, "problem": f"kein DKIM-Schlüssel unter {name}"})
            continue
        tags = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in record.split(";")) if k.strip()}
        kind = tags.get("k", "rsa")
        try:
            raw = base64.b64decode(tags.get("p", "").replace(" ", ""), validate=True)
        except ValueError:
            out.append({"selector": selector, "key_type": kind, "problem": "Schlüssel nicht lesbar (p= kein Base64)"})
            continue
        if not raw:
            out.append({"selector": selector, "key_type": kind, "problem": "Schlüssel widerrufen (p= leer)"})
            continue
        entry: dict[str, Any] = {"selector": selector, "key_type": kind}
        try:
            if kind == "ed25519":
                ed25519.Ed25519PublicKey.from_public_bytes(raw)
                entry["bits"] = 256
            else:
                key = serialization.load_der_public_key(raw)
                if not isinstance(key, rsa.RSAPublicKey):
                    raise ValueError("kein RSA-Schlüssel")
                entry["bits"] = key.key_size
                if key.key_size < DKIM_RSA_MIN:
                    entry["problem"] = f"RSA-Schlüssel mit {key.key_size} Bit (mindestens {DKIM_RSA_MIN})"
        except (ValueError, TypeError) as exc:
            entry["problem"] = f"Schlüssel nicht lesbar ({exc})"
        out.append(entry)
    return out


# The monitor's own network has no IPv6 path: not the host's fault, nothing to judge.
_MONITOR_WITHOUT_IPV6 = {errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}
IPV6_ADDRESSES_MAX = 4


def reach_ipv6(resolver: Resolver, host: str, port: int, deadline: float, timeout: float) -> dict[str, Any]:
    """Whether `host` takes a TCP connection on `port` at each of its IPv6 addresses (at most
    IPV6_ADDRESSES_MAX), each attempt within `timeout` and the run's `deadline`: `reached` true or
    false with the failures, or `monitor_without_ipv6` when the monitor itself has no IPv6 route.
    A host without AAAA: `aaaa` false."""
    try:
        answer = resolver.ask(host, "AAAA")
    except DnsError as exc:
        return {"host": host, "error": str(exc)[:200]}
    found = [r.to_text() for r in answer.rrset] if answer.rrset is not None else []
    if not found:
        return {"host": host, "aaaa": False}
    failures = []
    for address in found[:IPV6_ADDRESSES_MAX]:
        left = min(timeout, deadline - time.monotonic())
        if left <= 0.05:
            return {"host": host, "aaaa": True, "error": "Zeitlimit der Prüfung erreicht"}
        try:
            with socket.create_connection((address, port), timeout=left):
                pass
        except TimeoutError:
            failures.append(f"[{address}]:{port} keine Antwort in {left:.0f} s")
        except ConnectionRefusedError:
            failures.append(f"[{address}]:{port} Verbindung abgelehnt")
        except OSError as exc:
            if exc.errno in _MONITOR_WITHOUT_IPV6:
                return {"host": host, "aaaa": True, "monitor_without_ipv6": True, "error": str(exc)[:200]}
            failures.append(f"[{address}]:{port} {exc.strerror or type(exc).__name__}")
    return {"host": host, "aaaa": True, "port": port, "addresses": found[:IPV6_ADDRESSES_MAX],
            "reached": not failures, **({"failures": failures} if failures else {})}


MTA_STS_MAX_BYTES = 64 * 1024  # RFC 8461 § 3.3: a policy larger than 64 KiB may be refused
MTA_STS_MAX_AGE = 31_557_600  # RFC 8461 § 3.2: at most a year


def mta_sts_policy(resolver: Resolver, domain: str, mx_hosts: list[str], *, port: int, timeout: float,
                   ca_file: str | None) -> dict[str, Any]:
    """The MTA-STS policy of `domain` (RFC 8461): fetched over HTTPS from
    https://mta-sts.<domain>/.well-known/mta-sts.txt, the host resolved through the run's resolver,
    its certificate verified (a sending MTA requires a valid one), no redirect followed; parsed, and
    each MX host matched against its `mx` patterns. Reported with what is wrong, not judged."""
    from checks.httpprobe import FetchOptions, fetch

    host = f"mta-sts.{domain}"
    url = f"https://{host}/.well-known/mta-sts.txt"
    found = addresses(resolver, host)
    if not found:
        return {"url": url, "problems": [f"{host} hat keine Adresse"]}
    target = f"[{found[0]}]:{port}" if ":" in found[0] else f"{found[0]}:{port}"
    got = fetch(url, FetchOptions(timeout=timeout, follow_redirects=False, max_body_bytes=MTA_STS_MAX_BYTES,
                                  ca_file=ca_file, host_rules=((host, target),)))
    if got.error is not None:
        return {"url": url, "problems": [f"nicht abrufbar: {got.error}"[:300]]}
    problems = []
    if got.status != 200:
        return {"url": url, "status": got.status, "problems": [f"HTTP {got.status} statt 200 (Weiterleitungen sind "
                                                                  "nicht erlaubt)" if 300 <= got.status < 400 else
                                                                  f"HTTP {got.status} statt 200"]}
    media = next((v for k, v in got.headers if k.lower() == "content-type"), "").split(";")[0].strip().lower()
    if media != "text/plain":
        problems.append(f"Content-Type {media or 'fehlt'} statt text/plain")
    fields: dict[str, list[str]] = {}
    for line in got.body.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    version, mode = (fields.get("version") or [""])[0], (fields.get("mode") or [""])[0]
    patterns = [p.lower().rstrip(".") for p in fields.get("mx", [])]
    max_age_text = (fields.get("max_age") or [""])[0]
    if version != "STSv1":
        problems.append(f"version: {version or 'fehlt'} statt STSv1")
    if mode not in ("enforce", "testing", "none"):
        problems.append(f"mode: {mode or 'fehlt'} (enforce, testing oder none)")
    max_age = int(max_age_text) if max_age_text.isdigit() else None
    if max_age is None or max_age > MTA_STS_MAX_AGE:
        problems.append(f"max_age: {max_age_text or 'fehlt'} (Sekunden, höchstens {MTA_STS_MAX_AGE})")
    uncovered = [h for h in mx_hosts if not any(_mx_matches(h, p) for p in patterns)] if mode != "none" else []
    if mode != "none" and not patterns:
        problems.append("keine mx-Zeile")
    elif uncovered:
        problems.append(f"MX nicht von der Richtlinie erfasst: {', '.join(uncovered)}")
    return {"url": url, "status": got.status, "mode": mode, "max_age": max_age, "mx": patterns,
            **({"problems": problems} if problems else {})}


def _mx_matches(host: str, pattern: str) -> bool:
    """RFC 8461 § 4.1: a pattern matches the host exactly or, as "*.example.net", in one leftmost label."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == pattern[2:]
    return host == pattern


def addresses(resolver: Resolver, host: str) -> list[str]:
    found = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.ask(host, rdtype)
        except DnsError:
            continue
        found += [r.to_text() for r in answer.rrset] if answer.rrset is not None else []
    return found

