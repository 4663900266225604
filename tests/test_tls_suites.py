"""TLS as a browser sees it (availability) and as BSI TR-02102-2 judges it (security), on local
servers with chosen suites: ECDHE with CBC-SHA only, static RSA only, TLS 1.2 AEAD only, TLS 1.3
only, OpenSSL's DEFAULT, and a server that does not send its intermediate certificate.

Availability must be `up` wherever Chromium loads the page (checks.httpprobe.CLIENT_PROFILE);
the weak suites are the security check's findings, listed suite by suite.
"""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path

import pytest

from checks.availability import AvailabilitySettings, start
from checks.availability import run as availability
from checks.httpprobe import BROWSER_CIPHERS, CLIENT_PROFILE
from checks.result import Reason, State, Target
from checks.security import SecuritySettings, tls
from checks.security import run as security
from tests.certs import TestCA
from tests.sites import Page, site

PAGE = {"/": Page(200, [("Content-Type", "text/html")], b"<html><body>Serviceportal</body></html>")}
CBC_SHA1 = "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
STATIC_RSA = "AES128-GCM-SHA256"
AEAD = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
TLS12 = ("TLSv1_2", "TLSv1_2")


@pytest.fixture(scope="module")
def rsa_pair(ca):
    pair = ca.issue("suites-rsa", ["127.0.0.1"], rsa_bits=2048)
    return pair.cert, pair.key


def up(port: int, ca) -> object:
    return availability(Target("svc", f"https://127.0.0.1:{port}/"),
                        AvailabilitySettings(ca_file=ca.ca_file, retries=0, timeout=5))


def scan(port: int, ca) -> tls.TlsReport:
    return tls.scan("127.0.0.1", port, ca_file=str(ca.ca_file), timeout=10)


def ids(report: tls.TlsReport) -> set[str]:
    return {f.id for f in report.findings}


def server_suites(ciphers: str) -> set[str]:
    """What a server configured with `ciphers` can use with an RSA certificate in TLS 1.2 (ECDHE or RSA
    key exchange: the test server has no DH parameters). `protocol` is the oldest version of a suite."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers(ciphers)
    return {c["name"] for c in ctx.get_ciphers()
            if c["protocol"] != "TLSv1.3" and c["auth"] == "auth-rsa" and c["kea"] in ("kx-ecdhe", "kx-rsa")}


def test_browser_profile_is_chromiums_offer():
    # the TLS 1.2 suites of Chromium 156's ClientHello (0xc02b ... 0x0035), in its order
    assert CLIENT_PROFILE == "chromium-156"
    assert BROWSER_CIPHERS.split(":") == [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384",
        "AES128-SHA", "AES256-SHA"]


def test_ecdhe_cbc_sha1_server_is_up_and_a_warning(ca, rsa_pair):
    with site(PAGE, tls=rsa_pair, versions=TLS12, ciphers=CBC_SHA1, plain=False) as port:
        result = up(port, ca)
        report = scan(port, ca)
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
    assert result.evidence["tls"]["client_profile"] == "chromium-156"
    assert result.evidence["tls"]["cipher"] in CBC_SHA1.split(":")
    assert set(report.suites["TLSv1.2"]) == set(CBC_SHA1.split(":")) and report.suites_complete["TLSv1.2"]
    assert {tls.suite_class(s) for s in report.suites["TLSv1.2"]} == {"sha1-mac"}
    assert "sha1-mac-suites" in ids(report) and "no-forward-secrecy" not in ids(report)
    assert report.forward_secrecy and report.non_forward_secret_accepted is False
    assert report.certificate is not None and report.verify_error is None
    assert report.accepted == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": False}


def test_static_rsa_server_is_up_and_not_forward_secret(ca, rsa_pair):
    with site(PAGE, tls=rsa_pair, versions=TLS12, ciphers=STATIC_RSA, plain=False) as port:
        result = up(port, ca)
        report = scan(port, ca)
        checked = security(Target("svc", f"https://127.0.0.1:{port}/"),
                           SecuritySettings(ca_file=ca.ca_file, http_port=port, timeout=10))
    assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
    assert report.suites["TLSv1.2"] == ("AES128-GCM-SHA256",)
    assert report.non_forward_secret_accepted is True and not report.forward_secrecy
    no_fs = next(f for f in report.findings if f.id == "no-forward-secrecy")
    assert no_fs.severity == "critical" and "AES128-GCM-SHA256" in no_fs.message
    assert report.certificate is not None and report.certificate.key_type == "RSA"
    # the security check: no HTTP listener, yet the page is graded and the TLS facts are there
    assert (checked.state, checked.reason) == (State.DOWN, Reason.NONCOMPLIANT)
    assert "tls-no-forward-secrecy" in {f["id"] for f in checked.evidence["findings"]}
    assert checked.measurements["tls_cert_expiry_timestamp"] == pytest.approx(
        report.certificate.not_after.timestamp())
    assert "Weder TLS 1.2 noch TLS 1.3" not in str(checked.evidence)


def test_tls12_aead_only_is_compliant(ca, rsa_pair):
    with site(PAGE, tls=rsa_pair, versions=TLS12, ciphers=AEAD) as port:
        result = up(port, ca)
        report = scan(port, ca)
    assert result.state is State.UP
    assert set(report.suites["TLSv1.2"]) == set(AEAD.split(":"))
    assert {tls.suite_class(s) for s in report.suites["TLSv1.2"]} == {"recommended"}
    assert report.compliant and not {"sha1-mac-suites", "no-forward-secrecy", "suites-outside-tr02102"} & ids(report)
    assert report.certificate is not None and report.certificate.key_type == "RSA" and report.verify_error is None


def test_tls13_only(ca, rsa_pair):
    with site(PAGE, tls=rsa_pair, versions=("TLSv1_3", "TLSv1_3")) as port:
        result = up(port, ca)
        report = scan(port, ca)
    assert result.state is State.UP and result.evidence["tls"]["version"] == "TLSv1.3"
    assert report.accepted == {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": True}
    assert list(report.suites) == ["TLSv1.3"]
    # OpenSSL's default TLS 1.3 suites, each offered alone: ChaCha20 is outside the TR-02102-2 tables
    assert set(report.suites["TLSv1.3"]) == {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                                             "TLS_AES_128_GCM_SHA256"}
    assert report.suites_complete["TLSv1.3"] is True
    assert "TLS_CHACHA20_POLY1305_SHA256" in next(f for f in report.findings if f.id == "suites-outside-tr02102").message
    assert report.certificate is not None and report.negotiated == "TLSv1.3" and report.forward_secrecy
    assert "no-modern-protocol" not in ids(report) and "no-forward-secrecy" not in ids(report)


def test_openssl_default_mix_is_enumerated(ca, rsa_pair):
    with site(PAGE, tls=rsa_pair, versions=("TLSv1_2", "TLSv1_3"), ciphers="DEFAULT") as port:
        result = up(port, ca)
        report = scan(port, ca)
    assert result.state is State.UP
    found = set(report.suites["TLSv1.2"])
    expected = server_suites("DEFAULT")
    assert expected <= found, expected - found  # every suite usable with the RSA certificate is found
    assert found <= server_suites("DEFAULT") | {s for s in found if s.startswith("DHE-")}  # and nothing else
    assert report.suites_complete["TLSv1.2"]
    assert {"no-forward-secrecy", "sha1-mac-suites", "suites-outside-tr02102"} <= ids(report)
    assert report.negotiated == "TLSv1.3" and "TLSv1.3" in report.suites
    assert report.certificate is not None and report.certificate.key_bits == 2048


def test_intermediate_not_sent(tmp_path: Path, ca):
    # root (trusted) -> intermediate -> leaf; the server sends the leaf only, whose AIA names the intermediate
    intermediate = ca.intermediate("egov-monitor test intermediate")
    with site({"/int.crt": Page(200, [], intermediate.der(), "application/pkix-cert")}) as aia_port:
        leaf = intermediate.issue("leaf-only", ["127.0.0.1"], aia=f"http://127.0.0.1:{aia_port}/int.crt")
        with site(PAGE, tls=(leaf.cert, leaf.key)) as port:
            result = up(port, ca)
            report = scan(port, ca)
            # the daemon's way (no thread waits): the Python prober finishes it on a thread of its own
            got, ended = [], threading.Event()
            start(Target("svc", f"https://127.0.0.1:{port}/"), AvailabilitySettings(ca_file=ca.ca_file, retries=0,
                                                                                     timeout=10),
                  None, lambda r: (got.append(r), ended.set()))
            assert ended.wait(60)
    # a browser fetches the intermediate (Chromium does): up, with where it came from
    for result in (result, got[0]):
        assert result.state is State.UP, result.evidence
        assert result.evidence["tls"]["aia_issuer_url"] == f"http://127.0.0.1:{aia_port}/int.crt"
    assert report.verify_reason == "incomplete-chain"
    finding = next(f for f in report.findings if f.id == "certificate-incomplete-chain")
    assert "Server sendet die Zwischenzertifikate nicht" in finding.message and finding.severity == "critical"
    assert report.certificate is not None
    assert len(report.certificate.chain) == 1  # what the server sent
    assert report.certificate.verified_path == (report.certificate.subject, intermediate.cert.subject.rfc4514_string(),
                                                ca.cert.subject.rfc4514_string())


def test_intermediate_not_sent_without_aia_is_down_for_a_browser_too(tmp_path: Path, ca):
    intermediate = ca.intermediate("egov-monitor test intermediate without aia")
    leaf = intermediate.issue("leaf-no-aia", ["127.0.0.1"])
    with site(PAGE, tls=(leaf.cert, leaf.key)) as port:
        result = up(port, ca)
        report = scan(port, ca)
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_INVALID_CERTIFICATE)
    assert report.verify_reason == "issuer-unknown"
    assert "certificate-issuer-unknown" in ids(report)


def test_unknown_ca_is_not_called_a_missing_intermediate(tmp_path: Path, ca):
    # the AIA leads to the issuer, but the issuer's root is not trusted: an unknown CA
    stranger = TestCA(tmp_path, "untrusted root")
    with site({"/ca.crt": Page(200, [], stranger.der(), "application/pkix-cert")}) as aia_port:
        leaf = stranger.issue("stranger-leaf", ["127.0.0.1"], aia=f"http://127.0.0.1:{aia_port}/ca.crt")
        with site(PAGE, tls=(leaf.cert, leaf.key)) as port:
            result = up(port, ca)
            report = scan(port, ca)
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_INVALID_CERTIFICATE)
    assert report.verify_reason == "untrusted" and "certificate-untrusted" in ids(report)
    assert report.certificate is not None and report.certificate.verified_path == ()


def test_tls10_only_server_is_down_for_a_browser_but_still_scanned(ca, rsa_pair):
    with site(PAGE, tls=rsa_pair, versions=("TLSv1", "TLSv1"), plain=False) as port:
        result = up(port, ca)
        checked = security(Target("svc", f"https://127.0.0.1:{port}/"),
                           SecuritySettings(ca_file=ca.ca_file, http_port=port, timeout=10))
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_ERROR)  # Chromium refuses TLS 1.0 too
    assert checked.state is State.DOWN
    assert "tls-old-protocol" in {f["id"] for f in checked.evidence["findings"]}
    assert checked.evidence["tls"]["suites"]["TLSv1"]  # the suites it accepts are listed
    assert "tls_cert_expiry_timestamp" in checked.measurements


def test_browser_profile_matches_the_installed_chromium(tmp_path):
    """The TLS 1.2 suites of CLIENT_PROFILE are those Debian's Chromium offers in its ClientHello,
    in its order: when a Chromium update changes its offer, this fails and the profile is updated."""
    import socket
    import struct
    import subprocess

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    chromium = subprocess.Popen(
        ["/usr/bin/chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"https://127.0.0.1:{port}/"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Chromium may open a connection and drop it unused (a preconnect it abandons while
    # starting up on a busy machine): read connections until one carries a whole ClientHello.
    deadline = time.monotonic() + 90
    data = b""
    try:
        while not data:
            listener.settimeout(max(1.0, deadline - time.monotonic()))
            conn, _ = listener.accept()
            conn.settimeout(30)
            with conn:
                while len(data) < 5 or len(data) < 5 + struct.unpack(">H", data[3:5])[0]:
                    chunk = conn.recv(65536)
                    if not chunk:
                        data = b""  # closed before its ClientHello was complete: wait for the next
                        break
                    data += chunk
            assert data or time.monotonic() < deadline, "Chromium never sent a whole ClientHello"
    finally:
        chromium.kill()
        chromium.wait(30)
        listener.close()
    hello = data[5:]
    assert data[0] == 0x16 and hello[0] == 1  # a handshake record carrying a ClientHello
    i = 4 + 2 + 32
    i += 1 + hello[i]  # session id
    n = struct.unpack(">H", hello[i:i + 2])[0]
    offered = [struct.unpack(">H", hello[i + 2 + k:i + 4 + k])[0] for k in range(0, n, 2)]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    by_id = {c["id"] & 0xFFFF: c["name"] for c in ctx.get_ciphers()}
    grease = {0x0A0A + 0x1010 * k for k in range(16)}
    tls12 = [by_id.get(code, hex(code)) for code in offered if code not in grease and code >> 8 != 0x13]
    assert tls12 == BROWSER_CIPHERS.split(":")


def test_the_missing_intermediate_is_fetched_through_the_proxy(tmp_path: Path, ca):
    """Where only the proxy leads out, the CA's AIA server is as far away as the service: the
    availability probe and the TLS scan fetch the intermediate through the proxy too."""
    from checks.context import CheckContext
    from checks.proxy import Proxy
    from tests.proxy_server import proxy

    intermediate = ca.intermediate("egov-monitor test intermediate via proxy")
    with site({"/int.crt": Page(200, [], intermediate.der(), "application/pkix-cert")}) as aia_port, \
            proxy() as (proxy_port, seen):
        aia = f"http://127.0.0.1:{aia_port}/int.crt"
        leaf = intermediate.issue("leaf-only-proxy", ["127.0.0.1"], aia=aia)
        via = Proxy("127.0.0.1", proxy_port)
        with site(PAGE, tls=(leaf.cert, leaf.key)) as port:
            result = availability(Target("svc", f"https://127.0.0.1:{port}/"),
                                  AvailabilitySettings(ca_file=ca.ca_file, retries=0, timeout=5), CheckContext(proxy=via))
            assert result.state is State.UP and result.evidence["tls"]["aia_issuer_url"] == aia, result.evidence
            assert aia in seen.targets(), seen.requests  # the proxy fetched it, not a direct connection
            fetched = len([t for t in seen.targets() if t == aia])
            report = tls.scan("127.0.0.1", port, ca_file=str(ca.ca_file), timeout=10, proxy=via)
    assert report.verify_reason == "incomplete-chain"
    assert len([t for t in seen.targets() if t == aia]) == fetched + 1  # the scan's fetch went through it too


@pytest.mark.parametrize(("offered", "outside"), [
    ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", True),
    ("TLS_AES_128_GCM_SHA256", False),
])
def test_tls13_suites_are_enumerated_one_by_one_and_judged(ca, rsa_pair, offered, outside):
    """A server (openssl s_server) whose TLS 1.3 suites are set: each is found, no other."""
    import subprocess

    from tests.servers import free_port

    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-quiet", "-www", "-accept", f"127.0.0.1:{port}",
                               "-cert", str(rsa_pair[0]), "-key", str(rsa_pair[1]), "-tls1_3",
                               "-ciphersuites", offered], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            import socket

            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        report = scan(port, ca)
    finally:
        server.terminate()
        server.wait(10)
    assert set(report.suites["TLSv1.3"]) == set(offered.split(":")) and report.suites_complete["TLSv1.3"]
    assert ("suites-outside-tr02102" in ids(report)) is outside
