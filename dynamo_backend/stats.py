"""Per-request accounting of DynamoDB calls and cache lookups, and the stream reader's lag.

Collectors live in a contextvar stack, so each request (or thread, or
``count_calls()`` block) sees only its own calls, and nested collectors all
receive every record made while they are open.

:func:`stream_status` is process-wide: what this process knows of its host's
stream reader (dynamo_backend.streams), whose lag :func:`stream_lag` reports.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "Call",
    "CallLog",
    "StreamStatus",
    "count_calls",
    "record_cache",
    "record_call",
    "request_log",
    "stream_lag",
    "stream_status",
    "streamed",
]


class Call(NamedTuple):
    """One DynamoDB call: API name, table, duration in ms, consumed capacity units."""

    operation: str
    table: str | None
    ms: float
    capacity: float | None


class CallLog:
    """Collect the calls and cache lookups made while it is open."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.hits = 0
        self.misses = 0
        # A log is normally fed by one thread; the lock covers contexts copied
        # into worker threads, and costs next to nothing uncontended.
        self._lock = threading.Lock()

    def _add_call(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _add_cache(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    @property
    def total(self) -> int:
        """Return the number of DynamoDB calls recorded."""
        return len(self.calls)

    def count(self, operation: str) -> int:
        """Return the number of calls of one operation ("GetItem", "Query", ...)."""
        return sum(1 for call in self.calls if call.operation == operation)

    def by_operation(self) -> Counter[str]:
        """Return a Counter of calls by operation name."""
        return Counter(call.operation for call in self.calls)

    @property
    def duration_ms(self) -> float:
        """Return the summed duration of the recorded calls in milliseconds."""
        return sum(call.ms for call in self.calls)

    @property
    def capacity(self) -> float:
        """Return the summed consumed capacity units (calls without a figure count 0)."""
        return sum(call.capacity or 0.0 for call in self.calls)

    def timeline(self, limit: int = 12) -> str:
        """Return the calls in order as one line ("GetItem 4ms, TransactWriteItems 2981ms"), for a log line that
        must say where a request's DynamoDB time went; past ``limit`` calls, the slowest are kept."""
        calls = self.calls
        if len(calls) > limit:
            slowest = set(sorted(range(len(calls)), key=lambda i: -calls[i].ms)[:limit])
            calls = [c for i, c in enumerate(calls) if i in slowest]
        more = f" (+{len(self.calls) - len(calls)} shorter)" if len(calls) < len(self.calls) else ""
        return ", ".join(f"{c.operation} {c.ms:.0f}ms" for c in calls) + more if self.calls else "no calls"

    def __len__(self) -> int:
        return len(self.calls)

    def __repr__(self) -> str:
        ops = ", ".join(f"{op}={n}" for op, n in sorted(self.by_operation().items()))
        return f"<CallLog calls={self.total} [{ops}] hits={self.hits} misses={self.misses}>"


_collectors: ContextVar[tuple[CallLog, ...]] = ContextVar("dynamo_backend_collectors", default=())


def _capacity_units(consumed: Any) -> float | None:
    """Sum CapacityUnits from a ConsumedCapacity dict, a list of them, or a number."""
    if consumed is None:
        return None
    if isinstance(consumed, (int, float)):
        return float(consumed)
    if isinstance(consumed, dict):
        units = consumed.get("CapacityUnits")
        return float(units) if units is not None else None
    if isinstance(consumed, (list, tuple)):
        # Batch and transaction calls report one entry per table.
        parts = [_capacity_units(entry) for entry in consumed]
        known = [p for p in parts if p is not None]
        return sum(known) if known else None
    return None


def record_call(operation: str, table: str | None, seconds: float, consumed_capacity: Any = None) -> None:
    """Record one DynamoDB call in every open collector."""
    logs = _collectors.get()
    if not logs:
        return
    call = Call(operation, table, seconds * 1000.0, _capacity_units(consumed_capacity))
    for log in logs:
        log._add_call(call)


def record_cache(hit: bool) -> None:
    """Record one cache lookup (hit or miss) in every open collector."""
    for log in _collectors.get():
        log._add_cache(hit)


@contextmanager
def count_calls() -> Iterator[CallLog]:
    """Collect the DynamoDB calls and cache lookups made inside the block."""
    log = CallLog()
    token = _collectors.set(_collectors.get() + (log,))
    try:
        yield log
    finally:
        _collectors.reset(token)


def request_log() -> CallLog | None:
    """Return the innermost open collector, or None outside any."""
    logs = _collectors.get()
    return logs[-1] if logs else None


# --- the stream reader, as this process sees it --------------------------------------


@dataclass
class StreamStatus:
    """What this process knows of its host's stream reader; updated by dynamo_backend.streams."""

    role: str = "off"  # "off" (no reader started here), "reader" (this process reads), "listener"
    reader_pid: int | None = None
    watermark: float | None = None  # wall-clock time before which every change was delivered here
    heard: float | None = None  # time.monotonic() of the reader's last heartbeat
    stale_after: float = 5.0  # seconds without a heartbeat before the reader counts as gone
    tables: dict[str, str] = field(default_factory=dict)  # table -> "stream", "no stream" or what failed
    reader: dict[str, Any] = field(default_factory=dict)  # the reader's counters (polls, records, errors...)
    applied: int = 0  # changes applied to this process's caches
    flushes: int = 0  # times this process dropped a table's caches (a gap in the stream)

    def live(self) -> bool:
        """Return whether the reader was heard from recently."""
        return self.heard is not None and time.monotonic() - self.heard < self.stale_after

    def lag(self) -> float | None:
        """Return how many seconds of writes this process may not have seen yet (None: no live reader)."""
        if self.watermark is None or not self.live():
            return None
        return max(0.0, time.time() - self.watermark)

    def as_dict(self) -> dict[str, Any]:
        """Return the status as plain data (/healthz shows it)."""
        lag = self.lag()
        return {
            "mode": "streams" if self.live() and "stream" in self.tables.values() else "ttl",
            "role": self.role,
            "reader_pid": self.reader_pid,
            "lag_seconds": None if lag is None else round(lag, 3),
            "heard_seconds_ago": None if self.heard is None else round(time.monotonic() - self.heard, 3),
            "tables": dict(self.tables),
            "reader": dict(self.reader),
            "applied": self.applied,
            "flushes": self.flushes,
        }


_stream_status = StreamStatus()


def stream_status() -> StreamStatus:
    """Return this process's view of the stream reader (one object, updated in place)."""
    return _stream_status


def streamed(table: str) -> bool:
    """Return whether a live stream reader delivers the table's writes to this process."""
    status = _stream_status
    return status.tables.get(table) == "stream" and status.live()


def stream_lag() -> float | None:
    """Return the reader's lag in seconds as this process sees it, or None without a live reader."""
    return _stream_status.lag()
