"""Outage records and announced maintenance: CLI, YAML files, the store, the report's causes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.synthetic_year import TZ, generate, write_config
from monitor import report
from monitor.config import ConfigError, load_config
from monitor.incidents import Incident, IncidentBook, Update, cause_of
from monitor.store import Store
from tests.helpers import KINDS

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<script>alert("x")</script> & <b>fett</b>'


def cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args, "--config", str(settings)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def incident_cli(settings: Path, sub: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", "incident", sub, "--config", str(settings), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def small(tmp_path):
    settings = write_config(tmp_path, 3)
    return settings, load_config(settings, KINDS)


def test_cli_records_an_incident_with_updates_and_closes_it(small):
    settings, config = small
    ids = list(config.services)
    made = incident_cli(settings, "open", "-s", ids[0], "-s", ids[1], "--title", "Servicekonto gestört",
                        "--text", "Anmeldung schlägt fehl.", "--cause", "base_service", "--ticket", "INC-4711",
                        "--start", "2026-03-04T09:12")
    assert made.returncode == 0, made.stderr
    key = "2026-03-04-1"
    assert key in made.stdout
    upd = incident_cli(settings, "update", key, "--text", "Zertifikat erneuert.", "--status", "monitoring",
                       "--at", "2026-03-04T10:00")
    assert upd.returncode == 0, upd.stderr
    closed = incident_cli(settings, "close", key, "--at", "2026-03-04T10:40")
    assert closed.returncode == 0, closed.stderr
    again = incident_cli(settings, "close", key)
    assert again.returncode == 2 and "schon behoben" in again.stderr
    shown = json.loads(incident_cli(settings, "show", key, "--json").stdout)
    assert shown["services"] == ids[:2] and shown["cause"] == "base_service" and shown["ticket"] == "INC-4711"
    assert shown["start"] == "2026-03-04T09:12:00+01:00" and shown["end"] == "2026-03-04T10:40:00+01:00"
    assert [(u["status"], u["text"]) for u in shown["updates"]] == [
        ("investigating", "Anmeldung schlägt fehl."), ("monitoring", "Zertifikat erneuert."),
        ("resolved", "Die Störung ist behoben.")]
    listed = incident_cli(settings, "list", "--alle")
    assert "Servicekonto gestört" in listed.stdout and "gemeinsamer Basisdienst" in listed.stdout
    # a second incident the same day gets the next number; a maintenance is announced with its end
    assert "2026-03-04-2" in incident_cli(settings, "open", "-s", ids[2], "--title", "x", "--text", "y", "--cause",
                                          "external", "--start", "2026-03-04T12:00").stdout
    maint = incident_cli(settings, "maintenance", "-s", ids[0], "--title", "Umzug", "--text", "Neue Server.",
                         "--from", "2026-12-05T22:00", "--to", "2026-12-06T02:00")
    assert maint.returncode == 0, maint.stderr
    records = IncidentBook(Store.open(config.store_url, config.kinds)).all()
    assert [(r.key, r.record_type, r.is_open(datetime(2026, 12, 1, tzinfo=TZ).timestamp())) for r in records] == [
        ("2026-03-04-1", "incident", False), ("2026-03-04-2", "incident", True), ("2026-12-05-1", "maintenance", True)]


@pytest.mark.parametrize(("args", "message"), [
    (["-s", "gibt-es-nicht", "--title", "t", "--text", "x", "--cause", "external"], "unbekannte Dienst-ID gibt-es-nicht"),
    (["-s", "{sid}", "--title", "t", "--text", "x", "--cause", "external", "--start", "4.3.2026"], "nicht lesbar"),
])
def test_cli_refuses_bad_input_and_stores_nothing(small, args, message):
    settings, config = small
    args = [a.replace("{sid}", next(iter(config.services))) for a in args]
    done = incident_cli(settings, "open", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert IncidentBook(Store.open(config.store_url, config.kinds)).all() == []


def test_unknown_cause_is_refused_by_the_command_line(small):
    settings, config = small
    done = incident_cli(settings, "open", "-s", next(iter(config.services)), "--title", "t", "--text", "x",
                        "--cause", "pech")
    assert done.returncode == 2 and "base_service" in done.stderr


def _records_file(directory: Path, body: str) -> Path:
    (directory / "incidents").mkdir(exist_ok=True)
    path = directory / "incidents" / "2026.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_records_from_yaml_files_are_loaded_and_replace_earlier_file_records(small):
    settings, config = small
    sid = next(iter(config.services))
    _records_file(settings.parent, f"""\
        incidents:
          - id: 2026-03-servicekonto
            title: Servicekonto nicht erreichbar
            services: [{sid}]
            cause: service_operator
            start: 2026-03-04T09:12:00+01:00
            end: 2026-03-04T10:40:00+01:00
            updates:
              - {{at: 2026-03-04T09:20:00+01:00, status: investigating, text: Wir prüfen.}}
              - {{at: 2026-03-04T10:40:00+01:00, status: resolved, text: Behoben.}}
        """)
    loaded = load_config(settings, KINDS)
    assert [r.key for r in loaded.incidents] == ["2026-03-servicekonto"]
    store = Store.open(loaded.store_url, loaded.kinds)
    book = IncidentBook(store)
    book.add(Incident("cli-1", "incident", "per CLI", "external", None, (sid,), 1.0e9, None))
    assert book.sync_files(loaded.incidents) == 1
    assert book.sync_files([]) == 0  # the file was emptied: its records go, the CLI's stays
    assert [r.key for r in book.all()] == ["cli-1"]
    with pytest.raises(Exception, match="schon per CLI vergeben"):
        book.sync_files([Incident("cli-1", "incident", "x", "external", None, (sid,), 1.0e9, None, "file:a.yaml")])
    refused = incident_cli(settings, "update", "2026-03-servicekonto", "--text", "x")
    assert refused.returncode == 2  # not in the store now; and file records are changed in their file


@pytest.mark.parametrize(("entry", "field", "fix"), [
    ("services: [gibt-es-nicht]\n    cause: external", "incidents.0.services", "IDs aus dem Katalog"),
    ("services: [{sid}]", "incidents.0", "cause fehlt"),
    ("services: [{sid}]\n    cause: pech", "incidents.0.cause", "service_operator"),
    ("services: [{sid}]\n    cause: external\n    end: 2026-03-01T00:00:00+01:00", "incidents.0", "end liegt vor start"),
])
def test_an_invalid_records_file_names_file_line_field_and_fix(small, entry, field, fix):
    settings, config = small
    sid = next(iter(config.services))
    path = _records_file(settings.parent, "incidents:\n  - id: a\n    title: T\n    start: 2026-03-04T09:00:00+01:00\n"
                         f"    {entry.format(sid=sid)}\n")
    with pytest.raises(ConfigError) as err:
        load_config(settings, KINDS)
    issue = err.value.issues[0]
    assert issue.file == str(path) and issue.line is not None and issue.field == field and fix in issue.message
    validated = cli(settings, "validate")
    assert validated.returncode == 1 and f"{path}:" in validated.stderr


def test_cause_of_an_outage_is_the_record_overlapping_it_most():
    a = Incident("a", "incident", "A", "external", None, ("s",), 100.0, 200.0)
    b = Incident("b", "incident", "B", "own_operation", None, ("s",), 150.0, None)  # still open
    m = Incident("m", "maintenance", "M", None, None, ("s",), 0.0, 1000.0)
    other = Incident("o", "incident", "O", "external", None, ("t",), 0.0, 1000.0)
    records = [a, b, m, other]
    assert cause_of(records, "s", 90.0, 160.0) is a  # 60 s with a, 10 s with b
    assert cause_of(records, "s", 190.0, 400.0) is b  # b runs on while open
    assert cause_of(records, "s", 10.0, 50.0) is None  # a maintenance record is no cause
    assert cause_of(records, "t", 10.0, 50.0) is other


def test_the_report_shows_cause_and_text_and_breaks_downtime_down_by_cause(tmp_path):
    settings = write_config(tmp_path, 4)
    config = load_config(settings, KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    generate(store, config, 2026, datetime(2027, 1, 1, tzinfo=TZ) - timedelta(seconds=1))
    now = datetime(2027, 1, 5, tzinfo=TZ)
    before = report.build(store, config, 2026, tmp_path / "vorher", pdf=False, now=now)
    outages = [json.loads(before.json.read_text())["figures"]]
    spans = sorted({(f["service_id"], f["period"]) for f in outages[0]
                    if f["section"] == "ausfall" and f["figure"] == "ausfall_sekunden"})
    assert len(spans) >= 3, "the synthetic year has outages"
    (sid, period), (sid2, period2) = spans[0], spans[1]
    start, end = (float(x) for x in period.split("/"))
    start2, end2 = (float(x) for x in period2.split("/"))
    book = IncidentBook(store)
    book.add(Incident("r1", "incident", "Rechenzentrum: Stromausfall", "base_service", "INC-1", (sid,),
                      start - 60, end + 60, "cli", (Update(start, "investigating", HOSTILE),)))
    book.add(Incident("r2", "incident", "Netz des Monitors", "monitor_network", None, (sid2,), start2, end2, "cli",
                      (Update(start2, "identified", "Leitung gestört."),)))
    after = report.build(store, config, 2026, tmp_path / "nachher", pdf=False, now=now)
    html = after.html.read_text()
    assert "Rechenzentrum: Stromausfall: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;fett&lt;/b&gt;" in html
    assert HOSTILE not in html
    assert "<td>gemeinsamer Basisdienst (INC-1)</td>" in html and "<td>Netz der Überwachung</td>" in html
    table = html.split("Ausfallzeit und MTTR nach Ursache")[1].split("</table>")[0]
    rows = [r for r in table.split("<tr>") if "scope=\"row\"" in r]
    assert [r.split("</th>")[0].split(">")[-1] for r in rows] == ["gemeinsamer Basisdienst", "Netz der Überwachung",
                                                                  "ohne Angabe"]
    assert rows[0].split("<td>")[1].startswith("1<") and rows[2].split("<td>")[1].startswith(f"{len(spans) - 2}<")
    annex = json.loads(after.json.read_text())
    causes = {(f["service_id"], f["period"]): f["value"] for f in annex["figures"] if f["figure"] == "ursache"}
    assert causes == {(sid, period): "base_service", (sid2, period2): "monitor_network"}
    assert [r["key"] for r in annex["vorfaelle"]] == ["r1", "r2"]
    # everything else in the annex is unchanged by the records
    keep = [f for f in annex["figures"] if f["figure"] not in ("ursache", "vorfall")]
    assert keep == outages[0]
