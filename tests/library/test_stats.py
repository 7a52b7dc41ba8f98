"""Per-request call accounting and the Server-Timing middleware."""

from __future__ import annotations

import threading

from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from dynamo_backend import cache, stats
from dynamo_backend.middleware import DynamoRequestMiddleware


def test_count_calls_collects_calls_made_inside_the_block():
    with stats.count_calls() as log:
        stats.record_call("GetItem", "blog_post", 0.002)
        stats.record_call("Query", "blog_comment", 0.003)
    assert log.calls == [
        stats.Call("GetItem", "blog_post", 2.0, None),
        stats.Call("Query", "blog_comment", 3.0, None),
    ]
    assert log.total == 2


def test_calls_outside_any_collector_are_ignored():
    stats.record_call("GetItem", "blog_post", 0.001)
    with stats.count_calls() as log:
        pass
    stats.record_call("GetItem", "blog_post", 0.001)
    assert log.total == 0


def test_nested_collectors_both_receive_records():
    with stats.count_calls() as outer:
        stats.record_call("Scan", "t", 0.001)
        with stats.count_calls() as inner:
            stats.record_call("GetItem", "t", 0.001)
            stats.record_cache(True)
        stats.record_call("Query", "t", 0.001)
    assert [c.operation for c in outer.calls] == ["Scan", "GetItem", "Query"]
    assert [c.operation for c in inner.calls] == ["GetItem"]
    assert (outer.hits, inner.hits) == (1, 1)


def test_by_operation_counts_calls_per_operation():
    with stats.count_calls() as log:
        for op in ("GetItem", "Query", "GetItem", "BatchGetItem"):
            stats.record_call(op, "t", 0.0)
    assert log.by_operation() == {"GetItem": 2, "Query": 1, "BatchGetItem": 1}
    assert log.count("GetItem") == 2
    assert log.count("Scan") == 0


def test_cache_hits_and_misses_are_counted():
    with stats.count_calls() as log:
        stats.record_cache(True)
        stats.record_cache(True)
        stats.record_cache(False)
    assert (log.hits, log.misses) == (2, 1)


def test_duration_ms_sums_call_durations():
    with stats.count_calls() as log:
        stats.record_call("GetItem", "t", 0.0015)
        stats.record_call("GetItem", "t", 0.0025)
    assert abs(log.duration_ms - 4.0) < 1e-9


def test_consumed_capacity_is_summed_from_dicts_and_lists():
    with stats.count_calls() as log:
        stats.record_call("GetItem", "t", 0.0, {"TableName": "t", "CapacityUnits": 0.5})
        stats.record_call("BatchGetItem", "t,u", 0.0, [{"CapacityUnits": 1.0}, {"CapacityUnits": 2.0}])
        stats.record_call("Scan", "t", 0.0, None)
    assert [c.capacity for c in log.calls] == [0.5, 3.0, None]
    assert log.capacity == 3.5


def test_request_log_returns_the_innermost_collector():
    assert stats.request_log() is None
    with stats.count_calls() as outer:
        assert stats.request_log() is outer
        with stats.count_calls() as inner:
            assert stats.request_log() is inner
        assert stats.request_log() is outer


def test_collectors_do_not_see_calls_of_other_threads():
    with stats.count_calls() as log:
        thread = threading.Thread(target=stats.record_call, args=("GetItem", "t", 0.001))
        thread.start()
        thread.join()
    assert log.total == 0


# --- middleware ----------------------------------------------------------


def view_making_calls(request):
    stats.record_call("Query", "blog_comment", 0.0031)
    stats.record_call("BatchGetItem", "blog_author", 0.0011)
    stats.record_call("UpdateItem", "blog_post", 0.0)
    for hit in (True, True, True, True, True, False):
        stats.record_cache(hit)
    return HttpResponse("ok")


def test_middleware_sets_the_server_timing_header():
    response = DynamoRequestMiddleware(view_making_calls)(RequestFactory().get("/api/posts/"))
    assert response["Server-Timing"] == 'ddb;dur=4.2;desc="calls=3", cache;desc="hits=5 misses=1"'


def test_middleware_reports_zero_for_a_request_without_calls():
    response = DynamoRequestMiddleware(lambda request: HttpResponse())(RequestFactory().get("/"))
    assert response["Server-Timing"] == 'ddb;dur=0.0;desc="calls=0", cache;desc="hits=0 misses=0"'


def test_middleware_opens_an_identity_map_for_the_request():
    seen = []

    def view(request):
        seen.append(cache.in_scope())
        return HttpResponse()

    DynamoRequestMiddleware(view)(RequestFactory().get("/"))
    assert seen == [True]
    assert not cache.in_scope()


def test_middleware_sets_the_header_on_a_streaming_response():
    def view(request):
        stats.record_call("Scan", "blog_post", 0.001)
        return StreamingHttpResponse(iter([b"a", b"b"]))

    response = DynamoRequestMiddleware(view)(RequestFactory().get("/"))
    assert response["Server-Timing"] == 'ddb;dur=1.0;desc="calls=1", cache;desc="hits=0 misses=0"'
    assert b"".join(response.streaming_content) == b"ab"


def test_middleware_keeps_an_existing_server_timing_header():
    def view(request):
        response = HttpResponse()
        response["Server-Timing"] = "app;dur=12"
        return response

    response = DynamoRequestMiddleware(view)(RequestFactory().get("/"))
    assert response["Server-Timing"].startswith("app;dur=12, ddb;dur=0.0;")


def test_middleware_counts_each_request_on_its_own():
    middleware = DynamoRequestMiddleware(view_making_calls)
    middleware(RequestFactory().get("/"))
    response = middleware(RequestFactory().get("/"))
    assert 'calls=3"' in response["Server-Timing"]
