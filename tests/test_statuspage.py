"""The public status page: what it shows and what it never shows, its feed, its caching."""

from __future__ import annotations

import gzip
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from checks.result import State
from monitor.config import load_config
from monitor.incidents import Incident, IncidentBook, Update
from monitor.statuspage import StatusSite, collect, export, read_current, render_feed
from monitor.store import Store
from tests.helpers import KINDS, result

HOSTILE_NAME = '<script>alert("name")</script> Bürgerservice & Co'
HOSTILE_TEXT = '<img src=x onerror=alert(1)> Wir prüfen "das" & mehr'
SECRET_PATH = "verwaltung-intern-7f3a"


def write_site(d: Path, *, cache: str = "3600s", base_url: str | None = None) -> Path:
    base = f", base_url: \"{base_url}\"" if base_url else ""
    (d / "settings.yaml").write_text(
        f"catalog: [catalog.yaml]\nstore: {{url: \"sqlite:///{d / 'store.db'}\"}}\n"
        f"status_page: {{title: Status der Online-Dienste im Saarland, cache_seconds: {cache}{base},\n"
        f"  intro: \"Betrieb: eGo-Saar\"}}\n")
    (d / "catalog.yaml").write_text(textwrap.dedent(f"""\
        services:
          - id: portal
            name: Serviceportal
            category: efa
            operator: Land
            contact: ops@example.invalid
            urls: ["https://portal.example.invalid/{SECRET_PATH}/start"]
            checks: {{availability: {{interval: 60s}}}}
            availability_target: 99.0
            public: true
          - id: basis
            name: '{HOSTILE_NAME.replace("'", "''")}'
            category: basisdienst
            operator: Land
            contact: ops@example.invalid
            urls: ["https://basis.example.invalid/{SECRET_PATH}/"]
            checks: {{availability: {{interval: 60s}}}}
            public: true
          - id: intern
            name: Geheimer Fachdienst
            category: kommune
            operator: Kommune
            contact: ops@example.invalid
            urls: ["https://intern.example.invalid/{SECRET_PATH}/"]
            checks: {{availability: {{interval: 60s}}}}
        """))
    return d / "settings.yaml"


@pytest.fixture
def estate(tmp_path):
    """Three services (two public) with 90 days of results; one bad day for the portal."""
    config = load_config(write_site(tmp_path), KINDS)
    store = Store.open(config.store_url, config.kinds, tz=config.settings.tz)
    now = datetime.now(UTC).replace(microsecond=0)
    tz = config.settings.tz
    items = []
    for day in range(89, -1, -1):
        # ten results a day: at local noon of past days (a day never straddles midnight), until now today
        noon = datetime.combine(now.astimezone(tz).date() - timedelta(days=day), datetime.min.time(), tz) + timedelta(hours=12)
        at = now if day == 0 else noon
        for i in range(10):
            t = at - timedelta(minutes=9 - i)
            portal_down = day == 5 and i < 3  # 7 of 10 checks that day: 70 % < target 99 %
            items.append((result(State.DOWN if portal_down else State.UP, at=t, service="portal",
                                 url=str(config.services["portal"].urls[0])), None))
            items.append((result(State.UP, at=t, service="basis", url=config.services["basis"].urls[0]), None))
            items.append((result(State.DOWN, at=t, service="intern", url=config.services["intern"].urls[0]), None))
    store.record_batch(items)
    book = IncidentBook(store)
    book.add(Incident("offen-1", "incident", "Anmeldung <b>gestört</b>", "base_service", "INC-SECRET-99", ("basis",),
                      now.timestamp() - 600, None, "cli", (Update(now.timestamp() - 600, "investigating", HOSTILE_TEXT),)))
    book.add(Incident("intern-1", "incident", "Interner Vorfall", "own_operation", None, ("intern",),
                      now.timestamp() - 900, None, "cli", (Update(now.timestamp() - 900, "investigating", "nur intern"),)))
    book.add(Incident("beide-1", "incident", "Rechenzentrum", "external", None, ("portal", "intern"),
                      now.timestamp() - 5 * 86400, now.timestamp() - 5 * 86400 + 3600, "cli",
                      (Update(now.timestamp() - 5 * 86400, "investigating", "Strom weg."),
                       Update(now.timestamp() - 5 * 86400 + 3600, "resolved", "Strom wieder da."))))
    book.add(Incident("wartung-1", "maintenance", "Umzug der Server", None, None, ("portal",),
                      now.timestamp() + 86400, now.timestamp() + 90000, "cli",
                      (Update(now.timestamp(), "scheduled", "Kurze Unterbrechungen."),)))
    return config, store


def exported(config, store, out: Path) -> dict[str, str]:
    export(config, store, out)
    return {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()}


def test_only_public_services_and_what_operators_wrote_reach_the_page(estate, tmp_path):
    config, store = estate
    files = exported(config, store, tmp_path / "out")
    assert sorted(files) == ["dienst/basis.html", "dienst/portal.html", "feed.xml", "index.html", "status.css"]
    everything = "\n".join(files.values())
    for secret in ("Geheimer Fachdienst", "Interner Vorfall", "nur intern", SECRET_PATH, "example.invalid",
                   "INC-SECRET-99", "http_status", "intern.html", "gemeinsamer Basisdienst"):
        assert secret not in everything, secret
    for raw in (HOSTILE_NAME, HOSTILE_TEXT, "<b>gestört</b>", "<script>", "<img"):
        assert raw not in files["index.html"] and raw not in files["dienst/basis.html"], raw
    index = files["index.html"]
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; Bürgerservice &amp; Co" in index
    assert "&lt;img src=x onerror=alert(1)&gt; Wir prüfen &#34;das&#34; &amp; mehr" in index
    assert "Anmeldung &lt;b&gt;gestört&lt;/b&gt;" in index
    # the incident that touches a public and a private service names only the public one
    assert "Betroffen:</dt><dd>Serviceportal</dd>" in files["dienst/portal.html"]
    assert "Umzug der Server" in index and "Kurze Unterbrechungen." in index


def test_groups_state_and_ninety_days_of_availability(estate, tmp_path):
    config, store = estate
    data = collect(config, store, read_current(config, store))
    assert [(label, [s.id for s in members]) for label, members in data.groups] == [
        ("Anlage 2: IT-Basisdienste", ["basis"]), ("Anlage 1: EfA-Leistungen", ["portal"])]
    portal = data.groups[1][1][0]
    assert portal.state == "up" and len(portal.days) == 90
    bad = [d for d in portal.days if d.light != "green"]
    assert [(d.availability, d.light, d.label) for d in bad] == [(70.0, "red", "unter dem Ziel")]
    assert portal.availability == pytest.approx(100 * (900 - 3) / 900)
    assert portal.bar_label.startswith("Verfügbarkeit der letzten 90 Tage: 89 Tage im Ziel, 0 knapp darunter, 1 darunter")
    assert [r.key for r in data.open_incidents] == ["offen-1"] and [r.key for r in data.recent_incidents] == ["beide-1"]
    page = (tmp_path / "p").mkdir() or exported(config, store, tmp_path / "p")["dienst/portal.html"]
    day = bad[0].day.strftime("%d.%m.%Y")
    assert f'<th scope="row">{day}</th><td class="zahl">70,000 %</td><td>unter dem Ziel</td>' in page


def test_a_stale_result_is_no_current_data_and_an_outage_is_shown_with_its_start(estate):
    config, store = estate
    rows = read_current(config, store)
    later = time.time() + 3 * 3600  # three hours without a new result
    stale = collect(config, store, rows, now=later)
    assert {s.id: s.state for s in stale.services} == {"basis": "unknown", "portal": "unknown"}
    store.record(result(State.DOWN, at=datetime.now(UTC), service="basis", url=config.services["basis"].urls[0]))
    down = collect(config, store, read_current(config, store))
    basis = next(s for s in down.services if s.id == "basis")
    assert basis.state == "down" and basis.state_label == "gestört" and basis.since is not None


def test_a_url_no_longer_in_the_catalog_does_not_count(estate):
    """The store keeps the newest result of a URL an operator removed (or moved to another
    port); until it would be stale, it must not make its service look down."""
    config, store = estate
    store.record(result(State.DOWN, at=datetime.now(UTC), service="portal", url="https://portal.example.invalid/alt"))
    data = collect(config, store, read_current(config, store))
    assert {s.id: s.state for s in data.services} == {"basis": "up", "portal": "up"}


def test_the_atom_feed_parses_and_carries_each_public_record(estate):
    config, store = estate
    config = load_config(write_site(config.settings_file.parent, base_url="https://status.saarland.example/"), KINDS)
    feed = feedparser.parse(render_feed(config, collect(config, store, read_current(config, store))))
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "Status der Online-Dienste im Saarland" and feed.feed.language == "de"
    titles = [e.title for e in feed.entries]
    assert titles == ["Wartung: Umzug der Server (geplant)", "Störung: Anmeldung <b>gestört</b> (wird untersucht)",
                      "Störung: Rechenzentrum (behoben)"]  # newest update first
    assert all(e.updated_parsed <= time.gmtime() for e in feed.entries)
    first = feed.entries[1]
    assert first.link == "https://status.saarland.example/index.html#vorfall-offen-1"
    assert HOSTILE_TEXT in first.content[0].value and first.content[0].type == "text/plain"
    assert "Interner" not in str(feed) and "intern" not in " ".join(e.content[0].value for e in feed.entries)


def test_served_with_caching_headers_and_re_rendered_when_a_state_changes(estate):
    config, store = estate
    site = StatusSite(lambda: config, store)
    assert site.respond("/status").code == 301
    first = site.respond("/status/")
    assert first.code == 200 and first.headers["Cache-Control"] == "public, max-age=3600"
    assert "frame-ancestors 'none'" in first.headers["Content-Security-Policy"]
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert site.respond("/status/index.html", first.headers["ETag"]).code == 304
    packed = site.respond("/status/", None, "gzip, deflate, br")  # what browsers send
    assert packed.headers["Content-Encoding"] == "gzip" and gzip.decompress(packed.body) == first.body
    assert len(packed.body) < len(first.body) / 2 and first.headers["Vary"] == "Accept-Encoding"
    assert site.respond("/status/dienst/intern.html").code == 404  # not public
    assert site.respond("/status/dienst/../feed.xml").code == 404
    assert site.respond("/status/feed.xml").headers["Content-Type"].startswith("application/atom+xml")
    # an outage shows within StatusSite.MIN_GAP (1 s), though the page would be cached for an hour
    store.record(result(State.DOWN, at=datetime.now(UTC), service="portal", url=config.services["portal"].urls[0]))
    second = eventually(lambda: next((r for r in [site.respond("/status/", first.headers["ETag"])] if r.code == 200),
                                     None))
    assert "1 von 2 Diensten ist gestört" in second.body.decode()
    # so does a record an operator wrote (through another process, e.g. the CLI)
    IncidentBook(Store.open(config.store_url, config.kinds)).add(Incident("neu-1", "incident", "Neue Meldung", "external", None,
                                                            ("portal",), time.time(), None))
    eventually(lambda: "Neue Meldung" in site.respond("/status/").body.decode())


def eventually(predicate, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_concurrent_requests_share_one_rendering(estate, monkeypatch):
    import threading

    import monitor.statuspage as sp

    config, store = estate
    calls = []
    original = sp.collect

    def counted(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)  # a slow store read: the other requests arrive meanwhile
        return original(*args, **kwargs)

    monkeypatch.setattr(sp, "collect", counted)
    site = StatusSite(lambda: config, store)
    bodies: list[bytes] = []
    threads = [threading.Thread(target=lambda: bodies.append(site.respond("/status/").body)) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(bodies) == 50 and len(set(bodies)) == 1
