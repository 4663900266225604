"""The availability check against real local servers: every reason, within its timeout."""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from checks.availability import AvailabilitySettings, run, start
from checks.result import CheckResult, Reason, State, Target
from tests.helpers import KINDS
from tests.servers import free_port, unaccepting_port

WAY = {"name": "run"}


@pytest.fixture(autouse=True, params=["run", "start"])
def way(request):
    """Each test probes both ways: with a thread waiting (`run`: the CLI, the workers) and
    started without one (`start`, the daemon's way: the result comes on the prober's thread,
    retries on a pool thread)."""
    WAY["name"] = request.param
    yield request.param
    WAY["name"] = "run"


def probe(url: str, **settings) -> tuple:
    settings.setdefault("retries", 0)
    settings.setdefault("timeout", 2)
    t0 = time.monotonic()
    if WAY["name"] == "run":
        result = run(Target("svc", url), AvailabilitySettings(**settings))
    else:
        got, ended = [], threading.Event()
        start(Target("svc", url), AvailabilitySettings(**settings), None, lambda r: (got.append(r), ended.set()))
        assert ended.wait(120)
        result = got[0]
        assert isinstance(result, CheckResult), result
    return result, time.monotonic() - t0


def test_healthy_http_is_up_with_phases(http_server):
    result, _ = probe(f"{http_server}/ok", body_must_contain=["Serviceportal"])
    assert (result.state, result.reason) == (State.UP, Reason.OK)
    m = result.measurements
    assert m["status_code"] == 200
    assert m["ssl"] == 0
    assert m["content_length_bytes"] > 50
    assert m["phase_connect_seconds"] > 0 and m["phase_processing_seconds"] > 0
    assert m["phase_tls_seconds"] == 0
    assert result.evidence["ip"] == "127.0.0.1"


def test_processing_phase_measures_server_delay(http_server):
    result, _ = probe(f"{http_server}/delay/300")
    assert result.state is State.UP
    assert 0.29 <= result.measurements["phase_processing_seconds"] < 0.45
    assert result.measurements["phase_transfer_seconds"] < 0.1


def test_https_with_private_ca_reports_tls(https_server, ca):
    result, _ = probe(f"{https_server}/ok", ca_file=ca.ca_file)
    assert result.state is State.UP, result.evidence
    m = result.measurements
    assert m["ssl"] == 1 and m["phase_tls_seconds"] > 0
    assert result.evidence["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    expected = ca.directory / "good.crt"
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(expected.read_bytes())
    assert m["ssl_earliest_cert_expiry"] == pytest.approx(cert.not_valid_after_utc.timestamp(), abs=1)


def test_refused_port():
    result, took = probe(f"http://127.0.0.1:{free_port()}/", timeout=10)
    assert (result.state, result.reason) == (State.DOWN, Reason.CONNECT_REFUSED)
    assert took < 5  # answered at once, not at the timeout (wide margin: CI shares two cores)


def test_connect_timeout():
    with unaccepting_port() as port:
        result, took = probe(f"http://127.0.0.1:{port}/", timeout=2)
    assert (result.state, result.reason) == (State.DOWN, Reason.CONNECT_TIMEOUT)
    assert 1.9 <= took < 5  # at its timeout, with a wide margin for a loaded machine


def test_dns_failure():
    result, _ = probe("http://no-such-host.invalid/")
    assert (result.state, result.reason) == (State.DOWN, Reason.DNS)


def test_hanging_server_costs_its_timeout(http_server):
    result, took = probe(f"{http_server}/hang", timeout=2)
    assert (result.state, result.reason) == (State.DOWN, Reason.READ_TIMEOUT)
    assert 1.9 <= took < 5


def test_slow_drip_is_bounded_by_the_total_timeout(http_server):
    # A byte every 0.2 s never trips a per-read timeout; the overall deadline must.
    result, took = probe(f"{http_server}/drip", timeout=2.5)
    assert (result.state, result.reason) == (State.DOWN, Reason.READ_TIMEOUT)
    assert 2.4 <= took < 6  # the drip goes on for 60 s


def test_5xx_is_http_status(http_server):
    result, _ = probe(f"{http_server}/status/503")
    assert (result.state, result.reason) == (State.DOWN, Reason.HTTP_STATUS)
    assert result.measurements["status_code"] == 503


def test_status_rules_accept_configured_codes(http_server):
    result, _ = probe(f"{http_server}/status/404", valid_status_codes=["200-299", 404])
    assert result.state is State.UP


def test_redirects_followed_and_counted(http_server):
    result, _ = probe(f"{http_server}/redirect/3")
    assert result.state is State.UP
    assert result.measurements["redirects"] == 3
    assert result.evidence["final_url"].endswith("/ok")


def test_redirect_loop_hits_the_cap(http_server):
    result, took = probe(f"{http_server}/loop", max_redirects=5)
    assert (result.state, result.reason) == (State.DOWN, Reason.TOO_MANY_REDIRECTS)
    # stopped at the cap, not at the 2 s timeout: the sixth hop is the last one requested
    assert result.measurements["redirects"] == 6 and len(result.evidence["redirect_chain"]) == 7
    assert "mehr als 5 Weiterleitungen" in result.evidence["detail"]


def test_redirect_not_followed_when_disabled(http_server):
    result, _ = probe(f"{http_server}/redirect/1", follow_redirects=False, valid_status_codes=["3xx"])
    assert result.state is State.UP and result.measurements["status_code"] == 302


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_oversize_body(http_server, path):
    result, took = probe(f"{http_server}{path}", max_body_bytes=1024 * 1024, timeout=10)
    assert (result.state, result.reason) == (State.DOWN, Reason.TOO_LARGE)
    assert took < 5  # stopped at the cap, long before the timeout


def test_keyword_missing(http_server):
    result, _ = probe(f"{http_server}/ok", body_must_contain=["Bürgerkonto"])
    assert (result.state, result.reason) == (State.DOWN, Reason.CONTENT_MISMATCH)
    assert "Bürgerkonto" in result.evidence["detail"]


def test_regex_rules(http_server):
    assert probe(f"{http_server}/ok", body_must_match=r"Service\w+ Saar")[0].state is State.UP
    result, _ = probe(f"{http_server}/ok", body_must_not_match="Willkommen")
    assert result.reason is Reason.CONTENT_MISMATCH


def test_expired_certificate(https_expired, ca):
    result, _ = probe(f"{https_expired}/ok", ca_file=ca.ca_file)
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_EXPIRED)


def test_self_signed_certificate(https_self_signed):
    result, _ = probe(f"{https_self_signed}/ok")
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_INVALID_CERTIFICATE)


def test_wrong_host_certificate(https_wrong_host, ca):
    result, _ = probe(f"{https_wrong_host}/ok", ca_file=ca.ca_file)
    assert (result.state, result.reason) == (State.DOWN, Reason.TLS_HOSTNAME)


def test_plain_http_to_tls_port_is_protocol_error(https_server):
    result, _ = probe(https_server.replace("https://", "http://") + "/ok", timeout=1)
    assert result.state is State.DOWN
    assert result.reason in (Reason.PROTOCOL_ERROR, Reason.READ_TIMEOUT)


def test_require_https(http_server):
    result, _ = probe(f"{http_server}/ok", require_https=True)
    assert result.reason is Reason.NOT_HTTPS


def test_slow_answer_is_degraded(http_server):
    result, _ = probe(f"{http_server}/delay/300", degraded_after=0.1)
    assert (result.state, result.reason) == (State.DEGRADED, Reason.SLOW)


def test_failure_is_confirmed_by_retries_and_recorded(http_server):
    result, _ = probe(f"{http_server}/status/500", retries=2, retry_delay=0.05)
    assert result.state is State.DOWN
    attempts = result.evidence["attempts"]
    assert [a["reason"] for a in attempts] == ["http_status"] * 3


def test_blip_recovered_on_retry_is_not_down(http_server):
    key = datetime.now(UTC).timestamp()
    result, _ = probe(f"{http_server}/flaky/{key}", retries=2, retry_delay=0.05)
    assert (result.state, result.reason) == (State.DEGRADED, Reason.RECOVERED_ON_RETRY)
    assert [a["state"] for a in result.evidence["attempts"]] == ["down", "up"]


def test_hanging_target_does_not_delay_a_healthy_one(http_server):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        t0 = time.monotonic()
        slow = pool.submit(probe, f"{http_server}/hang", timeout=10)
        time.sleep(0.05)
        healthy = pool.submit(probe, f"{http_server}/ok")
        healthy_result, _ = healthy.result()
        healthy_done = time.monotonic() - t0
        assert not slow.done()  # the healthy one did not wait for the hanging one
        slow_result, _ = slow.result()
    assert healthy_result.state is State.UP
    assert healthy_done < 5  # far below the hanging one's 10 s
    assert slow_result.reason is Reason.READ_TIMEOUT


def test_result_round_trips_through_json(http_server):
    from checks.result import CheckResult

    result, _ = probe(f"{http_server}/redirect/1")
    again = CheckResult.from_dict(result.to_dict())
    assert again == result


def test_an_empty_status_list_accepts_2xx_as_blackbox_does(http_server):
    result, _ = probe(f"{http_server}/ok", valid_status_codes=[])
    assert (result.state, result.reason) == (State.UP, Reason.OK)
    result, _ = probe(f"{http_server}/status/404", valid_status_codes=[])
    assert (result.state, result.reason) == (State.DOWN, Reason.HTTP_STATUS)


@pytest.fixture(scope="module")
def h2_server(ca, tmp_path_factory):
    """nginx on 127.0.0.1 offering HTTP/2 over TLS (ALPN) with a certificate of the test CA."""
    import shutil
    import subprocess
    import textwrap

    from tests.servers import free_port

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    pair = ca.issue("h2", ["127.0.0.1"])
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    (prefix / "nginx.conf").write_text(textwrap.dedent(f"""
        worker_processes 1;
        daemon off;
        pid {prefix}/nginx.pid;
        error_log {prefix}/error.log error;
        events {{ worker_connections 64; }}
        http {{
            access_log off;
            client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy; fastcgi_temp_path {prefix}/fcgi;
            uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
            server {{
                listen 127.0.0.1:{port} ssl http2;  # nginx 1.22 (Debian 12); 1.26 still takes it
                ssl_certificate {pair.cert}; ssl_certificate_key {pair.key};
                location / {{ default_type text/html; return 200 "<html lang=de><title>h2</title>Serviceportal</html>"; }}
            }}
        }}
    """))
    proc = subprocess.Popen([nginx, "-c", str(prefix / "nginx.conf"), "-p", str(prefix)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "nginx exited"
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_http2_where_the_server_offers_it_and_its_version_exported(h2_server, ca):
    from prometheus_client.core import GaugeMetricFamily

    two, _ = probe(f"{h2_server}/", ca_file=ca.ca_file, body_must_contain=["Serviceportal"])
    one, _ = probe(f"{h2_server}/", ca_file=ca.ca_file, enable_http2=False)
    assert two.state is State.UP and two.measurements["http_version"] == 2.0
    assert one.state is State.UP and one.measurements["http_version"] == 1.1
    assert two.measurements["phase_tls_seconds"] > 0 and two.evidence["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert two.evidence["tls"]["cipher"] and two.evidence["tls"]["subject"].endswith("CN=127.0.0.1")
    kind = KINDS["availability"]
    families = {f.name: GaugeMetricFamily(f.name, f.doc, labels=["service", "category", "url", *f.labels])
                for f in kind.families}
    kind.export(families, ["s", "efa", h2_server], two)
    assert families["probe_http_version"].samples[0].value == 2.0


def test_the_libcurl_prober_learns_what_the_python_prober_learns(http_server, https_server, ca):
    """Same phases (within the noise), status, TLS facts, hops and body as checks.httpprobe,
    whose behaviour the earlier tests and the previous version fixed."""
    from checks import curlprobe, httpprobe

    options = httpprobe.FetchOptions(ca_file=str(ca.ca_file), http2=False)
    for url in (f"{http_server}/redirect/2", f"{https_server}/redirect/1", f"{http_server}/status/503"):
        ours, before = curlprobe.fetch(url, options), httpprobe.fetch(url, options)
        assert (ours.status, ours.redirects, ours.final_url, ours.body, ours.http_version, ours.ip, ours.ip_protocol) == \
            (before.status, before.redirects, before.final_url, before.body, before.http_version, before.ip,
             before.ip_protocol)
        assert [(h.url, h.status) for h in ours.hops] == [(h.url, h.status) for h in before.hops]
        assert {k.lower() for k, _v in ours.headers} == {k.lower() for k, _v in before.headers}
        assert ours.error is None and before.error is None
        assert set(ours.phases) == set(before.phases) and all(v >= 0 for v in ours.phases.values())
        if url.startswith("https"):
            assert ours.tls is not None and before.tls is not None
            assert (ours.tls.version, ours.tls.cipher, ours.tls.subject, ours.tls.issuer) == \
                (before.tls.version, before.tls.cipher, before.tls.subject, before.tls.issuer)
            assert ours.phases["tls"] > 0
