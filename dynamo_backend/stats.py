"""Per-request accounting of DynamoDB calls and cache lookups.

Collectors live in a contextvar stack, so each request (or thread, or
``count_calls()`` block) sees only its own calls, and nested collectors all
receive every record made while they are open.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple

__all__ = ["Call", "CallLog", "record_call", "record_cache", "count_calls", "request_log"]


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
