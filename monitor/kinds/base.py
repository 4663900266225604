"""The presentation of one check kind: what the monitor shows of its results.

A kind's check and the store's hooks (`checks.kind.Records`) live in `checks/<kind>`;
everything shown lives in `monitor/kinds/<kind>/`: the metric families it exports, the CLI
view, its report section (summary, traffic light, annex rows, charts, template) and its
share of the top findings. The consumers (`monitor.metrics`, `monitor.cli`, `monitor.report`,
the status page) loop over the registry the process built (`monitor.kinds.builtin()`) and
never ask which kind they hold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from checks.kind import CheckImplementation, Registry
from checks.result import CheckResult
from monitor.report.format import Light
from monitor.report.model import Annex, Detail, ReportData, ServiceInputs, ServiceReport

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.report.charts import Chart
    from monitor.rollup import Bucket
    from monitor.store import Store

TARGET_LABELS = ["service", "category", "url"]


class Samples(Protocol):
    """What a kind's `export` adds samples to: a prometheus_client GaugeMetricFamily, or the
    daemon's per-target renderer (monitor.metrics), which formats the same lines faster."""

    def add_metric(self, labels: Sequence[str], value: float) -> None: ...


Families = Mapping[str, Samples]


@dataclasses.dataclass(frozen=True, slots=True)
class Family:
    """One metric family a kind exports per target: name, help text, labels beyond the target's."""

    name: str
    doc: str
    labels: tuple[str, ...] = ()
    # exported only when a target has samples of it (a feature few targets use: locations), so a
    # catalog without it exports exactly what it did before the family existed
    sparse: bool = False


class Kind:
    """Base of every kind's presentation. A subclass sets the class attributes it needs and
    overrides the hooks it has something for; the defaults export, show and report nothing."""

    check: CheckImplementation
    title: str  # German, as in the report's criteria and the data-quality table
    short_title = ""  # a shorter heading for narrow columns, if `title` is too long
    families: tuple[Family, ...] = ()
    families_first = False  # its families precede the common ones in /metrics (blackbox_exporter's names)
    uses_timeline = False  # its report summary needs the state changes (availability arithmetic)
    counts_hours = False  # the data-quality table shows the hours without a result
    report_rank = 100  # place in the report (sections, summary columns, annex)
    finding_rank = 100  # among equally weighted top findings
    report_template: str | None = None  # Jinja template of its report section's body (in `template_dir`)
    template_dir: Path | None = None  # the kind's folder: its templates beside its code
    section_id = ""  # the section's HTML id (a German word: the report's anchors are German)
    section_title = ""  # the section's heading
    light_rule = ""  # German: how its traffic light is set (the report's method section)

    @property
    def name(self) -> str:
        return str(self.check.kind)

    def column_title(self) -> str:
        """Column heading where space is short (the data-quality table): `short_title` or `title`."""
        return self.short_title or self.title

    # ----------------------------------------------------------- metrics and rollups

    def export(self, out: Families, base: list[str], result: CheckResult) -> None:
        """Add this result's samples to the kind's families (`base`: the target's label values)."""

    # ----------------------------------------------------------- CLI

    def show(self, results: Sequence[CheckResult], console: Console) -> None:
        """Print the kind's detail view below the common result table (German)."""

    def attachments(self, result: CheckResult) -> list[tuple[str, bytes]]:
        """Files a result carries (a failed step's screenshot): (file name, content), for `--anhaenge`."""
        return []

    # ----------------------------------------------------------- report

    def summarise(self, inputs: ServiceInputs) -> Any | None:
        """The kind's figures for one service in the period; None: no data."""
        return None

    def has_data(self, summary: Any | None) -> bool:
        return summary is not None

    def monitored_since(self, summary: Any | None, days: list[tuple[int, Bucket]]) -> float | None:
        """Since when the kind has results (the data-quality table's expected runs count from it)."""
        return min(b.last_at for _d, b in days) if days else None

    def unknown_seconds(self, summary: Any | None) -> float:
        """Time whose state the monitor could not tell (summed for the top findings)."""
        return 0.0

    def light(self, report: ServiceReport) -> Light:
        return Light("grey", "keine Prüfung")

    def status_color(self, share: float, target: float) -> str:
        """The status page's color for a day or a period whose results were good for `share`
        percent of the time against the service's `target` (the kind whose records set
        `status_light`)."""
        return "grey"

    def annex(self, report: ServiceReport, fig: Annex) -> None:
        """Every figure the report shows for this service, as annex rows (`fig.total`,
        `fig.month`: the period's shape is the annex's business)."""

    def findings(self, data: ReportData) -> list[tuple[int, str]]:
        """(weight, German sentence) candidates for the report's top findings."""
        return []

    def charts(self, data: ReportData) -> list[Chart]:
        return []

    def details(self, store: Store, service_ids: list[str], start: float, end: float) -> list[Detail]:
        """Annex-only tables (too long for the report itself)."""
        return []

    def section_context(self, data: ReportData) -> dict[str, Any]:
        """Extra variables its report template uses."""
        return {}


class Kinds(Registry[Kind]):
    """The registry of a process's kinds with their presentation (report order)."""

    def ranked(self) -> list[Kind]:
        """Every kind in the report's order (summaries, traffic lights, annex rows)."""
        return sorted(self, key=lambda k: k.report_rank)

    def in_report_order(self) -> list[Kind]:
        """The kinds with a report section, in the report's order."""
        return sorted((k for k in self if k.report_template), key=lambda k: k.report_rank)
