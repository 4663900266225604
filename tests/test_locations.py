"""Probing from several locations with a quorum (settings.yaml `locations:`): the monitor's own
network and a second location reached through a local forwarding proxy. A target unreachable
only through the second path is degraded/partial_outage naming it; unreachable from both is
down; a broken proxy makes its location unknown and the other decides. Metrics with a
`location` label, the report's three definitions checked by hand, the status page's words."""

from __future__ import annotations

import socket
import subprocess
import textwrap
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from checks import availability
from checks.availability import AvailabilitySettings
from checks.context import CheckContext
from checks.locations import Location, combine_votes
from checks.proxy import Proxy
from checks.result import CheckResult, Reason, State, Target
from monitor import report
from monitor.config import ConfigError, load_config
from monitor.metrics import ResultCollector
from monitor.statuspage import collect, read_current
from monitor.store import Store
from tests.helpers import KINDS
from tests.proxy_server import proxy
from tests.sites import Page, site

TZ = ZoneInfo("Europe/Berlin")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def estate():
    with site({"/": Page(body=b"<!doctype html><title>Dienst</title><p>Willkommen")}) as port, proxy() as (pport, log):
        locations = {"landesnetz": Location("landesnetz", "aus dem Landesnetz", None),
                     "internet": Location("internet", "aus dem Internet", Proxy("127.0.0.1", pport))}
        yield port, log, CheckContext(locations=locations)


def probe(port: int, ctx: CheckContext, **extra) -> CheckResult:
    settings = AvailabilitySettings.model_validate({"locations": ["landesnetz", "internet"], "retries": 0,
                                                    "timeout": "5s", **extra})
    url = f"http://127.0.0.1:{port}/"
    return availability.run(Target("dienst", url), settings, ctx)


def votes(result: CheckResult) -> dict[str, tuple[str, str]]:
    return {row["name"]: (row["state"], row["reason"]) for row in result.evidence["locations"]}


def test_reachable_from_both_is_up_and_the_proxy_was_used_for_the_second(estate):
    port, log, ctx = estate
    result = probe(port, ctx)
    assert result.state == State.UP and votes(result) == {"landesnetz": ("up", "ok"), "internet": ("up", "ok")}
    assert f"http://127.0.0.1:{port}/" in log.targets()  # the second location's probe went through the proxy
    assert len(log.targets()) == 1  # and only it


def test_unreachable_only_through_the_second_path_is_a_partial_outage_naming_it(estate):
    port, log, ctx = estate
    log.unreachable.add(f"127.0.0.1:{port}")
    result = probe(port, ctx, quorum=2)
    assert (result.state, result.reason) == (State.DEGRADED, Reason.PARTIAL_OUTAGE)
    assert votes(result)["internet"] == ("down", "http_status") and votes(result)["landesnetz"] == ("up", "ok")
    assert result.evidence["partial"] == {"locations": ("internet",), "described": ("aus dem Internet",)}
    assert "aus dem Internet nicht erreichbar" in result.evidence["detail"]
    assert result.measurements["status_code"] == 200  # the figures of the location that reached it
    # the default quorum of two locations is all but one: one is enough for down
    assert probe(port, ctx).state == State.DOWN


def test_unreachable_from_both_is_down(estate):
    _port, _log, ctx = estate
    result = probe(closed_port(), ctx, quorum=2)
    assert result.state == State.DOWN and result.reason == Reason.CONNECT_REFUSED
    assert {v[0] for v in votes(result).values()} == {"down"}
    assert "nicht erreichbar von 2 von 2 Standorten" in result.evidence["detail"]


def test_a_broken_proxy_makes_its_location_unknown_and_the_other_decides(estate):
    port, _log, _ctx = estate
    broken = CheckContext(locations={"landesnetz": Location("landesnetz", "aus dem Landesnetz", None),
                                     "internet": Location("internet", "aus dem Internet",
                                                          Proxy("127.0.0.1", closed_port()))})
    up = probe(port, broken, quorum=2)
    assert up.state == State.UP and votes(up)["internet"] == ("unknown", "proxy_error")
    down = probe(closed_port(), broken, quorum=2)  # the only location that can tell sees it down
    assert down.state == State.DOWN and votes(down)["internet"][0] == "unknown"


def test_the_votes_follow_the_quorum():
    assert combine_votes([("a", "down"), ("b", "up"), ("c", "up")], 2).outcome == "partial"
    assert combine_votes([("a", "down"), ("b", "down"), ("c", "up")], 2).outcome == "down"
    assert combine_votes([("a", "down"), ("b", "unknown"), ("c", "unknown")], 2).outcome == "down"
    assert combine_votes([("a", "unknown"), ("b", "unknown")], 1).outcome == "unknown"
    assert combine_votes([("a", "degraded"), ("b", "up")], 1).outcome == "up"


def _config(tmp_path, pport: int, port: int, quorum: str = "") -> tuple:
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: portal
            name: Serviceportal
            category: efa
            operator: X
            contact: x@example.invalid
            public: true
            urls: ["http://127.0.0.1:{port}/"]
            checks:
              availability: {{locations: [landesnetz, internet], retries: 0, timeout: 5s{quorum}}}
        """), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(textwrap.dedent(f"""\
        catalog: [catalog.yaml]
        store: {{url: "sqlite:///{tmp_path / "s.db"}"}}
        locations:
          - {{name: landesnetz, local: true, description: aus dem Landesnetz}}
          - {{name: internet, description: aus dem Internet, proxy: {{url: "http://127.0.0.1:{pport}"}}}}
        """), encoding="utf-8")
    return load_config(tmp_path / "settings.yaml", KINDS)


def test_a_profile_naming_an_unknown_location_or_too_large_a_quorum_is_refused(tmp_path):
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent("""\
        services:
          - id: portal
            name: Serviceportal
            category: efa
            operator: X
            contact: x@example.invalid
            urls: ["https://portal.example/"]
            checks:
              availability: {locations: [landesnetz, mond]}
        """), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text("catalog: [catalog.yaml]\nlocations:\n  - {name: landesnetz, local: true}\n",
                                            encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "settings.yaml", KINDS)
    text = str(err.value)
    assert "catalog.yaml:9" in text and "checks.availability.locations.1" in text and "unbekannter Standort 'mond'" in text
    (tmp_path / "catalog.yaml").write_text((tmp_path / "catalog.yaml").read_text().replace(
        "[landesnetz, mond]}", "[landesnetz], quorum: 2}"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "settings.yaml", KINDS)
    assert "quorum 2 ist größer als die Zahl der Standorte (1)" in str(err.value)


def test_metrics_have_a_location_label_and_the_status_page_says_where_from(estate, tmp_path):
    port, log, _ctx = estate
    config = _config(tmp_path, _ctx.locations["internet"].proxy.port, port, ", quorum: 2")
    ctx = CheckContext(locations=config.locations)
    log.unreachable.add(f"127.0.0.1:{port}")
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    settings = config.services["portal"].checks["availability"]
    store.record(availability.run(Target("portal", f"http://127.0.0.1:{port}/"), settings, ctx))
    registry = CollectorRegistry()
    registry.register(ResultCollector(store, lambda: config))
    metrics = generate_latest(registry).decode()
    page = collect(config, store, read_current(config, store))
    store.close()
    assert f'egov_location_probe_success{{category="efa",location="internet",service="portal",url="http://127.0.0.1:{port}/"}} 0.0' in metrics
    assert 'location="landesnetz"' in metrics and 'reason="partial_outage"' in metrics
    promtool = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
    portal = page.services[0]
    assert portal.state == "degraded" and portal.note == "aus dem Internet nicht erreichbar"


def _located(at: datetime, states: dict[str, State], quorum: int | None = None) -> CheckResult:
    """A result as the check combines it from per-location results in the given states."""
    settings = AvailabilitySettings.model_validate({"locations": list(states), "quorum": quorum})
    reasons = {State.UP: Reason.OK, State.DOWN: Reason.CONNECT_REFUSED, State.UNKNOWN: Reason.PROXY_ERROR}
    target = Target("portal", "https://portal.example/")
    parts: dict[str, CheckResult | Exception] = {
        n: CheckResult("portal", target.url, "availability", s, reasons[s], at, 0.1, measurements={"duration_seconds": 0.1},
                       evidence={"detail": s.value}) for n, s in states.items()}
    where = {n: Location(n, f"von {n}", None) for n in states}
    return availability.combine(target, settings, list(states), parts, where, at, 0.0).replace(started_at=at)


def test_the_reports_three_definitions_by_hand(tmp_path):
    """Ten runs from landesnetz (L) and internet (I), default quorum (1 of 2):
    6 both up; 2 only I down (quorum 1: down); 1 both down; 1 I unknown and L up.
    By quorum: up 6 + 1 = 7, down 3 -> 70 %. At least one: of 10 runs that could tell, up in
    6 + 2 + 1 = 9 -> 90 %. All: of the 9 runs without an unknown, all up in 6 -> 66.67 %.
    Landesnetz: up 9 of 10 -> 90 %. Internet: up 6 of 9 known -> 66.67 %."""
    (tmp_path / "catalog.yaml").write_text(textwrap.dedent("""\
        services:
          - {id: portal, name: Serviceportal, category: efa, operator: X, contact: x@example.invalid,
             urls: ["https://portal.example/"], checks: {availability: {locations: [landesnetz, internet]}}}
        """), encoding="utf-8")
    (tmp_path / "settings.yaml").write_text(textwrap.dedent(f"""\
        catalog: [catalog.yaml]
        store: {{url: "sqlite:///{tmp_path / "s.db"}"}}
        locations:
          - {{name: landesnetz, local: true}}
          - {{name: internet, proxy: {{url: "http://127.0.0.1:9"}}}}
        """), encoding="utf-8")
    config = load_config(tmp_path / "settings.yaml", KINDS)
    store = Store.open(config.store_url, config.kinds, tz=TZ)
    up, down, unknown = State.UP, State.DOWN, State.UNKNOWN
    runs = [{"landesnetz": up, "internet": up}] * 6 + [{"landesnetz": up, "internet": down}] * 2 + [
        {"landesnetz": down, "internet": down}, {"landesnetz": up, "internet": unknown}]
    start = datetime(2026, 6, 1, 10, tzinfo=UTC)
    results = [_located(start + timedelta(minutes=i), states) for i, states in enumerate(runs)]
    assert [r.state for r in results].count(State.DOWN) == 3
    for r in results:
        store.record(r)
    files = report.build(store, config, 2026, tmp_path / "out", now=datetime(2027, 1, 5, tzinfo=TZ))
    store.close()
    html_text = files.html.read_text(encoding="utf-8")
    assert "Verfügbarkeit nach Standort in % der Prüfungen" in html_text
    row = html_text.split('<tr><th scope="row">Serviceportal</th><td>10</td>', 1)[1].split("</tr>", 1)[0]
    assert row == ("<td>70,000 %</td><td>90,000 %</td><td>66,666 %</td>"  # cut, never rounded up
                   "<td>internet: 66,666 %; landesnetz: 90,000 %</td>"), row
