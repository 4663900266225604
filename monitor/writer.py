"""The embedded daemon's path from a finished check to the store: a bounded buffer and one
writer thread that commits what the checks produced a batch at a time.

Checks never wait for the store. A result counts as stored (acknowledged) only when its
batch committed; `kill -9` loses at most the batch in flight. When the store fails
(PostgreSQL restarting, a full disk) the batch goes back to the front of the buffer and
the writer retries with a growing pause; the buffer is bounded, and when it is full the
oldest results are dropped and counted, never silently. Whoever watches the process reads
`healthy()` (for /healthz) and the `egov_store_*` metrics.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from checks.result import CheckResult
from monitor.store import Store

log = logging.getLogger(__name__)

Item = tuple[CheckResult, str | None]


class WriterMetrics:
    def __init__(self, registry: CollectorRegistry, capacity: int) -> None:
        self.up = Gauge("egov_store_up", "Whether the last write to the result store succeeded (1) or failed (0)",
                        registry=registry)
        self.buffered = Gauge("egov_store_buffered_results", "Results waiting to be written to the store",
                              registry=registry)
        self.capacity = Gauge("egov_store_buffer_capacity_results", "How many results the write buffer holds "
                              "before it drops the oldest", registry=registry)
        self.written = Counter("egov_store_written_results", "Results committed to the store", registry=registry)
        self.dropped = Counter("egov_store_dropped_results", "Results dropped unwritten because the write buffer "
                               "was full while the store failed", registry=registry)
        self.failures = Counter("egov_store_write_failures", "Batches the store refused (each is retried)",
                                registry=registry)
        self.batch = Histogram("egov_store_batch_write_seconds", "Time to commit one batch of results",
                               registry=registry, buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))
        self.up.set(1)
        self.capacity.set(capacity)


class ResultWriter:
    """Buffers results and writes them in batches on a thread of its own. Thread-safe."""

    def __init__(self, store: Store, *, capacity: int, batch_size: int = 500, max_pause: float = 30.0,
                 linger: float = 0.25,
                 registry: CollectorRegistry | None = None,
                 on_commit: Callable[[Sequence[Item], Sequence[int | None]], None] | None = None) -> None:
        self.store = store
        self.capacity, self.batch_size, self.max_pause = capacity, batch_size, max_pause
        # A batch waits this long for company after its first result: a transaction costs about
        # as much for one result as for hundreds (10 000 targets: 0.5 core writing one by one).
        self.linger = linger
        self._flushing = 0  # callers of flush(): write at once
        self.metrics = WriterMetrics(registry or CollectorRegistry(), capacity)
        self._on_commit = on_commit or (lambda _items, _ids: None)
        self._queue: collections.deque[Item] = collections.deque()
        queue = self._queue
        self.metrics.buffered.set_function(lambda: len(queue))  # read at the scrape, not set per result
        self._first_at = 0.0  # when the oldest waiting result arrived
        self._cond = threading.Condition()
        self._busy = False  # a batch is being written
        self._closing = False
        self._failing_since: float | None = None
        self._last_error = ""
        self._dropped_unlogged = 0
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producers

    def record(self, result: CheckResult, run_key: str | None = None) -> None:
        """Hand a result over for writing; returns at once."""
        with self._cond:
            queue = self._queue
            if not queue:
                self._first_at = time.monotonic()
            queue.append((result, run_key))
            self._trim()
            # the writer waits without a deadline only for the first result, and lingers until
            # its deadline or a full batch: woken only then (not once per result)
            if len(queue) == 1 or len(queue) == self.batch_size:
                self._cond.notify()

    def _trim(self) -> None:
        over = len(self._queue) - self.capacity
        if over <= 0:
            return
        for _ in range(over):
            self._queue.popleft()
        self.metrics.dropped.inc(over)
        self._dropped_unlogged += over

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def healthy(self) -> tuple[bool, str]:
        """Whether the store takes writes; if not, since when and what is buffered."""
        with self._cond:
            since, buffered = self._failing_since, len(self._queue)
        if since is None:
            return True, "ok"
        return False, (f"Ergebnisspeicher nicht beschreibbar seit {time.time() - since:.0f} s ({self._last_error}); "
                       f"{buffered} Ergebnisse gepuffert")

    def flush(self, timeout: float) -> bool:
        """Wait until everything handed over so far is committed (True) or `timeout` passed."""
        end = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._busy:
                    left = end - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 30.0) -> int:
        """Write what is buffered (for at most `timeout`), stop the thread; returns how many
        results stayed unwritten (logged)."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=max(1.0, timeout))
        with self._cond:
            left = len(self._queue) + (1 if self._busy else 0)
        if left:
            log.error("Beim Beenden nicht gespeichert: %d Ergebnisse (Ergebnisspeicher nicht erreichbar)", left)
        return left

    # ------------------------------------------------------------------ the writer thread

    def _loop(self) -> None:
        pause, retry_at = 0.0, 0.0
        while True:
            with self._cond:
                while True:
                    if self._closing:
                        return
                    now = time.monotonic()
                    if self._queue and not self._flushing and len(self._queue) < self.batch_size:
                        first_at = self._first_at
                        wait = max(retry_at, first_at + self.linger) - now
                    else:
                        wait = retry_at - now  # after a failure: back off
                    if self._queue and wait <= 0:
                        break
                    self._cond.wait(wait if self._queue else None)
                batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
                self._busy = True
            started = time.monotonic()
            try:
                ids = self.store.record_batch(batch)
            except Exception as exc:
                self._failed(batch, exc)
                pause = min(self.max_pause, max(0.2, pause * 2))
                retry_at = time.monotonic() + pause
                continue
            self.metrics.batch.observe(time.monotonic() - started)
            self._committed(batch, ids)
            pause = 0.0

    def _failed(self, batch: list[Item], exc: Exception) -> None:
        text = " ".join(str(exc).split())[:200]
        with self._cond:
            self._queue.extendleft(reversed(batch))  # back to the front, in order
            self._trim()
            self._busy = False
            first = self._failing_since is None
            if first:
                self._failing_since = time.time()
            self._last_error = type(exc).__name__
            dropped, self._dropped_unlogged = self._dropped_unlogged, 0
            self._cond.notify_all()
        self.metrics.up.set(0)
        self.metrics.failures.inc()
        if first:
            log.error("Ergebnisspeicher nicht beschreibbar, Ergebnisse werden gepuffert (höchstens %d): %s",
                      self.capacity, text)
        if dropped:
            log.error("Puffer voll: %d älteste Ergebnisse verworfen", dropped)

    def _committed(self, batch: list[Item], ids: Sequence[int | None]) -> None:
        with self._cond:
            self._busy = False
            recovered = self._failing_since is not None
            self._failing_since = None
            self._cond.notify_all()
        self.metrics.up.set(1)
        self.metrics.written.inc(len(batch))
        if recovered:
            log.warning("Ergebnisspeicher wieder beschreibbar; gepufferte Ergebnisse werden geschrieben")
        try:
            self._on_commit(batch, ids)
        except Exception as exc:  # a metrics hook must never stop the writer
            log.error("after-commit hook failed: %s", exc)


class _Slot:
    __slots__ = ("error", "event", "item", "lead", "rid")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.event = threading.Event()
        self.lead = False
        self.rid: int | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Stores results for many threads, each waiting for its own: what threads hand over while
    one batch is written goes into the next batch (one transaction for all of them). The
    distributed worker acknowledges a job only after its result is stored, so it cannot use
    the daemon's buffer; this gives it the batches without giving up that guarantee. A
    failing batch raises in every thread whose result was in it (Dramatiq retries the jobs)."""

    def __init__(self, store: Store, batch_size: int = 500) -> None:
        self.store, self.batch_size = store, batch_size
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._writing = False

    def record(self, result: CheckResult, run_key: str | None = None) -> int | None:
        """Store `result`; returns its id (None: `run_key` was stored already)."""
        slot = _Slot((result, run_key))
        with self._lock:
            self._pending.append(slot)
            lead, self._writing = not self._writing, True
        if not lead:
            slot.event.wait()  # set when its batch is written, or when it is its turn to write
        if lead or (slot.lead and slot.rid is None and slot.error is None):
            self._write_round()  # the writer's own result is first in line
        if slot.error is not None:
            raise slot.error
        return slot.rid

    def _write_round(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:self.batch_size], self._pending[self.batch_size:]
        try:
            ids = self.store.record_batch([s.item for s in batch])
        except Exception as exc:
            for s in batch:
                s.error = exc
        else:
            for s, rid in zip(batch, ids, strict=True):
                s.rid = rid
        with self._lock:
            following = self._pending[0] if self._pending else None
            if following is None:
                self._writing = False
            else:
                following.lead = True  # hands on: its thread writes the next batch
        for s in batch:
            s.event.set()
        if following is not None:
            following.event.set()
