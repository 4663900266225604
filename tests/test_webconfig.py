"""TLS and basic authentication on the process's own endpoint (settings.yaml `web_config:`, the
Prometheus exporter-toolkit's web-config format; issue 39: a worker or daemon in another zone).
A real Prometheus scrapes /metrics over TLS with basic auth; without credentials the answer is
401; plain HTTP gets no answer; the status page and /healthz stay public; `egov-monitor reload`
reaches the process over TLS; a broken web-config is refused naming its file, line and field."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from tests.certs import TestCA
from tests.daemon import ROOT, DaemonProcess, service_yaml, write_daemon_config
from tests.servers import free_port

PASSWORD = "Schluessel-fuer-Prometheus-2026"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("webpki")
    ca = TestCA(directory)
    pair = ca.issue("monitor", ["127.0.0.1", "localhost"])
    return ca, pair


def _web_config(directory: Path, pair, **extra: str) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    path = directory / "web-config.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {pair.cert}\n  key_file: {pair.key}\n"
                    f"http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n"
                    f"basic_auth_users:\n  prometheus: '{hashed}'\n" + "".join(extra.values()))
    return path


def _get(url: str, ca: Path | None, auth: str | None = None) -> tuple[int, str, dict[str, str]]:
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    req = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def _wait_over_tls(daemon: DaemonProcess, attempt, what: str) -> None:
    """Wait until `attempt()` is true; refused connections while the daemon starts are waited out,
    a daemon that died is reported with its log."""
    def ready() -> bool:
        try:
            return attempt()
        except OSError:
            assert daemon.proc.poll() is None, daemon.log()
            return False
    daemon.wait_for(ready, 30, what)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.slow
def test_a_real_prometheus_scrapes_over_tls_with_basic_auth_and_nobody_else_gets_in(tmp_path, pki, http_server):
    ca, pair = pki
    settings = write_daemon_config(tmp_path, service_yaml("portal", [f"{http_server}/ok"]))
    _web_config(tmp_path, pair)
    settings.write_text(settings.read_text() + "web_config: web-config.yml\n")
    daemon = DaemonProcess(settings)
    base = f"https://127.0.0.1:{daemon.port}"
    try:
        _wait_over_tls(daemon, lambda: _get(base + "/healthz", ca.ca_file)[0] == 200, "the daemon over TLS")
        # public without a password: the status page and the orchestrator's probe
        code, page, headers = _get(base + "/status/", ca.ca_file)
        assert code == 200 and page.startswith("<!DOCTYPE html>") and "egov-monitor" in page
        assert headers["Strict-Transport-Security"] == "max-age=31536000"
        # /metrics: 401 without or with wrong credentials, 200 with them
        code, body, headers = _get(base + "/metrics", ca.ca_file)
        assert code == 401 and headers["WWW-Authenticate"] == 'Basic realm="egov-monitor"' and "probe_" not in body
        assert _get(base + "/metrics", ca.ca_file, _basic("prometheus", "falsch"))[0] == 401
        assert _get(base + "/metrics", ca.ca_file, _basic("grafana", PASSWORD))[0] == 401
        t0 = time.monotonic()
        for _ in range(20):  # bcrypt's cost is paid once, then the match is remembered
            assert _get(base + "/metrics", ca.ca_file, _basic("prometheus", PASSWORD))[0] == 200
        assert time.monotonic() - t0 < 20
        # plain HTTP on the same port: no answer
        with pytest.raises((OSError, urllib.error.URLError)):
            urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=10).read()
        # a real Prometheus, configured as an operator would
        (tmp_path / "secret").write_text(PASSWORD)
        prom_port = free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
            "  - job_name: egov-monitor\n    scheme: https\n"
            f"    tls_config: {{ca_file: {ca.ca_file}}}\n"
            f"    basic_auth: {{username: prometheus, password_file: {tmp_path / 'secret'}}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
            "  - job_name: without-password\n    scheme: https\n"
            f"    tls_config: {{ca_file: {ca.ca_file}}}\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
            "  - job_name: plain-http\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n")
        prometheus = shutil.which("prometheus")
        assert prometheus, "prometheus missing: scripts/setup.sh test installs it"
        prom = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def targets():
                try:
                    status, body, _headers = _get(f"http://127.0.0.1:{prom_port}/api/v1/targets", None)
                except OSError:
                    return None
                if status != 200:  # 503 "Service Unavailable" (text) until Prometheus is ready
                    return None
                data = json.loads(body)["data"]
                got = {t["labels"]["job"]: t for t in data["activeTargets"]}
                return got if len(got) == 3 and all(t["health"] != "unknown" for t in got.values()) else None
            seen = daemon.wait_for(targets, 60, "Prometheus to scrape all three jobs")

            def probe_success():
                q = urllib.parse.quote('probe_success{job="egov-monitor"}')
                status, body, _headers = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}", None)
                return (json.loads(body)["data"]["result"] or None) if status == 200 else None
            series = daemon.wait_for(probe_success, 40, "probe_success scraped over TLS")
        finally:
            prom.terminate()
            prom.wait(10)
        assert seen["egov-monitor"]["health"] == "up", seen["egov-monitor"]
        assert seen["without-password"]["health"] == "down" and "401" in seen["without-password"]["lastError"]
        assert seen["plain-http"]["health"] == "down"
        assert series[0]["metric"]["service"] == "portal" and series[0]["value"][1] == "1"
        # the operator's reload reaches the process over TLS (the certificate pinned, from loopback)
        out = subprocess.run([sys.executable, "-m", "monitor.cli", "reload", "--config", str(settings)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0 and "neu geladen" in out.stdout, out.stdout + out.stderr
        assert PASSWORD not in daemon.log()
    finally:
        daemon.stop()


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS10\n", 4,
     "tls_server_config.min_version", "TLS12 oder TLS13"),
    ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  prometheus: geheim\n", 5,
     "basic_auth_users.prometheus", "kein bcrypt-Hash"),
    ("basic_auth_users:\n  prometheus: '{hash}'\n", 1, "basic_auth_users", "ohne TLS"),
    ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", 4,
     "tls_server_config.cipher_suites", "nicht unterstützt"),
    ("tls_server_config:\n  cert_file: {cert}\n  key_file: fehlt.key\n", 2, "tls_server_config.cert_file", "nicht ladbar"),
    ("tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  client_auth_type: RequireAndVerifyClientCert\n", 4,
     "tls_server_config.client_ca_file", "client_ca_file"),
    ("tls_config:\n  cert_file: x\n", 1, "tls_config", "unbekannter Schlüssel"),
])
def test_a_broken_web_config_is_refused_naming_file_line_field_and_fix(tmp_path, pki, text, line, field, words):
    _ca, pair = pki
    settings = write_daemon_config(tmp_path, service_yaml("portal", ["http://127.0.0.1:9/"]))
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()
    (tmp_path / "web.yml").write_text(text.format(cert=pair.cert, key=pair.key, hash=hashed))
    settings.write_text(settings.read_text() + "web_config: web.yml\n")
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1, out.stdout
    assert f"web.yml:{line}:" in out.stderr and f"Feld '{field}'" in out.stderr and words in out.stderr, out.stderr


def _served_certificate(port: int) -> bytes:
    import socket

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return tls.getpeercert(binary_form=True) or b""


@pytest.mark.slow
def test_a_renewed_certificate_and_a_changed_password_apply_without_a_restart(tmp_path, pki):
    """As with the exporter-toolkit, the web config and its files are read again when they change;
    an invalid change never replaces the running one."""
    ca, first = pki
    cert, key = tmp_path / "monitor.pem", tmp_path / "monitor.key"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    settings = write_daemon_config(tmp_path, service_yaml("portal", ["http://127.0.0.1:9/"]))
    web = _web_config(tmp_path, type(first)(cert, key, first.not_after))
    settings.write_text(settings.read_text() + "web_config: web-config.yml\n")
    daemon = DaemonProcess(settings)
    base = f"https://127.0.0.1:{daemon.port}"
    try:
        _wait_over_tls(daemon, lambda: _get(base + "/metrics", ca.ca_file, _basic("prometheus", PASSWORD))[0] == 200,
                       "the daemon over TLS")
        before = _served_certificate(daemon.port)
        renewed = ca.issue("renewed", ["127.0.0.1"])
        shutil.copy(renewed.key, key)
        shutil.copy(renewed.cert, cert)
        daemon.wait_for(lambda: _served_certificate(daemon.port) != before, 30, "the renewed certificate served")
        assert _served_certificate(daemon.port) == ssl.PEM_cert_to_DER_cert(renewed.cert.read_text())
        # a new password: the old one is refused from then on
        hashed = bcrypt.hashpw(b"neues-Passwort-2027", bcrypt.gensalt(4)).decode()
        web.write_text(web.read_text().replace(web.read_text().split("prometheus: ")[1].strip(), f"'{hashed}'"))
        daemon.wait_for(lambda: _get(base + "/metrics", ca.ca_file, _basic("prometheus", "neues-Passwort-2027"))[0]
                        == 200, 30, "the new password accepted")
        assert _get(base + "/metrics", ca.ca_file, _basic("prometheus", PASSWORD))[0] == 401
        # an invalid change: said in the log, the running config stays
        web.write_text(web.read_text() + "tls_config: {}\n")  # a key the toolkit does not have
        def refused() -> bool:  # read when a connection comes, as the toolkit does
            still = _get(base + "/metrics", ca.ca_file, _basic("prometheus", "neues-Passwort-2027"))[0] == 200
            return still and "ungültig; die laufende bleibt aktiv" in daemon.log()
        daemon.wait_for(refused, 30, "the refusal logged, the running config still answering")
        assert "tls_config: unbekannter Schlüssel" in daemon.log()
        assert "neues-Passwort-2027" not in daemon.log() and PASSWORD not in daemon.log()
    finally:
        daemon.stop()


@pytest.mark.slow
def test_reload_presents_a_client_certificate_where_the_web_config_requires_one(tmp_path, pki):
    ca, pair = pki
    client = ca.issue("reload-client", ["betrieb"], client=True)
    settings = write_daemon_config(tmp_path, service_yaml("portal", ["http://127.0.0.1:9/"]))
    (tmp_path / "web-config.yml").write_text(
        f"tls_server_config:\n  cert_file: {pair.cert}\n  key_file: {pair.key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca.ca_file}\n")
    settings.write_text(settings.read_text() + "web_config: web-config.yml\n")
    daemon = DaemonProcess(settings)
    try:
        context = ssl.create_default_context(cafile=str(ca.ca_file))
        context.load_cert_chain(str(client.cert), str(client.key))

        def healthy() -> bool:
            with urllib.request.urlopen(f"https://127.0.0.1:{daemon.port}/healthz", timeout=10,
                                        context=context) as resp:
                return resp.status == 200
        _wait_over_tls(daemon, healthy, "the daemon over mutual TLS")

        def reload(*extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "monitor.cli", "reload", "--config", str(settings), *extra],
                                  cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        without = reload()
        assert without.returncode != 0 and "--client-cert und --client-key angeben" in without.stderr, without.stderr
        half = reload("--client-cert", str(client.cert))
        assert half.returncode != 0 and "gehören zusammen" in half.stderr
        out = reload("--client-cert", str(client.cert), "--client-key", str(client.key))
        assert out.returncode == 0 and "neu geladen" in out.stdout, out.stdout + out.stderr
    finally:
        daemon.stop()
