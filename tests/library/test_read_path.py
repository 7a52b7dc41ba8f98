"""The read path through the model layer: identity map, item cache, query cache, fan-out."""

from __future__ import annotations

import threading

import pytest
from django.test import override_settings

from dynamo_backend import cache
from dynamo_backend.stats import count_calls

from .models import Story, Uncached, Writer

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Writer", "Story", "Uncached")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    fake = FakeClock()
    cache.configure(timer=fake)
    yield fake
    cache.configure()


@pytest.fixture
def no_cache(engine):
    with override_settings(DYNAMO_BACKEND={**engine.settings, "CACHE_TTL": 0}):
        yield


def test_identity_map_loads_a_pk_once_per_scope_even_with_caches_off(engine, no_cache):
    writer = Writer.objects.create(name="w")
    with cache.scope(), count_calls() as calls:
        first = Writer.objects.get(pk=writer.pk)
        second = Writer.objects.get(pk=writer.pk)
        in_bulk = Writer.objects.in_bulk([writer.pk])
    assert calls.total <= 1
    assert first is not second and first.pk == second.pk == in_bulk[writer.pk].pk


def test_without_a_scope_and_caches_off_every_get_asks_dynamodb(engine, no_cache):
    writer = Writer.objects.create(name="w")
    cache.reset()
    with count_calls() as calls:
        Writer.objects.get(pk=writer.pk)
        Writer.objects.get(pk=writer.pk)
    assert calls.count("GetItem") == 2


def test_a_warm_get_costs_no_call(engine):
    writer = Writer.objects.create(name="w")
    with count_calls() as calls:
        Writer.objects.get(pk=writer.pk)
    assert calls.total == 0


def test_a_save_is_visible_to_the_next_read_without_a_call(engine):
    writer = Writer.objects.create(name="before")
    Writer.objects.get(pk=writer.pk)
    writer.name = "after"
    writer.save()
    with count_calls() as calls:
        assert Writer.objects.get(pk=writer.pk).name == "after"
    assert calls.total == 0


def test_an_f_update_is_visible_to_the_next_read(engine):
    story = Story.objects.create(title="t")
    Story.objects.filter(pk=story.pk).update(title="new")
    assert Story.objects.get(pk=story.pk).title == "new"


def test_a_delete_is_visible_at_once(engine):
    writer = Writer.objects.create(name="gone")
    Writer.objects.get(pk=writer.pk)
    writer.delete()
    with pytest.raises(Writer.DoesNotExist):
        Writer.objects.get(pk=writer.pk)


def test_queryset_delete_is_visible_at_once(engine):
    writer = Writer.objects.create(name="gone")
    Writer.objects.get(pk=writer.pk)
    Writer.objects.filter(name="gone").delete()
    assert not Writer.objects.filter(pk=writer.pk).exists()


def test_a_write_drops_the_tables_cached_queries(engine):
    Story.objects.create(title="one")
    assert Story.objects.filter(shelf="all").count() == 1
    with count_calls() as calls:
        assert Story.objects.filter(shelf="all").count() == 1
    assert calls.total == 0  # cached
    Story.objects.create(title="two")
    assert Story.objects.filter(shelf="all").count() == 2
    assert [s.title for s in Story.objects.filter(shelf="all").order_by("created_at")] == ["one", "two"]


def test_an_index_result_read_just_after_a_write_it_depends_on_is_kept_one_second(engine, clock):
    Story.objects.create(title="t")
    list(Story.objects.filter(shelf="all"))  # a GSI may not show the new item yet on DynamoDB
    clock.now += 0.9
    with count_calls() as calls:
        list(Story.objects.filter(shelf="all"))
    assert calls.total == 0
    clock.now += 0.2
    with count_calls() as calls:
        list(Story.objects.filter(shelf="all"))
    assert calls.count("Query") == 1


def test_an_update_no_cached_query_reads_leaves_the_lists_cached(engine, clock):
    stories = Story.objects.bulk_create([Story(title=f"s{i}") for i in range(3)])
    clock.now += 2
    listed = Story.objects.filter(shelf="all").order_by("created_at")
    assert [s.title for s in listed] == ["s0", "s1", "s2"]
    Story.objects.filter(pk=stories[1].pk).update(title="renamed")  # the list reads shelf, created_at
    with count_calls() as calls:
        titles = [s.title for s in Story.objects.filter(shelf="all").order_by("created_at")]
    assert calls.total == 0
    assert titles == ["s0", "renamed", "s2"]  # contents from the item cache: never the old title


def test_a_cached_list_loads_contents_the_item_cache_lost_in_one_batch(engine, clock):
    stories = Story.objects.bulk_create([Story(title=f"s{i}") for i in range(3)])
    clock.now += 2
    list(Story.objects.filter(shelf="all"))
    for story in stories[:2]:
        cache.item_cache.discard(Story._meta.table_name, story.pk)
    with count_calls() as calls:
        assert len(list(Story.objects.filter(shelf="all"))) == 3
    assert calls.by_operation() == {"BatchGetItem": 1}


def test_a_full_slice_is_cached_too(engine, clock):
    Story.objects.bulk_create([Story(title=f"s{i}") for i in range(3)])
    clock.now += 2
    first = [s.title for s in Story.objects.filter(shelf="all").order_by("created_at")[:2]]
    with count_calls() as calls:
        again = [s.title for s in Story.objects.filter(shelf="all").order_by("created_at")[:2]]
    assert again == first and calls.total == 0


def test_a_change_to_what_a_list_reads_drops_it(engine, clock):
    story = Story.objects.create(title="s")
    clock.now += 2
    list(Story.objects.filter(shelf="all"))
    Story.objects.filter(pk=story.pk).update(shelf="other")
    assert list(Story.objects.filter(shelf="all")) == []


def test_consistent_read_goes_around_the_cache(engine):
    writer = Writer.objects.create(name="w")
    with count_calls() as calls:
        Writer.objects.get(pk=writer.pk, consistent_read=True)
        Writer.objects.consistent().get(pk=writer.pk)
    assert calls.count("GetItem") == 2


def test_a_model_with_cache_ttl_zero_is_never_cached(engine):
    item = Uncached.objects.create(title="t")
    with count_calls() as calls:
        Uncached.objects.get(pk=item.pk)
        Uncached.objects.get(pk=item.pk)
        list(Uncached.objects.all())
        list(Uncached.objects.all())
    assert calls.count("GetItem") == 2
    assert calls.count("Scan") == 2


def test_item_cache_expiry_follows_the_injected_clock(engine, clock):
    writer = Writer.objects.create(name="w")
    with count_calls() as calls:
        Writer.objects.get(pk=writer.pk)
    assert calls.total == 0
    clock.now += 61  # past the 60 s default TTL
    with count_calls() as calls:
        Writer.objects.get(pk=writer.pk)
    assert calls.count("GetItem") == 1


def test_query_cache_expiry_follows_the_injected_clock(engine, clock):
    Story.objects.create(title="t")
    clock.now += 2  # past the index's settling time after a write (an index result is kept 1 s then)
    list(Story.objects.filter(shelf="all"))
    clock.now += 4
    with count_calls() as calls:
        list(Story.objects.filter(shelf="all"))
    assert calls.total == 0
    clock.now += 2  # past the 5 s default query TTL
    with count_calls() as calls:
        list(Story.objects.filter(shelf="all"))
    assert calls.count("Query") == 1


def test_prefetch_loads_every_reference_with_one_batch_get(engine, no_cache):
    writers = Writer.objects.bulk_create([Writer(name=f"w{i}") for i in range(5)])
    Story.objects.bulk_create([Story(title=f"s{i}", writer_pk=writers[i % 5].pk) for i in range(20)])
    cache.reset()
    with count_calls() as calls:
        stories = list(Story.objects.filter(shelf="all").prefetch("writer"))
        names = {s.writer.name for s in stories}
    assert names == {f"w{i}" for i in range(5)}
    assert calls.by_operation() == {"Query": 1, "BatchGetItem": 1}


def test_prefetch_asks_only_for_keys_the_caches_cannot_answer(engine):
    writers = Writer.objects.bulk_create([Writer(name=f"w{i}") for i in range(4)])
    Story.objects.bulk_create([Story(title=f"s{i}", writer_pk=writers[i].pk) for i in range(4)])
    cache.item_cache.discard(Writer._meta.table_name, writers[3].pk)
    with count_calls() as calls:
        stories = list(Story.objects.filter(shelf="all").prefetch("writer"))
    assert all(s.writer is not None for s in stories)
    batch = [c for c in calls.calls if c.operation == "BatchGetItem"]
    assert len(batch) == 1 and calls.misses >= 1


def test_a_missing_reference_prefetches_as_none(engine):
    Story.objects.create(title="orphan", writer_pk="00000000-0000-4000-8000-000000000000")
    story = Story.objects.filter(shelf="all").prefetch("writer").first()
    assert story.writer is None


def test_sixteen_threads_reading_and_writing_one_item_share_no_instance(engine):
    writer = Writer.objects.create(name="shared", tags=["a"])
    seen: list[list[object]] = [[] for _ in range(16)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(5):
                obj = Writer.objects.get(pk=writer.pk)
                obj.tags.append(f"t{n}-{i}")  # mutate our copy: must not leak to anyone
                seen[n].extend([obj, obj.tags])
                if i % 2:
                    Writer.objects.filter(pk=writer.pk).update(name=f"by {n}")
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = [id(obj) for objs in seen for obj in objs]
    assert len(ids) == len(set(ids)), "an instance or list was handed to two readers"
    assert Writer.objects.get(pk=writer.pk).tags == ["a"]
