"""The operations stack end to end: the daemon, a real Prometheus and a real Alertmanager
(Debian packages) with the files from deploy/, and a webhook receiver.

A local service goes down: the service-down alert reaches the webhook; it comes back: the
resolved notification follows. The time from outage to notification is printed. Every
PromQL expression of the dashboards and recording rules is queried through Prometheus'
HTTP API and must return data.

What differs from deploy/: addresses (127.0.0.1 and free ports instead of the compose
host names) and the group intervals of the 5-minute and hourly recording groups, which
run every 15 s here. Prometheus staggers a group's first evaluation by up to its
interval, so the hourly group might not run at all in a test; the expressions, the
alert rules, their `for` and the Alertmanager routing are the deploy files' own.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.a11y_site import html
from tests.daemon import ROOT, running
from tests.gdpr_site import LEGAL_FOOTER
from tests.servers import free_port
from tests.sites import Page, site

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
DEPLOY = ROOT / "deploy"
DASHBOARD_VARIABLES = {"$service": "portal", "$__rate_interval": "1m", "$__range": "1h"}


class Webhook:
    """Receives Alertmanager's webhook posts on 127.0.0.1 and remembers when each came."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, dict]] = []
        self.cond = threading.Condition()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.cond:
                    hook.posts.append((time.monotonic(), json.loads(body)))
                    hook.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, predicate, timeout: float) -> tuple[float, dict]:
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for when, post in self.posts:
                    if predicate(post):
                        return when, post
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching notification in {timeout:.0f} s; got {self.posts}")
                self.cond.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alert_for(service: str, status: str):
    def match(post: dict) -> bool:
        return any(a["labels"].get("alertname") == "EgovServiceDown" and a["labels"].get("service") == service
                   and a["status"] == status for a in post["alerts"])
    return match


@contextlib.contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def get_json(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_http(url: str, what: str, log: Path, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{what} not ready:\n{log.read_text()[-3000:]}")


def query(prom: str, expr: str) -> list:
    body = get_json(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for name, value in DASHBOARD_VARIABLES.items():
                    expr = expr.replace(name, value)
                found.append((f"{path.stem}: {panel['title']}", expr))
    return found


def rule_expressions(kind: str) -> list[tuple[str, str]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "rules" / f"egov-{kind}.yml").read_text())
    return [(r.get("record") or r.get("alert"), r["expr"]) for g in doc["groups"] for r in g["rules"]]


def write_prometheus(directory: Path, daemon_port: int, alertmanager_port: int) -> Path:
    rules = directory / "rules"
    rules.mkdir()
    for path in (DEPLOY / "prometheus" / "rules").glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            group.pop("interval", None)  # see the module docstring
        (rules / path.name).write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(rules / Path(f).name) for f in config["rule_files"]]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]
    addresses = {"egov-monitor": f"127.0.0.1:{daemon_port}", "alertmanager": f"127.0.0.1:{alertmanager_port}"}
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["job_name"] in addresses]
    for job in config["scrape_configs"]:
        job["static_configs"][0]["targets"] = [addresses[job["job_name"]]]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_alertmanager(directory: Path, webhook: str) -> Path:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook
    config["global"]["smtp_auth_password_file"] = str(directory / "smtp-password")
    (directory / "smtp-password").write_text("nicht-im-log")
    shutil.copytree(DEPLOY / "alertmanager" / "templates", directory / "templates")
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path


def write_daemon(directory: Path, base: str, ca_file: Path, port: int) -> Path:
    (directory / "catalog.yaml").write_text(f"""\
services:
  - id: portal
    name: Serviceportal Saarland
    category: basisdienst
    operator: Land Saarland
    contact: betrieb@example.invalid
    urls: ["{base}/"]
    availability_target: 99.5
    checks:
      availability: {{interval: 2s, timeout: 1s, retries: 0, jitter: 0s, ca_file: "{ca_file}"}}
      security: {{interval: 1h, timeout: 10s, jitter: 0s, ca_file: "{ca_file}"}}
      accessibility: {{interval: 1h, timeout: 15s, jitter: 0s, sitemap: {{enabled: false}}}}
      gdpr: {{interval: 1h, timeout: 15s, jitter: 0s}}
      ai_act: {{interval: 1h, timeout: 15s, jitter: 0s}}
      journey:
        interval: 1h
        jitter: 0s
        timeout: 30s
        accessibility: true
        gdpr: true
        journeys:
          - name: startseite
            steps:
              - {{name: start, open: /}}
              - {{name: gesehen, expect: {{text: Anträge online stellen}}}}
              - {{name: ende, stop: true}}
  - id: antrag
    name: Online-Antrag
    category: efa
    operator: Land Berlin
    contact: betrieb@example.invalid
    urls: ["{base}/antrag"]
    checks:
      availability: {{interval: 1s, timeout: 0.5s, retries: 0, jitter: 0s, ca_file: "{ca_file}"}}
""")
    settings = directory / "settings.yaml"
    settings.write_text(f"""\
catalog: [catalog.yaml]
listen: "127.0.0.1:{port}"
heartbeat_interval: 1s
store: {{url: "sqlite:///{directory / 'store.db'}"}}
browser: {{accept_insecure_certs: true}}
""")
    return settings


PAGE = html(f"<main><h1>Serviceportal</h1><p>Anträge online stellen.</p></main>{LEGAL_FOOTER}")


def test_outage_pages_through_prometheus_and_alertmanager_and_every_expression_has_data(tmp_path, ca, capsys):
    for tool in ("prometheus", "prometheus-alertmanager"):
        assert shutil.which(tool), f"{tool} fehlt: scripts/setup.sh test installiert es"
    pair = ca.issue("ops-e2e", ["127.0.0.1"])
    antrag = Page(body=html("<main><h1>Antrag</h1></main>"))
    routes = {"/": Page(body=PAGE), "/antrag": antrag,
              "/impressum": Page(body=html("<main><h1>Impressum</h1><p>Angaben gemäß § 5 DDG</p></main>")),
              "/datenschutz": Page(body=html("<main><h1>Datenschutzerklärung</h1></main>"))}
    webhook = Webhook()
    am_port, prom_port, daemon_port = free_port(), free_port(), free_port()
    with site(routes, tls=(pair.cert, pair.key), plain=False) as port:
        settings = write_daemon(tmp_path, f"https://127.0.0.1:{port}", ca.ca_file, daemon_port)
        (tmp_path / "am").mkdir()
        (tmp_path / "prom").mkdir()
        am_config = write_alertmanager(tmp_path / "am", webhook.url)
        prom_config = write_prometheus(tmp_path / "prom", daemon_port, am_port)
        am_log, prom_log = tmp_path / "alertmanager.log", tmp_path / "prometheus.log"
        with running(settings) as daemon, \
                process(["prometheus-alertmanager", f"--config.file={am_config}",
                         f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                         "--cluster.listen-address="], am_log), \
                process(["prometheus", f"--config.file={prom_config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{prom_port}"], prom_log):
            prom = f"http://127.0.0.1:{prom_port}"
            wait_http(f"http://127.0.0.1:{am_port}/-/ready", "Alertmanager", am_log)
            wait_http(f"{prom}/-/ready", "Prometheus", prom_log)

            # Every check kind has reported and Prometheus has evaluated the rules on it.
            def complete() -> list[str]:
                empty = [f"{where}: {expr}" for where, expr in
                         dashboard_expressions() + rule_expressions("recording") if not query(prom, expr)]
                return empty
            deadline = time.monotonic() + 150
            while (empty := complete()) and time.monotonic() < deadline:
                time.sleep(3)
            assert not empty, "Ausdrücke ohne Daten:\n" + "\n".join(empty) + "\n" + daemon.log()[-3000:]
            for name, expr in rule_expressions("alerts"):
                query(prom, expr)  # every alert expression is accepted by this Prometheus
            assert query(prom, 'service:egov_availability:ratio_30d{service="antrag"}')[0]["value"][1] == "1"
            assert not webhook.posts, "nothing pages while every service is up"

            # What the runbook tells the operator to run: the stored results behind an alert.
            cli = [sys.executable, "-m", "monitor.cli", "results", "--config", str(settings)]
            def cli_run(*args: str) -> subprocess.CompletedProcess:
                return subprocess.run([*cli, *args], check=False, capture_output=True, text=True, timeout=60, cwd=ROOT)
            out = cli_run("portal", "--json")
            shown = json.loads(out.stdout)
            assert {r["kind"] for r in shown} == {"availability", "security", "accessibility", "gdpr", "ai_act", "journey"}
            assert next(r for r in shown if r["kind"] == "journey")["state"] == "up"
            assert all(r["service_id"] == "portal" for r in shown)
            # the test site sends no security headers: grade below B, so "down", exit code 1 as with `check`
            security = next(r for r in shown if r["kind"] == "security")
            assert security["state"] == "down" and out.returncode == 1, out.stderr
            out = cli_run("portal", "--kind", "availability")
            assert out.returncode == 0 and "portal" in out.stdout and "verfügbar" in out.stdout, out.stdout + out.stderr
            out = cli_run("gibtsnicht")
            assert out.returncode == 2 and "Unbekannte Dienste: gibtsnicht" in out.stderr

            # The outage.
            antrag.status = 503
            down_at = time.monotonic()
            fired_at, fired = webhook.wait(alert_for("antrag", "firing"), timeout=240)
            alert = next(a for a in fired["alerts"] if a["labels"]["alertname"] == "EgovServiceDown")
            assert alert["labels"]["severity"] == "critical" and alert["labels"]["team"] == "betrieb"
            assert alert["annotations"]["summary"] == "Dienst Online-Antrag (antrag) ist nicht erreichbar"
            assert "Grund: http_status" in alert["annotations"]["description"]
            assert fired["receiver"] == "betrieb-pager"
            assert not any(a["labels"].get("service") == "portal" for _, p in webhook.posts for a in p["alerts"])

            antrag.status = 200
            up_at = time.monotonic()
            resolved_at, _ = webhook.wait(alert_for("antrag", "resolved"), timeout=240)
            assert "nicht-im-log" not in am_log.read_text() + prom_log.read_text() + daemon.log()
    webhook.close()
    with capsys.disabled():
        print(f"\n[ops e2e] Ausfall bis Alarm am Webhook: {fired_at - down_at:.1f} s "
              f"(Prüfung 1 s, Scrape 15 s, Auswertung 15 s, for 1m, group_wait 10s); "
              f"Wiederherstellung bis Entwarnung: {resolved_at - up_at:.1f} s (group_interval 1m)")
    assert fired_at - down_at >= 60  # the `for: 1m` held: one failed scrape never pages
