"""What several kinds' presentations share: German labels, quarters, scanned days."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.rollup import Bucket

SEVERITY_DE = {"critical": ("KRITISCH", "bold red"), "warning": ("Warnung", "yellow"), "notice": ("Hinweis", "cyan")}
MARKER_STATE_DE = {"pass": "[green]erfüllt[/]", "fail": "[bold red]nicht erfüllt[/]",
                   "unknown": "[magenta]nicht feststellbar[/]"}


def last_per_quarter(days: list[tuple[int, Bucket]]) -> list[Bucket | None]:
    """The last day bucket of each quarter (days sorted by day, yyyymmdd)."""
    out: list[Bucket | None] = [None, None, None, None]
    for day, bucket in days:
        out[(day // 100 % 100 - 1) // 3] = bucket
    return out


def scanned_days(days: list[tuple[int, Bucket]]) -> list[tuple[int, Bucket]]:
    """Day rollups whose last scan reached at least one page."""
    return [(d, b) for d, b in days if b.last_measurements and b.last_measurements.get("pages_scanned")]
