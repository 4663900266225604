"""A check kind added through the documented steps (tests/toy/: its check, its presentation)
with one registry line is scheduled, stored, exported, shown by `check` and present in the
report, with no change to any other file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon import ROOT
from tests.servers import free_port
from tests.sites import Page, site

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# The real command line; the one registry line adds the toy kind to the built-in ones.
WITH_TOY = ("import sys; from monitor.cli import main; from monitor.kinds import Kinds, builtin; "
            "from tests.toy.presentation import KIND; "
            "sys.exit(main(sys.argv[1:], Kinds([*builtin(), KIND])))")
BODY = b"<!doctype html><html lang=de><title>Spiel</title><p>" + b"x" * 100 + b"</p></html>"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", WITH_TOY, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of one series in a /metrics text, None when it is absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


def write_settings(directory: Path, url: str, port: int) -> Path:
    (directory / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: spiel
            name: Spieldienst
            category: kommune
            operator: Gemeinde Test
            contact: betrieb@example.invalid
            urls: ["{url}"]
            checks:
              toy: {{interval: 1s, timeout: 2s, jitter: 0s, min_bytes: 10}}
        """))
    settings = directory / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nlisten: "127.0.0.1:{port}"\nheartbeat_interval: 1s\n'
                        f'store: {{url: "sqlite:///{directory / "store.db"}"}}\n')
    return settings


def test_a_toy_kind_is_scheduled_stored_exported_shown_and_reported(tmp_path):
    port = free_port()
    with site({"/": Page(body=BODY)}) as site_port:
        url = f"http://127.0.0.1:{site_port}/"
        settings = write_settings(tmp_path, url, port)

        assert cli("validate", "--config", str(settings)).returncode == 0
        # Without the registration the catalog is refused with the known kinds named.
        plain = subprocess.run([sys.executable, "-m", "monitor.cli", "validate", "--config", str(settings)],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert plain.returncode == 1 and "toy" in plain.stderr and "availability" in plain.stderr

        shown = cli("check", "--config", str(settings))
        assert shown.returncode == 0, shown.stderr
        assert "Spielzeug spiel: 163 Bytes gezählt" in shown.stdout
        assert "toy" in shown.stdout.split("Spielzeug spiel")[0]  # the common table has the kind's row
        as_json = json.loads(cli("check", "--json", "--config", str(settings)).stdout)
        assert [(r["kind"], r["state"], r["measurements"]["bytes"]) for r in as_json] == [("toy", "up", 163.0)]

        env = dict(os.environ, PYTHONPATH=str(ROOT), SE_OFFLINE="true")
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen([sys.executable, "-c", WITH_TOY, "run", "--config", str(settings)], cwd=ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            text, deadline = "", time.monotonic() + 60
            while time.monotonic() < deadline:  # scheduled and run at least twice, exported from the store
                try:
                    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                except OSError:
                    text = ""
                if (sample(text, "egov_check_runs_total", {"kind": "toy", "state": "up"}) or 0) >= 2:
                    break
                time.sleep(0.2)
            target = {"service": "spiel", "category": "kommune", "url": url}
            assert sample(text, "egov_toy_bytes", target) == 163, (tmp_path / "daemon.log").read_text()[-2000:]
            assert sample(text, "egov_check_state", {**target, "kind": "toy", "state": "up"}) == 1
            assert sample(text, "egov_scheduled_targets", {"kind": "toy"}) == 1
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
            log.close()

    stored = cli("results", "--json", "--config", str(settings))
    assert stored.returncode == 0 and json.loads(stored.stdout)[0]["kind"] == "toy"
    out = tmp_path / "bericht"
    year = datetime.now(UTC).year
    report = cli("report", "--quiet", "--no-pdf", "--year", str(year), "--out", str(out), "--config", str(settings))
    assert report.returncode == 0, report.stderr
    html_text = (out / f"qualitaetsbericht-{year}.html").read_text()
    assert '<h2 id="h-spielzeug">' in html_text and "Spieldienst: 163 Bytes" in html_text
    assert '<a href="#spielzeug">Spielzeugprüfung</a>' in html_text
    assert "Spielzeug: grün ab der Mindestgröße." in html_text  # its traffic-light rule in the method section
    annex = json.loads((out / f"qualitaetsbericht-{year}.json").read_text())
    figures = {(f["section"], f["figure"]): f["value"] for f in annex["figures"] if f["service_id"] == "spiel"}
    assert figures[("spielzeug", "bytes")] == 163
    assert figures[("zusammenfassung", "ampel_toy")] == "green"
    assert figures[("datenqualitaet", "pruefungen_gelaufen")] >= 2


def test_nothing_outside_the_toy_kind_and_its_test_names_it():
    """Adding the kind touched its two folders and one registry line (in this test): no code,
    template, configuration or deployment file of the product names it (docs/architecture.md
    walks through it as the worked example)."""
    found = []
    for top in ("checks", "monitor", "config", "deploy", "scripts", "bench"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".j2", ".yaml", ".yml", ".css", ".toml", ".sh"):
                text = path.read_text(encoding="utf-8", errors="replace")
                if re.search(r"\btoy\b|tests\.toy|Spielzeug", text):
                    found.append(str(path.relative_to(ROOT)))
    for name in ("pyproject.toml", "Makefile"):
        if re.search(r"\btoy\b|tests\.toy|Spielzeug", (ROOT / name).read_text(encoding="utf-8")):
            found.append(name)
    assert found == []
