"""German number, date and duration formats and the traffic light: what every report section shares."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from zoneinfo import ZoneInfo

LIGHT_TEXT = {"green": "grün", "yellow": "gelb", "red": "rot", "grey": "keine Daten", "none": "nicht betroffen"}
MONTHS_DE = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")


@dataclasses.dataclass(frozen=True, slots=True)
class Light:
    color: str  # green, yellow, red, grey; none: the criterion does not apply (no AI widget)
    why: str

    @property
    def label(self) -> str:
        return LIGHT_TEXT[self.color]


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")  # narrow no-break space groups thousands


def fmt_pct(value: float | None, digits: int = 3) -> str:
    """Percent with enough digits that 99.95 % and 100 % never look the same (truncated, not rounded up)."""
    if value is None:
        return "keine Daten"
    factor = 10 ** digits
    shown = math.floor(value * factor) / factor
    return f"{shown:.{digits}f}".replace(".", ",") + " %"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d} d {h} h {m} min"
    if h:
        return f"{h} h {m} min {s} s"
    if m:
        return f"{m} min {s} s"
    return f"{s} s"


def fmt_seconds(seconds: float | None) -> str:
    """A duration of seconds as German text with one decimal: 6,1 s."""
    return "–" if seconds is None else f"{seconds:.1f} s".replace(".", ",")


def fmt_ms(seconds: float | None) -> str:
    return "–" if seconds is None else fmt_num(seconds * 1000, 0) + " ms"


def fmt_time(ts: float | None, tz: ZoneInfo) -> str:
    return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d.%m.%Y %H:%M:%S")


def fmt_date(ts: float | None, tz: ZoneInfo) -> str:
    return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d.%m.%Y")
