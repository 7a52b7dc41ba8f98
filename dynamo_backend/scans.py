"""Parallel, rate-limited Scans for management commands and backfills.

``Model.objects.filter(...).scan_segments(total_segments=8, max_rcu_per_second=100)``
reads the whole table with a Scan split into DynamoDB segments (``Segment`` /
``TotalSegments``), segments read by a pool of threads, and yields the
matching instances as pages arrive, in no order. The QuerySet's conditions
become the FilterExpression (every attribute may be filtered in a Scan).

The rate: a :class:`RateLimiter` (a token bucket of read capacity units)
shared by the threads is charged each page's ``ConsumedCapacity``. A page is
sent only once the bucket holds what it is expected to cost, and its
``Limit`` is sized from the cost per scanned item measured so far, so that
cost is at most the bucket's share of one segment. Over any stretch of ``t``
seconds the scan so consumes at most ``max_rcu_per_second * t`` plus the
bucket (one second's worth), give or take how much the pages in flight cost
beyond their estimate. A backfill never reads through or fills the caches.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from . import connection
from .compiler import Builder, compile_node
from .conf import get_setting
from .exceptions import NotSupported
from .expressions import FALSE, TRUE, Node, Q, fold
from .relations import attach_related

__all__ = ["MAX_SEGMENTS", "QuerySetScans", "RateLimiter", "parallel_scan"]

MAX_SEGMENTS = 1_000_000  # DynamoDB's limit on TotalSegments
_DONE = object()
_MIN_PAGE_COST = 0.5  # DynamoDB rounds a page up to 4 KB: half a unit read eventually consistently


class RateLimiter:
    """A token bucket of capacity units: ``rate`` a second, holding at most ``burst`` (default: one second's)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if not rate or rate <= 0:
            raise ValueError(f"the rate must be a positive number of capacity units a second, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self.clock, self.sleep = clock, sleep
        self.tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, units: float) -> None:
        """Wait until the bucket holds ``units`` (all of it, for more than it can hold), then take them."""
        while True:
            with self._lock:
                self._refill()
                needed = min(units, self.burst)
                if self.tokens >= needed - 1e-9:  # a float's rounding must not keep a caller waiting forever
                    self.tokens -= units
                    return
                wait = (needed - self.tokens) / self.rate
            self.sleep(wait)

    def settle(self, reserved: float, used: float) -> None:
        """Correct a reservation by what the call really consumed (the bucket may go into debt)."""
        with self._lock:
            self.tokens += reserved - used


class _PageSizer:
    """Chooses each page's Limit from the cost per scanned item seen so far (rises fast, falls slowly)."""

    def __init__(self, budget: float | None, page_size: int | None, consistent: bool) -> None:
        self.budget, self.page_size = budget, page_size
        self.floor = _MIN_PAGE_COST * (2 if consistent else 1)
        self.per_item: float | None = None

    def limit(self) -> int | None:
        if self.budget is None:
            return self.page_size
        if self.per_item is None:
            return 1  # the first page measures what an item costs
        fits = max(1, math.floor((self.budget - self.floor) / self.per_item))
        return min(fits, self.page_size) if self.page_size else fits

    def expected(self, limit: int | None) -> float:
        if self.per_item is None or limit is None:
            return self.floor
        # DynamoDB rounds a page's size up to 4 KB: up to one more half unit (one, read consistently).
        return self.per_item * limit + self.floor

    def observe(self, used: float, scanned: int) -> None:
        if scanned <= 0:
            return
        seen = used / scanned
        if self.per_item is None or seen > self.per_item:
            self.per_item = seen
        else:
            self.per_item = (self.per_item + seen) / 2


def _capacity(response: dict, fallback: float) -> float:
    consumed = response.get("ConsumedCapacity") or {}
    units = consumed.get("CapacityUnits")
    return float(units) if units is not None else fallback


def _put(pages: queue.Queue, entry: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pages.put(entry, timeout=0.05)
            return
        except queue.Full:
            continue


def _scan_segment(
    params: dict, segment: int, total: int, limiter: RateLimiter | None, sizer: _PageSizer, out: Any
) -> None:
    pages, stop = out
    request = {**params, "Segment": segment, "TotalSegments": total}
    while not stop.is_set():
        limit = sizer.limit()
        expected = sizer.expected(limit)
        if limiter is not None:
            limiter.acquire(expected)
            if stop.is_set():
                return
        page: dict[str, Any] = {**request, "Limit": limit} if limit else request
        response = connection.call("Scan", **page)
        used = _capacity(response, expected)
        if limiter is not None:
            limiter.settle(expected, used)
        sizer.observe(used, int(response.get("ScannedCount", len(response.get("Items", ())))))
        _put(pages, response.get("Items", []), stop)
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def _run_segment(*args: Any) -> None:
    pages, stop = args[-1]
    try:
        _scan_segment(*args)
    except BaseException as error:  # handed to the reading thread, which raises it
        _put(pages, error, stop)
    finally:
        _put(pages, _DONE, stop)


def check_segments(total_segments: Any) -> None:
    """Raise ValueError unless total_segments is a segment count DynamoDB accepts."""
    if (
        isinstance(total_segments, bool)
        or not isinstance(total_segments, int)
        or not 1 <= total_segments <= MAX_SEGMENTS
    ):
        raise ValueError(f"total_segments must be an integer from 1 to {MAX_SEGMENTS:,}, got {total_segments!r}")


def parallel_scan(
    params: dict,
    total_segments: int,
    *,
    limiter: RateLimiter | None = None,
    max_workers: int | None = None,
    page_size: int | None = None,
) -> Generator[list[dict], None, None]:
    """Yield pages of raw items of a Scan request (``params``) split into ``total_segments`` segments.

    Segments are read by up to ``max_workers`` threads (default: the number
    of segments, at most MAX_POOL_CONNECTIONS). Closing the iterator early
    stops them; an error in one ends the scan and is raised here.
    """
    check_segments(total_segments)
    workers = max_workers or min(total_segments, int(get_setting("MAX_POOL_CONNECTIONS")))
    budget = limiter.burst / min(workers, total_segments) if limiter is not None else None
    pages: queue.Queue = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamo-scan")
    try:
        for segment in range(total_segments):
            sizer = _PageSizer(budget, page_size, bool(params.get("ConsistentRead")))
            task = (params, segment, total_segments, limiter, sizer, (pages, stop))
            # Each thread runs in a copy of this context: call stats and the deadline follow it.
            pool.submit(contextvars.copy_context().run, functools.partial(_run_segment, *task))
        finished = 0
        while finished < total_segments:
            entry = pages.get()
            if entry is _DONE:
                finished += 1
            elif isinstance(entry, BaseException):
                raise entry
            else:
                yield entry
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


class QuerySetScans:
    """``scan_segments()``, a mixin of DynamoQuerySet."""

    # Provided by DynamoQuerySet.
    model: Any
    _where: list[Node]
    _order: list[str] | None
    _consistent: bool
    _prefetch: list[str]

    if TYPE_CHECKING:

        def _check_unsliced(self, action: str) -> None: ...
        def _transform(self, objs: list) -> list: ...

    def scan_segments(
        self,
        total_segments: int = 4,
        *,
        max_rcu_per_second: float | None = None,
        max_workers: int | None = None,
        page_size: int | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> Iterator[Any]:
        """Yield the matching items from a parallel Scan in ``total_segments`` segments, in no order.

        ``max_rcu_per_second`` caps the read capacity the scan consumes (a token
        bucket fed by ConsumedCapacity, shared by the segments); ``page_size``
        caps a page's Limit; ``rate_limiter`` shares one bucket between several
        scans. Reads around the caches; consistent when the QuerySet is
        ``.consistent()``. For commands and backfills.
        """
        self._check_unsliced("scan")
        check_segments(total_segments)
        if self._order:
            raise NotSupported("scan_segments() yields items in no order; drop order_by()")
        node = fold(Node(Q.AND, False, list(self._where))) if self._where else TRUE
        limiter = rate_limiter or (RateLimiter(max_rcu_per_second) if max_rcu_per_second is not None else None)
        params: dict = {"TableName": self.model._meta.table_name}
        if node is not TRUE and node is not FALSE:
            builder = Builder()
            params["FilterExpression"] = compile_node(node, builder)
            params.update(builder.params())
        if self._consistent:
            params["ConsistentRead"] = True
        if node is FALSE:
            return iter(())
        scan = parallel_scan(params, total_segments, limiter=limiter, max_workers=max_workers, page_size=page_size)
        return self._scanned(scan)

    def _scanned(self, scan: Generator[list[dict], None, None]) -> Iterator[Any]:
        meta = self.model._meta
        with contextlib.closing(scan):
            for raws in scan:
                objs = [self.model.from_raw(raw) for raw in raws if not meta.expired(raw)]
                if self._prefetch:
                    attach_related(self.model, objs, self._prefetch)
                yield from self._transform(objs)
