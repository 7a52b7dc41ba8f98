"""scan_segments(): a parallel Scan in DynamoDB segments, and a rate that is never exceeded."""

from __future__ import annotations

import math
import threading

import pytest
from django.test import override_settings

from dynamo_backend import NotSupported, connection
from dynamo_backend.scans import RateLimiter
from dynamo_backend.stats import count_calls
from tests.fixtures import backend_settings, reset_library

from .conftest import ClientSpy
from .models import Row

# -- on every engine ----------------------------------------------------------------------------


@pytest.fixture
def rows(engine):
    engine.create_tables(Row)
    return [Row.objects.create(cat="even" if i % 2 == 0 else "odd", grp="g", rank=i, note=f"n{i}") for i in range(30)]


def test_every_item_comes_once_across_the_segments(rows):
    spy = ClientSpy(connection.get_client())

    with connection.use_client(spy):
        got = [row.rank for row in Row.objects.scan_segments(total_segments=4)]

    assert sorted(got) == list(range(30))
    scans = spy.of("scan")
    assert {(s["Segment"], s["TotalSegments"]) for s in scans} == {(n, 4) for n in range(4)}
    assert all("Limit" not in s for s in scans)  # no rate: whole 1 MB pages


def test_the_querysets_conditions_filter_the_scan(rows):
    qs = Row.objects.filter(cat="odd", rank__lt=10).exclude(rank=3)

    got = sorted(qs.values_list("rank", flat=True).scan_segments(total_segments=3))

    assert got == [1, 5, 7, 9]


def test_a_rate_limited_scan_pages_with_a_limit_and_counts_its_capacity(rows):
    spy = ClientSpy(connection.get_client())

    with connection.use_client(spy), count_calls() as calls:
        got = list(Row.objects.scan_segments(total_segments=2, max_rcu_per_second=1000))

    assert len(got) == 30
    assert all(s["Limit"] >= 1 for s in spy.of("scan"))
    assert calls.count("Scan") >= 4  # a measuring page of one item per segment, then the rest


def test_stopping_early_stops_the_threads(rows):
    for _row in Row.objects.scan_segments(total_segments=4, page_size=2):
        break

    assert not [t for t in threading.enumerate() if t.name.startswith("dynamo-scan")]


def test_an_ordered_or_sliced_scan_is_refused(rows):
    with pytest.raises(NotSupported, match="no order"):
        Row.objects.order_by("rank").scan_segments()
    with pytest.raises(TypeError):
        Row.objects.all()[:3].scan_segments()
    with pytest.raises(ValueError, match="total_segments"):
        Row.objects.scan_segments(total_segments=0)


# -- the rate, against a fake table and a fake clock ------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def time(self):
        with self.lock:
            return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


class FakeTable:
    """Answers Scan like DynamoDB: segments by key, Limit, 4 KB rounding of a page's read units."""

    def __init__(self, clock, items=200, item_bytes=2048, fail_segment=None):
        self.clock = clock
        self.item_bytes = item_bytes
        self.keys = list(range(items))
        self.fail_segment = fail_segment
        self.pages: list[tuple[float, float]] = []  # (time sent, units consumed)
        self.lock = threading.Lock()

    def scan(self, **params):
        segment, total = params["Segment"], params["TotalSegments"]
        if segment == self.fail_segment:
            raise RuntimeError("segment failed")
        mine = [k for k in self.keys if k % total == segment]
        start = params.get("ExclusiveStartKey", {}).get("pk", {}).get("N")
        if start is not None:
            mine = [k for k in mine if k > int(start)]
        page = mine[: params.get("Limit", len(mine))]
        units = max(0.5, math.ceil(len(page) * self.item_bytes / 4096) * 0.5)
        with self.lock:
            self.pages.append((self.clock.time(), units))
        response = {
            "Items": [{"pk": {"S": f"p{k}"}, "rank": {"N": str(k)}} for k in page],
            "ScannedCount": len(page),
            "ConsumedCapacity": {"TableName": "t", "CapacityUnits": units},
        }
        if page and page[-1] != mine[-1]:
            response["LastEvaluatedKey"] = {"pk": {"N": str(page[-1])}}
        return response


@pytest.fixture
def fake():
    with override_settings(DYNAMO_BACKEND=backend_settings("http://ddb", "f_")):
        reset_library()
        clock = FakeClock()
        yield clock
    reset_library()


def worst_burst(pages, rate):
    """The most any stretch of the scan consumed beyond rate x its length."""
    pages = sorted(pages)
    worst = 0.0
    for i, (start, _) in enumerate(pages):
        used = 0.0
        for end, units in pages[i:]:
            used += units
            worst = max(worst, used - rate * (end - start))
    return worst


@pytest.mark.parametrize("segments", [1, 4])
def test_a_scan_never_exceeds_its_rate(fake, segments):
    table = FakeTable(fake, items=400, item_bytes=2048)  # 400 x 0.25 units = about 100 units
    limiter = RateLimiter(10, clock=fake.time, sleep=fake.sleep)

    with connection.use_client(table):
        got = list(Row.objects.scan_segments(total_segments=segments, rate_limiter=limiter))

    assert sorted(r.rank for r in got) == list(range(400))
    used = sum(units for _, units in table.pages)
    assert used >= 100
    assert fake.now >= (used - limiter.burst) / limiter.rate  # it took as long as the rate demands
    assert worst_burst(table.pages, limiter.rate) <= limiter.burst + 1e-9  # and never ran ahead of it


def test_pages_grow_to_what_the_bucket_holds(fake):
    table = FakeTable(fake, items=100, item_bytes=400)
    limiter = RateLimiter(5, clock=fake.time, sleep=fake.sleep)
    spy = ClientSpy(table)

    with connection.use_client(spy):
        list(Row.objects.scan_segments(total_segments=1, rate_limiter=limiter))

    limits = [s["Limit"] for s in spy.of("scan")]
    assert limits[0] == 1 and max(limits) > 1


def test_an_error_in_one_segment_ends_the_scan_and_is_raised(fake):
    with connection.use_client(FakeTable(fake, fail_segment=2)), pytest.raises(RuntimeError, match="segment failed"):
        list(Row.objects.scan_segments(total_segments=4))


def test_the_bucket_waits_for_what_a_page_costs():
    clock = FakeClock()
    limiter = RateLimiter(2, burst=2, clock=clock.time, sleep=clock.sleep)

    limiter.acquire(2)
    limiter.acquire(1)
    assert clock.now == pytest.approx(0.5)
    limiter.settle(1, 3)  # the page cost more than expected: the debt is paid by waiting
    limiter.acquire(1)
    assert clock.now == pytest.approx(2.0)


def test_the_rate_must_be_positive():
    with pytest.raises(ValueError):
        RateLimiter(0)
