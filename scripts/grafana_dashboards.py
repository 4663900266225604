"""Generate the Grafana dashboards in deploy/grafana/dashboards/ (`make dashboards`).

The JSON files are committed (Grafana provisions them as they are); tests check that
they are current, valid for provisioning, and that every query returns data from a real
Prometheus. Titles and texts are German: the operations team and the ministry read them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"
DS = {"type": "prometheus", "uid": "egov-prometheus"}
SCHEMA_VERSION = 39
J = 'job="egov-monitor"'
SVC = f'{J}, service="$service"'


class Board:
    """Lays panels out on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict] = []
        self.x = 0
        self.y = 0
        self.row_h = 0

    def add(self, panel: dict, w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False, fmt: str = "time_series") -> dict:
    t = {"datasource": DS, "refId": ref, "expr": expr, "legendFormat": legend or "__auto", "format": fmt}
    if instant:
        t.update(instant=True, range=False)
    return t


def panel(kind: str, title: str, targets: list[dict], *, unit: str = "", description: str = "",
          thresholds: list[tuple[float | None, str]] | None = None, mappings: list[dict] | None = None,
          options: dict | None = None, custom: dict | None = None, decimals: int | None = None,
          minimum: float | None = None, maximum: float | None = None, transformations: list | None = None,
          overrides: list | None = None) -> dict:
    defaults: dict = {"unit": unit} if unit else {}
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute",
                                  "steps": [{"color": color, "value": value} for value, color in thresholds]}
        defaults["color"] = {"mode": "thresholds"}
    if mappings:
        defaults["mappings"] = mappings
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if custom:
        defaults["custom"] = custom
    p = {"type": kind, "title": title, "datasource": DS, "targets": targets,
         "fieldConfig": {"defaults": defaults, "overrides": overrides or []}, "options": options or {}}
    if description:
        p["description"] = description
    if transformations:
        p["transformations"] = transformations
    return p


UP_DOWN = [{"type": "value", "options": {"0": {"text": "gestört", "color": "red", "index": 0},
                                         "1": {"text": "erreichbar", "color": "green", "index": 1}}}]
PASS_FAIL = [{"type": "value", "options": {"0": {"text": "nicht erfüllt", "color": "red", "index": 0},
                                           "1": {"text": "erfüllt", "color": "green", "index": 1}}}]
AVAIL_STEPS = [(None, "red"), (0.99, "orange"), (0.995, "green")]
GRADE_STEPS = [(None, "red"), (5, "orange"), (8, "yellow"), (11, "green")]
GRADE_TEXT = [{"type": "value", "options": {str(rank): {"text": grade, "index": rank} for rank, grade in enumerate(
    ("F", "D-", "D", "D+", "C-", "C", "C+", "B-", "B", "B+", "A-", "A", "A+"))}}]


def merged_table(title: str, columns: list[tuple[str, str]], *, description: str = "",
                 overrides: list | None = None, unit: str = "") -> dict:
    """One row per service: each (column title, instant expression) is a column."""
    refs = "ABCDEFGHIJKLMNOP"
    targets = [target(expr, ref=refs[i], instant=True, fmt="table") for i, (_, expr) in enumerate(columns)]
    rename = {f"Value #{refs[i]}": name for i, (name, _) in enumerate(columns)}
    rename.update(service="Dienst", category="Kategorie", url="URL")
    return panel("table", title, targets, description=description, unit=unit, overrides=overrides,
                 options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
                 transformations=[
                     {"id": "merge", "options": {}},
                     {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": rename}},
                 ])


def override(column: str, **props) -> dict:
    properties = []
    for key, value in props.items():
        properties.append({"id": {"unit": "unit", "mappings": "mappings", "thresholds": "thresholds",
                                  "decimals": "decimals", "cell": "custom.cellOptions"}[key], "value": value})
    return {"matcher": {"id": "byName", "options": column}, "properties": properties}


def cell_colour() -> dict:
    return {"type": "color-background", "mode": "basic"}


def steps(pairs: list[tuple[float | None, str]]) -> dict:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in pairs]}


def dashboard(uid: str, title: str, description: str, board: Board, *, tags: list[str],
              templating: list[dict] | None = None, time_from: str = "now-24h") -> dict:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["egov-monitor", *tags],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": False, "graphTooltip": 1,
        "timezone": "browser", "refresh": "1m", "time": {"from": time_from, "to": "now"},
        "templating": {"list": templating or []}, "annotations": {"list": []},
        "links": [{"title": "egov-monitor", "type": "dashboards", "tags": ["egov-monitor"], "asDropdown": True}],
        "panels": board.panels,
    }


def overview() -> dict:
    b = Board()
    b.add(panel("stat", "Dienste gestört", [target(
        f'count(max by (service) (egov_check_state{{{J}, kind="availability", state="down"}}) == 1) or vector(0)')],
        thresholds=[(None, "green"), (1, "red")], description="Dienste mit bestätigtem Ausfall (außerhalb von Wartung)."),
        4, 4)
    b.add(panel("stat", "Dienste erreichbar", [target(
        f"count(min by (service) (probe_success{{{J}}}) == 1) or vector(0)")], thresholds=[(None, "green")]), 4, 4)
    b.add(panel("stat", "Ohne Urteil (unbekannt)", [target(
        f'count(max by (service) (egov_check_state{{{J}, kind="availability", state="unknown"}}) == 1) or vector(0)')],
        thresholds=[(None, "green"), (1, "orange")],
        description="Der Monitor konnte nicht urteilen, z. B. weil sein eigenes Netz gestört war."), 4, 4)
    b.add(panel("stat", "Verfügbarkeit 30 Tage (alle Dienste)", [target(
        "sum(service:egov_probe_success:sum_30d) / sum(service:egov_probe_success:count_30d)")],
        unit="percentunit", decimals=3, thresholds=AVAIL_STEPS,
        description="Summe der erreichbaren Messungen durch Summe aller Messungen, ohne Wartung und unbekannte Zeit."),
        4, 4)
    b.add(panel("stat", "Monitor: letzter Herzschlag", [target(
        f"time() - max(egov_monitor_heartbeat_timestamp_seconds{{{J}}})")], unit="s",
        thresholds=[(None, "green"), (60, "orange"), (120, "red")]), 4, 4)
    b.add(panel("stat", "Netz des Monitors", [target(f"min(egov_monitor_network_up{{{J}}}) or vector(1)")],
                mappings=[{"type": "value", "options": {"0": {"text": "gestört", "color": "red", "index": 0},
                                                        "1": {"text": "in Ordnung", "color": "green", "index": 1}}}]),
          4, 4)

    b.row("Status und Verfügbarkeit")
    b.add(merged_table("Status aller Dienste", [
        ("Status", f"min by (service, category) (probe_success{{{J}}})"),
        ("Verfügbarkeit 30 Tage", "service:egov_availability:ratio_30d"),
        ("Ziel", f"egov_service_availability_target_ratio{{{J}}}"),
        ("Verfügbarkeit seit 1. Januar", "service:egov_availability:ratio_ytd"),
        ("Zertifikat (Tage)", f"min by (service, category) (probe_ssl_earliest_cert_expiry{{{J}}} - time()) / 86400"),
    ], description="Status: alle URLs des Dienstes erreichbar. Verfügbarkeit = erreichbar / (erreichbar + gestört).",
        overrides=[override("Status", mappings=UP_DOWN, cell=cell_colour()),
                   override("Verfügbarkeit 30 Tage", unit="percentunit", decimals=3, thresholds=steps(AVAIL_STEPS),
                            cell=cell_colour()),
                   override("Verfügbarkeit seit 1. Januar", unit="percentunit", decimals=3),
                   override("Ziel", unit="percentunit", decimals=1),
                   override("Zertifikat (Tage)", decimals=0, cell=cell_colour(),
                            thresholds=steps([(None, "red"), (3, "orange"), (21, "green")]))]), 24, 10)
    b.add(panel("state-timeline", "Erreichbarkeit im Zeitverlauf", [target(
        f"min by (service) (probe_success{{{J}}})", "{{service}}")], mappings=UP_DOWN,
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8}), 24, 8)
    b.add(panel("state-timeline", "Basisdienste: abhängige Dienste beeinträchtigt", [target(
        f"max by (service, base) (egov_dependency_impaired{{{J}}})", "{{service}} ← {{base}}")],
        mappings=[{"type": "value", "options": {"0": {"text": "Basisdienst in Ordnung", "color": "green", "index": 0},
                                                "1": {"text": "Basisdienst gestört", "color": "orange", "index": 1}}}],
        description="Je Abhängigkeit aus depends_on im Katalog: ob der Basisdienst (Servicekonto, ePayBL, ...) gestört "
                    "oder in Wartung ist. Ausfälle des abhängigen Dienstes in dieser Zeit werden dem Basisdienst "
                    "zugeordnet, seine Alarme unterdrückt (docs/report.md).",
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8}), 24, 6)
    b.add(panel("bargauge", "Verfügbarkeit 30 Tage gegen Ziel (Fehlerbudget verbraucht)", [target(
        f"(1 - service:egov_availability:ratio_30d) / on (service, category) "
        f"(1 - egov_service_availability_target_ratio{{{J}}})", "{{service}}", instant=True)],
        unit="percentunit", thresholds=[(None, "green"), (0.75, "orange"), (1, "red")], minimum=0, maximum=1.5,
        description="Anteil der erlaubten Ausfallzeit (100 % - Ziel), der in 30 Tagen verbraucht wurde; über 100 %: "
                    "Ziel verfehlt.", options={"orientation": "horizontal", "displayMode": "basic"}), 12, 10)
    b.add(panel("bargauge", "Zertifikate: Tage bis Ablauf", [target(
        f"sort(min by (service, url) (probe_ssl_earliest_cert_expiry{{{J}}} - time()) / 86400)", "{{service}} {{url}}",
        instant=True)], unit="d", decimals=0, thresholds=[(None, "red"), (3, "orange"), (21, "green")],
        options={"orientation": "horizontal", "displayMode": "basic"}), 12, 10)

    b.row("Antwortzeiten")
    b.add(panel("timeseries", "Antwortzeit nach Phase (Mittel aller Dienste)", [target(
        f"avg by (phase) (probe_http_duration_seconds{{{J}}})", "{{phase}}")], unit="s",
        custom={"stacking": {"mode": "normal"}, "fillOpacity": 40},
        description="resolve = DNS, connect = TCP, tls = Handshake, processing = bis zum ersten Byte, "
                    "transfer = Übertragung."), 12, 8)
    b.add(panel("timeseries", "Langsamste Dienste (Gesamtdauer)", [target(
        f"topk(5, max by (service) (probe_duration_seconds{{{J}}}))", "{{service}}")], unit="s"), 12, 8)

    b.row("Standorte")
    b.add(merged_table("Erreichbarkeit je Standort (Profile mit locations)", [
        ("Gesamt (Quorum)", (f"max by (service, category, url) (probe_success{{{J}}}) "
                             f"and on (service, url) count by (service, url) (egov_location_probe_success{{{J}}})")),
        ("Standorte erreicht", f"sum by (service, category, url) (egov_location_probe_success{{{J}}})"),
        ("Standorte mit Urteil", f"count by (service, category, url) (egov_location_probe_success{{{J}}})"),
    ], description="Je Dienst: das Urteil nach Quorum und wie viele Standorte ihn erreichen. Ein Standort, der "
                   "selbst nicht prüfen konnte (Proxy gestört), hat kein Urteil. Von weniger Standorten als dem "
                   "Quorum aus nicht erreichbar: eingeschränkt (partial_outage).",
        overrides=[override("Gesamt (Quorum)", mappings=PASS_FAIL, cell=cell_colour())]), 12, 8)
    b.add(panel("timeseries", "Nicht erreichbare Ziele je Standort", [target(
        f"count by (location) (egov_location_probe_success{{{J}}} == 0) or "
        f"(count by (location) (egov_location_probe_success{{{J}}}) * 0)", "{{location}}")], decimals=0,
        custom={"lineInterpolation": "stepAfter"},
        description="Steigt die Zahl nur an einem Standort, liegt es meist am Standort (Proxy, Anbindung)."),
        12, 8)
    b.add(panel("timeseries", "Antwortzeit je Standort (Mittel der Ziele)", [target(
        f"avg by (location) (egov_location_probe_duration_seconds{{{J}}})", "{{location}}")], unit="s",
        description="Wie lange die Prüfung von jedem Standort aus dauert; ein Standort hinter einem Proxy ist "
                    "meist etwas langsamer."), 24, 7)

    b.row("Monitor")
    b.add(panel("timeseries", "Prüfungen je Minute nach Ergebnis", [target(
        f"sum by (kind, state) (rate(egov_check_runs_total{{{J}}}[$__rate_interval])) * 60", "{{kind}} {{state}}")]),
        12, 7)
    b.add(panel("timeseries", "Interne Fehler und verpasste Läufe (15 min)", [
        target(f"sum by (kind, stage) (increase(egov_check_errors_total{{{J}}}[15m]))", "Fehler {{kind}} {{stage}}"),
        target(f"sum by (kind) (increase(egov_scheduler_missed_runs_total{{{J}}}[15m]))", "verpasst {{kind}}", "B")]),
        12, 7)
    b.add(panel("timeseries", "Verspätung der Läufe (p99) und geplante Prüfziele", [
        target(f"histogram_quantile(0.99, sum by (le, kind) (rate(egov_scheduler_lag_seconds_bucket{{{J}}}"
               f"[$__rate_interval])))", "p99 {{kind}}"),
        target(f"sum by (kind) (egov_scheduled_targets{{{J}}})", "Ziele {{kind}}", "B")],
        description="Zeit zwischen dem geplanten und dem tatsächlichen Start eines Laufs (99 % der Läufe "
                    "beginnen früher); rechts die Zahl der geplanten Prüfziele.",
        overrides=[{"matcher": {"id": "byRegexp", "options": "^Ziele.*"},
                    "properties": [{"id": "custom.axisPlacement", "value": "right"}, {"id": "unit", "value": "none"}]}],
        unit="s"), 12, 7)
    b.add(panel("timeseries", "Browser-Sitzungen", [
        target(f"sum(egov_browser_sessions{{{J}}})", "offen"),
        target(f"sum(rate(egov_browser_sessions_started_total{{{J}}}[$__rate_interval])) * 3600", "gestartet je Stunde",
               "B"),
        target(f"sum(rate(egov_browser_sessions_recycled_total{{{J}}}[$__rate_interval])) * 3600",
               "erneuert je Stunde", "C"),
        target(f"sum(rate(egov_browser_sessions_killed_total{{{J}}}[$__rate_interval])) * 3600", "beendet je Stunde",
               "D"),
        target(f"sum(rate(egov_browser_session_start_failures_total{{{J}}}[$__rate_interval])) * 3600",
               "Startfehler je Stunde", "E"),
        target(f"sum(rate(egov_browser_pages_total{{{J}}}[$__rate_interval])) * 3600", "Seiten je Stunde", "F")],
        description="Der Browser-Pool der Barrierefreiheits-, DSGVO- und Strecken-Prüfungen: beendet = vom Wächter "
                    "oder nach einem Fehler; erneuert = nach ihrem Seitenkontingent."), 12, 7)
    b.add(panel("table", "Version und Konfiguration", [
        target(f"egov_build_info{{{J}}}", instant=True, fmt="table"),
        target(f"time() - egov_config_last_reload_success_timestamp_seconds{{{J}}}", ref="B", instant=True,
               fmt="table")],
        description="Laufende Version von egov-monitor und wie lange die Konfiguration zuletzt erfolgreich "
                    "geladen wurde (Sekunden).",
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": {
            "excludeByName": {"Time": True, "__name__": True, "Value #A": True},
            "renameByName": {"version": "Version", "instance": "Instanz", "Value #B": "Konfiguration geladen vor (s)"}}}]),
        12, 5)
    return dashboard("egov-overview", "egov-monitor: Übersicht",
                     "Status, Verfügbarkeit, Antwortzeiten und Zertifikate aller Dienste des Katalogs.", b,
                     tags=["verfuegbarkeit"])


def compliance() -> dict:
    b = Board()
    b.row("Barrierefreiheit (WCAG 2.1 AA / BITV 2.0)")
    b.add(merged_table("Barrierefreiheit je Dienst", [
        ("Kritisch", f'sum by (service, category) (egov_accessibility_rules_violated{{{J}, impact="critical"}})'),
        ("Schwer", f'sum by (service, category) (egov_accessibility_rules_violated{{{J}, impact="serious"}})'),
        ("Seiten geprüft", f"sum by (service, category) (egov_accessibility_pages_scanned{{{J}}})"),
        ("Bewertung", f"max by (service, category) (egov_accessibility_score{{{J}}})"),
        ("BITV-Merkmale nicht erfüllt", f"sum by (service, category) (1 - egov_bitv_marker_passed{{{J}}})"),
        ("Seiten mit schweren Verstößen",
         f"sum by (service, category) (egov_accessibility_pages_with_serious_violations{{{J}}})"),
        ("Seiten nicht prüfbar", f"sum by (service, category) (egov_accessibility_pages_failed{{{J}}})"),
        ("Regeln zu prüfen", f"sum by (service, category) (egov_accessibility_incomplete_rules{{{J}}})"),
    ], description="Verschiedene verletzte axe-Regeln (= Zahl der Korrekturen an Vorlagen), je Schweregrad. "
                   "Nicht prüfbar: Zeitgrenze, Fehlerstatus oder Browser; zu prüfen: Regeln, die axe nicht "
                   "entscheiden konnte (von Hand prüfen).",
        overrides=[override("Kritisch", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "red")])),
                   override("Schwer", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "orange")])),
                   override("Bewertung", decimals=0),
                   override("Seiten nicht prüfbar", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "orange")]))]),
        14, 9)
    b.add(panel("timeseries", "Verletzte Regeln nach Schweregrad (alle Dienste)", [target(
        f"sum by (impact) (egov_accessibility_rules_violated{{{J}}})", "{{impact}}")],
        custom={"drawStyle": "line", "lineInterpolation": "stepAfter"}), 10, 9)
    b.add(panel("bargauge", "BITV-Merkmale: Dienste, die sie nicht erfüllen", [target(
        f"sum by (marker) (1 - egov_bitv_marker_passed{{{J}}})", "{{marker}}", instant=True)], decimals=0,
        thresholds=[(None, "green"), (1, "red")], options={"orientation": "horizontal", "displayMode": "basic"}),
        12, 7)
    b.add(panel("timeseries", "Bewertung Barrierefreiheit (Trend)", [target(
        f"egov_accessibility_score{{{J}}}", "{{service}}")], minimum=0, maximum=100,
        custom={"lineInterpolation": "stepAfter"}), 12, 7)
    b.add(panel("timeseries", "Betroffene Elemente nach Schweregrad (alle Dienste)", [target(
        f"sum by (impact) (egov_accessibility_violations{{{J}}})", "{{impact}}")], decimals=0,
        description="Elemente, die eine axe-Regel verletzen, über alle geprüften Seiten: wie viel eine Korrektur "
                    "an einer Vorlage auf einmal behebt.", custom={"lineInterpolation": "stepAfter"}), 16, 7)
    b.add(panel("table", "axe-core-Version der letzten Prüfungen", [target(
        f"count by (axe_version) (egov_accessibility_axe_info{{{J}}})", instant=True, fmt="table")],
        description="Zahl der Dienste je axe-core-Version: Regeln und Urteile hängen von ihr ab.",
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                         "renameByName": {"axe_version": "axe-core",
                                                                          "Value": "Dienste"}}}]), 8, 7)

    b.row("Datenschutz (DSGVO)")
    b.add(merged_table("DSGVO je Dienst (vor Einwilligung)", [
        ("Tracker", f'sum by (service, category) (egov_gdpr_trackers{{{J}, consent="before"}})'),
        ("Drittanbieter", f'sum by (service, category) (egov_gdpr_third_party_hosts{{{J}, consent="before"}})'),
        ("Cookies Dritter", f'sum by (service, category) (egov_gdpr_third_party_cookies{{{J}, consent="before"}})'),
        ("Merkmale nicht erfüllt", f"sum by (service, category) (1 - egov_gdpr_marker_passed{{{J}}})"),
        ("Nicht notwendige Cookies",
         f'sum by (service, category) (egov_gdpr_nonessential_cookies{{{J}, consent="before"}})'),
        ("Speicher-Schlüssel", f'sum by (service, category) (egov_gdpr_storage_keys{{{J}, consent="before"}})'),
        ("Anfragen", f'sum by (service, category) (egov_gdpr_requests{{{J}, consent="before"}})'),
        ("Seiten", f"sum by (service, category) (egov_gdpr_pages_scanned{{{J}}})"),
        ("Seiten nicht aufgezeichnet", f"sum by (service, category) (egov_gdpr_pages_failed{{{J}}})"),
    ], description="Vor jeder Einwilligung, in einem frischen Browser: Tracker-Hosts, Hosts Dritter, Cookies "
                   "Dritter, eigene Cookies und Speicher-Schlüssel außerhalb der Liste notwendiger, alle "
                   "Netzwerkanfragen.",
        overrides=[override("Tracker", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "red")])),
                  override("Nicht notwendige Cookies", cell=cell_colour(),
                           thresholds=steps([(None, "green"), (1, "orange")])),
                  override("Seiten nicht aufgezeichnet", cell=cell_colour(),
                           thresholds=steps([(None, "green"), (1, "orange")])),
                  override("Merkmale nicht erfüllt", cell=cell_colour(),
                           thresholds=steps([(None, "green"), (1, "red")]))]), 14, 8)
    b.add(panel("timeseries", "Tracker vor Einwilligung (alle Dienste)", [target(
        f'sum(egov_gdpr_trackers{{{J}, consent="before"}})', "Tracker-Hosts")], decimals=0,
        custom={"lineInterpolation": "stepAfter"}), 10, 8)

    b.row("KI-Verordnung (KI-Assistenten)")
    b.add(merged_table("KI-Assistenten je Dienst", [
        ("Assistenten", f"sum by (service, category) (egov_ai_widgets{{{J}}})"),
        ("KI-Dienste vor Einwilligung", f"sum by (service, category) (egov_ai_apis_before_consent{{{J}}})"),
    ], description="Chat- und KI-Assistenten (config/ai.yaml) auf den Seiten des Dienstes und KI-Dienste, die die "
                   "Seiten vor einer Einwilligung ansprachen. Ein nicht erfülltes Merkmal (Art. 50 KI-VO: Hinweis "
                   "auf KI) meldet der Alarm EgovAiWidgetUndisclosed.",
        overrides=[override("KI-Dienste vor Einwilligung", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (1, "red")]))]), 24, 6)

    b.row("Antragsstrecken")
    b.add(merged_table("Antragsstrecken (letzter Lauf)", [
        ("Bis zum Haltepunkt", f"min by (service, category, journey) (egov_journey_success{{{J}}})"),
        ("Dauer", f"max by (service, category, journey) (egov_journey_duration_seconds{{{J}}})"),
        ("Gesperrte Anfragen", f"sum by (service, category, journey) (egov_journey_blocked_requests{{{J}}})"),
        ("Barrieren (Elemente)", f"sum by (service, category, journey) (egov_journey_barriers{{{J}}})"),
        ("Tracker vor Einwilligung", f"sum by (service, category, journey) (egov_journey_trackers{{{J}}})"),
    ], description="Erfolg = jeder Schritt bis zum Haltepunkt bestanden; gesperrte Anfragen: die Strecke wollte "
                   "etwas absenden oder eine never_request-Adresse aufrufen; Barrieren: Elemente mit axe-Verstößen "
                   "auf den Seiten der Strecke.",
        overrides=[override("Bis zum Haltepunkt", mappings=PASS_FAIL, cell=cell_colour()),
                   override("Dauer", unit="s"),
                   override("Gesperrte Anfragen", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "red")])),
                   override("Tracker vor Einwilligung", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (1, "red")]))]),
        14, 8)
    b.add(panel("timeseries", "Dauer der Antragsstrecken", [target(
        f"egov_journey_duration_seconds{{{J}}}", "{{service}}: {{journey}}")], unit="s",
        custom={"lineInterpolation": "stepAfter"}), 10, 8)

    b.row("Nutzerfreundlichkeit (Laborwerte)")
    b.add(merged_table("Nutzerfreundlichkeit je Dienst (langsamste Seite, Laborwerte)", [
        ("LCP", f"max by (service, category) (egov_experience_lcp_seconds{{{J}}})"),
        ("CLS", f"max by (service, category) (egov_experience_cls{{{J}}})"),
        ("TBT", f"max by (service, category) (egov_experience_tbt_seconds{{{J}}})"),
        ("FCP", f"max by (service, category) (egov_experience_fcp_seconds{{{J}}})"),
        ("Seiten schlecht", f'sum by (service, category) (egov_experience_pages{{{J}, verdict="poor"}})'),
        ("Seiten verbesserungswürdig",
         f'sum by (service, category) (egov_experience_pages{{{J}, verdict="needs_improvement"}})'),
        ("TTFB", f"max by (service, category) (egov_experience_ttfb_seconds{{{J}}})"),
        ("Übertragen", f"max by (service, category) (egov_experience_transfer_bytes{{{J}}})"),
        ("Anfragen", f"max by (service, category) (egov_experience_requests{{{J}}})"),
        ("Seiten nicht messbar", f"sum by (service, category) (egov_experience_pages_failed{{{J}}})"),
    ], description="Laborwerte unter festen Bedingungen (Profil der Prüfung, leerer Cache, Median mehrerer "
                   "Messungen), keine Felddaten. Schwellen der Core Web Vitals: LCP gut bis 2,5 s, schlecht über 4 s; "
                   "CLS 0,1 / 0,25; TBT 200 ms / 600 ms.",
        overrides=[override("LCP", unit="s", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (2.5, "orange"), (4.0, "red")])),
                   override("CLS", decimals=3, cell=cell_colour(),
                            thresholds=steps([(None, "green"), (0.1, "orange"), (0.25, "red")])),
                   override("TBT", unit="s", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (0.2, "orange"), (0.6, "red")])),
                   override("FCP", unit="s"), override("TTFB", unit="s"), override("Übertragen", unit="bytes"),
                   override("Seiten nicht messbar", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (1, "orange")])),
                   override("Seiten schlecht", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "red")]))]),
        14, 8)
    b.add(panel("timeseries", "Largest Contentful Paint (langsamste Seite)", [target(
        f"egov_experience_lcp_seconds{{{J}}}", "{{service}}")], unit="s",
        custom={"lineInterpolation": "stepAfter"}), 10, 8)
    b.add(merged_table("Antragsstrecken: Laborwerte (schlechtester Schritt)", [
        ("LCP", f"max by (service, category, journey) (egov_journey_experience_lcp_seconds{{{J}}})"),
        ("CLS", f"max by (service, category, journey) (egov_journey_experience_cls{{{J}}})"),
        ("TBT", f"max by (service, category, journey) (egov_journey_experience_tbt_seconds{{{J}}})"),
        ("INP", f"max by (service, category, journey) (egov_journey_experience_inp_seconds{{{J}}})"),
        ("Schritte schlecht", f"sum by (service, category, journey) (egov_journey_experience_poor_steps{{{J}}})"),
    ], description="Jeder Schritt einer Strecke, ungedrosselt im Browser der Strecke gemessen: LCP, CLS und TBT "
                   "der Seite, die er öffnet; INP der Eingaben des Schritts (gut bis 200 ms, schlecht über 500 ms).",
        overrides=[override("LCP", unit="s"), override("TBT", unit="s"), override("CLS", decimals=3),
                   override("INP", unit="s", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (0.2, "orange"), (0.5, "red")])),
                   override("Schritte schlecht", cell=cell_colour(),
                            thresholds=steps([(None, "green"), (1, "red")]))]), 24, 7)

    b.row("Domain und E-Mail (BSI TR-03182, TR-03108)")
    domain_markers = [("DNSSEC signiert", "dnssec_signed"), ("DNSSEC gültig", "dnssec_valid"), ("CAA", "caa_present"),
                      ("IPv6 NS", "ipv6_ns"), ("IPv6 Web", "ipv6_web"), ("IPv6 MX", "ipv6_mx"), ("MX", "mx"),
                      ("SPF", "spf"), ("DMARC", "dmarc"), ("DKIM", "dkim"), ("STARTTLS", "starttls"), ("DANE", "dane")]
    b.add(merged_table("Domains je Dienst (letzte Prüfung)", [
        ("Note", f"max by (service, category, url) (egov_domain_grade{{{J}}})"),
        *((title, f'max by (service, category, url) (egov_domain_marker_passed{{{J}, marker="{m}"}})')
          for title, m in domain_markers),
    ], description="Je Domain (URL dns:<Domain>): DNSSEC vom Vertrauensanker bis zu den Einträgen vom Monitor selbst "
                   "geprüft, CAA, IPv6 (AAAA) der Name-, Web- und Mailserver, MX (oder Null-MX), SPF und DMARC. Leere "
                   "Zelle: nicht feststellbar. Ungültiges DNSSEC meldet EgovDomainDnssecBroken, fehlendes DMARC "
                   "EgovDomainMailSpoofable.",
        overrides=[override("Note", mappings=[{"type": "value", "options": {
            str(i): {"text": g, "color": c, "index": i} for i, (g, c) in enumerate(
                (("A", "green"), ("B", "green"), ("C", "yellow"), ("D", "orange"), ("F", "red")))}}], cell=cell_colour()),
            *(override(title, mappings=PASS_FAIL, cell=cell_colour()) for title, _m in domain_markers)]), 24, 7)

    b.row("Sicherheit (HTTP Observatory, BSI TR-02102-2)")
    b.add(merged_table("Sicherheit je URL", [
        ("Note", "url:egov_security_grade:rank"),
        ("Punkte", f"max by (service, category, url) (egov_security_score{{{J}}})"),
        ("TLS konform", f"max by (service, category, url) (egov_tls_compliant{{{J}}})"),
        ("security.txt", f"max by (service, category, url) (egov_security_txt_valid{{{J}}})"),
        ("Kritische Befunde", f'sum by (service, category, url) (egov_security_findings{{{J}, severity="critical"}})'),
        ("Forward Secrecy", f"max by (service, category, url) (egov_tls_forward_secrecy{{{J}}})"),
        ("Zertifikat (Tage)",
         f"min by (service, category, url) (egov_tls_certificate_expiry_timestamp_seconds{{{J}}} - time()) / 86400"),
    ], description="Zertifikat: das des Servers, wie die TLS-Prüfung es sah (die Verfügbarkeitsprobe sieht die "
                   "ganze Kette: Übersicht).",
        overrides=[override("Note", mappings=GRADE_TEXT, cell=cell_colour(), thresholds=steps(GRADE_STEPS)),
                  override("TLS konform", mappings=PASS_FAIL, cell=cell_colour()),
                  override("Forward Secrecy", mappings=PASS_FAIL, cell=cell_colour()),
                  override("Zertifikat (Tage)", decimals=0, cell=cell_colour(),
                           thresholds=steps([(None, "red"), (3, "orange"), (21, "green")])),
                  override("security.txt", mappings=PASS_FAIL, cell=cell_colour())]), 14, 9)
    b.add(panel("timeseries", "Sicherheitsnote (Trend)", [target("url:egov_security_grade:rank", "{{service}}")],
                mappings=GRADE_TEXT, minimum=0, maximum=12, custom={"lineInterpolation": "stepAfter"}), 10, 9)
    b.add(panel("bargauge", "Dienste je Note", [target(
        f"count by (grade) (egov_security_grade_info{{{J}}})", "{{grade}}", instant=True)], decimals=0,
        options={"orientation": "horizontal", "displayMode": "basic"}), 12, 7)
    b.add(panel("bargauge", "Angenommene TLS-Versionen (Zahl der URLs)", [target(
        f"sum by (version) (egov_tls_version_accepted{{{J}}})", "{{version}}", instant=True)], decimals=0,
        options={"orientation": "horizontal", "displayMode": "basic"}), 12, 7)
    return dashboard("egov-compliance", "egov-monitor: Compliance",
                     "Barrierefreiheit, Datenschutz und Sicherheit aller Dienste und ihr Verlauf.", b,
                     tags=["compliance"], time_from="now-30d")


def service() -> dict:
    b = Board()
    b.add(panel("stat", "Status", [target(f"min(probe_success{{{SVC}}})")], mappings=UP_DOWN), 4, 4)
    b.add(panel("stat", "Verfügbarkeit 30 Tage", [target('service:egov_availability:ratio_30d{service="$service"}')],
                unit="percentunit", decimals=3, thresholds=AVAIL_STEPS), 5, 4)
    b.add(panel("stat", "Verfügbarkeit seit 1. Januar", [target(
        'service:egov_availability:ratio_ytd{service="$service"}')], unit="percentunit", decimals=3,
        thresholds=AVAIL_STEPS), 5, 4)
    b.add(panel("stat", "Ziel", [target(f"egov_service_availability_target_ratio{{{SVC}}}")], unit="percentunit",
                decimals=1), 3, 4)
    b.add(panel("stat", "Zertifikat läuft ab in", [target(
        f"(min(probe_ssl_earliest_cert_expiry{{{SVC}}}) - time()) / 86400")], unit="d", decimals=0,
        thresholds=[(None, "red"), (3, "orange"), (21, "green")]), 4, 4)
    b.add(panel("stat", "Sicherheitsnote", [target('max(url:egov_security_grade:rank{service="$service"})')],
                mappings=GRADE_TEXT, thresholds=GRADE_STEPS), 3, 4)

    b.row("Verfügbarkeit")
    b.add(panel("state-timeline", "Erreichbarkeit je URL", [target(f"probe_success{{{SVC}}}", "{{url}}")],
                mappings=UP_DOWN, options={"showValue": "never", "mergeValues": True}), 24, 6)
    b.add(panel("timeseries", "Antwortzeit nach Phase", [target(
        f"sum by (phase) (probe_http_duration_seconds{{{SVC}}})", "{{phase}}")], unit="s",
        custom={"stacking": {"mode": "normal"}, "fillOpacity": 40}), 12, 8)
    b.add(panel("timeseries", "HTTP-Status und Weiterleitungen", [
        target(f"probe_http_status_code{{{SVC}}}", "Status {{url}}"),
        target(f"probe_http_redirects{{{SVC}}}", "Weiterleitungen {{url}}", "B")], decimals=0), 12, 8)
    b.add(merged_table("Letzte Prüfungen", [
        ("Zustand seit", f"max by (service, url, kind) (egov_check_state_since_timestamp_seconds{{{SVC}}}) * 1000"),
        ("Letzter Lauf", f"max by (service, url, kind) (egov_check_last_run_timestamp_seconds{{{SVC}}}) * 1000"),
        ("Intervall", f"max by (service, url, kind) (egov_check_interval_seconds{{{SVC}}})"),
    ], overrides=[override("Zustand seit", unit="dateTimeAsLocal"), override("Letzter Lauf", unit="dateTimeAsLocal"),
                  override("Intervall", unit="s")]), 24, 6)

    b.row("Compliance")
    b.add(panel("timeseries", "Barrierefreiheit: verletzte Regeln", [target(
        f"sum by (impact) (egov_accessibility_rules_violated{{{SVC}}})", "{{impact}}")], decimals=0,
        custom={"lineInterpolation": "stepAfter"}), 8, 8)
    b.add(panel("timeseries", "DSGVO: vor Einwilligung", [
        target(f'sum(egov_gdpr_trackers{{{SVC}, consent="before"}})', "Tracker"),
        target(f'sum(egov_gdpr_third_party_hosts{{{SVC}, consent="before"}})', "Drittanbieter", "B")], decimals=0,
        custom={"lineInterpolation": "stepAfter"}), 8, 8)
    b.add(panel("timeseries", "Sicherheit: Punkte", [target(f"egov_security_score{{{SVC}}}", "{{url}}")],
                custom={"lineInterpolation": "stepAfter"}), 8, 8)
    b.add(panel("timeseries", "Antragsstrecken: Zeit je Schritt", [target(
        f"sum by (journey, step) (egov_journey_step_duration_seconds{{{SVC}}})", "{{journey}}: {{step}}")], unit="s",
        custom={"stacking": {"mode": "normal"}, "fillOpacity": 40, "lineInterpolation": "stepAfter"}), 12, 8)
    b.add(panel("table", "Antragsstrecken: gescheiterter Schritt", [target(
        f"max by (journey, step) (egov_journey_step_failed{{{SVC}}})", instant=True, fmt="table")],
        description="1 beim Schritt, an dem der letzte Lauf scheiterte; 0 bei bestandenen Schritten.",
        overrides=[override("Value", cell=cell_colour(), thresholds=steps([(None, "green"), (1, "red")]))],
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {
            "journey": "Strecke", "step": "Schritt", "Value": "gescheitert"}}}]), 12, 8)
    b.add(panel("table", "Sicherheits-Tests", [target(
        f"min by (test) (egov_security_test_passed{{{SVC}}})", instant=True, fmt="table")],
        overrides=[override("Value", mappings=PASS_FAIL, cell=cell_colour())],
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                        "renameByName": {"test": "Test", "Value": "Ergebnis"}}}]),
        12, 9)
    b.add(panel("table", "Merkmale (BITV und DSGVO)", [
        target(f"min by (marker) (egov_bitv_marker_passed{{{SVC}}})", ref="A", instant=True, fmt="table"),
        target(f"min by (marker) (egov_gdpr_marker_passed{{{SVC}}})", ref="B", instant=True, fmt="table")],
        overrides=[override("Ergebnis", mappings=PASS_FAIL, cell=cell_colour())],
        transformations=[{"id": "merge", "options": {}},
                         {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {
                             "marker": "Merkmal", "Value #A": "Ergebnis", "Value #B": "Ergebnis"}}}]), 12, 9)
    variable = {
        "name": "service", "label": "Dienst", "type": "query", "datasource": DS,
        "query": {"query": f"label_values(egov_service_info{{{J}}}, service)", "refId": "service"},
        "definition": f"label_values(egov_service_info{{{J}}}, service)", "refresh": 2, "sort": 1,
        "includeAll": False, "multi": False, "current": {},
    }
    return dashboard("egov-service", "egov-monitor: Dienst im Detail",
                     "Alle Prüfungen eines Dienstes: Verfügbarkeit, Antwortzeiten, Barrierefreiheit, DSGVO, Sicherheit.",
                     b, tags=["dienst"], templating=[variable], time_from="now-7d")


DASHBOARDS = {"egov-overview.json": overview, "egov-compliance.json": compliance, "egov-service.json": service}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"geschrieben: {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
