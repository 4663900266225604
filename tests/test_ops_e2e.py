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
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from monitor.config import load_config
from monitor.report.figures import collect
from monitor.report.period import Period
from monitor.store import Store
from tests import dns_estate
from tests.a11y_site import html
from tests.daemon import ROOT, running
from tests.gdpr_site import LEGAL_FOOTER
from tests.helpers import KINDS
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

    def wait(self, predicate, timeout: float, explain=lambda: "") -> tuple[float, dict]:
        """The first post `predicate` accepts; `explain()`: what to add when none comes."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for when, post in self.posts:
                    if predicate(post):
                        return when, post
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching notification in {timeout:.0f} s; got {self.posts}\n{explain()}")
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


def journey_service(sid: str, name: str, base: str, ca_file: Path, depends_on: str, steps: str) -> str:
    """A dependent whose journey runs every 15 s (its steps: YAML flow mappings, one per line).

    Each run is a fresh Chromium (a journey's recording session): at every 3 s, four of them took
    ~170 CPU-s of the test's ~200, the other tests' share of the two cores. 15 s still gives each
    journey several runs in the outage (it lasts past the `for: 1m` of the alerts)."""
    lines = "".join(f"              - {step}\n" for step in steps.strip().splitlines())
    return f"""\
  - id: {sid}
    name: {name}
    category: efa
    operator: Land Saarland
    contact: betrieb@example.invalid
    urls: ["{base}/{sid}"]
    depends_on: {depends_on}
    public: true
    checks:
      journey:
        interval: 15s
        jitter: 0s
        timeout: 25s
        step_timeout: 6s
        screenshots: false
        journeys:
          - name: strecke
            steps:
{lines}"""


def base_services(base: str, konto: str, zahlung: str, ca_file: Path) -> str:
    """Two base services (a login host, a payment host) and five dependents: journeys that log in
    (one attributed by the request that failed, one by its step's base_service), one that pays,
    one whose own page breaks during the base outage, and a plain page that fails with it."""
    availability = f'availability: {{interval: 2s, timeout: 1.5s, retries: 0, jitter: 0s, ca_file: "{ca_file}"}}'
    return f"""\
  - id: konto
    name: Servicekonto
    category: basisdienst
    operator: Land Saarland
    contact: betrieb@example.invalid
    urls: ["{konto}/"]
    public: true
    checks:
      {availability}
  - id: zahlung
    name: ePayBL
    category: basisdienst
    operator: Bund
    contact: betrieb@example.invalid
    urls: ["{zahlung}/"]
    checks:
      {availability}
  - id: gewerbe
    name: Gewerbeanmeldung
    category: efa
    operator: Land Hessen
    contact: betrieb@example.invalid
    urls: ["{base}/gewerbe"]
    depends_on: [konto]
    public: true
    checks:
      {availability}
""" + journey_service("wohngeld", "Wohngeld", base, ca_file, "[konto]", """
{name: start, open: /wohngeld}
{name: anmelden, click: Anmelden}
{name: angemeldet, expect: {text: Anmeldung am Servicekonto}}
{name: ende, stop: true}
""") + journey_service("kita", "Kita-Platz", base, ca_file, "[konto]", """
{name: start, open: /kita}
{name: anmelden, click: Anmelden, base_service: konto}
{name: angemeldet, expect: {text: Anmeldung am Servicekonto}}
{name: ende, stop: true}
""") + journey_service("hund", "Hundesteuer", base, ca_file, "[konto, zahlung]", """
{name: start, open: /hund}
{name: bezahlen, click: Bezahlen}
{name: bezahlt, expect: {text: Bezahlung mit ePayBL}}
{name: ende, stop: true}
""") + journey_service("ummeldung", "Ummeldung", base, ca_file, "[konto]", """
{name: start, open: /ummeldung}
{name: weiter, click: Weiter}
{name: formular, expect: {text: Neue Anschrift}}
{name: ende, stop: true}
""")


def write_daemon(directory: Path, base: str, ca_file: Path, port: int, extra: str = "", domain: str = "") -> Path:
    """`domain`: the portal's domain check settings (flow mapping), if any."""
    (directory / "catalog.yaml").write_text(f"""\
services:
  - id: portal
    name: Serviceportal Saarland
    category: basisdienst
    operator: Land Saarland
    contact: betrieb@example.invalid
    urls: ["{base}/"]
    availability_target: 99.5
    checks:  # (the hourly browser checks run once in the test: their timeouts allow for four journeys
             # every 15 s in the same browser pool on two shared cores. A run that fails leaves its
             # kind's expressions without data for the test's whole length: once every DSGVO
             # expression (the run had 15 s), once the accessibility ones and once the experience
             # ones (60 s each, in the clean-clone CI))
      availability: {{interval: 2s, timeout: 1s, retries: 0, jitter: 0s, ca_file: "{ca_file}",
                      locations: [landesnetz, zweitnetz]}}
      experience: {{interval: 1h, timeout: 120s, jitter: 0s, runs: 1}}
{"      domain: " + domain + chr(10) if domain else ""}      security: {{interval: 1h, timeout: 10s, jitter: 0s, ca_file: "{ca_file}"}}
      accessibility: {{interval: 1h, timeout: 120s, jitter: 0s, sitemap: {{enabled: false}}}}
      gdpr: {{interval: 1h, timeout: 120s, jitter: 0s}}
      ai_act: {{interval: 1h, timeout: 120s, jitter: 0s}}
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
              - {{name: mehr, click: Mehr anzeigen}}
              - {{name: ende, stop: true}}
  - id: antrag
    name: Online-Antrag
    category: efa
    operator: Land Berlin
    contact: betrieb@example.invalid
    urls: ["{base}/antrag"]
    depends_on: [konto]
    public: true
    checks:
      availability: {{interval: 2s, timeout: 1.8s, retries: 0, jitter: 0s, ca_file: "{ca_file}"}}
""" + extra)
    settings = directory / "settings.yaml"
    settings.write_text(f"""\
catalog: [catalog.yaml]
listen: "127.0.0.1:{port}"
heartbeat_interval: 1s
store: {{url: "sqlite:///{directory / 'store.db'}"}}
browser: {{accept_insecure_certs: true}}
attribution_tolerance: 2s
locations:
  - {{name: landesnetz, local: true}}
  - {{name: zweitnetz, local: true}}
""")
    return settings


# the button's 40 ms of work: an interaction Event Timing records (over its 16 ms threshold), the journey's INP
PAGE = html(f"<main><h1>Serviceportal</h1><p>Anträge online stellen.</p><button type=\"button\" "
            f"onclick=\"var t = performance.now(); while (performance.now() - t < 40) {{}} "
            f"this.textContent = 'Weniger anzeigen';\">Mehr anzeigen</button></main>{LEGAL_FOOTER}")


def link_page(title: str, href: str, text: str) -> Page:
    return Page(body=html(f'<main><h1>{title}</h1><p><a href="{href}">{text}</a></p></main>'))


def metrics_line(port: int, needle: str) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return any(line.startswith(needle) for line in resp.read().decode().splitlines())


def wait_for(what: str, predicate, timeout: float, log) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"{what}: nicht eingetreten in {timeout:.0f} s\n{log()[-3000:]}")
        time.sleep(0.5)


def am_alerts(am: str, *matchers: str) -> list[dict]:
    query = urllib.parse.urlencode([("filter", m) for m in matchers])
    return json.loads(urllib.request.urlopen(f"{am}/api/v2/alerts?{query}", timeout=10).read())


def test_outage_pages_through_prometheus_and_alertmanager_and_every_expression_has_data(tmp_path, ca, capsys):
    """Also the base services (Anlage 2): the login host stops; its own alert pages, its
    dependents' are inhibited (the one that failed before keeps its alert and its resolution),
    each failed result stores what caused it, the status page says why, and the report
    charges the base service with the seconds it caused."""
    for tool in ("prometheus", "prometheus-alertmanager"):
        assert shutil.which(tool), f"{tool} fehlt: scripts/setup.sh test installiert es"
    pair = ca.issue("ops-e2e", ["127.0.0.1"])
    antrag = Page(body=html("<main><h1>Antrag</h1></main>"))
    gewerbe = Page(body=html("<main><h1>Gewerbeanmeldung</h1></main>"))
    formular = Page(body=html("<main><h1>Ummeldung</h1><p>Neue Anschrift</p></main>"))
    konto_port, zahlung_port = free_port(), free_port()
    konto_base, zahlung_base = f"https://127.0.0.1:{konto_port}", f"https://127.0.0.1:{zahlung_port}"
    routes = {"/": Page(body=PAGE), "/antrag": antrag, "/gewerbe": gewerbe,
              "/impressum": Page(body=html("<main><h1>Impressum</h1><p>Angaben gemäß § 5 DDG</p></main>")),
              "/datenschutz": Page(body=html("<main><h1>Datenschutzerklärung</h1></main>")),
              "/wohngeld": link_page("Wohngeld", f"{konto_base}/login", "Anmelden"),
              "/kita": link_page("Kita-Platz", f"{konto_base}/login", "Anmelden"),
              "/hund": link_page("Hundesteuer", f"{zahlung_base}/bezahlen", "Bezahlen"),
              "/ummeldung": link_page("Ummeldung", "/ummeldung/formular", "Weiter"),
              "/ummeldung/formular": formular}
    konto_routes = {"/": Page(body=html("<main><h1>Servicekonto</h1></main>")),
                    "/login": Page(body=html("<main><h1>Anmeldung am Servicekonto</h1></main>"))}
    zahlung_routes = {"/": Page(body=html("<main><h1>ePayBL</h1></main>")),
                      "/bezahlen": Page(body=html("<main><h1>Bezahlung mit ePayBL</h1></main>"))}
    webhook = Webhook()
    tls = (pair.cert, pair.key)
    with contextlib.ExitStack() as konto_site, contextlib.closing(webhook), \
            site(routes, tls=tls, plain=False) as port, site(zahlung_routes, tls=tls, plain=False, port=zahlung_port), \
            dns_estate.estate() as dns:  # the portal's domain: gut.de of the local DNS estate
        konto_site.enter_context(site(konto_routes, tls=tls, plain=False, port=konto_port))
        domain = (f'{{interval: 1h, jitter: 0s, timeout: 30s, domains: [gut.de], resolver: ["{dns.resolver}"], '
                  f'trust_anchor: "{dns.trust_anchor}", query_timeout: 3s, smtp_port: {dns.smtp_starttls}, '
                  f'ns_port: {dns.ipv6_ports()["ns_port"]}, web_port: {dns.web_port}, ca_file: "{dns.web_ca}", '
                  'dkim_selectors: [sel1, ed]}')
        # picked just before the processes bind them: a port picked before the estate started (seconds)
        # was once taken meanwhile by another worker's daemon, and Prometheus scraped that one
        am_port, prom_port, daemon_port = free_port(), free_port(), free_port()
        settings = write_daemon(tmp_path, f"https://127.0.0.1:{port}", ca.ca_file, daemon_port,
                                base_services(f"https://127.0.0.1:{port}", konto_base, zahlung_base, ca.ca_file), domain)
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
            prom, am = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
            wait_http(f"{am}/-/ready", "Alertmanager", am_log)
            wait_http(f"{prom}/-/ready", "Prometheus", prom_log)

            # Every check kind has reported and Prometheus has evaluated the rules on it.
            def complete() -> list[str]:
                empty = [f"{where}: {expr}" for where, expr in
                         dashboard_expressions() + rule_expressions("recording") if not query(prom, expr)]
                return empty
            deadline = time.monotonic() + 330  # two shared cores: browsers, Knot, Unbound, the other worker
            while (empty := complete()) and time.monotonic() < deadline:
                time.sleep(3)
            assert not empty, "Ausdrücke ohne Daten:\n" + "\n".join(empty) + "\n" + daemon.log()[-3000:]
            for _name, expr in rule_expressions("alerts"):
                query(prom, expr)  # every alert expression is accepted by this Prometheus
            ratio = float(query(prom, 'service:egov_availability:ratio_30d{service="antrag"}')[0]["value"][1])
            if ratio != 1:  # only where the daemon stored a failed probe of it (a timeout on a loaded machine)
                config = load_config(settings, KINDS)
                store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
                failed = [r for _, r in store.results("antrag") if r.state.value != "up"]
                store.close()
                assert failed and 0.5 <= ratio < 1, (ratio, failed)
            assert not webhook.posts, "nothing pages while every service is up"

            # What the runbook tells the operator to run: the stored results behind an alert.
            cli = [sys.executable, "-m", "monitor.cli", "results", "--config", str(settings)]
            def cli_run(*args: str) -> subprocess.CompletedProcess:
                return subprocess.run([*cli, *args], check=False, capture_output=True, text=True, timeout=60, cwd=ROOT)
            out = cli_run("portal", "--json")
            shown = json.loads(out.stdout)
            assert {r["kind"] for r in shown} == {"availability", "security", "accessibility", "gdpr", "ai_act", "journey",
                                                   "experience", "domain"}
            assert next(r for r in shown if r["kind"] == "domain")["evidence"]["grade"] == "A"
            assert next(r for r in shown if r["kind"] == "journey")["state"] == "up"
            assert all(r["service_id"] == "portal" for r in shown)
            # the test site sends no security headers: grade below B, so "down", exit code 1 as with `check`
            security = next(r for r in shown if r["kind"] == "security")
            assert security["state"] == "down" and out.returncode == 1, out.stderr
            out = cli_run("portal", "--kind", "availability")
            assert out.returncode == 0 and "portal" in out.stdout and "verfügbar" in out.stdout, out.stdout + out.stderr
            out = cli_run("gibtsnicht")
            assert out.returncode == 2 and "Unbekannte Dienste: gibtsnicht" in out.stderr
            journeys = ("wohngeld", "kita", "hund", "ummeldung")
            out = cli_run(*journeys, "--kind", "journey", "--json")
            assert {r["service_id"]: r["state"] for r in json.loads(out.stdout)} == dict.fromkeys(journeys, "up"), \
                out.stdout[-3000:]

            # The outage: antrag fails for its own reason first, then the login host stops, and
            # with it the page that needs it and (by coincidence) Ummeldung's own form.
            state = 'egov_check_state{{category="{c}",kind="availability",service="{s}",state="down",url="{u}"}} 1.0'
            antrag.status = 503
            down_at = time.monotonic()
            wait_for("antrag gestört", lambda: metrics_line(daemon_port, state.format(
                c="efa", s="antrag", u=f"https://127.0.0.1:{port}/antrag")), 60, daemon.log)
            failing_before = time.time()
            wait_for("Toleranz der Zuordnung vorbei", lambda: time.time() > failing_before + 3, 10, daemon.log)
            konto_site.close()  # the login host is gone: connections refused
            wait_for("Servicekonto gestört", lambda: metrics_line(daemon_port, state.format(
                c="basisdienst", s="konto", u=f"{konto_base}/")), 60, daemon.log)
            konto_seen_down = time.time()
            gewerbe.status, formular.status = 502, 500
            fired_at, fired = webhook.wait(alert_for("antrag", "firing"), timeout=240)
            alert = next(a for a in fired["alerts"] if a["labels"]["alertname"] == "EgovServiceDown")
            assert alert["labels"]["severity"] == "critical" and alert["labels"]["team"] == "betrieb"
            assert alert["annotations"]["summary"] == "Dienst Online-Antrag (antrag) ist nicht erreichbar"
            # the reason of the result the alert fired on: the 503, or (a loaded machine) a timeout
            assert re.search(r"Grund: (http_status|read_timeout|connect_timeout)\.$",
                             alert["annotations"]["description"]), alert["annotations"]["description"]
            assert fired["receiver"] == "betrieb-pager"
            webhook.wait(alert_for("konto", "firing"), timeout=240)
            # Gewerbe's own EgovServiceDown was created by Prometheus, and Alertmanager holds it back
            def inhibited(*matchers: str) -> bool:
                found = am_alerts(am, *matchers)
                return bool(found) and all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
                                           for a in found)
            wait_for("Alarm von gewerbe unterdrückt", lambda: inhibited('alertname="EgovServiceDown"',
                                                                        'service="gewerbe"'), 120, daemon.log)
            # a journey's alert (its rule waits 5 minutes: posted here as Prometheus posts it) likewise
            body = json.dumps([{"labels": {"alertname": "EgovJourneyFailed", "service": "wohngeld", "category": "efa",
                                           "severity": "warning", "team": "betrieb", "journey": "strecke"}}]).encode()
            urllib.request.urlopen(urllib.request.Request(f"{am}/api/v2/alerts", body, method="POST",
                                                          headers={"Content-Type": "application/json"}), timeout=10)
            wait_for("Strecken-Alarm von wohngeld unterdrückt",
                     lambda: inhibited('alertname="EgovJourneyFailed"', 'service="wohngeld"'), 60, daemon.log)
            assert not inhibited('alertname="EgovServiceDown"', 'service="antrag"')  # failed first: its own

            # what each stored result says caused it
            def causes() -> dict[str, object]:
                out = cli_run("gewerbe", "antrag", *journeys, "--json")
                assert out.stdout.strip(), out.stderr[-3000:]
                rows = json.loads(out.stdout)
                return {r["service_id"]: (r["state"], r["evidence"].get("caused_by")) for r in rows}
            expected = {"gewerbe": ("down", {"base": "konto", "basis": "overlap"}),
                        "antrag": ("down", {"base": None, "basis": "own"}),
                        "wohngeld": ("down", {"base": "konto", "basis": "request", "url": f"{konto_base}/login"}),
                        "kita": ("down", {"base": "konto", "basis": "step"}),
                        "ummeldung": ("down", {"base": None, "basis": "own"}),
                        "hund": ("up", None)}
            wait_for("Zuordnungen gespeichert", lambda: causes() == expected, 90, lambda: str(causes()))
            shown = " ".join(cli_run("gewerbe", "wohngeld").stdout.replace("│", " ").split())  # the table, unwrapped
            assert "verursacht durch Basisdienst Servicekonto (gleichzeitig gestört)" in shown, shown
            assert f"verursacht durch Basisdienst Servicekonto (Anfrage an {konto_base}/login" in shown, shown

            # the status page says why
            with urllib.request.urlopen(f"http://127.0.0.1:{daemon_port}/status/", timeout=10) as resp:
                page = resp.read().decode()
            row = page.split('href="dienst/gewerbe.html">Gewerbeanmeldung</a>')[1].split("</tr>")[0]
            assert 'eingeschränkt: <a href="dienst/konto.html">Servicekonto gestört</a>' in row, row
            row = page.split('href="dienst/antrag.html">Online-Antrag</a>')[1].split("</tr>")[0]
            assert ">gestört</span>" in row, row

            # Recovery: every resolution is notified, none is swallowed
            konto_site.enter_context(site(konto_routes, tls=tls, plain=False, port=konto_port))
            antrag.status = gewerbe.status = formular.status = 200
            up_at = time.monotonic()
            def explain() -> str:  # what Alertmanager holds and why, and the daemon's dependency series
                held = [(a["labels"].get("alertname"), a["labels"].get("service"), a["status"]) for a in am_alerts(am)]
                series = [line for line in urllib.request.urlopen(f"http://127.0.0.1:{daemon_port}/metrics", timeout=10)
                          .read().decode().splitlines() if line.startswith("egov_dependency_")]
                return f"Alertmanager: {held}\n" + "\n".join(series) + "\n" + daemon.log()[-2000:]
            resolved_at, _ = webhook.wait(alert_for("antrag", "resolved"), timeout=240, explain=explain)
            webhook.wait(alert_for("konto", "resolved"), timeout=240, explain=explain)
            dependents = {"gewerbe", *journeys}
            assert not [a["labels"] for _, p in webhook.posts for a in p["alerts"]
                        if a["labels"].get("service") in dependents | {"portal"}]
            assert "nicht-im-log" not in am_log.read_text() + prom_log.read_text() + daemon.log()

            # the report: Gewerbe's down time is konto's for the seconds they share (2 s tolerance)
            config = load_config(settings, KINDS)
            store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
            now = datetime.now(UTC)
            today = now.astimezone(config.settings.tz).date().isoformat()
            data = collect(store, config, Period.of_days(today, today), now=now)
            timeline: dict[str, list[tuple[float, str, str]]] = {}
            for sid, _url, at, state, why in store.changes("availability", until=now.timestamp()):
                timeline.setdefault(sid, []).append((at, state, why))
            konto, gewerbe_changes = sorted(timeline["konto"]), sorted(timeline["gewerbe"])
            # the outage (a loaded machine may add a short timeout elsewhere): konto's change to down that
            # the metrics showed after its close (its reason is the refused connection, or a reset or
            # timeout when a probe was in flight at the close), Gewerbe's 502 that followed
            k0 = max(at for at, state, _why in konto if state == "down" and at <= konto_seen_down)
            k1 = min(at for at, state, _why in konto if state == "up" and at > k0)
            d0 = next(at for at, state, why in gewerbe_changes if state == "down" and why == "http_status")
            d1 = min(at for at, state, _why in gewerbe_changes if state == "up" and at > d0)
            summary = next(s for s in data.services if s.id == "gewerbe").kinds["availability"]
            (outage, by), = [(o, by) for o, by in zip(summary.outages, summary.attributions, strict=True)
                             if o.start == d0]
            assert d0 >= k0 and all(e <= d0 or s >= d1 for s, e in data.monitor_gaps), (konto, gewerbe_changes)
            assert outage.down_seconds == pytest.approx(d1 - d0, abs=1e-6)
            assert by.base == "konto" and by.seconds == pytest.approx(min(d1, k1 + 2) - d0, abs=1e-6)
            y = summary.year
            assert summary.own_year == pytest.approx(100 * y.up / (y.up + y.down - summary.base_seconds))
            assert summary.own_year > y.availability and summary.base_seconds >= by.seconds
            antrag_summary = next(s for s in data.services if s.id == "antrag").kinds["availability"]
            (antrag_outage, antrag_by), = [(o, by) for o, by in zip(antrag_summary.outages,
                                                                     antrag_summary.attributions, strict=True)
                                           if o.down_seconds > 30]
            assert antrag_by.base is None and antrag_outage.start < k0 - 2  # failed first: all its own
            store.close()
    with capsys.disabled():
        print(f"\n[ops e2e] Ausfall bis Alarm am Webhook: {fired_at - down_at:.1f} s "
              f"(Prüfung 2 s, Scrape 15 s, Auswertung 15 s, for 1m, group_wait 10s); "
              f"Wiederherstellung bis Entwarnung: {resolved_at - up_at:.1f} s (group_interval 1m)")
    assert fired_at - down_at >= 60  # the `for: 1m` held: one failed scrape never pages
