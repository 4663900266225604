"""Checks behind an HTTP proxy (the Landesnetz gateway): plain HTTP in absolute form, HTTPS
through CONNECT, Basic authentication from a file, no_proxy, the environment's
HTTPS_PROXY/NO_PROXY, and a failing proxy as the monitor's own network (unknown, never down).
A real forwarding proxy on 127.0.0.1 (tests/proxy_server.py) records what it was asked."""

from __future__ import annotations

import textwrap

import pytest

from checks.availability import AvailabilitySettings, run
from checks.context import CheckContext
from checks.proxy import Proxy, ProxySettings, bypassed
from checks.result import Reason, State, Target
from monitor.config import ConfigError, load_config
from tests.helpers import KINDS
from tests.proxy_server import proxy
from tests.servers import free_port, unaccepting_port


def probe(url: str, via: Proxy | None, **settings):
    return run(Target("dienst", url), AvailabilitySettings(**{"retries": 0, "timeout": 5, "interval": 60, **settings}),
               CheckContext(proxy=via))


def test_plain_http_goes_through_the_proxy(http_server):
    with proxy() as (port, seen):
        result = probe(f"{http_server}/ok", Proxy("127.0.0.1", port))
    assert (result.state, result.reason) == (State.UP, Reason.OK)
    assert seen.requests == [("GET", f"{http_server}/ok")]
    assert result.evidence["proxy"] == f"127.0.0.1:{port}"
    assert result.measurements["phase_connect_seconds"] > 0


def test_https_is_tunnelled_with_connect_and_still_verified(https_server, https_wrong_host, ca):
    with proxy() as (port, seen):
        via = Proxy("127.0.0.1", port)
        good = probe(f"{https_server}/ok", via, ca_file=ca.ca_file)
        wrong = probe(f"{https_wrong_host}/ok", via, ca_file=ca.ca_file)
    assert (good.state, good.reason) == (State.UP, Reason.OK)
    assert good.evidence["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert seen.requests[0] == ("CONNECT", https_server.removeprefix("https://"))
    assert (wrong.state, wrong.reason) == (State.DOWN, Reason.TLS_HOSTNAME)  # the tunnel hides nothing


def test_basic_authentication_from_a_file(http_server, https_server, ca, tmp_path):
    (tmp_path / "zugang").write_text("monitor:geheim-123\n")
    with proxy(credentials="monitor:geheim-123") as (port, seen):
        via = ProxySettings(url=f"http://127.0.0.1:{port}", credentials_file="zugang").resolve(tmp_path)
        assert "geheim" not in repr(via)
        plain = probe(f"{http_server}/ok", via)
        tunnel = probe(f"{https_server}/ok", via, ca_file=ca.ca_file)
        (tmp_path / "falsch").write_text("monitor:falsch\n")
        wrong = ProxySettings(url=f"http://127.0.0.1:{port}", credentials_file="falsch").resolve(tmp_path)
        refused_plain = probe(f"{http_server}/ok", wrong)
        refused_tunnel = probe(f"{https_server}/ok", wrong, ca_file=ca.ca_file)
        without = probe(f"{http_server}/ok", Proxy("127.0.0.1", port))
    assert plain.state is State.UP and tunnel.state is State.UP
    for refused in (refused_plain, refused_tunnel, without):  # the monitor's access, not the service
        assert (refused.state, refused.reason) == (State.UNKNOWN, Reason.PROXY_ERROR), refused.evidence
        assert "407" in refused.evidence["detail"]
        assert "geheim" not in str(refused.to_dict()) and "falsch" not in str(refused.to_dict())
    assert seen.refused == 3


def test_a_proxy_that_is_down_or_hangs_makes_results_unknown_never_down(http_server, https_server, ca):
    closed = Proxy("127.0.0.1", free_port())
    for url in (f"{http_server}/ok", f"{https_server}/ok"):
        result = probe(url, closed, ca_file=ca.ca_file, retries=2, retry_delay=0)
        assert (result.state, result.reason) == (State.UNKNOWN, Reason.PROXY_ERROR)
        assert len(result.evidence["attempts"]) == 1  # not retried as an outage would be
        assert "Proxy 127.0.0.1" in result.evidence["detail"]
    with unaccepting_port() as port:
        result = probe(f"{https_server}/ok", Proxy("127.0.0.1", port), ca_file=ca.ca_file, timeout=1)
    assert (result.state, result.reason) == (State.UNKNOWN, Reason.PROXY_ERROR)


def test_the_proxy_reporting_the_service_unreachable_is_an_outage(https_server, ca):
    dead = f"https://127.0.0.1:{free_port()}/ok"
    with proxy() as (port, _seen):
        result = probe(dead, Proxy("127.0.0.1", port), ca_file=ca.ca_file)
    assert (result.state, result.reason) == (State.DOWN, Reason.CONNECT_ERROR)  # canaries decide as for any outage
    assert "502" in result.evidence["detail"]


def test_no_proxy_hosts_go_direct(http_server):
    with proxy() as (port, seen):
        result = probe(f"{http_server}/ok", Proxy("127.0.0.1", port, no_proxy=("127.0.0.0/8",)))
    assert result.state is State.UP and seen.requests == [] and "proxy" not in result.evidence
    assert bypassed("dienst.intranet.saarland", [".intranet.saarland"])
    assert bypassed("intranet.saarland", ["intranet.saarland"])
    assert not bypassed("evil-intranet.saarland", ["intranet.saarland"])
    assert bypassed("10.1.2.3", ["10.0.0.0/8"]) and not bypassed("11.1.2.3", ["10.0.0.0/8"])
    assert bypassed("anything.example", ["*"])


def test_a_profile_can_go_direct_or_use_its_own_proxy(http_server, tmp_path):
    with proxy() as (global_port, global_seen), proxy() as (own_port, own_seen):
        via = Proxy("127.0.0.1", global_port)
        direct = probe(f"{http_server}/ok", via, proxy="direct")
        own = probe(f"{http_server}/ok", via, proxy={"url": f"http://127.0.0.1:{own_port}"})
        default = probe(f"{http_server}/ok", via)
    assert direct.state is own.state is default.state is State.UP
    assert len(global_seen.requests) == 1 and len(own_seen.requests) == 1


def write(tmp_path, settings: str) -> object:
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent("""\
        services:
          - id: portal
            name: Portal
            category: basisdienst
            operator: Land Saarland
            contact: ops@example.invalid
            urls: [https://portal.example.invalid/]
            checks:
              availability: {interval: 60s}
        """))
    path = tmp_path / "settings.yaml"
    path.write_text("catalog: [catalog.yaml]\n" + textwrap.dedent(settings))
    return path


def test_settings_proxy_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@gateway.land.example:3128")
    monkeypatch.setenv("NO_PROXY", ".intranet.saarland, 10.0.0.0/8")
    config = load_config(write(tmp_path, ""), KINDS)
    assert config.proxy is not None and config.proxy.address == "gateway.land.example:3128"
    assert config.proxy.no_proxy == (".intranet.saarland", "10.0.0.0/8")
    assert config.proxy.authorization == "Basic dXNlcjpwQHNz"  # user:p@ss
    browser = config.browser_settings.arguments
    assert "--proxy-server=http://gateway.land.example:3128" in browser
    assert "--proxy-bypass-list=<-loopback>;.intranet.saarland;10.0.0.0/8" in browser
    (tmp_path / "zugang").write_text("monitor:x\n")
    config = load_config(write(tmp_path, """\
        proxy: {url: "http://proxy.land.example:8080", credentials_file: zugang, no_proxy: [.saarland.de]}
        """), KINDS)
    assert config.proxy is not None and config.proxy.address == "proxy.land.example:8080"  # settings beat the env
    monkeypatch.delenv("HTTPS_PROXY")
    assert load_config(write(tmp_path, ""), KINDS).proxy is None


@pytest.mark.parametrize(("setting", "field", "message"), [
    ('proxy: {url: "https://proxy:3128"}', "proxy.url", "erwartet http://host:port des Proxys"),
    ('proxy: {url: "http://u:p@proxy:3128"}', "proxy.url", "Zugangsdaten gehören nicht in die Adresse"),
    ('proxy: {url: "http://proxy:3128", credentials_file: fehlt}', "proxy.credentials_file", "nicht lesbar"),
])
def test_a_bad_proxy_setting_is_a_german_config_error_at_its_line(tmp_path, monkeypatch, setting, field, message):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "listen: \"127.0.0.1:9469\"\n" + setting + "\n"), KINDS)
    issue = err.value.issues[0]
    assert issue.field == field and message in issue.message and issue.line == 3, issue


@pytest.mark.e2e
def test_browser_checks_go_through_the_same_proxy(tmp_path, monkeypatch):
    """Chromium gets the configured proxy (loopback not bypassed, as with the prober): the
    accessibility check's pages reach the service through it."""
    from checks import accessibility as a11y
    from checks.accessibility import AccessibilitySettings
    from checks.browser import BrowserPool
    from tests.a11y_site import good_routes
    from tests.sites import site

    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    with site(good_routes()) as web, proxy() as (port, seen):
        config = load_config(write(tmp_path, f'proxy: {{url: "http://127.0.0.1:{port}"}}\n'), KINDS)
        pool = BrowserPool(config.browser_settings, 1)
        try:
            base = f"http://127.0.0.1:{web}"
            result = a11y.run(Target("portal", base + "/"), AccessibilitySettings(markers=[], sitemap={"enabled": True}),
                              CheckContext(browser=pool, proxy=config.proxy))
        finally:
            pool.close()
    assert result.state is not State.UNKNOWN, result.evidence
    assert f"{base}/" in seen.targets()  # the page itself came through the proxy
    assert f"{base}/robots.txt" in seen.targets()  # and the sitemap discovery beside the browser


def test_the_security_check_goes_through_the_proxy_and_finds_the_same(ca):
    """Headers, security.txt and every TLS handshake of the scan go through the proxy
    (CONNECT for HTTPS, absolute form for HTTP); the verdict equals the direct one."""
    from checks.security import SecuritySettings
    from checks.security import run as security_run
    from tests.sites import site
    from tests.test_security import STRICT, routes

    cert = ca.issue("proxy-security", ["127.0.0.1"])
    with site(routes(STRICT), tls=(cert.cert, cert.key), ciphers="ECDHE+AESGCM") as port, proxy() as (pport, seen):
        target = Target("svc", f"https://127.0.0.1:{port}/")
        settings = SecuritySettings(ca_file=ca.ca_file, http_port=port, timeout=5)
        direct = security_run(target, settings)
        assert seen.requests == []
        through = security_run(target, settings, CheckContext(proxy=Proxy("127.0.0.1", pport)))
        down = security_run(target, settings, CheckContext(proxy=Proxy("127.0.0.1", free_port())))
    assert (through.state, through.reason) == (direct.state, direct.reason) == (State.UP, Reason.OK)
    assert through.evidence["observatory"]["grade"] == direct.evidence["observatory"]["grade"] == "A+"
    assert through.evidence["tls"]["accepted"] == direct.evidence["tls"]["accepted"]
    assert through.evidence["security_txt"]["valid"] is True
    assert ("GET", f"http://127.0.0.1:{port}/") in seen.requests  # the HTTP variant, in absolute form
    connects = [t for method, t in seen.requests if method == "CONNECT"]
    assert set(connects) == {f"127.0.0.1:{port}"} and len(connects) >= 8  # pages, security.txt, each handshake
    assert (down.state, down.reason) == (State.UNKNOWN, Reason.PROXY_ERROR)  # the monitor's network, not the service
    assert "Proxy 127.0.0.1" in down.evidence["detail"]


def test_canaries_and_the_dsgvo_redirect_probe_take_the_same_way_out(http_server):
    """Where only the proxy leads out, canaries that went direct would blame the network for
    every outage; the DSGVO check's HTTP-to-HTTPS probe is a plain fetch beside the browser."""
    from checks.gdpr import GdprSettings, check_https_redirect
    from monitor.config import CanarySettings
    from monitor.runner import CanaryGuard

    with proxy() as (port, seen):
        via = Proxy("127.0.0.1", port)
        verdict = CanaryGuard(CanarySettings(urls=[f"{http_server}/ok"]), via).probe()
        marker = check_https_redirect([f"{http_server}/ok"], GdprSettings(), (), via)
    assert verdict.network_ok and seen.requests[0] == ("GET", f"{http_server}/ok")
    assert ("GET", f"{http_server}/ok") in seen.requests[1:] and marker.evidence
    down = CanaryGuard(CanarySettings(urls=[f"{http_server}/ok"]), Proxy("127.0.0.1", free_port())).probe()
    assert not down.network_ok and down.results[0].reason is Reason.PROXY_ERROR


def test_the_look_at_a_download_beside_the_browser_takes_the_browsers_proxy(tmp_path, monkeypatch):
    """A start page that is a file download: the side request that asks the server what it is
    goes through the proxy Chromium uses (its flags), not around it (issue 34)."""
    from checks.accessibility import AccessibilitySettings
    from checks.browser import BrowserPool
    from checks.page import open_page
    from checks.proxy import from_browser_arguments
    from tests.sites import Page, site

    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    download = Page(body=b"%PDF-1.4\n" + b"0" * 2048, content_type="application/pdf",
                    headers=[("Content-Disposition", 'attachment; filename="antrag.pdf"')])
    with site({"/download": download}) as web, proxy() as (port, seen):
        config = load_config(write(tmp_path, f'proxy: {{url: "http://127.0.0.1:{port}", no_proxy: [intern.example]}}\n'),
                             KINDS)
        side = from_browser_arguments(config.browser_settings.arguments)
        assert side is not None and (side.address, side.no_proxy) == (f"127.0.0.1:{port}", ("intern.example",))
        pool = BrowserPool(config.browser_settings, 1)
        try:
            with pool.session(deadline=30) as session:
                page = open_page(session, f"http://127.0.0.1:{web}/download", AccessibilitySettings(timeout=20))
        finally:
            pool.close()
    assert page.error_reason == "not_a_page" and "application/pdf, Datei 'antrag.pdf'" in page.error, page
    # Chromium's own request and the side request both came through the proxy
    assert seen.targets().count(f"http://127.0.0.1:{web}/download") >= 2, seen.targets()
    # and nothing of Chromium's own background traffic (it goes direct, where it resolves to nothing)
    from checks.browser import BACKGROUND_HOSTS

    assert [t for t in seen.targets() if any(h in t for h in BACKGROUND_HOSTS)] == [], seen.targets()
