"""The period a report covers: a calendar year (the annual report), a quarter, a month, or
any span of whole days within one calendar year (`--from`/`--to`). Days are local days of
the settings' timezone; the arithmetic is the annual report's (monthly columns, exact to
the second), restricted to the period."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

MONTH_NAMES = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
               "November", "Dezember")


class PeriodError(ValueError):
    """A period the operator asked for that does not exist or is not supported (German text)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Period:
    first: date  # the period's first day
    last: date  # its last day (inclusive)
    label: str  # German, for titles: "2026", "1. Quartal 2026", "März 2026", "01.02.2026 bis 15.02.2026"
    slug: str  # for file names: "2026", "2026-Q1", "2026-03", "2026-02-01_2026-02-15"

    @property
    def year(self) -> int:
        return self.first.year

    @property
    def annual(self) -> bool:
        return (self.first, self.last) == (date(self.year, 1, 1), date(self.year, 12, 31))

    @property
    def total_label(self) -> str:
        """What the period's totals are called in tables and the annex."""
        return "Jahr" if self.annual else "Zeitraum"

    @property
    def months(self) -> list[int]:
        """The month indexes (0 = January) the period touches."""
        return list(range(self.first.month - 1, self.last.month))

    def bounds(self, tz: ZoneInfo) -> tuple[float, float]:
        """The epochs of the period's first local midnight and of the midnight after its last day."""
        return (datetime.combine(self.first, datetime.min.time(), tz).timestamp(),
                datetime.combine(self.last + timedelta(days=1), datetime.min.time(), tz).timestamp())

    def day_range(self) -> tuple[int, int]:
        """First and last day as yyyymmdd (the day rollups' keys)."""
        return (self.first.year * 10000 + self.first.month * 100 + self.first.day,
                self.last.year * 10000 + self.last.month * 100 + self.last.day)

    @classmethod
    def of_year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31), str(year), str(year))

    @classmethod
    def of_quarter(cls, text: str) -> Period:
        m = re.fullmatch(r"(\d{4})-?Q([1-4])", text.strip(), re.IGNORECASE)
        if not m:
            raise PeriodError(f"--quarter {text!r}: erwartet z. B. 2026Q1 (Jahr, Q, Quartal 1 bis 4)")
        year, q = int(m.group(1)), int(m.group(2))
        first = date(year, 3 * q - 2, 1)
        return cls(first, _month_end(year, 3 * q), f"{q}. Quartal {year}", f"{year}-Q{q}")

    @classmethod
    def of_month(cls, text: str) -> Period:
        m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise PeriodError(f"--month {text!r}: erwartet z. B. 2026-03 (Jahr-Monat)")
        year, month = int(m.group(1)), int(m.group(2))
        return cls(date(year, month, 1), _month_end(year, month), f"{MONTH_NAMES[month - 1]} {year}",
                   f"{year}-{month:02d}")

    @classmethod
    def of_days(cls, first_text: str, last_text: str) -> Period:
        first, last = _day("--from", first_text), _day("--to", last_text)
        if last < first:
            raise PeriodError(f"--to {last_text} liegt vor --from {first_text}: den Zeitraum umkehren")
        if first.year != last.year:
            raise PeriodError(f"--from {first_text} --to {last_text}: ein Bericht umfasst höchstens ein Kalenderjahr "
                              "(Monatsspalten Januar bis Dezember); den Zeitraum je Jahr teilen")
        if (first, last) == (date(first.year, 1, 1), date(first.year, 12, 31)):
            return cls.of_year(first.year)
        return cls(first, last, f"{first:%d.%m.%Y} bis {last:%d.%m.%Y}", f"{first.isoformat()}_{last.isoformat()}")


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{option} {text!r}: erwartet ein Datum wie 2026-01-31") from None
