"""Hourly and daily rollups: what the annual report reads instead of a year of raw results.

One fold turns a run of results of one series (service, kind, URL) into buckets: one per
UTC hour and one per local calendar day (the settings' timezone). A bucket counts results
by state, results inside a declared maintenance window, and, for availability, a latency
histogram; it keeps the last result's measurements and a small digest of its evidence.
The daemon folds the few results of a batch with `fold_few`, the synthetic-year generator a
year at a time with `fold`: the two give the same buckets to the bit (tested), so both write
the same rows.

Counts are exact. Percentiles come from the histogram: logarithmic buckets 5 % wide,
from 1 ms; the report quotes each bucket's geometric middle, so a percentile is off by at
most 2.5 % of its value.

Day buckets are built from hour buckets, which holds for every timezone whose offset
from UTC is a whole number of hours (Europe/Berlin is).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from checks.kind import Registry
from checks.result import CheckResult, thaw

STATES = ("up", "degraded", "down", "unknown")
STATE_CODE = {s: i for i, s in enumerate(STATES)}
HIST_START = 0.001  # seconds; faster answers land in bucket 0
HIST_FACTOR = 1.05
_LOG_FACTOR = math.log(HIST_FACTOR)
TALLY = "_tally"  # key of a bucket's tally inside the stored digest
HIST_MAX_INDEX = 400  # 1 ms * 1.05**400 is about 80 hours: nothing is ever slower


def hist_index(seconds: np.ndarray) -> np.ndarray:
    """Histogram bucket of each latency (seconds)."""
    ratio = np.maximum(seconds, HIST_START) / HIST_START
    return np.minimum(np.floor(np.log(ratio) / _LOG_FACTOR), HIST_MAX_INDEX).astype(np.int64)


def hist_value(index: int) -> float:
    """The geometric middle of bucket `index`: the value a percentile in it is quoted as."""
    return HIST_START * HIST_FACTOR ** (index + 0.5)


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, or None when it is empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))  # nearest-rank definition
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return hist_value(index)
    return hist_value(max(hist))  # pragma: no cover - the loop always reaches rank


def pack_hist(hist: Mapping[int, int]) -> list[int]:
    """A histogram as stored: the first bucket's index, then each bucket's count, a run of
    empty buckets written as its negative length (`{88: 1, 89: 2, 92: 1}` is `[88, 1, 2, -2, 1]`).
    Latencies cluster, so this is a third of the JSON object's size and faster to read."""
    packed: list[int] = []
    at = None
    for index in sorted(hist):
        count = hist[index]
        if count <= 0:
            continue
        if at is None:
            packed.append(index)
        elif index > at:
            packed.append(at - index)
        packed.append(count)
        at = index + 1
    return packed


def unpack_hist(stored: Any) -> dict[int, int]:
    """Inverse of `pack_hist`; also reads the object form ({"88": 1}) older stores hold."""
    if not stored:
        return {}
    if isinstance(stored, dict):
        return {int(k): int(v) for k, v in stored.items()}
    hist: dict[int, int] = {}
    at = stored[0]
    for value in stored[1:]:
        if value < 0:
            at -= value
        else:
            hist[at] = value
            at += 1
    return hist


@dataclasses.dataclass(slots=True)
class Bucket:
    """One series' results in one hour or one local day."""

    counts: list[int] = dataclasses.field(default_factory=lambda: [0, 0, 0, 0])  # by STATES
    maintenance: int = 0
    latency_n: int = 0
    latency_sum: float = 0.0
    hist: dict[int, int] = dataclasses.field(default_factory=dict)
    hours: int = 0  # day buckets: hours that had at least one result
    last_at: float = 0.0
    last_state: str = ""
    last_measurements: dict[str, Any] | None = None
    last_digest: dict[str, Any] | None = None
    tally: dict[str, int] = dataclasses.field(default_factory=dict)  # a kind's own counters, summed

    @property
    def total(self) -> int:
        return sum(self.counts)

    def merge(self, other: Bucket) -> None:
        """Add `other` (a later or earlier part of the same bucket) into this one."""
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.maintenance += other.maintenance
        self.latency_n += other.latency_n
        self.latency_sum += other.latency_sum
        for k, n in other.hist.items():
            self.hist[k] = self.hist.get(k, 0) + n
        self.hours += other.hours
        for name, count in other.tally.items():
            self.tally[name] = self.tally.get(name, 0) + count
        if other.last_at >= self.last_at and other.last_state:
            self.last_at, self.last_state = other.last_at, other.last_state
            if other.last_measurements is not None or other.last_digest is not None:
                self.last_measurements, self.last_digest = other.last_measurements, other.last_digest

    def to_row(self) -> dict[str, Any]:
        return {"n_up": self.counts[0], "n_degraded": self.counts[1], "n_down": self.counts[2],
                "n_unknown": self.counts[3], "n_maintenance": self.maintenance, "latency_n": self.latency_n,
                "latency_sum": self.latency_sum, "hist": pack_hist(self.hist),
                "hours": self.hours, "last_at": self.last_at, "last_state": self.last_state,
                "last_measurements": self.last_measurements,
                # the tally travels in the digest's column (no column of its own; absent when empty)
                "last_digest": {**(self.last_digest or {}), TALLY: self.tally} if self.tally else self.last_digest}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Bucket:
        return cls.from_columns(row["n_up"], row["n_degraded"], row["n_down"], row["n_unknown"], row["n_maintenance"],
                                row["latency_n"], row["latency_sum"], row["hist"], row["hours"], row["last_at"],
                                row["last_state"], row["last_measurements"], row["last_digest"])

    @classmethod
    def from_columns(cls, n_up: int, n_degraded: int, n_down: int, n_unknown: int, maintenance: int, latency_n: int,
                     latency_sum: float, hist: Any, hours: int, last_at: float, last_state: str,
                     last_measurements: dict[str, Any] | None, digest: Any) -> Bucket:
        """A bucket from a rollup row's columns, the JSON ones decoded."""
        tally: dict[str, int] = {}
        if isinstance(digest, dict) and TALLY in digest:
            digest = dict(digest)
            tally = {str(k): int(v) for k, v in (digest.pop(TALLY) or {}).items()}
            digest = digest or None
        return cls([n_up, n_degraded, n_down, n_unknown], maintenance, latency_n, latency_sum, unpack_hist(hist), hours,
                   last_at, last_state, last_measurements, digest, tally)


def local_day(hour_start: int, tz: ZoneInfo) -> int:
    """The local calendar day (yyyymmdd) an hour starting at `hour_start` (UTC epoch) lies in."""
    d = datetime.fromtimestamp(hour_start, UTC).astimezone(tz)
    return d.year * 10000 + d.month * 100 + d.day


def fold(started: np.ndarray, states: np.ndarray, latency: np.ndarray, maintenance: np.ndarray, tz: ZoneInfo,
         measurements: Sequence[dict[str, Any] | None] | None = None,
         digests: Sequence[Mapping[str, Any] | None] | None = None,
         tallies: Sequence[dict[str, int] | None] | None = None) -> tuple[dict[int, Bucket], dict[int, Bucket]]:
    """Hour buckets (key: UTC epoch of the hour) and day buckets (key: yyyymmdd) of one series.

    started: epoch seconds; states: STATE_CODE values; latency: seconds or NaN where the
    result has none; maintenance: bool. `measurements` and `digests`, when given, are
    aligned with the arrays; each bucket keeps those of its last result. `tallies` (a kind's
    counters per result, e.g. which journey step failed) are summed per bucket.
    """
    started = np.asarray(started, dtype=np.float64)
    order = np.argsort(started, kind="stable")
    if not np.all(order == np.arange(len(order))):
        started, states, latency, maintenance = started[order], states[order], latency[order], maintenance[order]
        if measurements is not None:
            measurements = [measurements[i] for i in order]
        if digests is not None:
            digests = [digests[i] for i in order]
        if tallies is not None:
            tallies = [tallies[i] for i in order]
    states = np.asarray(states, dtype=np.int64)
    hours_of = (np.floor(started / 3600.0) * 3600).astype(np.int64)
    unique_hours, first, inverse = np.unique(hours_of, return_index=True, return_inverse=True)
    n_hours = len(unique_hours)
    counts = np.zeros((n_hours, 4), dtype=np.int64)
    np.add.at(counts, (inverse, states), 1)
    maint = np.bincount(inverse, weights=maintenance.astype(np.float64), minlength=n_hours).astype(np.int64)
    has_latency = ~np.isnan(latency)
    lat_n = np.bincount(inverse[has_latency], minlength=n_hours)
    lat_sum = np.bincount(inverse[has_latency], weights=latency[has_latency], minlength=n_hours)
    last = np.append(first[1:], len(started)) - 1  # sorted input: the last result of each hour
    hist_rows: list[dict[int, int]] = [{} for _ in range(n_hours)]
    if has_latency.any():
        pairs = inverse[has_latency] * (HIST_MAX_INDEX + 1) + hist_index(latency[has_latency])
        keys, n = np.unique(pairs, return_counts=True)
        for key, count in zip(keys.tolist(), n.tolist(), strict=True):
            hist_rows[key // (HIST_MAX_INDEX + 1)][key % (HIST_MAX_INDEX + 1)] = count
    hours: dict[int, Bucket] = {}
    counts_l, maint_l, lat_n_l, lat_sum_l = counts.tolist(), maint.tolist(), lat_n.tolist(), lat_sum.tolist()
    started_l, states_l = started.tolist(), states.tolist()
    for i, hour in enumerate(unique_hours.tolist()):
        j = int(last[i])
        hours[hour] = Bucket(counts_l[i], maint_l[i], lat_n_l[i], lat_sum_l[i], hist_rows[i], 1, started_l[j],
                             STATES[states_l[j]], measurements[j] if measurements is not None else None,
                             dict(d) if digests is not None and (d := digests[j]) is not None else None)
    if tallies is not None:
        hour_list = unique_hours.tolist()
        for at, counters in zip(inverse.tolist(), tallies, strict=True):
            if counters:
                own = hours[hour_list[at]].tally
                for name, count in counters.items():
                    own[name] = own.get(name, 0) + count
    return hours, _days_of(hours, tz)


def _days_of(hours: dict[int, Bucket], tz: ZoneInfo) -> dict[int, Bucket]:
    """The day buckets of hour buckets (in hour order, each counting 1 hour); the hour buckets'
    own `hours` then set to 0 (it counts only in day buckets)."""
    days: dict[int, Bucket] = {}
    for hour, bucket in hours.items():
        day = local_day(hour, tz)
        if day in days:
            days[day].merge(bucket)
        else:
            days[day] = dataclasses.replace(bucket, counts=list(bucket.counts), hist=dict(bucket.hist),
                                            tally=dict(bucket.tally))
    for bucket in hours.values():
        bucket.hours = 0
    return days


def fold_few(started: Sequence[float], states: Sequence[int], latency: Sequence[float], maintenance: Sequence[bool],
             tz: ZoneInfo, measurements: Sequence[dict[str, Any] | None] | None = None,
             digests: Sequence[Mapping[str, Any] | None] | None = None,
             tallies: Sequence[dict[str, int] | None] | None = None) -> tuple[dict[int, Bucket], dict[int, Bucket]]:
    """`fold` in plain Python, for the few results of one series in a batch the daemon writes
    (numpy's set-up costs more than the work there: a fifth of the writer's time). Gives the
    same buckets as `fold`, to the bit (tests/test_rollup_fold.py): the same sums in the same
    order, the histogram index computed by `hist_index` itself."""
    n = len(started)
    order = sorted(range(n), key=started.__getitem__)  # stable, as fold's argsort
    present = [i for i in order if not math.isnan(latency[i])]
    index_of = dict(zip(present, hist_index(np.array([latency[i] for i in present], dtype=np.float64)).tolist(),
                        strict=True)) if present else {}
    hours: dict[int, Bucket] = {}
    hists: dict[int, dict[int, int]] = {}
    last: dict[int, int] = {}
    for i in order:
        hour = int(math.floor(float(started[i]) / 3600.0) * 3600)
        bucket = hours.get(hour)
        if bucket is None:
            bucket = hours[hour] = Bucket(hours=1)
            hists[hour] = {}
        bucket.counts[int(states[i])] += 1
        if maintenance[i]:
            bucket.maintenance += 1
        if i in index_of:
            bucket.latency_n += 1
            bucket.latency_sum += float(latency[i])
            hist = hists[hour]
            hist[index_of[i]] = hist.get(index_of[i], 0) + 1
        if tallies is not None and (counters := tallies[i]):
            for name, count in counters.items():
                bucket.tally[name] = bucket.tally.get(name, 0) + count
        last[hour] = i
    for hour, bucket in hours.items():
        j = last[hour]
        bucket.hist = {k: hists[hour][k] for k in sorted(hists[hour])}
        bucket.last_at, bucket.last_state = float(started[j]), STATES[int(states[j])]
        bucket.last_measurements = measurements[j] if measurements is not None else None
        bucket.last_digest = dict(d) if digests is not None and (d := digests[j]) is not None else None
    return hours, _days_of(hours, tz)


def fold_results(registry: Registry[Any], results: Sequence[CheckResult],
                 tz: ZoneInfo) -> tuple[dict[int, Bucket], dict[int, Bucket]]:
    """`fold` for CheckResults of one series (the daemon's path). Each result's kind says what
    it adds (its `checks.kind.Records`): its response time to the latency histogram, its
    measurements and digest to the report."""
    kinds = [registry.records(r.kind) for r in results]
    started = [r.started_at.timestamp() for r in results]
    states = [STATE_CODE[r.state.value] for r in results]
    latency = [math.nan if k is None else float(k.latency(r)) for r, k in zip(results, kinds, strict=True)]
    maintenance = [bool(r.evidence.get("in_maintenance")) for r in results]
    keep = [k is not None and k.keep_measurements for k in kinds]
    measurements = [thaw(r.measurements) if k else None for r, k in zip(results, keep, strict=True)]
    digests = [kind.digest(r) if k and kind else None for r, k, kind in zip(results, keep, kinds, strict=True)]
    tallies = [kind.tally(r) if kind else None for r, kind in zip(results, kinds, strict=True)]
    return fold_few(started, states, latency, maintenance, tz, measurements, digests,
                    tallies if any(tallies) else None)
