"""Identity map, item cache and query cache, with an injected clock (no sleeping)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import override_settings

from dynamo_backend import cache, stats
from dynamo_backend.cache import MISSING, item_cache, query_cache

TABLE = "blog_author"
BASE_SETTINGS = {"CACHE_TTL": 60, "CACHE_MAXSIZE": 100, "QUERY_CACHE_TTL": 5, "NEGATIVE_CACHE_TTL": 2}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def raw(pk: str, **extra) -> dict:
    return {"pk": {"S": pk}, "username": {"S": f"user-{pk}"}, **extra}


@contextmanager
def cache_settings(clock: FakeClock, **overrides) -> Iterator[None]:
    with override_settings(DYNAMO_BACKEND={**BASE_SETTINGS, **overrides}):
        cache.configure(timer=clock)
        try:
            yield
        finally:
            cache.configure()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def caches(clock: FakeClock) -> Iterator[FakeClock]:
    with cache_settings(clock):
        yield clock


def in_other_thread(fn) -> None:
    """Run fn in a fresh thread, as another request would."""
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join()


# --- identity map ------------------------------------------------------------


def test_identity_map_is_inert_outside_a_scope():
    cache.identity_put(TABLE, "a", raw("a"))
    assert cache.identity_get(TABLE, "a") is None


def test_identity_map_returns_item_loaded_in_the_same_scope():
    with cache.scope():
        cache.identity_put(TABLE, "a", raw("a"))
        assert cache.identity_get(TABLE, "a") == raw("a")


def test_identity_map_records_a_known_missing_item():
    with cache.scope():
        cache.identity_put(TABLE, "gone", None)
        assert cache.identity_get(TABLE, "gone") is MISSING


def test_identity_map_is_forgotten_when_the_scope_closes():
    with cache.scope():
        cache.identity_put(TABLE, "a", raw("a"))
    with cache.scope():
        assert cache.identity_get(TABLE, "a") is None


def test_nested_scope_reuses_the_outer_map():
    with cache.scope():
        cache.identity_put(TABLE, "a", raw("a"))
        with cache.scope():
            assert cache.identity_get(TABLE, "a") == raw("a")
            cache.identity_put(TABLE, "b", raw("b"))
        assert cache.identity_get(TABLE, "b") == raw("b")


def test_identity_discard_forgets_one_key():
    with cache.scope():
        cache.identity_put(TABLE, "a", raw("a"))
        cache.identity_discard(TABLE, "a")
        assert cache.identity_get(TABLE, "a") is None


def test_identity_map_is_private_to_its_thread():
    # The map is not copied (one request, one thread); other threads never see it.
    seen = []
    with cache.scope():
        cache.identity_put(TABLE, "a", raw("a"))
        in_other_thread(lambda: seen.append(cache.identity_get(TABLE, "a")))
        assert cache.identity_get(TABLE, "a") == raw("a")
    assert seen == [None]


def test_identity_map_hits_are_counted():
    with cache.scope(), stats.count_calls() as log:
        cache.identity_put(TABLE, "a", raw("a"))
        cache.identity_get(TABLE, "a")
        cache.identity_get(TABLE, "unknown")
    assert (log.hits, log.misses) == (1, 0)


# --- item cache -------------------------------------------------------------


def test_item_cache_returns_what_was_put(caches):
    item_cache.put(TABLE, "a", raw("a"))
    assert item_cache.get(TABLE, "a") == raw("a")


def test_item_cache_returns_none_for_an_unknown_key(caches):
    assert item_cache.get(TABLE, "nobody") is None


def test_item_expires_after_cache_ttl(caches):
    item_cache.put(TABLE, "a", raw("a"))
    caches.advance(59.9)
    assert item_cache.get(TABLE, "a") == raw("a")
    caches.advance(0.2)
    assert item_cache.get(TABLE, "a") is None


def test_item_ttl_given_at_put_overrides_cache_ttl(caches):
    item_cache.put(TABLE, "a", raw("a"), ttl=5)
    caches.advance(5.1)
    assert item_cache.get(TABLE, "a") is None


def test_item_ttl_zero_never_caches(caches):
    item_cache.put(TABLE, "a", raw("a"), ttl=0)
    assert item_cache.get(TABLE, "a") is None
    assert len(item_cache) == 0


def test_item_cache_never_exceeds_maxsize(clock):
    with cache_settings(clock, CACHE_MAXSIZE=10):
        for i in range(100):
            item_cache.put(TABLE, f"p{i}", raw(f"p{i}"))
            assert len(item_cache) <= 10
        assert item_cache.maxsize == 10
        assert item_cache.get(TABLE, "p99") == raw("p99")
        assert item_cache.get(TABLE, "p0") is None


def test_negative_entry_returns_missing_until_it_expires(caches):
    item_cache.put_missing(TABLE, "ghost")
    assert item_cache.get(TABLE, "ghost") is MISSING
    caches.advance(2.1)
    assert item_cache.get(TABLE, "ghost") is None


def test_put_of_none_caches_a_miss(caches):
    item_cache.put(TABLE, "ghost", None)
    assert item_cache.get(TABLE, "ghost") is MISSING


def test_returned_item_is_read_only_at_every_level(caches):
    item_cache.put(TABLE, "a", raw("a", tags={"L": [{"S": "x"}]}))
    got = item_cache.get(TABLE, "a")
    with pytest.raises(TypeError):
        got["tags"]["L"].append({"S": "y"})
    with pytest.raises(TypeError):
        got["username"] = {"S": "mallory"}
    with pytest.raises(TypeError):
        got["username"]["S"] = "mallory"
    assert item_cache.get(TABLE, "a") == raw("a", tags={"L": [{"S": "x"}]})


def test_stored_item_is_a_copy(caches):
    item = raw("a", profile={"M": {"bio": {"S": "hi"}}})
    item_cache.put(TABLE, "a", item)
    item["profile"]["M"]["bio"]["S"] = "changed"
    assert item_cache.get(TABLE, "a")["profile"]["M"]["bio"]["S"] == "hi"


def test_discard_drops_an_item(caches):
    item_cache.put(TABLE, "a", raw("a"))
    item_cache.discard(TABLE, "a")
    assert item_cache.get(TABLE, "a") is None


def test_write_through_after_a_miss_is_cached(caches):
    assert item_cache.get(TABLE, "a") is None
    item_cache.put(TABLE, "a", raw("a"))
    assert item_cache.get(TABLE, "a") == raw("a")


def test_fill_that_raced_with_a_delete_is_not_cached(caches):
    assert item_cache.get(TABLE, "a") is None  # this reader now asks DynamoDB...
    in_other_thread(lambda: item_cache.discard(TABLE, "a"))  # ...while another request deletes
    item_cache.put(TABLE, "a", raw("a"))  # the reader's answer predates the delete
    assert item_cache.get(TABLE, "a") is None


def test_fill_that_raced_with_a_save_does_not_hide_it_behind_old_data(caches):
    assert item_cache.get(TABLE, "a") is None
    in_other_thread(lambda: item_cache.put(TABLE, "a", raw("a", bio={"S": "new"}), write=True))
    item_cache.put(TABLE, "a", raw("a", bio={"S": "old"}))
    assert item_cache.get(TABLE, "a") in (None, raw("a", bio={"S": "new"}))


def test_two_readers_filling_one_key_leave_it_cached(caches):
    assert item_cache.get(TABLE, "a") is None  # this reader asks DynamoDB...
    in_other_thread(lambda: (item_cache.get(TABLE, "a"), item_cache.put(TABLE, "a", raw("a"))))
    item_cache.put(TABLE, "a", raw("a"))  # ...and fills after another reader did
    assert item_cache.get(TABLE, "a") == raw("a")


def test_two_writes_racing_on_one_key_cache_neither(caches):
    mark = item_cache.mark()  # our UpdateItem starts...
    in_other_thread(lambda: item_cache.put(TABLE, "a", raw("a", bio={"S": "theirs"}), write=True))
    item_cache.put(TABLE, "a", raw("a", bio={"S": "ours"}), since=mark, write=True)
    assert item_cache.get(TABLE, "a") is None  # their order in DynamoDB is unknown


def test_expiry_of_another_key_does_not_refuse_a_fill(caches, clock):
    item_cache.put(TABLE, "b", raw("b"), ttl=1)
    assert item_cache.get(TABLE, "a") is None
    clock.advance(2)  # "b" expires while "a" is being read
    item_cache.get(TABLE, "b")
    item_cache.put(TABLE, "a", raw("a"))
    assert item_cache.get(TABLE, "a") == raw("a")


def test_put_since_a_mark_is_refused_when_the_key_was_written_after_it(caches):
    mark = item_cache.mark()  # a Query starts...
    item_cache.discard(TABLE, "a")  # ...the item is deleted...
    item_cache.put(TABLE, "a", raw("a"), since=mark)  # ...and the Query's copy arrives
    assert item_cache.get(TABLE, "a") is None


def test_put_since_a_mark_is_kept_when_nothing_was_written(caches):
    mark = item_cache.mark()
    item_cache.put(TABLE, "b", raw("b"))
    item_cache.put(TABLE, "a", raw("a"), since=mark)
    assert item_cache.get(TABLE, "a") == raw("a")


def test_put_without_replace_never_displaces_a_cached_item(caches):
    item_cache.put(TABLE, "a", raw("a", bio={"S": "new"}))
    item_cache.put(TABLE, "a", raw("a", bio={"S": "lagging index copy"}), replace=False)
    assert item_cache.get(TABLE, "a") == raw("a", bio={"S": "new"})


def test_put_without_replace_fills_an_absent_key(caches):
    item_cache.put(TABLE, "a", raw("a"), replace=False)
    assert item_cache.get(TABLE, "a") == raw("a")


def test_item_cache_hits_and_misses_are_counted(caches):
    item_cache.put(TABLE, "a", raw("a"))
    item_cache.put_missing(TABLE, "ghost")
    with stats.count_calls() as log:
        item_cache.get(TABLE, "a")
        item_cache.get(TABLE, "ghost")
        item_cache.get(TABLE, "nobody")
    assert (log.hits, log.misses) == (2, 1)


def test_cache_ttl_zero_disables_item_and_query_cache_but_not_identity_map(clock):
    with cache_settings(clock, CACHE_TTL=0):
        item_cache.put(TABLE, "a", raw("a"))
        query_cache.put(TABLE, ("Scan",), (raw("a"),))
        assert item_cache.get(TABLE, "a") is None
        assert query_cache.get(TABLE, ("Scan",)) is None
        with cache.scope():
            cache.identity_put(TABLE, "a", raw("a"))
            assert cache.identity_get(TABLE, "a") == raw("a")


def test_reset_clears_the_item_cache(caches):
    item_cache.put(TABLE, "a", raw("a"))
    cache.reset()
    assert item_cache.get(TABLE, "a") is None


def test_changed_settings_are_read_at_rebuild(clock):
    with cache_settings(clock, CACHE_MAXSIZE=10):
        assert item_cache.maxsize == 10
        # override_settings sends setting_changed; the app's receiver rebuilds the caches.
        with override_settings(DYNAMO_BACKEND={**BASE_SETTINGS, "CACHE_MAXSIZE": 20}):
            assert item_cache.maxsize == 20


# --- query cache ------------------------------------------------------------


def test_query_cache_returns_a_result_until_the_table_is_invalidated(caches):
    key = ("Query", "author_pk-index", "a")
    query_cache.put(TABLE, key, (raw("a"), raw("b")))
    assert query_cache.get(TABLE, key) == (raw("a"), raw("b"))
    query_cache.invalidate(TABLE)
    assert query_cache.get(TABLE, key) is None


def test_query_cache_invalidation_spares_other_tables(caches):
    query_cache.put(TABLE, ("Scan",), 3)
    query_cache.put("blog_post", ("Scan",), 7)
    query_cache.invalidate("blog_post")
    assert query_cache.get(TABLE, ("Scan",)) == 3


def test_invalidate_with_a_change_drops_only_the_results_it_affects(caches):
    by_name = cache.Dependency(frozenset({"username"}))
    by_bio = cache.Dependency(frozenset({"bio"}))
    query_cache.put(TABLE, "name", ("a",), by_name)
    query_cache.put(TABLE, "bio", ("a",), by_bio)
    assert query_cache.invalidate(TABLE, cache.Change.modified(raw("a"), ["bio"])) == 1
    assert query_cache.get(TABLE, "name") == ("a",)
    assert query_cache.get(TABLE, "bio") is None


def test_a_racing_write_refuses_only_the_results_it_affects(caches):
    by_name = cache.Dependency(frozenset({"username"}))
    for key in ("name", "other"):
        assert query_cache.get(TABLE, key) is None  # two misses; both readers run their queries
    query_cache.invalidate(TABLE, cache.Change.modified(raw("a"), ["bio"]))  # a write no query reads
    query_cache.put(TABLE, "other", ("a",), by_name)
    assert query_cache.get(TABLE, "other") == ("a",)
    query_cache.invalidate(TABLE, cache.Change.modified(raw("a"), ["username"]))
    query_cache.put(TABLE, "name", ("a",), by_name)
    assert query_cache.get(TABLE, "name") is None


def test_query_result_read_across_a_write_is_not_cached(caches):
    key = ("Scan",)
    assert query_cache.get(TABLE, key) is None  # miss: the reader runs the Scan...
    query_cache.invalidate(TABLE)  # ...a write lands meanwhile...
    query_cache.put(TABLE, key, (raw("a"),))  # ...and the older result arrives
    assert query_cache.get(TABLE, key) is None


def test_query_result_expires_after_query_cache_ttl(caches):
    query_cache.put(TABLE, ("Scan",), (raw("a"),))
    caches.advance(4.9)
    assert query_cache.get(TABLE, ("Scan",)) is not None
    caches.advance(0.2)
    assert query_cache.get(TABLE, ("Scan",)) is None


def test_a_query_result_never_outlives_the_item_ttl(caches):
    query_cache.put(TABLE, ("Scan",), (raw("a"),), ttl=600)
    caches.advance(59.9)
    assert query_cache.get(TABLE, ("Scan",)) is not None
    caches.advance(0.2)
    assert query_cache.get(TABLE, ("Scan",)) is None


def test_query_cache_entries_are_read_only(caches):
    query_cache.put(TABLE, ("Scan",), (raw("a"),))
    with pytest.raises(TypeError):
        query_cache.get(TABLE, ("Scan",))[0]["username"]["S"] = "changed"
    assert query_cache.get(TABLE, ("Scan",)) == (raw("a"),)


def test_query_cache_never_exceeds_maxsize(clock):
    with cache_settings(clock, CACHE_MAXSIZE=10):
        for i in range(50):
            query_cache.put(TABLE, ("Query", i), (raw(str(i)),))
            if i % 7 == 0:
                query_cache.invalidate(TABLE)
            assert len(query_cache) <= 10


def test_query_cache_hits_and_misses_are_counted(caches):
    query_cache.put(TABLE, ("Scan",), 1)
    with stats.count_calls() as log:
        query_cache.get(TABLE, ("Scan",))
        query_cache.get(TABLE, ("Query",))
    assert (log.hits, log.misses) == (1, 1)


# --- threads ---------------------------------------------------------------


def test_sixteen_threads_can_change_nothing_they_share_and_never_raise(clock):
    pks = [f"p{i}" for i in range(20)]
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []
    refused = [0] * 16

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(400):
                pk = pks[(n + i) % len(pks)]
                if i % 5 == 0:
                    item_cache.put(TABLE, pk, raw(pk, tags={"L": [{"S": "t"}]}))
                elif i % 17 == 0:
                    item_cache.discard(TABLE, pk)
                got = item_cache.get(TABLE, pk)
                if got:
                    # Another thread's marks would show here if a change could get through.
                    assert "mark" not in got and len(got["tags"]["L"]) == 1
                    for change in (
                        lambda got=got: got.__setitem__("mark", {"N": str(n)}),
                        lambda got=got: got["tags"]["L"].append({"S": str(n)}),
                    ):
                        try:
                            change()
                        except TypeError:
                            refused[n] += 1
                        else:
                            raise AssertionError("a cached item accepted a change")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with cache_settings(clock, CACHE_MAXSIZE=8):
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(item_cache) <= 8

    assert errors == []
    assert sum(refused) > 0, "no thread ever hit the cache"


def test_a_call_log_timeline_lists_calls_in_order_keeping_the_slowest():
    log = stats.CallLog()
    assert log.timeline() == "no calls"
    for operation, ms in [("GetItem", 4.2), ("Query", 900.0), ("PutItem", 12.0)]:
        log._add_call(stats.Call(operation, "t", ms, None))
    assert log.timeline() == "GetItem 4ms, Query 900ms, PutItem 12ms"
    assert log.timeline(limit=2) == "Query 900ms, PutItem 12ms (+1 shorter)"
