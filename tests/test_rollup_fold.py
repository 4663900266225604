"""The daemon's fold (`fold_few`, plain Python) and the bulk fold (`fold`, numpy) give the same
buckets to the bit: the store's rollups must not depend on which path wrote them."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from monitor.rollup import HIST_START, fold, fold_few

BERLIN = ZoneInfo("Europe/Berlin")
# around the switch to summer time (two local days meet in fewer hours) and to winter time
SPANS = [datetime(2026, 3, 28, 20, tzinfo=UTC), datetime(2026, 10, 24, 20, tzinfo=UTC),
         datetime(2026, 12, 31, 21, tzinfo=UTC)]


def _series(rng: random.Random, n: int, start: datetime) -> dict:
    t0 = start.timestamp()
    started = [t0 + rng.uniform(0, 4 * 86400) for _ in range(n)]
    if rng.random() < 0.3:
        started += started[: rng.randint(1, n)]  # equal start times: the stable order decides the last
    m = len(started)
    latency = [rng.choice([math.nan, HIST_START / 2, rng.uniform(0.001, 0.2), rng.lognormvariate(-2, 1.5),
                           rng.uniform(0, 1e6)]) for _ in range(m)]
    return {
        "started": started,
        "states": [rng.randrange(4) for _ in range(m)],
        "latency": latency,
        "maintenance": [rng.random() < 0.2 for _ in range(m)],
        "measurements": [{"total_seconds": rng.random(), "n": i} if rng.random() < 0.8 else None for i in range(m)],
        "digests": [{"step": f"s{i % 3}"} if rng.random() < 0.5 else None for i in range(m)],
        "tallies": ([{f"t{rng.randrange(3)}": rng.randint(1, 3)} if rng.random() < 0.4 else None for _ in range(m)]
                    if rng.random() < 0.5 else None),
    }


@pytest.mark.parametrize("seed", range(60))
def test_fold_few_gives_the_buckets_fold_gives(seed):
    rng = random.Random(seed)
    s = _series(rng, rng.choice([1, 2, 3, 7, 40, 400]), rng.choice(SPANS))
    args = (s["measurements"], s["digests"], s["tallies"])
    expected = fold(np.array(s["started"]), np.array(s["states"]), np.array(s["latency"], dtype=np.float64),
                    np.array(s["maintenance"]), BERLIN, *args)
    got = fold_few(s["started"], s["states"], s["latency"], s["maintenance"], BERLIN, *args)
    for want, have in zip(expected, got, strict=True):
        assert list(have) == list(want)  # the same buckets in the same order
        for key, bucket in want.items():
            other = have[key]
            assert other == bucket, key
            assert type(other.latency_sum) is float and math.copysign(1, other.latency_sum) == 1
            assert [type(v) for v in other.counts] == [int] * 4
            assert list(other.hist) == list(bucket.hist) and list(other.tally) == list(bucket.tally)
