"""The annual quality report for the IT-Planungsgremium Saar (HTML, PDF/UA, CSV and JSON annex)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a report is built: the kinds' presentations import report.format
    from monitor.config import Config
    from monitor.report.period import Period
    from monitor.report.render import ReportFiles
    from monitor.store import Store

STEPS = ("Zeitleisten", "Tageswerte", "Kennzahlen", "Diagramme", "HTML", "Anhang", "PDF")


def build(store: Store, config: Config, period: int | Period, out_dir: Path, *, services: list[str] | None = None,
          pdf: bool = True, now: datetime | None = None, step: Callable[[str], None] = lambda _s: None) -> ReportFiles:
    """Write qualitaetsbericht-PERIOD.{html,pdf,csv,json} into `out_dir` (PERIOD: 2026,
    2026-Q1, 2026-03, 2026-02-01_2026-02-15; an int is that calendar year)."""
    from monitor.report.figures import collect
    from monitor.report.period import Period
    from monitor.report.render import ReportFiles, charts, render_html, write_annex, write_pdf

    out_dir.mkdir(parents=True, exist_ok=True)
    period = period if isinstance(period, Period) else Period.of_year(period)
    base = out_dir / f"qualitaetsbericht-{period.slug}"
    data = collect(store, config, period, services=services, now=now, progress=step)
    step("Diagramme")
    chart_list = charts(data)
    step("HTML")
    html = render_html(data, chart_list)
    html_path = base.with_suffix(".html")
    html_path.write_text(html, encoding="utf-8")
    step("Anhang")
    write_annex(data, base.with_suffix(".csv"), base.with_suffix(".json"))
    pdf_path = None
    if pdf:
        step("PDF")
        pdf_path = base.with_suffix(".pdf")
        # the board's reading: the deviations per service, every figure in the HTML and the annex
        write_pdf(render_html(data, chart_list, board=True), pdf_path)
    return ReportFiles(html_path, pdf_path, base.with_suffix(".csv"), base.with_suffix(".json"))


__all__ = ["STEPS", "build"]
