"""The annual report as files: HTML, tagged PDF (PDF/UA-1), CSV and JSON annex, charts.

The HTML is rendered by Jinja2 with autoescaping on: page titles, URLs and findings come
from scanned pages and are shown as text, never as markup. Charts are matplotlib SVGs
inlined with a name (`role="img"`, `aria-labelledby` the caption) and followed by a table
of the same numbers, which is their text alternative and readable in the PDF as well.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from checks import security_headers as sh
from checks.accessibility import MARKER_NAMES_DE as BITV_NAMES
from checks.gdpr import MARKER_NAMES_DE as GDPR_NAMES
from monitor.report import figures as F

TEMPLATES = Path(__file__).parent / "templates"


@dataclasses.dataclass(frozen=True, slots=True)
class Chart:
    id: str
    caption: str
    svg: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    csv: Path
    json: Path


def _svg(fig, chart_id: str, caption_id: str) -> str:
    """The figure as inline SVG: ids made unique per chart, named by its caption."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'id="([^"]+)"', lambda m: f'id="{chart_id}-{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{chart_id}-{m.group(1)})", text)
    text = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{chart_id}-{m.group(1)}"', text)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    return text.replace("<svg ", f'<svg role="img" aria-labelledby="{caption_id}" focusable="false" ', 1)


def _figure(width: float = 7.5, height: float = 2.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8,
                         "svg.hashsalt": "egov-monitor", "axes.spines.top": False, "axes.spines.right": False})
    return plt.subplots(figsize=(width, height))


COLORS = ("#0b5394", "#b45f06", "#38761d", "#741b47")  # dark enough for 3:1 against white (WCAG 1.4.11)


def charts(data: F.ReportData) -> list[Chart]:
    out: list[Chart] = []
    # 1. availability per month and group: the median service
    groups = data.groups()
    if groups and data.has_data:
        fig, ax = _figure()
        rows = []
        medians: dict[str, list[float | None]] = {}
        for label, members in groups:
            series = []
            for m in range(12):
                values = [s.availability.months[m].availability for s in members]
                values = [v for v in values if v is not None]
                series.append(statistics.median(values) if values else None)
            medians[label] = series
        for i, (label, series) in enumerate(medians.items()):
            xs = [m for m in range(12) if series[m] is not None]
            ax.plot(xs, [series[m] for m in xs], marker="os^d"[i % 4], color=COLORS[i % 4], label=label)
        ax.set_xticks(range(12), F.MONTHS_DE)
        ax.set_ylabel("Verfügbarkeit in %")
        ax.legend(loc="lower left", frameon=False)
        ax.grid(axis="y", color="#cccccc", linewidth=0.5)
        for m in range(12):
            rows.append((F.MONTHS_DE[m], *(F.fmt_pct(medians[label][m]) for label, _ in groups)))
        out.append(Chart("chart-monate", "Verfügbarkeit je Monat: Median der Dienste je Gruppe",
                         _svg(fig, "chart-monate", "chart-monate-caption"),
                         ("Monat", *(label for label, _ in groups)), tuple(rows)))
    # 2. distribution of the year's availability
    bands = (("≥ 99,9 %", 99.9, 101), ("99,5 bis 99,9 %", 99.5, 99.9), ("99 bis 99,5 %", 99.0, 99.5),
             ("95 bis 99 %", 95.0, 99.0), ("< 95 %", -1, 95.0))
    counts = []
    for label, lo, hi in bands:
        counts.append(sum(1 for s in data.services if s.availability.year.availability is not None
                          and lo <= s.availability.year.availability < hi))
    no_data = sum(1 for s in data.services if s.availability.year.availability is None)
    labels = [b[0] for b in bands] + ["keine Daten"]
    values = counts + [no_data]
    fig, ax = _figure(height=2.2)
    ax.barh(range(len(labels)), values, color=COLORS[0])
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("Anzahl Dienste")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v}", va="center")
    out.append(Chart("chart-verteilung", f"Verteilung der Jahresverfügbarkeit ({len(data.services)} Dienste)",
                     _svg(fig, "chart-verteilung", "chart-verteilung-caption"), ("Band", "Dienste"),
                     tuple((lab, str(v)) for lab, v in zip(labels, values, strict=True))))
    # 3. accessibility: services with critical or serious barriers per quarter
    scanned = [s for s in data.services if s.accessibility]
    if scanned:
        per_q = []
        for q in range(4):
            vals = [s.accessibility["quarters"][q] for s in scanned if s.accessibility["quarters"][q] is not None]
            per_q.append((sum(1 for v in vals if v["serious"] > 0), sum(v["serious"] for v in vals), len(vals)))
        fig, ax = _figure(height=2.2)
        ax.bar([f"Q{q + 1}" for q in range(4)], [p[1] for p in per_q], color=COLORS[1])
        ax.set_ylabel("kritische + schwere Regeln")
        out.append(Chart("chart-barrieren", "Kritische und schwere Barrieren je Quartal (Summe der verletzten Regeln, "
                                            "letzte Prüfung im Quartal)",
                         _svg(fig, "chart-barrieren", "chart-barrieren-caption"),
                         ("Quartal", "geprüfte Dienste", "Dienste mit Befund", "Regeln kritisch + schwer"),
                         tuple((f"Q{q + 1}", str(p[2]), str(p[0]), str(p[1])) for q, p in enumerate(per_q))))
    # 4. security grades, latest
    graded = [s.security["grade"] for s in data.services if s.security]
    if graded:
        c = Counter(graded)
        grades = [g for g in sh.GRADES if c.get(g)]
        fig, ax = _figure(height=2.2)
        ax.bar(grades, [c[g] for g in grades], color=COLORS[2])
        ax.set_ylabel("Anzahl Dienste")
        out.append(Chart("chart-noten", "Sicherheitsnoten (HTTP Observatory), letzte Prüfung",
                         _svg(fig, "chart-noten", "chart-noten-caption"), ("Note", "Dienste"),
                         tuple((g, str(c[g])) for g in grades)))
    return out


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.do"])
    env.filters.update(pct=F.fmt_pct, num=F.fmt_num, dur=F.fmt_duration, ms=F.fmt_ms)
    return env


def render_html(data: F.ReportData, chart_list: list[Chart]) -> str:
    tz = data.tz
    env = environment()
    env.filters.update(time=lambda ts: F.fmt_time(ts, tz), date=lambda ts: F.fmt_date(ts, tz))
    template = env.get_template("report.html.j2")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    outages = sorted(((s, o) for s in data.services for o in s.availability.outages), key=lambda x: x[1].start)
    longest_gaps = sorted(data.monitor_gaps, key=lambda g: g[0] - g[1])[:20]
    return template.render(d=data, charts=chart_list, css=css, longest_gaps=longest_gaps, criteria=F.CRITERIA, months=F.MONTHS_DE,
                           bitv_names=BITV_NAMES, gdpr_names=GDPR_NAMES, outages=outages,
                           impacts=("critical", "serious", "moderate", "minor"),
                           impact_de={"critical": "kritisch", "serious": "schwer", "moderate": "mittel",
                                      "minor": "gering"})


def write_pdf(html: str, path: Path) -> None:
    from weasyprint import HTML

    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(str(path), pdf_variant="pdf/ua-1")


def write_annex(data: F.ReportData, csv_path: Path, json_path: Path) -> None:
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["service_id", "section", "period", "figure", "value", "unit"])
        writer.writeheader()
        for row in data.annex:
            writer.writerow({**row, "value": "" if row["value"] is None else row["value"]})
    services = {s.id: {"name": s.name, "category": s.category, "operator": s.operator} for s in data.services}
    doc: dict[str, Any] = {
        "year": data.year, "generated_at": data.generated_at.isoformat(), "timezone": str(data.tz),
        "period": {"start": data.period_start, "end": data.period_end}, "services": services,
        "top_findings": data.top_findings, "figures": data.annex, "barriers": data.barriers,
    }
    barriers = csv_path.with_name(csv_path.stem + "-barrieren.csv")
    with barriers.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["service_id", "scanned_at", "page", "rule", "impact", "element",
                                                "help_url"])
        writer.writeheader()
        writer.writerows(data.barriers)
    json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
