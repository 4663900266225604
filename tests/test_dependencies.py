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
from monitor.dependencies import (
    BaseSpan,
    Dependencies,
    Impairment,
    attribute,
    attribute_outage,
    find_cycle,
    live_impairments,
)
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
    record("konto", "https://id.konto.example/", State.UP, 0)
    assert 'egov_dependency_impaired{base="konto",category="efa",service="wohngeld"} 0.0' in text.text().decode()
