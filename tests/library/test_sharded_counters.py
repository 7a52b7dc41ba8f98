"""ShardedCounter: increments spread over shard items, reads sum them, counts are at-most-once."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from dynamo_backend import FieldError, ServiceUnavailable, ShardedCounter, cache, connection
from dynamo_backend.counters import counter_table_names
from dynamo_backend.stats import count_calls
from dynamo_backend.table import delete_table, ensure_table

from .models import Counted, Writer
from .test_concurrency import race
from .test_exactly_once import LoseAnswers

pytestmark = pytest.mark.models("Counted", "Writer")


def shard_items(engine, model=Counted) -> dict[str, int]:
    """The stored shards of every counter of the model: {shard key: count}."""
    return {item["pk"]["S"]: int(item["n"]["N"]) for item in engine.raw_scan(f"{model._meta.table_name}__counters")}


# -- pure ------------------------------------------------------------------------


def test_shard_keys_name_the_counter_the_item_and_the_shard():
    assert Counted.views.shard_keys("abc") == ["views#abc#0", "views#abc#1", "views#abc#2", "views#abc#3"]
    assert Counted.likes.shard_keys("abc") == ["likes#abc#0", "likes#abc#1"]


@pytest.mark.parametrize("shards", [0, -1, 1.5, True])
def test_a_counter_needs_a_positive_number_of_shards(shards):
    with pytest.raises(ValueError):
        ShardedCounter(shards=shards)


@pytest.mark.parametrize("by", [0, 1.5, True])
def test_an_increment_is_a_non_zero_integer(by, no_dynamodb):
    with pytest.raises(ValueError):
        Counted.views.increment("abc", by)


def test_base_must_name_an_integer_field(no_dynamodb):
    counter = ShardedCounter(base="title")
    counter.model, counter.name = Counted, "broken"  # bound by hand: not registered on the model
    with pytest.raises(FieldError, match="IntegerField"):
        counter.get("abc")


def test_the_counters_table_is_one_per_model_and_only_for_models_with_counters():
    assert counter_table_names(Counted) == [f"{Counted._meta.table_name}__counters"]
    assert counter_table_names(Writer) == []


# -- on every engine ---------------------------------------------------------------


def test_ensure_table_creates_the_counters_table_and_delete_table_drops_it(engine):
    ensure_table(Counted)
    name = f"{Counted._meta.table_name}__counters"
    assert name in engine.table_names()
    delete_table(Counted)
    assert name not in engine.table_names()


def test_increments_sum_on_read(tables, engine):
    item = Counted.objects.create(title="t", hits=3)
    for _ in range(10):
        Counted.views.increment(item.pk)
    Counted.views.increment(item.pk, by=5)
    assert Counted.views.get(item.pk) == 3 + 15  # the base field counts too
    assert sum(shard_items(engine).values()) == 15
    cache.reset()
    assert Counted.views.get(item.pk) == 18
    assert Counted.objects.get(pk=item.pk).views == 18


def test_increments_spread_over_the_shards(tables, engine, monkeypatch):
    item = Counted.objects.create(title="t")
    picks = iter([0, 1, 2, 3, 1])
    monkeypatch.setattr(Counted.views, "choose", lambda n: next(picks))
    for _ in range(5):
        Counted.views.increment(item.pk)
    keys = Counted.views.shard_keys(item.pk)
    assert shard_items(engine) == {keys[0]: 1, keys[1]: 2, keys[2]: 1, keys[3]: 1}


def test_random_increments_reach_every_shard(tables, engine):
    item = Counted.objects.create(title="t")
    for _ in range(40):
        Counted.views.increment(item.pk)
    stored = shard_items(engine)
    assert sum(stored.values()) == 40
    assert len(stored) == 4  # each shard missed 40 times: (3/4)**40, about 1e-5


def test_each_counter_of_an_item_counts_on_its_own(tables):
    item = Counted.objects.create(title="t")
    Counted.views.increment(item.pk)
    Counted.likes.increment(item.pk, by=-2)
    assert (Counted.views.get(item.pk), Counted.likes.get(item.pk)) == (1, -2)


def test_twenty_threads_incrementing_sum_exactly(tables, engine):
    item = Counted.objects.create(title="t")
    results = race(20, lambda _: Counted.views.increment(item.pk))
    assert results == [None] * 20
    assert sum(shard_items(engine).values()) == 20
    assert Counted.views.get(item.pk) == 20  # the answers of the increments, whatever their order
    cache.reset()
    assert Counted.views.get(item.pk) == 20


def test_a_read_is_one_batch_get_then_cached_and_own_increments_keep_it_current(tables):
    items = Counted.objects.bulk_create([Counted(title=f"t{i}") for i in range(3)])
    cache.reset()
    with count_calls() as cold:
        assert Counted.views.get_many([o.pk for o in items]) == {o.pk: 0 for o in items}
    assert cold.by_operation() == {"BatchGetItem": 1}  # 3 items (their base) and 12 shards, one call
    with count_calls() as again:
        Counted.views.increment(items[0].pk)
        assert Counted.views.get(items[0].pk) == 1
    assert again.by_operation() == {"UpdateItem": 1}


def test_get_many_loads_other_items_in_the_same_call(tables):
    writers = Writer.objects.bulk_create([Writer(name=f"w{i}") for i in range(3)])
    items = Counted.objects.bulk_create([Counted(title="t")])
    cache.reset()
    with cache.scope(), count_calls() as log:
        Counted.views.get_many(items, also_load={Writer: [w.pk for w in writers]})
        assert items[0].views == 0  # kept on the instance
        found = Writer.objects.in_bulk([w.pk for w in writers])
    assert sorted(found) == sorted(w.pk for w in writers)
    assert log.by_operation() == {"BatchGetItem": 1}


def test_without_caches_every_read_asks_dynamodb(tables, engine):
    item = Counted.objects.create(title="t")
    Counted.views.increment(item.pk)
    settings = {**engine.settings, "CACHE_TTL": 0}
    with override_settings(DYNAMO_BACKEND=settings):
        cache.reset()
        with count_calls() as log:
            assert Counted.views.get(item.pk) == 1
            assert Counted.views.get(item.pk) == 1
    assert log.count("BatchGetItem") == 2


def test_an_increment_whose_answer_was_lost_is_not_retried(tables, engine):
    item = Counted.objects.create(title="t")
    lossy = LoseAnswers(connection.get_client(), "update_item")
    with connection.use_client(lossy), pytest.raises(ServiceUnavailable) as info:
        Counted.views.increment(item.pk)
    assert info.value.maybe_applied
    assert lossy.calls.count("update_item") == 1  # at most once: applied, not repeated
    assert sum(shard_items(engine).values()) == 1


def test_increment_and_get_rides_on_the_item_when_it_is_not_cached(tables, engine):
    item = Counted.objects.create(title="t")
    cache.reset()
    with count_calls() as cold:
        got = Counted.views.increment_and_get(item.pk)
    assert cold.by_operation() == {"UpdateItem": 1}  # the item comes back from its own UpdateItem
    assert (got.pk, got.hits) == (item.pk, 1)
    assert shard_items(engine) == {}
    with count_calls() as warm:
        got = Counted.views.increment_and_get(item.pk)
    assert warm.by_operation() == {"UpdateItem": 1}  # a shard, the item from the cache
    assert sum(shard_items(engine).values()) == 1
    assert Counted.views.get(got) == 2


def test_increment_and_get_of_a_missing_item_writes_nothing(tables, engine):
    with pytest.raises(Counted.DoesNotExist):
        Counted.views.increment_and_get(str(uuid.uuid4()))
    with pytest.raises(Counted.DoesNotExist):
        Counted.likes.increment_and_get(str(uuid.uuid4()))
    assert engine.raw_scan(Counted) == [] and shard_items(engine) == {}


def test_deleting_the_item_deletes_its_shards(tables, engine):
    kept, gone = Counted.objects.bulk_create([Counted(title="kept"), Counted(title="gone")])
    for item in (kept, gone):
        Counted.views.increment(item.pk)
        Counted.likes.increment(item.pk)
    gone.delete()
    assert {key.split("#")[1] for key in shard_items(engine)} == {kept.pk}
    assert Counted.views.get(gone.pk) == 0


def test_a_new_item_knows_its_count_without_a_read(tables):
    with count_calls() as log:
        item = Counted.objects.create(title="t", hits=2)
        assert item.views == 2
    assert log.by_operation() == {"PutItem": 1}
