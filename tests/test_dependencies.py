"""Base services (Anlage 2): the catalog's dependencies, validated with file and line, and the
rules that attribute a dependent's failure to the base service that caused it."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.kind import Implicated
from checks.result import CheckResult, Reason, State
from monitor.config import ConfigError, load_config
from monitor.dependencies import Dependencies, Impairment, attribute, find_cycle, live_impairments
from monitor.report.timeline import BaseSpan, attribute_outage
from tests.helpers import KINDS


def service(sid: str, url: str, extra: str = "", category: str = "efa") -> str:
    return textwrap.indent(textwrap.dedent(f"""\
        - id: {sid}
          name: Dienst {sid}
          category: {category}
          operator: Land Saarland
          contact: ops@example.invalid
          urls: ["{url}"]
          checks:
            availability: {{interval: 60s}}
        """) + textwrap.indent(textwrap.dedent(extra), "  "), "  ")


def write(tmp_path: Path, services: list[str], settings: str = "") -> Path:
    (tmp_path / "catalog.yaml").write_text("services:\n" + "".join(services), encoding="utf-8")
    path = tmp_path / "settings.yaml"
    path.write_text("catalog: [catalog.yaml]\n" + textwrap.dedent(settings), encoding="utf-8")
    return path


def issues(path: Path) -> list:
    with pytest.raises(ConfigError) as err:
        load_config(path, KINDS)
    return err.value.issues


ESTATE = [
    service("konto", "https://id.konto.example/", category="basisdienst"),
    service("zahlung", "https://pay.example/start", category="basisdienst"),
    service("wohngeld", "https://wohngeld.example/", "depends_on: [konto, zahlung]\n"),
    service("hund", "https://hund.example/", "depends_on: [konto]\n"),
]


def test_a_valid_estate_loads_and_knows_its_base_services_hosts(tmp_path):
    config = load_config(write(tmp_path, ESTATE, "base_services: {konto: [login.konto.example, '*.sso.example', "
                                                 "'127.0.0.1:8443']}\n"), KINDS)
    deps = Dependencies.of(config)
    assert deps.bases == {"wohngeld": ("konto", "zahlung"), "hund": ("konto",)}
    assert deps.base_of_url("https://login.konto.example/auth?x=1") == "konto"
    assert deps.base_of_url("https://a.sso.example/") == "konto"
    assert deps.base_of_url("https://id.konto.example/x") == "konto"  # the base service's own URL
    assert deps.base_of_url("https://pay.example:443/zahlen") == "zahlung"
    assert deps.base_of_url("https://pay.example:8443/zahlen") is None  # another port, another service
    assert deps.base_of_url("https://127.0.0.1:8443/") == "konto" and deps.base_of_url("https://127.0.0.1:9/") is None
    assert deps.base_of_url("https://wohngeld.example/") is None


def test_unknown_base_service_is_refused_with_file_line_and_the_known_ids(tmp_path):
    path = write(tmp_path, [*ESTATE[:2], service("hund", "https://hund.example/", "depends_on: [konto, kontoo]\n")])
    (issue,) = issues(path)
    assert issue.file.endswith("catalog.yaml") and issue.field == "services.2.depends_on.1" and issue.service == "hund"
    lines = (tmp_path / "catalog.yaml").read_text().splitlines()
    assert "depends_on" in lines[issue.line - 1]
    assert "unbekannter Basisdienst 'kontoo'" in issue.message and "konto" in issue.message


def test_a_service_cannot_depend_on_itself_nor_in_a_circle(tmp_path):
    path = write(tmp_path, [service("a", "https://a.example/", "depends_on: [a]\n")])
    (issue,) = issues(path)
    assert "nicht von sich selbst" in issue.message and issue.field == "services.0.depends_on.0"
    path = write(tmp_path, [service("a", "https://a.example/", "depends_on: [b]\n"),
                            service("b", "https://b.example/", "depends_on: [c]\n"),
                            service("c", "https://c.example/", "depends_on: [a]\n")])
    (issue,) = issues(path)
    assert "Abhängigkeiten im Kreis: a -> b -> c -> a" in issue.message
    assert issue.line is not None and issue.field == "services.0.depends_on.0"
    assert find_cycle({"x": ["y"], "y": []}) is None


def test_base_services_of_settings_and_journey_steps_must_name_catalog_services(tmp_path):
    journey = """\
    depends_on: [konto]
    """
    steps = service("antrag", "https://antrag.example/", journey).replace(
        "      availability: {interval: 60s}\n",
        "      availability: {interval: 60s}\n"
        "      journey:\n"
        "        journeys:\n"
        "          - name: anmelden\n"
        "            steps:\n"
        "              - {name: start, open: /}\n"
        "              - {name: login, click: Anmelden, base_service: kontto}\n"
        "              - {name: ende, stop: true}\n")
    path = write(tmp_path, [ESTATE[0], steps], "base_services: {bundid: [id.bund.example]}\n")
    found = {i.field: i for i in issues(path)}
    step = found["services.1.checks.journey.journeys.0.steps.1.base_service"]
    assert "unbekannter Basisdienst 'kontto'" in step.message and step.line is not None
    assert "base_service" in (tmp_path / "catalog.yaml").read_text().splitlines()[step.line - 1]
    setting = found["base_services.bundid"]
    assert setting.file.endswith("settings.yaml") and setting.line == 2


# --------------------------------------------------------------------------- the attribution rules

DEPS = Dependencies({"wohngeld": ("konto", "zahlung"), "hund": ("konto",)},
                    (("id.konto.example", 443, "konto"), ("pay.example", 443, "zahlung")), 120.0,
                    {"konto": "Servicekonto", "zahlung": "ePayBL"})
T0 = 1_780_000_000.0


def failed(service_id: str = "wohngeld", kind: str = "availability", state: State = State.DOWN,
           reason: Reason = Reason.HTTP_STATUS) -> CheckResult:
    return CheckResult(service_id, f"https://{service_id}.example/", kind, state, reason,
                       datetime.fromtimestamp(T0, UTC), 1.0)


def test_a_failed_request_to_a_base_host_or_a_step_naming_it_is_that_base_services_whenever_it_happens():
    nothing_impaired: dict[str, Impairment] = {}
    via = Implicated(urls=("https://pay.example/zahlen", "https://wohngeld.example/antrag"), complete=True)
    assert attribute(DEPS, failed(kind="journey"), via, nothing_impaired, None) == {
        "base": "zahlung", "basis": "request", "url": "https://pay.example/zahlen"}
    named = Implicated(urls=("https://wohngeld.example/",), bases=("konto",), complete=True)
    assert attribute(DEPS, failed(kind="journey"), named, nothing_impaired, None) == {"base": "konto", "basis": "step"}
    assert attribute(DEPS, failed(state=State.UP, reason=Reason.OK), via, nothing_impaired, None) is None
    # findings (barriers, trackers) are no outage of anybody's
    assert attribute(DEPS, failed(state=State.DEGRADED, reason=Reason.FINDINGS), via, nothing_impaired, None) is None


def test_overlap_attributes_only_what_began_during_the_base_outage_and_only_where_the_kind_cannot_tell():
    impaired = {"konto": Impairment("konto", "down", T0 - 600)}
    page = Implicated(urls=("https://wohngeld.example/",))
    assert attribute(DEPS, failed(), page, impaired, None) == {"base": "konto", "basis": "overlap"}
    assert attribute(DEPS, failed(), page, impaired, T0 - 700) == {"base": "konto", "basis": "overlap"}  # tolerance
    # failing since before the base's outage (minus the tolerance): its own reason
    assert attribute(DEPS, failed(), page, impaired, T0 - 900) == {"base": None, "basis": "own"}
    # a journey whose failed step touched no base service: its own cause, during the outage too
    own_step = Implicated(urls=("https://wohngeld.example/formular",), complete=True)
    assert attribute(DEPS, failed(kind="journey"), own_step, impaired, None) == {"base": None, "basis": "own"}
    # a service that does not depend on the impaired base: nothing to say
    assert attribute(DEPS, failed("fremd"), Implicated(urls=("https://fremd.example/",)), impaired, None) is None
    maint = {"zahlung": Impairment("zahlung", "maintenance", None)}
    assert attribute(DEPS, failed(), page, maint, T0 - 86400) == {"base": "zahlung", "basis": "maintenance"}


def test_live_impairments_inhibit_only_dependents_that_were_not_failing_before(tmp_path):
    config = load_config(write(tmp_path, ESTATE), KINDS)
    deps = Dependencies.of(config)
    rows = [("konto", "https://id.konto.example/", "down", T0 - 300),
            ("zahlung", "https://pay.example/start", "up", T0 - 9000),
            ("wohngeld", "https://wohngeld.example/", "down", T0 - 290),  # fell with the base
            ("hund", "https://hund.example/", "down", T0 - 3600)]  # was down long before
    found = {(d, imp.base): inhibit for d, imp, inhibit in live_impairments(config, deps, rows, T0)}
    assert found == {("wohngeld", "konto"): True, ("hund", "konto"): False}


def spans(*pairs: tuple[float, float], base: str = "konto", maintenance: bool = False) -> list[BaseSpan]:
    return [BaseSpan(base, s, e, maintenance) for s, e in pairs]


def test_an_outage_is_split_to_the_second_at_the_edges_of_the_base_impairment():
    base = {"konto": spans((1000, 4600))}
    # began with the base (30 s later), outlived it by 20 minutes: 3600 - 30 + 120 tolerance to the base's
    a = attribute_outage([(1030, 5800)], ["konto"], base, 120)
    assert a.base == "konto" and a.seconds == 4600 + 120 - 1030 and a.spans == ((1030, 4720),)
    # began 10 minutes before the base: its own, although it then lasted through the base's outage
    assert attribute_outage([(400, 5000)], ["konto"], base, 120).base is None
    # began 100 s before the base's first failed check: inside the tolerance
    assert attribute_outage([(900, 2000)], ["konto"], base, 120).seconds == 1100
    # down spans interrupted by monitor downtime count only where they were counted down
    assert attribute_outage([(1100, 1200), (1500, 1700)], ["konto"], base, 0).seconds == 300
    # two bases impaired: the one impaired first; maintenance is flagged
    both = {"konto": spans((2000, 3000)), "zahlung": spans((1500, 3000), base="zahlung", maintenance=True)}
    got = attribute_outage([(2100, 2500)], ["konto", "zahlung"], both, 0)
    assert (got.base, got.maintenance, got.seconds) == ("zahlung", True, 400)


def test_dependency_metrics_are_the_same_both_ways_pass_promtool_and_mark_whom_to_inhibit(tmp_path):
    import subprocess

    from prometheus_client import CollectorRegistry, generate_latest

    from monitor.metrics import LatestCache, ResultCollector, ResultText
    from monitor.store import Store

    config = load_config(write(tmp_path, ESTATE), KINDS)
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}", KINDS)
    cache = LatestCache(store)
    text = ResultText(cache, lambda: config)
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    now = datetime.now(UTC)

    def record(sid: str, url: str, state: State, ago: float) -> None:
        result = CheckResult(sid, url, "availability", state, Reason.OK if state is State.UP else Reason.HTTP_STATUS,
                             datetime.fromtimestamp(now.timestamp() - ago, UTC), 0.1)
        text.update(cache.committed([(result, None)], store.record_batch([(result, None)])))

    record("hund", "https://hund.example/", State.DOWN, 3600)  # down long before the base
    record("konto", "https://id.konto.example/", State.DOWN, 300)
    record("wohngeld", "https://wohngeld.example/", State.DOWN, 290)
    record("zahlung", "https://pay.example/start", State.UP, 10)
    served, collected = text.text().decode(), generate_latest(registry).decode()
    assert served == collected
    check = subprocess.run(["promtool", "check", "metrics"], input=served, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    lines = set(served.splitlines())
    assert 'egov_dependency_impaired{base="konto",category="efa",service="wohngeld"} 1.0' in lines
    assert 'egov_dependency_impaired{base="zahlung",category="efa",service="wohngeld"} 0.0' in lines
    assert 'egov_dependency_inhibit{base="konto",category="efa",service="wohngeld"} 1.0' in lines
    assert 'egov_dependency_impaired{base="konto",category="efa",service="hund"} 1.0' in lines
    assert 'egov_dependency_inhibit{base="konto",category="efa",service="hund"} 0.0' in lines
    # wohngeld answers again while konto is still down: nothing of its own to hold back, so no
    # inhibition that would outlive the base's outage and swallow wohngeld's own resolution
    record("wohngeld", "https://wohngeld.example/", State.UP, 5)
    lines = set(text.text().decode().splitlines())
    assert 'egov_dependency_impaired{base="konto",category="efa",service="wohngeld"} 1.0' in lines
    assert 'egov_dependency_inhibit{base="konto",category="efa",service="wohngeld"} 0.0' in lines
    record("konto", "https://id.konto.example/", State.UP, 0)
    assert 'egov_dependency_impaired{base="konto",category="efa",service="wohngeld"} 0.0' in text.text().decode()


# --------------------------------------------------------------------------- the report, by hand

def test_report_attributes_a_week_of_minute_results_to_the_second_as_computed_by_hand(tmp_path):
    """A week of minute results in March 2026 (Europe/Berlin): a login base service `konto`
    (which itself depends on `idp`) down 2 hours and in a maintenance window for one, and
    two dependents. Every figure below is computed by hand from the timeline written here."""
    import json

    from monitor import report
    from monitor.report.period import Period
    from monitor.store import Store, heartbeats
    from tests.test_report_timeline import at

    (tmp_path / "catalog.yaml").write_text("services:\n" + "".join([
        service("idp", "https://idp.example/", category="basisdienst"),
        service("konto", "https://id.konto.example/", "depends_on: [idp]\nmaintenance: [{reason: Update, start: "
                '"2026-03-05T22:00", end: "2026-03-05T23:00"}]\n', category="basisdienst"),
        service("wohngeld", "https://wohngeld.example/", "depends_on: [konto]\n"),
        service("hund", "https://hund.example/", "depends_on: [konto]\n")]), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text('catalog: [catalog.yaml]\nstore: {url: "sqlite:///r.db"}\n', encoding="utf-8")
    config = load_config(tmp_path / "settings.yaml", KINDS)
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    with store.engine.begin() as conn:
        conn.execute(heartbeats.insert().values(run_id="r", hostname="h", pid=1, version="t", started_at=at(2026, 3, 1),
                                                last_beat_at=at(2026, 4, 2), stopped_at=at(2026, 4, 2)))
    down = {  # service -> its down spans (local times on the given March day), [start, end)
        "idp": [(at(2026, 3, 3, 9, 59), at(2026, 3, 3, 12))],
        "konto": [(at(2026, 3, 3, 10), at(2026, 3, 3, 12))],
        "wohngeld": [(at(2026, 3, 3, 10, 1), at(2026, 3, 3, 12, 30)),   # A: with konto, outlives it
                     (at(2026, 3, 4, 9), at(2026, 3, 4, 9, 30)),        # B: its own
                     (at(2026, 3, 5, 22, 10), at(2026, 3, 5, 22, 40))],  # C: in konto's maintenance window
        "hund": [(at(2026, 3, 3, 9, 50), at(2026, 3, 3, 10, 30))],      # began before konto: its own
    }
    first, week = at(2026, 3, 2), 7 * 1440
    for sid, spans in down.items():
        url = config.services[sid].urls[0]
        batch = []
        for minute in range(week):
            t = first + 60 * minute
            state = State.DOWN if any(s <= t < e for s, e in spans) else State.UP
            batch.append((CheckResult(sid, url, "availability", state, Reason.OK if state is State.UP
                                      else Reason.HTTP_STATUS, datetime.fromtimestamp(t, UTC), 0.1), None))
        store.record_batch(batch)

    files = report.build(store, config, Period.of_month("2026-03"), tmp_path / "out", pdf=False,
                         now=datetime(2026, 4, 5, tzinfo=UTC))
    doc = json.loads(files.json.read_text(encoding="utf-8"))
    fig = {(f["service_id"], f["period"], f["figure"]): f["value"] for f in doc["figures"]}
    monitored = at(2026, 4, 1) - first  # from the first result to the month's end (the DST hour is not there)
    assert monitored == 30 * 86400 - 3600
    tol = 120  # attribution_tolerance's default

    # wohngeld: A is konto's from 10:01 to 12:02 (konto's 12:00 plus the tolerance), its own after;
    # B is its own; C lies in konto's maintenance window (22:00-23:00): konto's, all 30 minutes
    a_base = (at(2026, 3, 3, 12) + tol) - at(2026, 3, 3, 10, 1)
    assert a_base == 7260
    w_down = (at(2026, 3, 3, 12, 30) - at(2026, 3, 3, 10, 1)) + 1800 + 1800
    w_base = a_base + 1800
    assert fig[("wohngeld", "Zeitraum", "down_sekunden")] == w_down
    assert fig[("wohngeld", "Zeitraum", "basisdienst_ausfall_sekunden")] == w_base
    assert fig[("wohngeld", "03", "basisdienst_ausfall_sekunden")] == w_base
    up = monitored - w_down
    assert fig[("wohngeld", "Zeitraum", "verfuegbarkeit_prozent")] == round(100 * up / (up + w_down), 6)
    assert fig[("wohngeld", "Zeitraum", "verfuegbarkeit_ohne_basisdienste_prozent")] == round(
        100 * up / (up + w_down - w_base), 6)
    outages = {(f["period"], f["figure"]): f["value"] for f in doc["figures"]
               if f["service_id"] == "wohngeld" and f["section"] == "ausfall"}
    key = lambda s, e: f"{s:.0f}/{e:.0f}"  # noqa: E731
    assert outages[(key(at(2026, 3, 3, 10, 1), at(2026, 3, 3, 12, 30)), "zuordnung")] == "konto"
    assert outages[(key(at(2026, 3, 3, 10, 1), at(2026, 3, 3, 12, 30)), "basisdienst_sekunden")] == 7260
    assert outages[(key(at(2026, 3, 4, 9), at(2026, 3, 4, 9, 30)), "zuordnung")] == "eigene"
    assert outages[(key(at(2026, 3, 5, 22, 10), at(2026, 3, 5, 22, 40)), "basisdienst_sekunden")] == 1800
    # hund: down from 09:50, ten minutes before konto (more than the tolerance): its own, all of it
    assert fig[("hund", "Zeitraum", "basisdienst_ausfall_sekunden")] == 0
    assert fig[("hund", "Zeitraum", "verfuegbarkeit_ohne_basisdienste_prozent")] == fig[
        ("hund", "Zeitraum", "verfuegbarkeit_prozent")]
    # one hop at a time: konto's outage is idp's (idp failed a minute before), wohngeld's is konto's
    assert fig[("konto", "Zeitraum", "basisdienst_ausfall_sekunden")] == 7200
    assert fig[("konto", "Zeitraum", "down_sekunden")] == 7200
    assert fig[("konto", "Zeitraum", "verfuegbarkeit_ohne_basisdienste_prozent")] == 100.0
    assert ("idp", "Zeitraum", "basisdienst_ausfall_sekunden") not in fig  # idp depends on nothing

    html = files.html.read_text(encoding="utf-8")
    assert "Ausfälle nach Zuordnung zu Basisdiensten" in html and ">Zuordnung</th>" in html
    assert "<dt>Basisdienste</dt>" in html  # the method says how they count
    assert "Wartung von Basisdienst Dienst konto" in html  # outage C
    assert "Basisdienst Dienst konto (2 h 1 min 0 s von 2 h 29 min 0 s)" in html  # A, split
    # by attribution: own = idp's 2 h 1 min + hund's 40 min + B's 30 min + A's last 28 min
    assert '<tr><th scope="row">eigene Ursache des Dienstes</th><td>3</td><td>3 h 39 min 0 s</td></tr>' in html
    assert '<tr><th scope="row">Basisdienst Dienst konto</th><td>1</td><td>2 h 1 min 0 s</td></tr>' in html
    assert '<tr><th scope="row">Basisdienst Dienst konto (Wartung)</th><td>1</td><td>30 min 0 s</td></tr>' in html
    assert '<tr><th scope="row">Basisdienst Dienst idp</th><td>1</td><td>2 h 0 min 0 s</td></tr>' in html
    # per base service: its own down time, dependents, affected, outages caused, time caused
    assert ('<tr><th scope="row">Dienst konto</th><td>2 h 0 min 0 s</td><td>2</td><td>1</td><td>2</td>'
            '<td>2 h 31 min 0 s</td></tr>') in html
    assert ('<tr><th scope="row">Dienst idp</th><td>2 h 1 min 0 s</td><td>1</td><td>1</td><td>1</td>'
            '<td>2 h 0 min 0 s</td></tr>') in html


# --------------------------------------------------------------------------- the status page

def test_status_page_names_the_base_service_links_its_incident_and_announces_its_maintenance_on_dependents(tmp_path):
    from datetime import timedelta

    from monitor.incidents import Incident, IncidentBook, Update
    from monitor.statuspage import collect, environment, export, read_current, render_index
    from monitor.store import Store

    now = datetime.now(UTC).replace(microsecond=0)
    local = now.astimezone(load_config(write(tmp_path, ESTATE), KINDS).settings.tz)
    window = (f'maintenance: [{{reason: "Update des Servicekontos", start: "{(local + timedelta(days=2)):%Y-%m-%dT%H:%M}",'
              f' end: "{(local + timedelta(days=2, hours=1)):%Y-%m-%dT%H:%M}"}}]\n')
    services = [service("konto", "https://id.konto.example/", window, category="basisdienst"),  # not public
                service("zahlung", "https://pay.example/start", "public: true\n", category="basisdienst"),
                service("wohngeld", "https://wohngeld.example/", "depends_on: [konto]\npublic: true\n"),
                service("hund", "https://hund.example/", "depends_on: [zahlung]\npublic: true\n"),
                service("kita", "https://kita.example/", "depends_on: [konto]\npublic: true\n")]
    config = load_config(write(tmp_path, services), KINDS)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}", KINDS)

    def record(sid: str, state: State, ago: float) -> None:
        store.record_batch([(CheckResult(sid, config.services[sid].urls[0], "availability", state,
                                         Reason.OK if state is State.UP else Reason.CONNECT_REFUSED,
                                         now - timedelta(seconds=ago), 0.1), None)])

    record("kita", State.DOWN, 3600)  # down on its own an hour before the base service
    record("kita", State.DOWN, 5)  # and still
    record("konto", State.DOWN, 300)
    record("wohngeld", State.DOWN, 290)
    record("zahlung", State.DOWN, 200)
    record("hund", State.UP, 10)  # still up: it shows that its base service is down
    IncidentBook(store).add(Incident("konto-1", "incident", "Anmeldung nicht möglich", "base_service", None, ("konto",),
                                     now.timestamp() - 280, None, "cli",
                                     (Update(now.timestamp() - 280, "investigating", "Wir arbeiten daran."),)))
    data = collect(config, store, read_current(config, store), now.timestamp())
    shown = {s.id: s for s in data.services}
    assert (shown["wohngeld"].state, shown["wohngeld"].cause, shown["wohngeld"].cause_link) == (
        "degraded", "Dienst konto gestört", "#vorfall-konto-1")  # the base's open record, on the overview
    assert (shown["hund"].state, shown["hund"].cause, shown["hund"].cause_link) == (
        "degraded", "Dienst zahlung gestört", "dienst/zahlung.html")  # a public base without a record: its page
    assert (shown["kita"].state, shown["kita"].cause) == ("down", "")  # failing before: its own, unexplained
    assert [r.key for r in shown["wohngeld"].incidents] == ["konto-1"]  # the base's record, on the dependent
    (announced,) = [m for m in data.maintenance if m.title == "Update des Servicekontos"]
    assert announced.services == ["Dienst konto", "Dienst wohngeld", "Dienst kita"]
    html = render_index(environment(config), data)
    assert 'eingeschränkt: <a href="#vorfall-konto-1">Dienst konto gestört</a>' in html
    assert 'id="vorfall-konto-1"' in html  # the record it links to is on the page
    pages = export(config, store, tmp_path / "site")
    wohngeld = next(p for p in pages if p.name == "wohngeld.html").read_text(encoding="utf-8")
    assert 'eingeschränkt: <a href="../index.html#vorfall-konto-1">Dienst konto gestört</a>' in wohngeld


def test_a_web_server_shared_by_a_base_service_and_its_dependent_says_nothing_unless_named(tmp_path):
    shared = [service("konto", "https://portal.example/konto/", category="basisdienst"),
              service("wohngeld", "https://portal.example/wohngeld/", "depends_on: [konto]\n")]
    deps = Dependencies.of(load_config(write(tmp_path, shared), KINDS))
    page = Implicated(urls=("https://portal.example/wohngeld/antrag",), complete=True)
    assert attribute(deps, failed(), page, {}, None) is None  # its own server failed: nothing says it was konto's
    assert deps.base_of_url("https://portal.example/x") == "konto"  # for any other service it is konto's host
    named = Dependencies.of(load_config(write(tmp_path, shared, "base_services: {konto: [portal.example]}\n"), KINDS))
    assert attribute(named, failed(), page, {}, None) == {
        "base": "konto", "basis": "request", "url": "https://portal.example/wohngeld/antrag"}
