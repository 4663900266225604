"""Test and acceptance systems on a private PKI and internal names: `browser.ca_files` makes
Chromium (an NSS database per session) and the HTTP-side probes (a bundle of the system CAs
plus these) trust the Land's own CA, and `browser.hosts` maps internal names for both;
certificate checking stays on (accept_insecure_certs is never switched on)."""

from __future__ import annotations

import pytest

from checks import accessibility as a11y
from checks.accessibility import AccessibilitySettings
from checks.availability import AvailabilitySettings, run
from checks.browser import BrowserPool, BrowserSettings
from checks.browser_host import ca_bundle
from checks.context import CheckContext
from checks.result import Reason, State, Target
from tests.certs import TestCA
from tests.helpers import KINDS
from tests.servers import serve

NAME = "antrag.abnahme.saarland.internal"  # an internal name only the mapping knows


@pytest.fixture(scope="module")
def land_ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("land-pki"), name="Landes-PKI Saarland Test-CA")


@pytest.fixture(scope="module")
def acceptance(land_ca) -> str:
    pair = land_ca.issue("abnahme", [NAME])
    with serve((pair.cert, pair.key)) as url:
        yield url  # https://127.0.0.1:PORT, its certificate only for NAME


def _url(acceptance: str) -> str:
    return f"https://{NAME}:{acceptance.rsplit(':', 1)[1]}/ok"


def _settings(land_ca, trust: bool) -> BrowserSettings:
    return BrowserSettings(hosts={NAME: "127.0.0.1"}, ca_files=[land_ca.ca_file] if trust else [])


@pytest.mark.slow
@pytest.mark.parametrize("trust", [True, False])
def test_a_browser_check_trusts_the_private_ca_only_with_ca_files(land_ca, acceptance, trust):
    settings = _settings(land_ca, trust)
    assert settings.accept_insecure_certs is False
    pool = BrowserPool(settings, 1)
    try:
        page = a11y.scan_page(pool, _url(acceptance), AccessibilitySettings(timeout=30))
    finally:
        pool.close()
    if trust:
        assert page.error is None, page.error
        assert page.title == "Serviceportal" and page.final_url == _url(acceptance)
    else:
        assert page.error_reason == "load_failed" and "CERT_AUTHORITY_INVALID" in page.error, page
        from checks.page import failure_reason

        assert failure_reason(page.error_reason, page.error) is Reason.TLS_INVALID_CERTIFICATE


@pytest.mark.parametrize("trust", [True, False])
def test_an_availability_probe_trusts_the_private_ca_only_with_ca_files_and_reaches_the_mapped_name(
        land_ca, acceptance, trust):
    settings = _settings(land_ca, trust)
    ctx = CheckContext(host_rules=tuple(settings.hosts.items()), ca_bundle=ca_bundle(settings.ca_files))
    result = run(Target("abnahme", _url(acceptance)), AvailabilitySettings(timeout=5, retries=0), ctx)
    if trust:
        assert (result.state, result.reason) == (State.UP, Reason.OK), result.evidence
        assert result.evidence["tls"]["issuer"] and "Landes-PKI" in result.evidence["tls"]["issuer"]
    else:
        assert (result.state, result.reason) == (State.DOWN, Reason.TLS_INVALID_CERTIFICATE), result.evidence
    assert result.evidence["ip"] == "127.0.0.1"  # the name resolved through browser.hosts


def test_settings_refuse_a_host_mapping_that_is_no_address_and_a_missing_ca_file(tmp_path):
    from pydantic import ValidationError

    from monitor.config import ConfigError, load_config

    with pytest.raises(ValidationError, match="keine IP-Adresse"):
        BrowserSettings(hosts={NAME: "abnahme-server"})
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "settings.yaml").write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{tmp_path}/s.db"}}\n'
                                            "browser:\n  ca_files: [pki/land-ca.pem]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "settings.yaml", KINDS)
    text = str(caught.value.issues[0])
    assert "settings.yaml:4" in text and "browser.ca_files.0" in text and "pki/land-ca.pem" in text


@pytest.mark.parametrize("trust", [True, False])
def test_the_security_check_reaches_the_mapped_name_and_trusts_the_private_ca_only_with_ca_files(
        land_ca, acceptance, trust):
    """The headers are fetched and the TLS scan connects at the address browser.hosts gives
    (the name stays the SNI); the chain verifies against browser.ca_files, and without them
    the certificate is untrusted, as in the browser and the availability probe."""
    from checks.security import SecuritySettings
    from checks.security import run as security_run

    settings = _settings(land_ca, trust)
    ctx = CheckContext(host_rules=tuple(settings.hosts.items()), ca_bundle=ca_bundle(settings.ca_files))
    url = _url(acceptance)
    result = security_run(Target("abnahme", url), SecuritySettings(timeout=10, security_txt=False), ctx)
    tls_report = result.evidence["tls"]
    assert "error" not in tls_report, tls_report  # the TLS scan reached the internal name's server
    assert tls_report["host"] == "127.0.0.1" and tls_report["accepted"]["TLSv1.3"] is True
    assert result.evidence["final_url"].startswith(f"https://{NAME}:")  # the headers came from the mapped name
    assert "Landes-PKI" in tls_report["certificate"]["issuer"]
    ids = {f["id"] for f in result.evidence["findings"]}
    distrust = {"tls-certificate-issuer-unknown", "hsts-invalid-cert"}  # the TLS scan's and the Observatory's
    if trust:
        assert not tls_report.get("verify_error") and tls_report["certificate"]["verified_path"], tls_report
        assert not ids & distrust, ids
    else:
        assert tls_report["verify_reason"] == "issuer-unknown"
        assert ids >= distrust, ids


@pytest.mark.parametrize("trust", [True, False])
def test_the_sitemap_beside_the_accessibility_scan_takes_the_same_trust_and_names(land_ca, trust):
    """The sitemap an accessibility check samples is fetched on the HTTP side: with the same
    private CA and host mapping as the browser, or not at all (said, not silently empty)."""
    from checks.accessibility import pages_for
    from tests.sites import Page, site

    pair = land_ca.issue("sitemap", [NAME])
    sitemap = Page(content_type="application/xml")
    with site({"/sitemap.xml": sitemap}, tls=(pair.cert, pair.key), plain=False) as port:
        start, page = f"https://{NAME}:{port}/", f"https://{NAME}:{port}/seite"
        sitemap.body = (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                        f"<url><loc>{page}</loc></url></urlset>").encode()
        settings = _settings(land_ca, trust)
        ctx = CheckContext(host_rules=tuple(settings.hosts.items()), ca_bundle=ca_bundle(settings.ca_files))
        urls, info = pages_for(Target("abnahme", start, (start,)),
                               AccessibilitySettings(sitemap={"enabled": True}), None, ctx)
    if trust:
        assert urls == [start, page] and info["errors"] == [], info
    else:
        assert urls == [start] and info["errors"], info
