"""ShardKeyField and across_shards(): items spread over N index partitions, read back as one ordered list."""

from __future__ import annotations

import datetime as dt
import zlib

import pytest

from dynamo_backend import FieldError, ShardKeyField
from dynamo_backend.stats import count_calls

from .models import Entry

pytestmark = pytest.mark.models("Entry")
SHARDS = Entry._meta.fields["feed"].shards
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def make_entries(n: int, distinct_times: int | None = None) -> list[Entry]:
    """n entries; with distinct_times, only that many different created_at values (so many ties)."""
    times = distinct_times or n
    entries = [Entry(title=f"e{i}", created_at=T0 + dt.timedelta(seconds=i % times)) for i in range(n)]
    return Entry.objects.bulk_create(entries)


def newest_first(qs) -> list[str]:
    return [e.pk for e in qs]


def walk(limit: int) -> tuple[list[Entry], int]:
    """Every page of the merged feed at ``limit``; return the items in order and the number of pages."""
    merged = Entry.objects.order_by("-created_at").across_shards("feed")
    seen: list[Entry] = []
    key, pages = None, 0
    while True:
        page = merged.paginate(limit, start_key=key)
        pages += 1
        assert len(page.items) <= limit
        seen += page.items
        key = page.next_key
        if key is None:
            return seen, pages
        assert pages < 1000


# -- pure ------------------------------------------------------------------------------


def test_the_shard_value_is_the_prefix_and_a_stable_hash_of_the_pk():
    field = Entry._meta.fields["feed"]
    pk = "0b0f6b8e-8c8e-4a49-9d55-0e9e2d1f3c11"
    assert field.value_for(pk) == f"entry#{zlib.crc32(pk.encode()) % SHARDS}"
    assert field.values() == [f"entry#{n}" for n in range(SHARDS)]


def test_a_new_item_gets_its_shard_when_it_is_saved(no_dynamodb):
    entry = Entry(title="t")
    field = Entry._meta.fields["feed"]
    assert field.pre_save(entry, add=True) == field.value_for(entry.pk) == entry.feed


def test_a_value_that_is_no_shard_is_restamped():
    entry = Entry(title="t", feed="post")  # written before the field was sharded
    Entry._meta.fields["feed"].pre_save(entry, add=False)
    assert entry.feed == Entry._meta.fields["feed"].value_for(entry.pk)


@pytest.mark.parametrize("kwargs", [{"shards": 0}, {"shards": 2, "prefix": "a#b"}, {"shards": 2, "prefix": ""}])
def test_bad_shard_key_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        ShardKeyField(**kwargs)


def test_the_merged_plan_is_one_ordered_query_per_shard():
    plan = Entry.objects.order_by("-created_at").across_shards("feed").explain()
    assert [p["values"][":v0"]["S"] for p in plan["shards"]] == [f"entry#{n}" for n in range(SHARDS)]
    assert {(p["operation"], p["index"], p["scan_index_forward"]) for p in plan["shards"]} == {
        ("Query", "feed-created_at-index", False)
    }


def test_across_shards_needs_a_shard_key_field_and_one_sort_key():
    with pytest.raises(FieldError, match="not a ShardKeyField"):
        Entry.objects.order_by("-created_at").across_shards("title")
    with pytest.raises(FieldError, match="one sort key"):
        Entry.objects.order_by("-created_at", "title").across_shards("feed")
    with pytest.raises(TypeError):
        Entry.objects.order_by("-created_at")[:3].across_shards("feed")


# -- on every engine ---------------------------------------------------------------------


def test_items_are_spread_over_the_shard_partitions(tables, engine):
    entries = make_entries(40)
    stored = {item["pk"]["S"]: item["feed"]["S"] for item in engine.raw_scan(Entry)}
    assert stored == {e.pk: Entry._meta.fields["feed"].value_for(e.pk) for e in entries}
    assert len(set(stored.values())) == SHARDS  # 40 random pks leave a shard empty with odds of about 1e-5


def test_the_merged_read_is_newest_first_over_every_shard(tables):
    entries = make_entries(30)
    expected = [e.pk for e in sorted(entries, key=lambda e: e.created_at, reverse=True)]
    assert newest_first(Entry.objects.order_by("-created_at").across_shards("feed")) == expected
    oldest = Entry.objects.order_by("created_at").across_shards("feed")
    assert newest_first(oldest) == list(reversed(expected))
    assert oldest.count() == 30


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
def test_pages_across_shards_with_ties_miss_nothing_and_repeat_nothing(tables, limit):
    entries = make_entries(23, distinct_times=4)  # six or so items share each created_at, over the shards
    whole = list(Entry.objects.order_by("-created_at").across_shards("feed"))
    seen, pages = walk(limit)
    assert [e.pk for e in seen] == [e.pk for e in whole]  # pages follow the one merged order
    assert sorted(e.pk for e in seen) == sorted(e.pk for e in entries)
    times = [e.created_at for e in seen]
    assert times == sorted(times, reverse=True)
    field = Entry._meta.fields["feed"]
    for earlier, later in zip(seen, seen[1:], strict=False):
        if earlier.created_at == later.created_at:  # a tie: lower shard first
            assert field.values().index(earlier.feed) <= field.values().index(later.feed)
    assert pages <= len(entries) // limit + 2


def test_a_page_queries_each_shard_once_when_the_shards_hold_their_share(tables):
    make_entries(8)
    with count_calls() as log:
        page = Entry.objects.order_by("-created_at").across_shards("feed").paginate(20)
    assert len(page.items) == 8 and page.next_key is None
    assert log.by_operation() == {"Query": SHARDS}


def test_the_page_key_is_plain_data_and_resumes_each_shard(tables):
    make_entries(12)
    merged = Entry.objects.order_by("-created_at").across_shards("feed")
    first = merged.paginate(5)
    assert set(first.next_key) == {"after", "done"}
    assert set(first.next_key["after"]) <= set(Entry._meta.fields["feed"].values())
    rest = merged.paginate(20, start_key=first.next_key)
    assert [e.pk for e in first.items + rest.items] == newest_first(merged)
    assert rest.next_key is None


def test_a_foreign_page_key_is_refused(tables):
    merged = Entry.objects.order_by("-created_at").across_shards("feed")
    for key in ({"pk": {"S": "x"}}, {"after": {"other#0": {}}, "done": []}, {"after": {"entry#0": 1}, "done": []}):
        with pytest.raises(ValueError):
            merged.paginate(5, start_key=key)


def test_values_and_filters_apply_to_the_merged_result(tables):
    entries = make_entries(10)
    merged = Entry.objects.filter(title__in=["e1", "e2", "e7"]).order_by("-created_at").across_shards("feed")
    assert list(merged) == [e for e in reversed(entries) if e.title in ("e1", "e2", "e7")]
    titles = Entry.objects.order_by("-created_at").values_list("title", flat=True).across_shards("feed")
    assert titles.paginate(3).items == ["e9", "e8", "e7"]


def test_across_shards_refuses_an_order_the_index_cannot_serve(tables):
    with pytest.raises(FieldError, match="paginate"):
        Entry.objects.order_by("-title").across_shards("feed").paginate(5)
