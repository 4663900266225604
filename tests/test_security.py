"""The security check against real local servers: HTTPS with generated certificates,
headers from none to strict, cookies, a non-redirecting HTTP listener, old and new TLS,
expired and wrong-host certificates, hostile servers; plus security.txt, metrics and CLI."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from checks.result import Reason, State, Target
from checks.security import SecuritySettings, run, security_txt
from monitor.config import load_config
from monitor.metrics import ResultCollector
from monitor.store import Store
from tests.helpers import KINDS
from tests.sites import Page, site

STRICT = [("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
          ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"), ("X-Content-Type-Options", "nosniff"),
          ("Referrer-Policy", "no-referrer"), ("Cross-Origin-Resource-Policy", "same-site"),
          ("Permissions-Policy", "camera=(), microphone=()"), ("Server", "egov")]
NEXT_YEAR = (datetime.now(UTC) + timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
SECURITY_TXT = Page(200, [], f"Contact: mailto:security@example.org\nExpires: {NEXT_YEAR}\n".encode(), "text/plain")
TO_HTTPS = Page(301, [("Location", "https://127.0.0.1:{port}/")], b"")


def routes(headers, *, redirect=True, security_txt_page=SECURITY_TXT) -> dict:
    r = {("https", "/"): Page(200, list(headers)), "/.well-known/security.txt": security_txt_page}
    r[("http", "/")] = TO_HTTPS if redirect else Page(200, list(headers))
    return r


@pytest.fixture(scope="module")
def certs(ca):
    return {"good": ca.issue("sec-good", ["127.0.0.1"]), "rsa": ca.issue("sec-rsa", ["127.0.0.1"], rsa_bits=2048),
            "expired": ca.issue("sec-expired", ["127.0.0.1"], expired=True),
            "wronghost": ca.issue("sec-wrong", ["www.example.invalid"])}


def scan(ca, port, *, http_port=None, timeout=5.0, **kw):
    settings = SecuritySettings(ca_file=ca.ca_file, http_port=http_port or port, timeout=timeout, **kw)
    return run(Target("svc", f"https://127.0.0.1:{port}/"), settings)


def finding_ids(result) -> set[str]:
    return {f["id"] for f in result.evidence["findings"]}


def test_strict_site_is_compliant(ca, certs):
    # TLS 1.2 suites from the TR-02102-2 tables only (Python 3.13's server default also offers CBC-SHA1)
    with site(routes(STRICT), tls=(certs["good"].cert, certs["good"].key), ciphers="ECDHE+AESGCM") as port:
        r = scan(ca, port)
    obs = r.evidence["observatory"]
    assert (r.state, r.reason) == (State.UP, Reason.OK), r.evidence["findings"]
    assert obs["grade"] == "A+" and obs["score"] == 130 and obs["algorithm_version"] == 4
    assert obs["tests"]["redirection"]["result"] == "redirection-to-https"
    assert r.evidence["security_txt"]["valid"] is True
    assert r.evidence["tls"]["accepted"] == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    assert r.measurements["tls_compliant"] == 1.0 and r.measurements["tls_forward_secrecy"] == 1.0
    assert r.evidence["tls"]["certificate"]["key_type"] == "EC"
    assert r.measurements["tls_cert_expiry_timestamp"] == pytest.approx(certs["good"].not_after.timestamp())


def test_site_without_headers_fails_with_fixes(ca, certs):
    with site(routes([], redirect=False, security_txt_page=Page(404, body=b"")),
              tls=(certs["good"].cert, certs["good"].key)) as port:
        r = scan(ca, port)
    assert (r.state, r.reason) == (State.DOWN, Reason.NONCOMPLIANT)
    obs = r.evidence["observatory"]
    # csp -25, hsts -20, xcto -5, xfo -20, no redirect -20 = 10
    assert (obs["score"], obs["grade"]) == (10, "F")
    by_id = {f["id"]: f for f in r.evidence["findings"]}
    assert by_id["grade-below-minimum"]["severity"] == "critical"
    assert "Strict-Transport-Security: max-age=31536000" in by_id["hsts-not-implemented"]["fix"]
    assert "Content-Security-Policy:" in by_id["csp-not-implemented"]["fix"]
    assert "redirection-missing" in by_id and "security-txt-missing" in by_id
    assert r.measurements["security_txt_valid"] == 0.0


def test_hsts_too_short_costs_ten_points(ca, certs):
    short = [h if h[0] != "Strict-Transport-Security" else (h[0], "max-age=86400") for h in STRICT]
    with site(routes(short), tls=(certs["good"].cert, certs["good"].key)) as port:
        r = scan(ca, port)
    obs = r.evidence["observatory"]
    assert obs["tests"]["strict-transport-security"]["result"] == "hsts-implemented-max-age-less-than-six-months"
    assert obs["score"] == 120  # 130 - 10: at 90 without bonuses, the bonuses still count
    assert r.state is State.DEGRADED and r.reason is Reason.FINDINGS


def test_cookies_without_flags(ca, certs):
    headers = [*STRICT, ("Set-Cookie", "JSESSIONID=abc123; Path=/"), ("Set-Cookie", "lang=de")]
    with site(routes(headers), tls=(certs["good"].cert, certs["good"].key)) as port:
        r = scan(ca, port)
    cookies = r.evidence["observatory"]["tests"]["cookies"]
    # HSTS is valid, so a session cookie without Secure is "protected by HSTS" (-10), but no HttpOnly is -30.
    assert cookies["result"] == "cookies-session-without-httponly-flag"
    assert "JSESSIONID" in cookies["data"]["problems"]["cookies-session-without-httponly-flag"]
    assert "JSESSIONID" in str(next(f for f in r.evidence["findings"] if f["test"] == "cookies")["evidence"])


def test_http_listener_that_does_not_redirect(ca, certs):
    with site(routes(STRICT), tls=(certs["good"].cert, certs["good"].key), plain=False) as port, \
            site({"/": Page(200, [])}) as http_port:
        r = scan(ca, port, http_port=http_port)
    red = r.evidence["observatory"]["tests"]["redirection"]
    assert red["result"] == "redirection-missing" and list(red["data"]["route"]) == [f"http://127.0.0.1:{http_port}/"]


def test_no_http_listener_needs_no_redirect(ca, certs):
    with site(routes(STRICT), tls=(certs["good"].cert, certs["good"].key), plain=False) as port:
        closed = _closed_port()
        r = scan(ca, port, http_port=closed)
    assert r.evidence["observatory"]["tests"]["redirection"]["result"] == "redirection-not-needed-no-http"
    assert r.evidence["http_error"]["reason"] == "connect_refused"


def test_old_tls_server_next_to_a_modern_one(ca, certs):
    pair = (certs["good"].cert, certs["good"].key)
    with site(routes(STRICT), tls=pair, versions=("TLSv1", "TLSv1_3")) as old, site(routes(STRICT), tls=pair) as modern:
        r_old, r_new = scan(ca, old), scan(ca, modern)
    assert r_old.evidence["tls"]["accepted"] == {"TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": True}
    assert (r_old.state, r_old.reason) == (State.DOWN, Reason.NONCOMPLIANT)
    assert "tls-old-protocol" in finding_ids(r_old)
    assert r_old.measurements["tls_accepts_tlsv1"] == 1.0 and r_old.measurements["tls_compliant"] == 0.0
    assert r_new.evidence["tls"]["accepted"]["TLSv1"] is False and r_new.measurements["tls_compliant"] == 1.0


def test_rsa_key_exchange_is_not_forward_secret(ca, certs):
    pair = (certs["rsa"].cert, certs["rsa"].key)
    with site(routes(STRICT), tls=pair, versions=("TLSv1_2", "TLSv1_2"),
              ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256") as port:
        r = scan(ca, port)
    t = r.evidence["tls"]
    assert t["negotiated"] == "TLSv1.2" and "ECDHE" in t["cipher"]  # the preferred suite is fine...
    assert t["non_forward_secret_accepted"] is True  # ...but RSA key exchange is accepted too
    assert "tls-no-forward-secrecy" in finding_ids(r) and r.state is State.DOWN
    assert "tls-rsa-below-bsi" in finding_ids(r)  # 2048-bit RSA: a notice per BSI TR-02102-1


@pytest.mark.parametrize(("which", "reason"), [("expired", "expired"), ("wronghost", "hostname")])
def test_bad_certificates(ca, certs, which, reason):
    with site(routes(STRICT), tls=(certs[which].cert, certs[which].key)) as port:
        r = scan(ca, port)
    assert r.evidence["tls"]["verify_reason"] == reason
    assert f"tls-certificate-{reason}" in finding_ids(r) and r.state is State.DOWN
    # The Observatory still grades the page, as an unverified one: HSTS cannot count.
    assert r.evidence["observatory"]["tests"]["strict-transport-security"]["result"] == "hsts-invalid-cert"


def test_self_signed_certificate(tmp_path):
    from tests.certs import self_signed

    pair = self_signed(tmp_path, "ss", "127.0.0.1")
    with site(routes(STRICT), tls=(pair.cert, pair.key)) as port:
        r = run(Target("svc", f"https://127.0.0.1:{port}/"), SecuritySettings(http_port=port, timeout=5))
    assert r.evidence["tls"]["verify_reason"] == "untrusted" and r.state is State.DOWN


def test_certificate_expiring_soon_is_a_warning(ca):
    pair = ca.issue("sec-soon", ["127.0.0.1"], days_valid=5)
    with site(routes(STRICT), tls=(pair.cert, pair.key)) as port:
        r = scan(ca, port)
    assert "tls-certificate-expiring" in finding_ids(r) and r.state is State.DEGRADED


# --- hostile servers ------------------------------------------------------------------------

@contextlib.contextmanager
def raw_server(response: bytes | None):
    """Accepts, reads the request, sends `response` verbatim (None: never answers)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    conns = []

    def loop():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            conns.append(c)
            if response is not None:
                with contextlib.suppress(OSError):
                    c.recv(65536)
                    c.sendall(response)
                    c.close()

    threading.Thread(target=loop, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for c in conns:
            c.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hanging_server_costs_at_most_its_timeouts():
    with raw_server(None) as port:
        t0 = time.monotonic()
        r = run(Target("svc", f"https://127.0.0.1:{port}/"), SecuritySettings(http_port=port, timeout=1.0))
        elapsed = time.monotonic() - t0
    assert r.state is State.DOWN and r.reason is Reason.READ_TIMEOUT
    assert elapsed < SecuritySettings(timeout=1.0).worst_case_seconds() + 1


def test_huge_and_non_utf8_headers_over_the_wire():
    csp = "default-src 'self' " + " ".join(f"https://h{i}.example.org" for i in range(3000))  # > 64 KiB
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Security-Policy: " + csp.encode() +
                b"\r\nX-Frame-Options: \xff\xfe\x80DENY\r\nSet-Cookie: \xc3\x28=\xa0\xa1; Secure\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
    with raw_server(response) as port:
        r = run(Target("svc", f"http://127.0.0.1:{port}/"),
                SecuritySettings(http_port=port, https_port=_closed_port(), timeout=3, tls=False, security_txt=False))
    tests = r.evidence["observatory"]["tests"]
    assert tests["content-security-policy"]["result"] == "csp-implemented-with-no-unsafe"
    assert tests["x-frame-options"]["result"] == "x-frame-options-header-invalid"
    assert tests["redirection"]["result"] == "redirection-missing"
    assert r.state is State.DOWN and r.reason is Reason.NONCOMPLIANT


def test_redirect_loop_is_graded_like_the_reference():
    with site({"/": Page(302, [("Location", "/")], b"")}) as port:
        r = run(Target("svc", f"http://127.0.0.1:{port}/"),
                SecuritySettings(http_port=port, https_port=_closed_port(), timeout=3, tls=False, security_txt=False))
    # After 10 redirects the reference grades the last (3xx) response; so do we.
    assert r.evidence["observatory"]["grade"] in ("F", "D-", "D")
    assert r.evidence["http_error"]["reason"] == "too_many_redirects"


def test_nothing_listening_at_all():
    r = run(Target("svc", f"https://127.0.0.1:{_closed_port()}/"), SecuritySettings(http_port=_closed_port(), timeout=2))
    assert (r.state, r.reason) == (State.DOWN, Reason.CONNECT_REFUSED)


# --- security.txt ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 21, tzinfo=UTC)
URL = "https://example.org/.well-known/security.txt"


@pytest.mark.parametrize(("body", "ctype", "url", "expected"), [
    ("Contact: mailto:a@example.org\nExpires: 2027-05-01T00:00:00Z\n", "text/plain; charset=utf-8", URL, set()),
    ("Contact: mailto:a@example.org\nExpires: 2026-01-01T00:00:00Z\n", "text/plain", URL, {"expired"}),
    ("Expires: 2027-05-01T00:00:00Z\n", "text/plain", URL, {"no-contact"}),
    ("Contact: mailto:a@example.org\n", "text/plain", URL, {"no-expires"}),
    ("Contact: mailto:a@example.org\nExpires: next year\n", "text/plain", URL, {"expires-invalid"}),
    ("Contact: a@example.org\nExpires: 2027-05-01T00:00:00Z\n", "text/plain", URL, {"contact-scheme"}),
    ("Contact: mailto:a@example.org\nExpires: 2027-05-01T00:00:00Z\n", "text/html", URL, {"content-type"}),
    ("Contact: mailto:a@example.org\nExpires: 2027-05-01T00:00:00Z\n", "text/plain",
     "http://example.org/.well-known/security.txt", {"not-https"}),
    ("Contact: mailto:a@example.org\nExpires: 2029-05-01T00:00:00Z\n", "text/plain", URL, {"expires-far"}),
    ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: https://example.org/meldung\n"
     "Expires: 2027-05-01T00:00:00+01:00\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n",
     "text/plain", URL, {"signature-malformed"}),  # the block is no signature (tests/test_security_txt.py signs for real)
])
def test_security_txt(body, ctype, url, expected):
    result = security_txt.analyse(url, 200, ctype, body, now=NOW)
    assert {f.id for f in result.findings} == expected
    assert result.valid == (not {f.id for f in result.findings if f.severity == "warning"})


def test_security_txt_missing():
    result = security_txt.analyse(URL, 404, "text/html", "", now=NOW)
    assert not result.found and not result.valid


# --- metrics and CLI ------------------------------------------------------------------------

CATALOG = """\
services:
  - id: portal
    name: Portal
    category: basisdienst
    operator: Land Saarland
    contact: ops@example.invalid
    urls: ["https://127.0.0.1:{port}/"]
    checks:
      security: {{http_port: {port}, timeout: 5s, ca_file: "{ca}"}}
"""


def _config(tmp_path: Path, port: int, ca) -> Path:
    (tmp_path / "catalog.yaml").write_text(CATALOG.format(port=port, ca=ca.ca_file))
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"catalog: [catalog.yaml]\nstore: {{url: \"sqlite:///{tmp_path / 's.db'}\"}}\n")
    return settings


def test_metrics_pass_promtool_and_carry_no_header_values(tmp_path, ca, certs):
    hostile = [*STRICT[1:], ("Content-Security-Policy", "default-src 'self' https://evil.example/\"}{<script>"),
               ("Server", "Apache/2.4.1 (<script>)")]
    with site(routes(hostile), tls=(certs["good"].cert, certs["good"].key)) as port:
        config = load_config(_config(tmp_path, port, ca), KINDS)
        result = run(Target("portal", f"https://127.0.0.1:{port}/"), config.services["portal"].checks["security"])
    store = Store.open(config.store_url, config.kinds)
    store.record(result)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    labels = {"service": "portal", "category": "basisdienst", "url": result.url}
    obs = result.evidence["observatory"]
    assert registry.get_sample_value("egov_security_score", labels) == obs["score"]
    assert registry.get_sample_value("egov_security_grade_info", {**labels, "grade": obs["grade"], "algorithm_version": "4"}) == 1
    assert registry.get_sample_value("egov_security_test_passed", {**labels, "test": "x-content-type-options"}) == 1
    assert registry.get_sample_value("egov_security_test_passed", {**labels, "test": "version-disclosure"}) == 0
    assert registry.get_sample_value("egov_tls_version_accepted", {**labels, "version": "TLS 1.0"}) == 0
    assert registry.get_sample_value("egov_tls_version_accepted", {**labels, "version": "TLS 1.3"}) == 1
    assert registry.get_sample_value("egov_tls_certificate_expiry_timestamp_seconds", labels) > time.time()
    text = generate_latest(registry).decode()
    assert "evil.example" not in text and "<script>" not in text and "Apache" not in text
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_prints_findings_with_fixes(tmp_path, ca, certs):
    headers = [h for h in STRICT if h[0] != "Strict-Transport-Security"]
    with site(routes(headers), tls=(certs["good"].cert, certs["good"].key), versions=("TLSv1_1", "TLSv1_3")) as port:
        settings = _config(tmp_path, port, ca)
        out = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "--config", str(settings), "--kind",
                              "security", "portal"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr  # TLS 1.1 accepted: not compliant
    text = out.stdout
    assert "Note" in text and "Abhilfe" in text
    assert "Strict-Transport-Security: max-age=31536000" in text  # which header, which value passes
    assert "TLS 1.1" in text and "KRITISCH" in text and "nicht erfüllt" in text
