"""The presentation of one check kind, and the registry that pairs it with its check.

A kind's check lives in `checks/<kind>` (settings, run, payload); everything the monitor
does with its results lives in one module here: the metric families it exports, the digest
its rollups keep, the CLI view, its report section (summary, traffic light, annex rows,
charts, template) and its share of the top findings. The consumers (`monitor.metrics`,
`monitor.cli`, `monitor.rollup`, `monitor.report`) loop over `REGISTRY` and never ask which
kind they hold.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from prometheus_client.core import GaugeMetricFamily

from checks.kind import CheckImplementation
from checks.result import CheckResult
from monitor.report.format import Light

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.config import ResolvedService
    from monitor.report.figures import ReportData, ServiceReport
    from monitor.report.render import Chart
    from monitor.report.timeline import Change
    from monitor.rollup import Bucket
    from monitor.store import Store

TARGET_LABELS = ["service", "category", "url"]
Families = dict[str, GaugeMetricFamily]
Figure = Callable[..., None]  # fig(service, section, period, name, value, unit="")


@dataclasses.dataclass(frozen=True, slots=True)
class Family:
    """One metric family a kind exports per target: name, help text, labels beyond the target's."""

    name: str
    doc: str
    labels: tuple[str, ...] = ()


@dataclasses.dataclass(slots=True)
class ServiceInputs:
    """What a kind's report summary is computed from, for one service."""

    service: ResolvedService
    days: list[tuple[int, Bucket]]  # this kind's day rollups in the period, by day
    changes: list[Change]  # state changes of this kind (kinds with `uses_timeline` only)
    gaps: list[tuple[float, float]]  # when the monitor itself did not run
    year: int
    start: float
    end: float
    tz: ZoneInfo
    # the same day rollups per series URL (kinds with several series per service: URLs, journeys)
    by_url: dict[str, list[tuple[int, Bucket]]] = dataclasses.field(default_factory=dict)
    # operators' incident records of this service touching the period (monitor.incidents.Incident)
    records: list[Any] = dataclasses.field(default_factory=list)
    # the months (0 = January) of `year` the period touches; all twelve for the annual report
    months: tuple[int, ...] = tuple(range(12))
    annual: bool = True  # whether the period is the whole calendar year (its totals are called "Jahr")


@dataclasses.dataclass(frozen=True, slots=True)
class Detail:
    """An annex-only table of a kind: its own CSV file and a key in the JSON annex."""

    key: str  # JSON annex key
    file: str  # CSV file name suffix: qualitaetsbericht-YEAR-<file>.csv
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


class Kind:
    """Base of every kind's presentation. A subclass sets the class attributes it needs and
    overrides the hooks it has something for; the defaults export, show and report nothing."""

    check: CheckImplementation
    title: str  # German, as in the report's criteria and the data-quality table
    short_title = ""  # a shorter heading for narrow columns, if `title` is too long
    families: tuple[Family, ...] = ()
    keep_measurements = True  # rollups keep the last result's measurements (not for per-minute kinds)
    uses_timeline = False  # its report summary needs the state changes (availability arithmetic)
    counts_hours = False  # the data-quality table shows the hours without a result
    report_rank = 100  # place in the report (sections, summary columns, annex)
    finding_rank = 100  # among equally weighted top findings
    report_template: str | None = None  # Jinja template of its report section's body
    template_dir: Path | None = None  # where that template is, if not under monitor/report/templates
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

    def latency(self, result: CheckResult) -> float:
        """The response time this result adds to the latency histogram; NaN: none."""
        return math.nan

    def digest(self, result: CheckResult) -> dict[str, Any] | None:
        """The few evidence facts a rollup keeps for the report (small enough for a year)."""
        return None

    def tally(self, result: CheckResult) -> dict[str, int] | None:
        """Counters this result adds to its hour and day rollups (summed, unlike the digest,
        which keeps only the last result's); None: nothing to count."""
        return None

    # ----------------------------------------------------------- store

    def compact_evidence(self, plain: dict[str, Any]) -> dict[str, Any]:
        """The evidence as a raw row stores it (`plain`: the result's `to_dict()`, its
        `started_at` as the row gives it back). It may leave out what the row's other columns
        rebuild, nothing else: `expand_evidence` must give back exactly `plain["evidence"]`."""
        return plain["evidence"]

    def expand_evidence(self, plain: dict[str, Any]) -> None:
        """Rebuild in `plain["evidence"]` what `compact_evidence` left out (a row read back)."""

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

    def annex(self, report: ServiceReport, fig: Figure) -> None:
        """Every figure the report shows for this service, as annex rows."""

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


class Registry:
    """The kinds this process knows, in registration order (the order of metrics and CLI views)."""

    def __init__(self, kinds: Sequence[Kind] = ()) -> None:
        self._kinds: dict[str, Kind] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: Kind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"check kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind


    def __getitem__(self, name: str) -> Kind:
        return self._kinds[str(name)]

    def get(self, name: str) -> Kind | None:
        return self._kinds.get(str(name))

    def __contains__(self, name: object) -> bool:
        return str(name) in self._kinds

    def __iter__(self) -> Iterator[Kind]:
        return iter(list(self._kinds.values()))

    def __len__(self) -> int:
        return len(self._kinds)

    def names(self) -> list[str]:
        return list(self._kinds)

    def ranked(self) -> list[Kind]:
        """Every kind in the report's order (summaries, traffic lights, annex rows)."""
        return sorted(self, key=lambda k: k.report_rank)

    def in_report_order(self) -> list[Kind]:
        """The kinds with a report section, in the report's order."""
        return sorted((k for k in self if k.report_template), key=lambda k: k.report_rank)
