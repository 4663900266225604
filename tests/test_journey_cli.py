"""Journeys as an operator meets them: the catalog, `validate`, `check`, the daemon, /metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import journey_app
from tests.daemon import ROOT, running
from tests.helpers import KINDS
from tests.journey_app import PASSWORD, TRACKER
from tests.servers import free_port

FIRST_NAME = "Mirabella-Testperson"


@pytest.fixture(scope="module")
def app():
    with journey_app.serve() as served:
        yield served


def _steps_yaml(steps: list[dict]) -> str:
    import json

    return "\n".join(f"          - {json.dumps(s, ensure_ascii=False)}" for s in steps)


def write(directory: Path, app, journeys: str, *, extra_checks: str = "", interval: str = "1h",
          listen: int | None = None) -> Path:
    (directory / "testdaten.yaml").write_text(f"vorname: {FIRST_NAME}\nnachname: Mustermann\nstrasse: Musterweg 1\n"
                                              "benutzer: erika\n", encoding="utf-8")
    (directory / "nachweis.pdf").write_bytes(b"%PDF-1.4\n")
    port = app.url.rsplit(":", 1)[1]
    (directory / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: wohngeld
            name: Wohngeld
            category: efa
            operator: Land Saarland
            contact: ops@example.invalid
            urls: ["{app.url}/v/gut/"]
            checks:
              journey:
                interval: {interval}
                timeout: 60s
                step_timeout: 8s
                data_file: testdaten.yaml
                secrets: {{passwort: {{env: EGOV_TEST_JOURNEY_PW}}}}
                journeys:
        """) + journeys + extra_checks, encoding="utf-8")
    settings = directory / "settings.yaml"
    settings.write_text(textwrap.dedent(f"""\
        catalog: [catalog.yaml]
        listen: "127.0.0.1:{listen or free_port()}"
        heartbeat_interval: 1s
        store: {{url: "sqlite:///{directory / 'store.db'}"}}
        browser: {{arguments: ["--host-resolver-rules=MAP {TRACKER} 127.0.0.1:{port}"]}}
        """), encoding="utf-8")
    return settings


def journey_yaml(name: str, steps: list[dict], indent: int = 10) -> str:
    body = f"- name: {name}\n  title: Wohngeld beantragen\n  steps:\n" + "\n".join(
        "    - " + __import__("json").dumps(s, ensure_ascii=False) for s in steps)
    return textwrap.indent(body, " " * indent) + "\n"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, **(env or {})), timeout=300)


def test_validate_refuses_broken_journeys_naming_file_line_service_journey_and_field(tmp_path, app):
    steps = journey_app.steps("gut")
    unknown = [dict(steps[0]), {"name": "weiter", "klick": "Weiter"}, {"name": "ende", "stop": True}]
    no_stop = [s for s in steps if "stop" not in s]
    twice = [*steps[:2], dict(steps[2], name=steps[1]["name"]), *steps[3:]]
    journeys = (journey_yaml("unbekannt", unknown) + journey_yaml("ohne-halt", no_stop)
                + journey_yaml("doppelt", twice))
    settings = write(tmp_path, app, journeys)
    missing = tmp_path / "catalog.yaml"
    missing.write_text(missing.read_text().replace("{env: EGOV_TEST_JOURNEY_PW}", "{file: fehlt/passwort.txt}"))
    proc = cli("validate", "--config", str(settings))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    text = proc.stderr

    def line_of(needle: str) -> int:
        return next(i for i, line in enumerate(missing.read_text().splitlines(), 1) if needle in line)

    # the model's errors come first (the secret file is only checked once the journeys are valid)
    assert f"catalog.yaml:{line_of('klick')}: Dienst 'wohngeld' Feld 'services.0.checks.journey.journeys.0.steps.1.klick'" in text
    assert "Strecke 'unbekannt', Schritt 'weiter'" in text
    assert "Strecke 'ohne-halt': " in text and "kein Haltepunkt" in text
    assert "Strecke 'doppelt': " in text and "Schrittname mehrfach vergeben: start" in text
    assert all(re.match(r"^.*catalog\.yaml:\d+: Dienst 'wohngeld' Feld 'services\.0\.checks\.journey", line)
               for line in lines if "catalog.yaml" in line)

    good = journey_yaml("wohngeld", journey_app.steps("gut"))
    write(tmp_path, app, good)
    missing.write_text(missing.read_text().replace("{env: EGOV_TEST_JOURNEY_PW}", "{file: fehlt/passwort.txt}"))
    proc = cli("validate", "--config", str(settings))
    assert proc.returncode == 1
    assert "Feld 'services.0.checks.journey.secrets.passwort.file'" in proc.stderr
    assert "Geheimnisdatei" in proc.stderr and "fehlt/passwort.txt" in proc.stderr and "nicht gefunden" in proc.stderr
    assert f"catalog.yaml:{line_of('secrets:')}:" in proc.stderr


def test_check_prints_each_step_in_german_and_saves_the_screenshot(tmp_path, app):
    steps = [dict(s, open="/v/umbenannt/") if s["name"] == "start" else s for s in journey_app.steps("gut")]
    settings = write(tmp_path, app, journey_yaml("wohngeld", steps))
    shots = tmp_path / "anhaenge"
    proc = cli("check", "--config", str(settings), "--kind", "journey", "--anhaenge", str(shots), "wohngeld",
               env={"EGOV_TEST_JOURNEY_PW": PASSWORD})
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr  # down
    assert "Strecke wohngeld (Wohngeld beantragen): gescheitert an Schritt weiter-adresse" in out
    assert re.search(r"✓ vorname\s+ausfüllen: „Vorname“ mit Testdatum vorname\s+\d+\.\d\d s", out), out
    assert "✗ weiter-adresse" in out and "Grund: Element nicht gefunden" in out
    assert "erwartet: klicken: „Weiter“" in out and "gefunden: Bedienelemente auf der Seite: „Fortfahren“" in out
    assert "– ende" in out and "nicht ausgeführt" in out
    assert FIRST_NAME not in out + proc.stderr
    saved = list(shots.glob("*.jpg"))
    assert [p.name for p in saved] == ["wohngeld-wohngeld-weiter-adresse.jpg"]
    assert saved[0].read_bytes()[:3] == b"\xff\xd8\xff"


def test_the_daemon_runs_a_logged_in_journey_and_no_secret_reaches_store_logs_or_metrics(tmp_path, app):
    steps = journey_app.steps("login")
    extra = textwrap.indent(textwrap.dedent("""\
        accessibility:
          interval: 1h
          timeout: 20s
          markers: []
          after_journey: wohngeld
        """), "      ")
    settings = write(tmp_path, app, journey_yaml("wohngeld", steps), extra_checks=extra, interval="3s")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace(f'urls: ["{app.url}/v/gut/"]', f'urls: ["{app.url}/v/login/konto"]'))
    import os

    os.environ["EGOV_TEST_JOURNEY_PW"] = PASSWORD
    try:
        with running(settings, log_level="DEBUG") as daemon:
            def scraped() -> str | None:
                text = daemon.get("/metrics")[1]
                runs = re.findall(r'^egov_journey_success\{.*journey="wohngeld".*\} 1\.0$', text, re.M)
                scanned = re.search(r'^egov_accessibility_pages_scanned\{.*\} 1\.0$', text, re.M)
                return text if runs and scanned else None

            metrics = daemon.wait_for(scraped, timeout=120, what="a passed journey and a logged-in scan")
            assert re.search(r'^egov_journey_step_duration_seconds\{[^}]*step="anmelden"[^}]*\} \d', metrics, re.M)
            assert re.search(r'^egov_journey_step_failed\{[^}]*step="anmelden"[^}]*\} 0\.0$', metrics, re.M)
            if shutil.which("promtool"):
                out = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
                assert out.returncode == 0, out.stdout + out.stderr
            code, results = daemon.get("/metrics")
        log = daemon.log()
    finally:
        del os.environ["EGOV_TEST_JOURNEY_PW"]
    proc = cli("results", "--config", str(settings), "--kind", "accessibility")
    assert "image-alt" in proc.stdout  # the page behind the login was scanned
    store = (tmp_path / "store.db").read_bytes()
    for secret in (PASSWORD, FIRST_NAME):
        assert secret.encode() not in store
        assert secret not in log and secret not in metrics and secret not in results
        assert secret not in proc.stdout + proc.stderr


def test_a_journey_and_a_login_travel_to_a_distributed_worker_without_their_values(tmp_path, app):
    import json

    from monitor.config import load_config
    from monitor.distributed import job_from_payload, job_payload

    extra = textwrap.indent("accessibility: {interval: 1h, markers: [], after_journey: wohngeld}\n", "      ")
    settings = write(tmp_path, app, journey_yaml("wohngeld", journey_app.steps("login")), extra_checks=extra)
    config = load_config(settings, KINDS)
    service = config.services["wohngeld"]
    for kind in ("journey", "accessibility"):
        url = service.checks[kind].keys(service.urls)[0] if kind == "journey" else service.urls[0]
        payload = job_payload(service, kind, url, "k", 0.0)
        text = json.dumps(payload)
        assert FIRST_NAME not in text and PASSWORD not in text  # names of values travel, never values
        back, back_kind, back_url = job_from_payload(KINDS, json.loads(text))
        assert back.checks[back_kind] == service.checks[kind] and back_url == url
    assert service.checks["accessibility"].login.journey.name == "wohngeld"
