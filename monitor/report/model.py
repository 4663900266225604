"""What a report is made of: the leaf the kinds' report sections import.

`ReportData` holds every figure of one report (HTML, PDF, annex); `ServiceReport` one
service's summaries, lights and data quality; `ServiceInputs` what a kind's summary is
computed from; `Annex` the annex rows, with the reporting period's shape applied here
(its months, what its totals are called), so no kind can get a quarter or a month wrong.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from checks.kind import Registry
from monitor.report.format import Light
from monitor.report.period import Period

if TYPE_CHECKING:
    from monitor.config import ResolvedService
    from monitor.report.timeline import Change
    from monitor.rollup import Bucket
    from monitor.store import SatisfactionFigure

GROUPS = (("basisdienst", "Anlage 2: IT-Basisdienste"), ("efa", "Anlage 1: EfA-Leistungen"),
          ("kommune", "Kommunale Dienste"))


@dataclasses.dataclass(slots=True)
class ServiceInputs:
    """What a kind's report summary is computed from, for one service."""

    service: ResolvedService
    days: list[tuple[int, Bucket]]  # this kind's day rollups in the period, by day
    changes: list[Change]  # state changes of this kind (kinds with `uses_timeline` only)
    gaps: list[tuple[float, float]]  # when the monitor itself did not run
    period: Period
    start: float
    end: float
    tz: ZoneInfo
    # the same day rollups per series URL (kinds with several series per service: URLs, journeys)
    by_url: dict[str, list[tuple[int, Bucket]]] = dataclasses.field(default_factory=dict)
    # operators' incident records of this service touching the period (monitor.incidents.Incident)
    records: list[Any] = dataclasses.field(default_factory=list)
    # the impairments of the base services it depends on (monitor.dependencies: base -> BaseSpan
    # list, the period's), and how far apart a failure and an impairment may lie (seconds)
    bases: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    tolerance: float = 0.0
    base_names: dict[str, str] = dataclasses.field(default_factory=dict)  # base service id -> its name

    @property
    def year(self) -> int:
        return self.period.year


@dataclasses.dataclass(frozen=True, slots=True)
class Detail:
    """An annex-only table of a kind: its own CSV file and a key in the JSON annex."""

    key: str  # JSON annex key
    file: str  # CSV file name suffix: qualitaetsbericht-YEAR-<file>.csv
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]


class Annex:
    """The annex rows of one report: every figure the report shows, one row each.

    The period column is set here from the reporting period: `total` rows are the period's
    ("Jahr" for a calendar year, "Zeitraum" for any other period), `month` rows exist only
    for the months the period touches."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.rows: list[dict[str, Any]] = []
        self._months = set(period.months)

    def add(self, service: str, section: str, period: str, name: str, value: Any, unit: str = "") -> None:
        """A row under a period key of its own (a survey's period, a quarter's last scan, a span)."""
        if isinstance(value, float) and math.isfinite(value):
            value = round(value, 6)
        self.rows.append({"service_id": service, "section": section, "period": period, "figure": name,
                          "value": value, "unit": unit})

    def total(self, service: str, section: str, name: str, value: Any, unit: str = "") -> None:
        """A figure of the whole reporting period."""
        self.add(service, section, self.period.total_label, name, value, unit)

    def month(self, service: str, section: str, month: int, name: str, value: Any, unit: str = "") -> None:
        """A figure of one month (0 = January); nothing for a month outside the period."""
        if month in self._months:
            self.add(service, section, f"{month + 1:02d}", name, value, unit)

    def quarter(self, service: str, section: str, quarter: int, name: str, value: Any, unit: str = "") -> None:
        """A figure of one quarter (0 = the first); nothing for a quarter outside the period."""
        if self._months & {3 * quarter, 3 * quarter + 1, 3 * quarter + 2}:
            self.add(service, section, f"Q{quarter + 1}", name, value, unit)

    def latest(self, service: str, section: str, name: str, value: Any, unit: str = "") -> None:
        """A fact of the newest result in the period (a grade, a marker's state)."""
        self.add(service, section, "zuletzt", name, value, unit)

    def __call__(self, service: str, section: str, period: str, name: str, value: Any, unit: str = "") -> None:
        self.add(service, section, period, name, value, unit)


Figure = Callable[..., None]  # an `Annex` (or its `add`): fig(service, section, period, name, value, unit="")


@dataclasses.dataclass(slots=True)
class ServiceReport:
    id: str
    name: str
    category: str
    operator: str
    target: float
    kinds: dict[str, Any]  # kind name -> its summary for the period (None: no data); see monitor/kinds
    satisfaction: list[SatisfactionFigure]
    quality: dict[str, dict[str, Any]]
    lights: dict[str, Light] = dataclasses.field(default_factory=dict)
    has_data: bool = False  # whether some kind has data for the period (set by the collector)

    @property
    def quality_short(self) -> bool:
        """Whether some configured kind ran under 99 % of its planned checks (or never)."""
        return any(q.get("coverage") is None or q["coverage"] < 99.0 for q in self.quality.values())


@dataclasses.dataclass(slots=True)
class ReportData:
    period: Period
    tz: ZoneInfo
    generated_at: datetime
    period_start: float
    period_end: float
    services: list[ServiceReport]
    monitor_gaps: list[tuple[float, float]]
    top_findings: list[str]
    annex: list[dict[str, Any]]
    policy: dict[str, Any]  # the traffic-light rules' German text, per criterion
    # annex-only tables of the kinds (e.g. every violating element of the newest accessibility scans)
    details: list[Detail] = dataclasses.field(default_factory=list)
    # the kinds the report covers: those configured for at least one of its services, in
    # registration order (a kind nobody uses gets no section, column or rule)
    shown: list[str] = dataclasses.field(default_factory=list)
    kinds: Registry[Any] = dataclasses.field(default_factory=Registry)  # the process's kinds
    dependencies: bool = False  # some reported service depends_on base services (the method says how they count)

    @property
    def year(self) -> int:
        return self.period.year

    def kinds_shown(self) -> list[Any]:
        return [k for k in self.kinds if k.name in self.shown]

    @property
    def has_data(self) -> bool:
        return any(s.has_data for s in self.services)

    def groups(self) -> list[tuple[str, list[ServiceReport]]]:
        out = []
        for key, label in GROUPS:
            members = [s for s in self.services if s.category == key]
            if members:
                out.append((label, members))
        return out

    @property
    def over_planned(self) -> bool:
        """Whether some service has more results than planned (marked in the data-quality table)."""
        return any((q.get("coverage") or 0) > 100 for s in self.services for q in s.quality.values())

    @property
    def monitor_downtime(self) -> float:
        return sum(e - s for s, e in self.monitor_gaps)
