"""Availability arithmetic for the annual report, exact to the second.

Each second of a service's reporting period is in one of four states (domain.md §3):
`up`, `down`, `unknown` (the monitor was not running, or its own network failed, or the
last result was `unknown`) and `maintenance` (a declared window). Availability is
up / (up + down); unknown and maintenance are reported beside it, never folded in.
Time before a service's first result is not monitored and counts nowhere.

Precedence where spans overlap: maintenance > monitor not running > the results. Overlapping
maintenance windows count once. A service with several URLs is down while any URL is
down, unknown while none is down and any is unknown, up otherwise.

The sweep runs over state changes (the stored timeline), heartbeat gaps and maintenance
windows, all in UTC epoch seconds; months are local calendar months (Europe/Berlin by
default), so March has 743 hours and October 745.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

STATE_UP, STATE_DOWN, STATE_UNKNOWN, STATE_MAINTENANCE = "up", "down", "unknown", "maintenance"


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """A URL's state from `at` on (from the store's timeline)."""

    url: str
    at: float
    state: str  # up, degraded, down, unknown
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class Outage:
    """A span in which the service's results said down. `down_seconds` excludes the parts
    inside maintenance or monitor downtime; `start`/`end` are clipped to the period."""

    start: float
    end: float
    down_seconds: float
    reason: str
    ongoing: bool  # still down at the end of the period
    began_before: bool  # began before the period
    spans: tuple[tuple[float, float], ...] = ()  # the seconds counted down, in order (what down_seconds sums)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclasses.dataclass(slots=True)
class AvailabilityWindow:
    """Seconds per state in one span (a month or the year)."""

    up: float = 0.0
    down: float = 0.0
    unknown: float = 0.0
    maintenance: float = 0.0

    @property
    def monitored(self) -> float:
        return self.up + self.down + self.unknown + self.maintenance

    @property
    def availability(self) -> float | None:
        """up / (up + down) in percent; None when there is no up or down time at all."""
        known = self.up + self.down
        return None if known <= 0 else 100.0 * self.up / known

    def add(self, state: str, seconds: float) -> None:
        setattr(self, state, getattr(self, state) + seconds)


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceAvailability:
    """A service's year: per month, in total, its outages, MTTR and MTBF."""

    months: tuple[AvailabilityWindow, ...]  # 12, January first
    year: AvailabilityWindow
    outages: tuple[Outage, ...]
    monitored_since: float | None  # first result, None: never monitored

    @property
    def mttr(self) -> float | None:
        """Mean time to repair: mean down seconds per outage."""
        return None if not self.outages else sum(o.down_seconds for o in self.outages) / len(self.outages)

    @property
    def mtbf(self) -> float | None:
        """Mean time between failures: up seconds per outage."""
        return None if not self.outages else self.year.up / len(self.outages)


def month_bounds(year: int, tz: ZoneInfo) -> list[float]:
    """13 epochs: the local starts of January .. December and of the next January."""
    return [datetime(year + (m // 12), m % 12 + 1, 1, tzinfo=tz).timestamp() for m in range(13)]


def merge_spans(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of half-open spans, sorted."""
    out: list[list[float]] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _combine(states: dict[str, str]) -> str | None:
    values = states.values()
    if not values:
        return None
    if STATE_DOWN in values:
        return STATE_DOWN
    if STATE_UNKNOWN in values:
        return STATE_UNKNOWN
    return STATE_UP  # up and degraded answered acceptably


def service_availability(changes: Sequence[Change], monitor_gaps: Sequence[tuple[float, float]],
                         maintenance: Sequence[tuple[float, float]], year: int, tz: ZoneInfo,
                         until: float | None = None, since: float | None = None) -> ServiceAvailability:
    """Sweep one service's timeline over the local calendar `year`, from `since` (a period
    report's start; default the year's) up to `until` (the period's end or now). Months
    outside that span stay empty."""
    bounds = month_bounds(year, tz)
    start = bounds[0] if since is None else max(bounds[0], since)
    end = bounds[12] if until is None else min(bounds[12], until)
    changes = sorted(changes, key=lambda c: c.at)
    first = changes[0].at if changes else None
    months = [AvailabilityWindow() for _ in range(12)]
    total = AvailabilityWindow()
    if first is None or first >= end:
        return ServiceAvailability(tuple(months), total, (), None if first is None else first)
    gaps = merge_spans((max(s, start), min(e, end)) for s, e in monitor_gaps)
    maint = merge_spans((max(s, start), min(e, end)) for s, e in maintenance)

    # Events: (time, order, event, payload). Overlay spans are already merged, so a flag is enough.
    events: list[tuple[float, int, str, object]] = []
    url_state: dict[str, str] = {}
    url_reason: dict[str, str] = {}
    for c in changes:
        if c.at <= start:
            url_state[c.url], url_reason[c.url] = c.state, c.reason  # the state carried into the period
        elif c.at < end:
            events.append((c.at, 1, "change", c))
    for s, e in gaps:
        events += [(s, 0, "gap", True), (e, 0, "gap", False)]
    for s, e in maint:
        events += [(s, 0, "maint", True), (e, 0, "maint", False)]
    for b in bounds[1:12]:
        if start < b < end:
            events.append((b, 2, "month", None))
    events.sort(key=lambda ev: (ev[0], ev[1]))

    month = max(i for i in range(12) if bounds[i] <= start)  # the month the span begins in
    in_gap = in_maint = False
    t = start  # nothing is accounted before the first result: no URL has a state yet
    outages: list[Outage] = []
    outage_start: float | None = None
    outage_reason = ""
    outage_down = 0.0
    outage_spans: list[tuple[float, float]] = []
    began_before = False
    if _combine(url_state) == STATE_DOWN:
        outage_start = start
        outage_reason = next(url_reason[u] for u, s in url_state.items() if s == STATE_DOWN)
        began_before = True

    def account(until_t: float) -> None:
        nonlocal outage_down
        seconds = until_t - t
        if seconds <= 0 or not url_state:
            return
        underlying = _combine(url_state)
        state = STATE_MAINTENANCE if in_maint else STATE_UNKNOWN if in_gap else underlying
        assert state is not None
        months[month].add(state, seconds)
        total.add(state, seconds)
        if state == STATE_DOWN:
            outage_down += seconds
            if outage_spans and outage_spans[-1][1] == t:
                outage_spans[-1] = (outage_spans[-1][0], until_t)
            else:
                outage_spans.append((t, until_t))

    for at, _order, event, payload in events:
        if at > t:
            account(at)
            t = at
        if event == "month":
            month += 1
        elif event == "gap":
            in_gap = bool(payload)
        elif event == "maint":
            in_maint = bool(payload)
        else:
            assert isinstance(payload, Change)
            was_down = _combine(url_state) == STATE_DOWN
            url_state[payload.url], url_reason[payload.url] = payload.state, payload.reason
            now_down = _combine(url_state) == STATE_DOWN
            if now_down and not was_down:
                outage_start, outage_reason, outage_down, began_before = at, payload.reason, 0.0, False
                outage_spans = []
            elif was_down and not now_down and outage_start is not None:
                outages.append(Outage(outage_start, at, outage_down, outage_reason, False, began_before,
                                      tuple(outage_spans)))
                outage_start = None
                outage_down = 0.0
                outage_spans = []
    account(end)
    if outage_start is not None:
        outages.append(Outage(outage_start, end, outage_down, outage_reason, True, began_before, tuple(outage_spans)))
    # An outage entirely inside maintenance or monitor downtime never counted as down: it is no outage.
    outages = [o for o in outages if o.down_seconds > 0]
    return ServiceAvailability(tuple(months), total, tuple(outages), first)


# --------------------------------------------------------------------------- base services (monitor.dependencies)


@dataclasses.dataclass(frozen=True, slots=True)
class BaseSpan:
    """A span in which a base service was impaired (clipped to the report's period)."""

    base: str
    start: float
    end: float
    maintenance: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Attribution:
    """What of one outage of a dependent a base service caused: `seconds` of its down time
    (within `spans`), or nothing (base None: its own)."""

    base: str | None
    seconds: float
    maintenance: bool = False
    spans: tuple[tuple[float, float], ...] = ()


def _intersect(spans: Sequence[tuple[float, float]], windows: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for s, e in spans:
        for ws, we in windows:
            lo, hi = max(s, ws), min(e, we)
            if hi > lo:
                out.append((lo, hi))
    return sorted(out)


def attribute_outage(down_spans: Sequence[tuple[float, float]], bases: Sequence[str],
                     impairments: Mapping[str, Sequence[BaseSpan]], tolerance: float) -> Attribution:
    """One outage (its counted down spans, in order) against the impairments of the service's
    base services: attributed to the base whose impairment (widened by `tolerance`) holds the
    outage's first down second, earliest impairment first, then catalog order; the seconds
    shared with that base's widened impairments are its, the rest the service's own."""
    if not down_spans:
        return Attribution(None, 0.0)
    first = down_spans[0][0]
    best: tuple[float, int, str, bool] | None = None
    for rank, base in enumerate(bases):
        for span in impairments.get(base, ()):
            if span.start - tolerance <= first < span.end + tolerance:
                key = (span.start, rank, base, span.maintenance)
                if best is None or key[:2] < best[:2]:
                    best = key
    if best is None:
        return Attribution(None, 0.0)
    base = best[2]
    windows = merge_spans((s.start - tolerance, s.end + tolerance) for s in impairments[base])
    shared = _intersect(down_spans, windows)
    return Attribution(base, sum(e - s for s, e in shared), best[3], tuple(shared))


def seconds_in(spans: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """How many seconds of `spans` lie in [start, end)."""
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)
