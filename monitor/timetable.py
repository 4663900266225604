"""The embedded daemon's timetable: when each target's next run is due, in one heap.

APScheduler kept one job object and trigger per target and spent about 145 µs of CPU per run
it fired at 10,000 targets a minute (its memory job store converts every due time to a UTC
timestamp twice, each fire builds run-time lists, events and zone-aware datetimes;
docs/benchmarks.md, "sixth session"). Here a run is a float in a heap: the thread sleeps
until the earliest one (with a `tick`, until the end of the tick it falls in), takes every
run that is due and hands each to `fire(job_id, due)`.
APScheduler still runs the daemon's own jobs (heartbeat, canaries, retention) and the
distributed scheduler.

Each target's runs keep to a grid: run k is due at `start + k * interval`, plus a jitter of
its own drawn anew for every run (so a jitter never adds up over the runs). A run more than
`grace` seconds late (the thread was held up for longer than that) is not fired but handed to
`missed(job_id)`, and the target goes on with its next grid point after now: runs that were
missed are never made up in a burst (APScheduler's coalescing and misfire grace time, as the
daemon set them before).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable

log = logging.getLogger("egov_monitor")

__all__ = ["Timetable", "grid_point", "next_due"]


def grid_point(start: float, interval: float, now: float) -> int:
    """The first grid point at or after `now` (0 if `start` is later)."""
    return max(0, math.ceil((now - start) / interval - 1e-9))


def next_due(start: float, interval: float, jitter: float, k: int) -> float:
    """When run `k` is due: its grid point plus its own jitter (less than the interval, so no run is skipped)."""
    due = start + k * interval
    if jitter:
        due += random.uniform(0, min(jitter, interval * 0.999))
    return due


class _Entry:
    """One target's place in the timetable: its grid, and the grid point of its run in the heap."""

    __slots__ = ("grace", "interval", "jitter", "k", "start", "version")

    def __init__(self, start: float, interval: float, jitter: float, grace: float, version: int) -> None:
        self.start, self.interval, self.jitter, self.grace = start, interval, jitter, grace
        self.k = 0
        self.version = version  # a heap item of another version is stale (the target was rescheduled)


class Timetable:
    """Due runs of many targets, fired on one thread in the order they are due."""

    def __init__(self, fire: Callable[[str, float], None], missed: Callable[[str], None],
                 clock: Callable[[], float] = time.time, tick: float = 0.0) -> None:
        """`tick` > 0: the thread wakes on a grid of `tick` seconds, at the first grid point
        at or after the earliest due run, and takes every run due by then: one wake-up (of
        this thread and of the prober's loop it hands the probes to) for the runs of a tick,
        not one per run, for at most `tick` seconds more lag."""
        self._fire, self._missed, self._clock, self._tick = fire, missed, clock, tick
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []  # (due, tie-breaker, job id, version)
        self._order = itertools.count()
        self._versions = itertools.count(1)
        self._lock = threading.Lock()  # the heap and the entries
        # released to wake the thread early (a run due sooner, the stop); a bare lock's timed
        # acquire is one call into C, where Condition.wait allocates and queues a lock per wait
        self._wakeup = threading.Lock()
        self._wakeup.acquire()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def add(self, job_id: str, start: float, interval: float, jitter: float = 0.0, grace: float | None = None) -> None:
        """Schedule (or reschedule) `job_id`: its first run at `start` plus jitter, or at the
        first grid point after now if `start` has passed; then every `interval` seconds."""
        entry = _Entry(start, interval, jitter, max(1.0, interval) if grace is None else grace, next(self._versions))
        entry.k = grid_point(start, interval, self._clock())
        with self._lock:
            self._entries[job_id] = entry
            self._push(job_id, entry)
            sooner = self._heap[0][2] == job_id
        if sooner:
            self._wake()  # due before what the thread sleeps for

    def remove(self, job_id: str) -> None:
        """No more runs of `job_id` (a run already handed to `fire` is not taken back)."""
        with self._lock:
            self._entries.pop(job_id, None)  # its heap item goes stale; dropped when it comes up

    def due(self, job_id: str) -> float | None:
        """When the next run of `job_id` is due (None: not scheduled)."""
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                return None
            return next(d for d, _n, j, v in self._heap if j == job_id and v == entry.version)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopped

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="timetable", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Fire nothing more; returns at once (a `fire` under way finishes on the thread)."""
        self._stopped = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._wakeup.release()
        except RuntimeError:
            pass  # released already: the thread wakes anyway

    def _push(self, job_id: str, entry: _Entry) -> None:
        heapq.heappush(self._heap, (next_due(entry.start, entry.interval, entry.jitter, entry.k), next(self._order),
                                    job_id, entry.version))

    def _take_due(self) -> list[tuple[str, float, bool]]:
        """Wait until a run is due; every due run as (job id, due time, fired: else missed); [] when stopped."""
        heap, entries = self._heap, self._entries
        while True:
            if self._stopped:
                return []
            with self._lock:
                now = self._clock()
                if heap and heap[0][0] <= now:
                    break
                wait = heap[0][0] - now if heap else -1  # -1: until woken
                if wait > 0 and self._tick:
                    wait = max(wait, math.ceil(heap[0][0] / self._tick) * self._tick - now)
            self._wakeup.acquire(timeout=wait)
        out = []
        with self._lock:
            while heap and heap[0][0] <= now:
                due, _n, job_id, version = heapq.heappop(heap)
                entry = entries.get(job_id)
                if entry is None or entry.version != version:
                    continue  # removed or rescheduled since
                out.append((job_id, due, now - due <= entry.grace))
                # the next grid point after now: runs the thread fell behind on are not made up
                entry.k = max(entry.k + 1, math.floor((now - entry.start) / entry.interval + 1e-9) + 1)
                self._push(job_id, entry)
        return out

    def _loop(self) -> None:
        while True:
            runs = self._take_due()
            if not runs:
                return
            for job_id, due, fired in runs:
                if self._stopped:
                    return  # the rest of a burst is not started once the daemon stops
                try:
                    if fired:
                        self._fire(job_id, due)
                    else:
                        self._missed(job_id)
                except Exception:  # a dispatch that raises must never stop the timetable
                    log.exception("Start der Prüfung %s fehlgeschlagen", job_id)
