"""The annual report as files: HTML, tagged PDF (PDF/UA-1), CSV and JSON annex, charts.

The HTML is rendered by Jinja2 with autoescaping on: page titles, URLs and findings come
from scanned pages and are shown as text, never as markup. Charts are matplotlib SVGs
inlined with a name (`role="img"`, `aria-labelledby` the caption) and followed by a table
of the same numbers, which is their text alternative and readable in the PDF as well.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from html import escape as html_escape
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitor.kinds.base import Kinds
from monitor.report import figures as F
from monitor.report.charts import Chart

TEMPLATES = Path(__file__).parent / "templates"


@dataclasses.dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    csv: Path
    json: Path


def _kinds(data: F.ReportData) -> Kinds:
    return cast(Kinds, data.kinds)  # the presentation registry the report was collected with


def charts(data: F.ReportData) -> list[Chart]:
    """Every kind's charts, in report order. Each SVG gets its caption as <title>: WeasyPrint
    makes that the PDF figure's /Alt (PDF/UA-1: a figure without it is invisible to a screen
    reader); the HTML names the chart by its caption (aria-labelledby) as before."""
    out = []
    for kind in _kinds(data).in_report_order():
        if kind.name in data.shown:
            for chart in kind.charts(data):
                title = f"<title>{html_escape(chart.caption)} (Zahlen in der Tabelle darunter)</title>"
                head = chart.svg.index(">", chart.svg.index("<svg")) + 1
                out.append(dataclasses.replace(chart, svg=chart.svg[:head] + title + chart.svg[head:]))
    return out


def environment(kinds: Any = ()) -> Environment:
    """The report's templates, and each kind's from its own folder."""
    extra = [str(k.template_dir) for k in kinds if k.template_dir is not None]
    env = Environment(loader=FileSystemLoader([str(TEMPLATES), *extra]), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.do"])
    env.filters.update(pct=F.fmt_pct, num=F.fmt_num, dur=F.fmt_duration, ms=F.fmt_ms, secs=F.fmt_seconds)
    return env


BOARD_OUTAGES = 25  # outages listed in the board's PDF (the longest); all are in the HTML and the annex


def render_html(data: F.ReportData, chart_list: list[Chart], *, board: bool = False) -> str:
    """The report. `board`: the PDF's reading for the board: the per-service tables list the
    services that deviate (not green; in data quality: under 99 % of the planned checks), the
    outage table the longest BOARD_OUTAGES, each with a note on how many the HTML and the annex
    list; summary, charts, findings, rules and figures per group are the same."""
    tz = data.tz
    env = environment(data.kinds)
    env.filters.update(time=lambda ts: F.fmt_time(ts, tz), date=lambda ts: F.fmt_date(ts, tz))
    template = env.get_template("report.html.j2")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    longest_gaps = sorted(data.monitor_gaps, key=lambda g: g[0] - g[1])[:20]
    kinds = [k for k in _kinds(data).in_report_order() if k.name in data.shown]
    context: dict[str, Any] = {}
    for kind in kinds:
        context.update(kind.section_context(data))

    # a criterion grey for every service (e.g. satisfaction before any survey is imported) says
    # nothing about one service: it does not make every service a deviation
    keys = {k for s in data.services for k in s.lights}
    silent = {k for k in keys if all(s.lights[k].color == "grey" for s in data.services if k in s.lights)}

    def detail(members: list[F.ServiceReport], key: str | None = None) -> list[F.ServiceReport]:
        """The services a per-service table lists: all, or on the board's PDF those deviating in
        `key`'s light (in any criterion's without `key`)."""
        if not board:
            return members
        return [s for s in members if any(light.color != "green" for k, light in s.lights.items()
                                          if k == key or (key is None and k not in silent))]

    return template.render(d=data, charts=chart_list, css=css, longest_gaps=longest_gaps, criteria=F.criteria(_kinds(data), data.shown),
                           months=F.MONTHS_DE, kinds=kinds, all_kinds=data.kinds_shown(), board=board, detail=detail,
                           board_outages=BOARD_OUTAGES, **context)


def write_pdf(html: str, path: Path) -> None:
    from weasyprint import HTML

    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(str(path), pdf_variant="pdf/ua-1",
                                                         finisher=lambda _doc, pdf: scope_table_headers(pdf))


def scope_table_headers(pdf: Any) -> int:
    """Give every table header cell of the tagged PDF its /Scope, which WeasyPrint leaves out
    (PDF/UA-1, ISO 32000-1 14.8.5.7): a header in a row with data cells heads its row (our
    `<th scope="row">`), one in a row of headers only heads its column. Runs as WeasyPrint's
    finisher on its objects before they are written (`pdf`: a pydyf.PDF; re-reading the
    written file with pypdf took longer than laying out the pages). Returns how many."""
    import pydyf

    by_reference = {obj.reference: obj for obj in pdf.objects if isinstance(obj, pydyf.Dictionary)}
    count = 0
    for row in by_reference.values():
        if row.get("S") != "/TR" or row.get("Type") != "/StructElem":
            continue
        found = [by_reference.get(k) for k in row.get("K") or () if isinstance(k, bytes)]
        cells: list[Any] = [c for c in found if c is not None and c.get("S") in ("/TH", "/TD")]
        scope = "/Row" if any(c["S"] == "/TD" for c in cells) else "/Column"
        for cell in cells:
            if cell["S"] == "/TH":
                attrs = cell.get("A")
                if not isinstance(attrs, pydyf.Dictionary):
                    attrs = cell["A"] = pydyf.Dictionary({"O": "/Table"})
                attrs["Scope"] = scope
                count += 1
    return count


def write_annex(data: F.ReportData, csv_path: Path, json_path: Path) -> None:
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["service_id", "section", "period", "figure", "value", "unit"])
        writer.writeheader()
        for row in data.annex:
            writer.writerow({**row, "value": "" if row["value"] is None else row["value"]})
    services = {s.id: {"name": s.name, "category": s.category, "operator": s.operator} for s in data.services}
    doc: dict[str, Any] = {
        "year": data.year, "generated_at": data.generated_at.isoformat(), "timezone": str(data.tz),
        "period": {"start": data.period_start, "end": data.period_end, "first_day": data.period.first.isoformat(),
                   "last_day": data.period.last.isoformat(), "label": data.period.label}, "services": services,
        "top_findings": data.top_findings, "figures": data.annex,
    }
    for detail in data.details:
        doc[detail.key] = detail.rows
        with csv_path.with_name(f"{csv_path.stem}-{detail.file}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(detail.columns))
            writer.writeheader()
            writer.writerows(detail.rows)
    json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
