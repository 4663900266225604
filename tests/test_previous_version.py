"""Behaviour kept: this tree against PREVIOUS, the last commit whose behaviour is the reference
(first the commit before the kinds redesign, 290851c; since the statement audit changed the
accessibility evidence on purpose, 33747ef; since the DSGVO marker no_ai_api, a78c31c; since German detail texts and readable evidence, 9e5ce1a;
since issues 34-36 and 42 changed verdicts on purpose (statement markers fail without a statement, links in a
consent banner no longer count, security.txt Canonical and language tags, TLS 1.3 suites, the AI-Act detection),
6e3f81a).

The previous version's code (checks/, monitor/ and config/ of PREVIOUS, as `git archive`
wrote them to tests/fixtures/previous-6e3f81a.tar.gz, so no git history is needed) is
unpacked and run in its own process beside this tree's, on one local estate (HTTPS with a test certificate, a down route, an
accessibility violation, a cookie set before consent). Compared:

- the stored JSON of every check kind (timings and times masked, everything else equal);
- a store written by the previous version, read by this tree: `/metrics` line for line,
  `results` as operators read it, and the report's JSON annex, all identical to what the
  previous version produces from the same store.

`PREVIOUS` (and its archive) move forward only when a later change means to change behaviour:
`git archive --format=tar COMMIT checks monitor config | gzip -9n > tests/fixtures/previous-COMMIT.tar.gz`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.a11y_site import html
from tests.daemon import ROOT
from tests.gdpr_site import LEGAL_FOOTER
from tests.sites import Page, site

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PREVIOUS = "6e3f81a746f01bb7bc5634fed738f02bffc2cd6b"  # the verdicts of issues 34-36 and 42 (see ARCHIVE)

PAGE = html(f"""<main><h1>Serviceportal</h1><p>Anträge online stellen.</p>
<img src="/logo.png"><form action="/suche" method="post"><label>Suche <input name="q"></label>
<button>Suchen</button></form></main>{LEGAL_FOOTER}""")

# Either version's API: this tree builds its registry and passes it; PREVIOUS had one global registry.
COMPAT = """
try:
    from monitor.kinds import builtin as _builtin
    _K = (_builtin(),)
except ImportError:
    _K = ()
from monitor.config import load_config as _load_config
from monitor.store import Store as _Store
def load_config(path):
    return _load_config(path, *_K)
def open_store(url, **kw):
    return _Store.open(url, *_K, **kw)
"""

# Prints the /metrics text of a store under the given settings, with whichever code is on sys.path.
METRICS = COMPAT + """
import sys
from prometheus_client import CollectorRegistry, generate_latest
from monitor.metrics import ResultCollector
config = load_config(sys.argv[1])
registry = CollectorRegistry()
registry.register(ResultCollector(open_store(config.store_url), lambda: config))
sys.stdout.write(generate_latest(registry).decode())
"""

# Writes the report (no PDF) of a store as of a fixed time, with whichever code is on sys.path.
REPORT = COMPAT + """
import sys
from datetime import UTC, datetime
from pathlib import Path
from monitor import report
config = load_config(sys.argv[1])
now = datetime.fromisoformat(sys.argv[3])
report.build(open_store(config.store_url, tz=config.settings.tz), config, now.year, Path(sys.argv[2]), pdf=False, now=now)
"""

# Keys whose values are times or durations of one run: they differ between any two runs.
VOLATILE = re.compile(r"(seconds|_ms|duration|started_at|timestamp|expires|expiry|elapsed|_at$|^at$|date$|age_days)")


ARCHIVE = Path(__file__).parent / "fixtures" / "previous-6e3f81a.tar.gz"  # git archive PREVIOUS checks monitor config


# The version before migration 0004 (9e5ce1a, whose newest migration is 0002): the upgrade path
# of a store it wrote is tested against it (test_a_store_of_the_previous_version_loses_nothing_...).
ARCHIVE_0002 = Path(__file__).parent / "fixtures" / "previous-9e5ce1a.tar.gz"


@pytest.fixture(scope="module")
def before_0004(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory, ARCHIVE_0002)


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> Path:
    return _unpacked(tmp_path_factory, ARCHIVE)


def _unpacked(tmp_path_factory, path: Path) -> Path:
    where = tmp_path_factory.mktemp("previous")
    with tarfile.open(path) as archive:
        archive.extractall(where, filter="data")
    # The previous side must run its own code, not this tree's (an editable install must not win).
    out = run(where, "-c", "import checks, monitor.metrics; print(checks.__file__); print(monitor.metrics.__file__)")
    assert out.returncode == 0 and all(line.startswith(str(where)) for line in out.stdout.split()), out
    return where


def run(tree: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(tree), COLUMNS="200", TZ="Europe/Berlin")
    return subprocess.run([sys.executable, *args], cwd=cwd or tree, env=env, capture_output=True, text=True,
                          timeout=300)


def write_settings(directory: Path, port: int, ca_file: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    base = f"https://127.0.0.1:{port}"
    (directory / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: portal
            name: Serviceportal Saarland
            category: basisdienst
            operator: Land Saarland
            contact: betrieb@example.invalid
            urls: ["{base}/", "{base}/antrag"]
            checks:
              availability: {{timeout: 5s, retries: 0, ca_file: "{ca_file}"}}
              security: {{timeout: 10s, ca_file: "{ca_file}"}}
              accessibility: {{timeout: 30s, sitemap: {{enabled: false}}}}
              gdpr: {{timeout: 30s}}
          - id: kaputt
            name: Kaputter Dienst
            category: efa
            operator: Land Berlin
            contact: betrieb@example.invalid
            urls: ["{base}/fehler"]
            checks:
              availability: {{timeout: 5s, retries: 0, ca_file: "{ca_file}"}}
        """))
    settings = directory / "settings.yaml"
    settings.write_text(f'catalog: [catalog.yaml]\nstore: {{url: "sqlite:///{directory / "store.db"}"}}\n'
                        "browser: {accept_insecure_certs: true}\npools: {browser: 2}\n")
    return settings


def mask(value, key: str = ""):
    """The JSON of a result with run-dependent values replaced by their type."""
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if VOLATILE.search(key) and not isinstance(value, bool):
        return f"<{type(value).__name__}>"
    return value


@pytest.fixture(scope="module")
def estate(ca, tmp_path_factory, previous):
    pair = ca.issue("previous", ["127.0.0.1"])
    routes = {"/": Page(body=PAGE, headers=[("Set-Cookie", "werbung=1; Max-Age=86400; Path=/")]),
              "/antrag": Page(body=html("<main><h1>Antrag</h1></main>")),
              "/fehler": Page(status=500, body=b"kaputt"),
              "/impressum": Page(body=html("<main><h1>Impressum</h1><p>Angaben gemäß § 5 DDG</p></main>")),
              "/datenschutz": Page(body=html("<main><h1>Datenschutzerklärung</h1></main>"))}
    root = tmp_path_factory.mktemp("estate")
    with site(routes, tls=(pair.cert, pair.key), plain=False) as port:
        sides = {}
        for name, tree in (("previous", previous), ("current", ROOT)):
            settings = write_settings(root / name, port, ca.ca_file)
            out = run(tree, "-m", "monitor.cli", "check", "--store", "--json", "--config", str(settings))
            assert out.returncode == 1, out.stderr  # /fehler is down
            sides[name] = (settings, json.loads(out.stdout))
        yield sides


def test_each_kind_stores_the_same_json(estate):
    previous, current = estate["previous"][1], estate["current"][1]
    assert {(r["service_id"], r["kind"], r["url"]) for r in current} == \
        {(r["service_id"], r["kind"], r["url"]) for r in previous}
    assert {r["kind"] for r in current} == {"availability", "security", "accessibility", "gdpr"}
    by_key = {(r["service_id"], r["kind"], r["url"]): r for r in previous}
    for result in current:
        before = by_key[(result["service_id"], result["kind"], result["url"])]
        assert mask(result) == mask(before), result["kind"]


def test_a_store_of_the_previous_version_exports_the_same(estate, previous):
    settings = estate["previous"][0]
    now = datetime.now(UTC).isoformat()
    outputs = {}
    for name, tree in (("previous", previous), ("current", ROOT)):
        metrics = run(tree, "-c", METRICS, str(settings))
        assert metrics.returncode == 0, metrics.stderr
        shown = run(tree, "-m", "monitor.cli", "results", "--config", str(settings), cwd=settings.parent)
        assert shown.returncode == 1, shown.stderr
        out_dir = settings.parent / f"report-{name}"
        report = run(tree, "-c", REPORT, str(settings), str(out_dir), now)
        assert report.returncode == 0, report.stderr
        annex = json.loads(next(out_dir.glob("*.json")).read_text())
        html_text = next(out_dir.glob("*.html")).read_text()
        outputs[name] = (metrics.stdout, shown.stdout, annex, html_text)
    (m_prev, shown_prev, annex_prev, html_prev), (m_cur, shown_cur, annex_cur, html_cur) = \
        outputs["previous"], outputs["current"]
    assert "egov_security_score{" in m_prev and "egov_gdpr_marker_passed{" in m_prev
    assert "egov_accessibility_violations{" in m_prev and "probe_success{" in m_prev
    assert m_cur.splitlines() == m_prev.splitlines()
    assert shown_cur.splitlines() == shown_prev.splitlines()
    for annex in (annex_cur, annex_prev):  # both versions have these since 6e3f81a; compared as they stand
        assert annex.pop("vorfaelle", []) == []  # incident records: none in that store
        assert {k: annex["period"].pop(k) for k in ("first_day", "last_day", "label") if k in annex["period"]} in (
            {}, {"first_day": "2026-01-01", "last_day": "2026-12-31", "label": "2026"})
    # the data-quality counts changed on purpose (issue 21): the period only, planned runs
    # counted from the first result; everything else is the same
    quality_cur = [f for f in annex_cur["figures"] if f["section"] == "datenqualitaet"]
    for fig in quality_cur:
        if fig["figure"] == "abdeckung_prozent" and fig["value"] is not None:
            assert 0 < fig["value"] <= 100.0, fig
    for annex in (annex_cur, annex_prev):
        annex["figures"] = [f for f in annex["figures"] if f["section"] != "datenqualitaet"]
    _central_periods(annex_prev)
    assert annex_cur == annex_prev
    assert "Serviceportal Saarland" in html_prev and "Datenschutz" in html_prev
    assert (_comparable(_without_incident_columns(html_cur)).splitlines()
            == _comparable(_without_incident_columns(html_prev)).splitlines())


def _without_incident_columns(html: str) -> str:
    """The report as the previous version wrote it: without the outage table's cause columns
    and the table of downtime by cause, which came with incident records."""
    html = html.replace('<th scope="col">Grund (Prüfung)</th><th scope="col">Ursache (Betrieb)</th>'
                        '<th scope="col">Beschreibung</th>', '<th scope="col">Grund</th>')
    html = html.replace("<td>nicht erfasst</td><td></td></tr>", "</tr>")
    return re.sub(r'<table class="zahlen klein">\n<caption>Ausfallzeit und MTTR nach Ursache.*?</table>\n', "", html,
                  flags=re.DOTALL)


def _comparable(html: str) -> str:
    """The report without what changed on purpose (issue 21): the data-quality table's counts,
    the monthly availability chart's drawing (its axis now in German numbers; the table of its
    numbers below it is still compared), the charts' titles and one CSS rule for the PDF."""
    html = re.sub(r"<caption>Durchgeführte gegenüber geplanten Prüfungen je Dienst</caption>.*?</table>", "", html,
                  flags=re.DOTALL)
    # and for PDF/UA: each chart's caption as its SVG <title>, no caption alone at a page foot
    html = re.sub(r"<title>[^<]*\(Zahlen in der Tabelle darunter\)</title>", "", html)
    html = html.replace(" break-after: avoid; }", " }")
    return re.sub(r'<svg role="img" aria-labelledby="chart-monate-caption".*?</svg>', "", html, flags=re.DOTALL)


# Prints every stored result (its full JSON) and every day rollup of a store, with whichever code is on sys.path.
DUMP = COMPAT + """
import json, sys
config = load_config(sys.argv[1])
store = open_store(config.store_url, tz=config.settings.tz, migrate=sys.argv[2] == "migrate")
for _id, r in store.results():
    print(json.dumps(r.to_dict()))
for d in store.day_rollups(0, 99999999):
    b = d.bucket
    print(json.dumps([d.service_id, d.kind, d.url, d.day, b.counts, b.maintenance, b.latency_n, b.latency_sum,
                      sorted(b.hist.items()), b.hours, b.last_at, b.last_state, b.last_measurements, b.last_digest,
                      b.tally]))
"""


def test_a_store_of_the_previous_version_loses_nothing_when_compacted(estate, before_0004, tmp_path):
    """Migration 0004 (issue 21) rewrites the raw rows and rollups of a store the previous
    version wrote, with repeated `up` results: every result reads back as the previous version
    read it, key for key and in order, and so does every day rollup."""
    import sqlite3

    settings = estate["previous"][0]
    own = tmp_path / "settings.yaml"
    own.write_text(settings.read_text().replace(str(settings.parent / "store.db"), str(tmp_path / "store.db")))
    (tmp_path / "catalog.yaml").write_text((settings.parent / "catalog.yaml").read_text())
    previous = before_0004
    for _ in range(2):  # twice: the second run's results repeat the first's states
        out = run(previous, "-m", "monitor.cli", "check", "--store", "--config", str(own))
        assert out.returncode == 1, out.stderr
    before = run(previous, "-c", DUMP, str(own), "as-is")
    assert before.returncode == 0, before.stderr
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("select version_num from alembic_version").fetchone() == ("0002",)  # PREVIOUS's newest
        long_form = db.execute("select sum(length(evidence)) from results").fetchone()[0]
    after = run(ROOT, "-c", DUMP, str(own), "migrate")
    assert after.returncode == 0, after.stderr
    assert after.stdout.splitlines() == before.stdout.splitlines()
    lines = before.stdout.splitlines()
    assert sum('"kind": "availability"' in line for line in lines) >= 6 and any('"attempts"' in line for line in lines)
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("select version_num from alembic_version").fetchone() == ("0004",)
        assert db.execute("select sum(length(evidence)) from results").fetchone()[0] < long_form
        ups = db.execute("select evidence from results where kind='availability' and state='up'").fetchall()
    assert ups and all('"attempts":{' in e for (e,) in ups)  # the compact form, not a list


# Writes a synthetic year (bench/synthetic_year.py of this tree) with whichever monitor code is on sys.path.
GENERATE = COMPAT + """
import sys
sys.path.append(sys.argv[3])  # bench/ of this tree: the archive of PREVIOUS holds checks, monitor and config only
from datetime import datetime, timedelta
from pathlib import Path
from bench.synthetic_year import TZ, generate, write_config
settings = write_config(Path(sys.argv[1]), int(sys.argv[2]))
config = load_config(settings)
store = open_store(config.store_url, tz=TZ)
generate(store, config, 2026, datetime(2027, 1, 1, tzinfo=TZ) - timedelta(seconds=1))
print(settings)
"""


MONTHS = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")


def _central_periods(annex: dict) -> None:
    """The previous version's journey rows as the period is written centrally since issue 37:
    its own "jahr" is the report's "Jahr", its month names the months' numbers like every other
    kind's (a deliberate change; nothing else in the rows differs)."""
    for f in annex["figures"]:
        if f["section"].startswith("antragsstrecke_"):
            if f["period"] == "jahr":
                f["period"] = "Jahr"
            elif f["period"] in MONTHS:
                f["period"] = f"{MONTHS.index(f['period']) + 1:02d}"


def _same_figures(current: dict, previous: dict) -> None:
    """The annexes agree but for what changed on purpose: incident records and the period's
    days and label are new; the data-quality counts count the period only (issue 21)."""
    current, previous = json.loads(json.dumps(current)), json.loads(json.dumps(previous))
    for annex in (current, previous):  # both versions have these since 6e3f81a
        assert annex.pop("vorfaelle", []) == []
        for key in ("first_day", "last_day", "label"):
            annex["period"].pop(key, None)
    for annex in (current, previous):
        annex.pop("generated_at")
        annex["figures"] = [f for f in annex["figures"] if f["section"] != "datenqualitaet"]
    _central_periods(previous)
    assert current == previous


def test_a_synthetic_year_of_20_services_gives_the_same_annual_figures_in_both_versions(previous, tmp_path):
    """Issue 21's acceptance: the JSON annex of a 20-service synthetic year, written and
    reported by the previous version and by this one, holds the same figures; and this
    version reading (and compacting) the previous version's store reports them too."""
    now = "2027-01-10T00:00:00+00:00"
    annexes, settings = {}, {}
    for name, tree in (("previous", previous), ("current", ROOT)):
        out = run(tree, "-c", GENERATE, str(tmp_path / name), "20", str(ROOT))
        assert out.returncode == 0, out.stderr[-3000:]
        settings[name] = Path(out.stdout.strip().splitlines()[-1])
        report = run(tree, "-c", REPORT, str(settings[name]), str(tmp_path / name / "bericht"), now)
        assert report.returncode == 0, report.stderr[-3000:]
        annexes[name] = json.loads(next((tmp_path / name / "bericht").glob("*.json")).read_text())
    figures = [f for f in annexes["previous"]["figures"] if f["section"] != "datenqualitaet"]
    assert len(figures) > 1000 and len(annexes["previous"]["services"]) == 20
    _same_figures(annexes["current"], annexes["previous"])
    migrated = run(ROOT, "-c", REPORT, str(settings["previous"]), str(tmp_path / "migrated"), now)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    _same_figures(json.loads(next((tmp_path / "migrated").glob("*.json")).read_text()), annexes["previous"])
