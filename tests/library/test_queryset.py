"""QuerySet behaviour: laziness, ordering, slicing and every terminal method."""

from __future__ import annotations

import math
import uuid

import pytest
from django.core import exceptions as django_exceptions

from dynamo_backend import F, cache
from dynamo_backend.stats import count_calls

from .models import Article, Post

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Post")]


def make_posts(*rows):
    """rows: (slug, view_count, published) -> created posts, in order."""
    return [
        Post.objects.create(title=f"title {slug}", slug=slug, view_count=views, published=published)
        for slug, views, published in rows
    ]


# -- laziness ---------------------------------------------------------------------


def test_chaining_makes_no_call_until_evaluation(engine):
    make_posts(("a", 1, True), ("b", 2, False))
    cache.reset()

    with count_calls() as log:
        qs = Post.objects.filter(view_count__gte=1).exclude(slug="zzz").order_by("-view_count")
        qs = qs.filter(published=True)[:5]
    assert log.total == 0

    with count_calls() as log:
        result = list(qs)
    assert [p.slug for p in result] == ["a"]
    assert log.total >= 1


def test_each_chained_call_returns_a_new_queryset(engine):
    make_posts(("a", 1, True), ("b", 2, False))

    base = Post.objects.all()
    live = base.filter(published=True)

    assert live is not base
    assert sorted(p.slug for p in base) == ["a", "b"]
    assert [p.slug for p in live] == ["a"]


# -- ordering and slicing -----------------------------------------------------


def test_order_by_several_keys_with_descending(engine):
    make_posts(("a", 5, False), ("b", 1, True), ("c", 5, True), ("d", 1, False), ("e", 3, True))

    posts = Post.objects.order_by("-view_count", "slug")

    assert [p.slug for p in posts] == ["a", "c", "e", "b", "d"]


def test_order_by_boolean_then_descending_slug(engine):
    make_posts(("a", 0, True), ("b", 0, False), ("c", 0, True), ("d", 0, False))

    posts = Post.objects.order_by("published", "-slug")

    assert [p.slug for p in posts] == ["d", "b", "c", "a"]


def test_order_by_is_stable_for_equal_keys(engine):
    make_posts(*[(f"s{n}", n % 2, False) for n in range(8)])

    unordered = [p.slug for p in Post.objects.all()]
    ordered = [p.slug for p in Post.objects.order_by("view_count")]

    by_views = {p.slug: p.view_count for p in Post.objects.all()}
    assert ordered == sorted(unordered, key=lambda slug: by_views[slug])


def test_slice_returns_the_window(engine):
    make_posts(*[(f"s{n}", n, False) for n in range(6)])

    window = Post.objects.order_by("view_count")[1:4]

    assert [p.view_count for p in window] == [1, 2, 3]


def test_slice_from_an_offset_to_the_end(engine):
    make_posts(*[(f"s{n}", n, False) for n in range(6)])

    assert [p.view_count for p in Post.objects.order_by("-view_count")[4:]] == [1, 0]


def test_index_returns_one_object(engine):
    make_posts(*[(f"s{n}", n, False) for n in range(4)])

    assert Post.objects.order_by("view_count")[2].slug == "s2"


def test_index_past_the_end_raises_index_error(engine):
    make_posts(("a", 1, False))

    with pytest.raises(IndexError):
        Post.objects.all()[5]


# -- single-object helpers --------------------------------------------------------


def test_first_follows_ordering(engine):
    make_posts(("a", 3, False), ("b", 1, False), ("c", 2, False))

    assert Post.objects.order_by("view_count").first().slug == "b"


def test_last_follows_ordering(engine):
    make_posts(("a", 3, False), ("b", 1, False), ("c", 2, False))

    assert Post.objects.order_by("view_count").last().slug == "a"


def test_first_of_an_empty_result_is_none(engine):
    assert Post.objects.filter(view_count__gt=10).first() is None


def test_last_of_an_empty_result_is_none(engine):
    assert Post.objects.last() is None


def test_exists_is_true_when_something_matches(engine):
    make_posts(("a", 3, False))

    assert Post.objects.filter(view_count=3).exists() is True


def test_exists_is_false_when_nothing_matches(engine):
    make_posts(("a", 3, False))

    assert Post.objects.filter(view_count=4).exists() is False


def test_get_with_several_matches_raises_multiple_objects_returned(engine):
    make_posts(("a", 3, False), ("b", 3, False))

    with pytest.raises(Post.MultipleObjectsReturned) as info:
        Post.objects.get(view_count=3)
    assert isinstance(info.value, django_exceptions.MultipleObjectsReturned)


def test_get_with_no_match_raises_does_not_exist(engine):
    make_posts(("a", 3, False))

    with pytest.raises(Post.DoesNotExist):
        Post.objects.get(view_count=4)


# -- count --------------------------------------------------------------------------


def test_count_of_a_filter(engine):
    make_posts(("a", 3, False), ("b", 4, True), ("c", 5, True))

    assert Post.objects.filter(published=True).count() == 2


def test_count_asks_dynamodb_for_select_count(engine, spy):
    make_posts(("a", 3, False), ("b", 4, True), ("c", 5, True))
    cache.reset()
    spy.clear()

    assert Post.objects.filter(view_count__gte=4).count() == 2

    reads = spy.of("scan") + spy.of("query")
    assert reads, "count() made no Scan/Query"
    assert all(params.get("Select") == "COUNT" for params in reads), reads


def test_count_on_an_indexed_equality_queries_with_select_count(engine, spy):
    Post.objects.create(title="x", slug="x", author_pk="a1")
    Post.objects.create(title="y", slug="y", author_pk="a2")
    cache.reset()
    spy.clear()

    assert Post.objects.filter(author_pk="a1").count() == 1

    assert [p.get("Select") for p in spy.of("query")] == ["COUNT"]
    assert spy.of("scan") == []


# -- values / values_list -------------------------------------------------------------


def test_values_without_names_gives_every_field_with_pk(engine):
    post = Post.objects.create(title="t", slug="s", view_count=2)

    (row,) = Post.objects.values()

    assert row["pk"] == post.pk
    assert (row["title"], row["slug"], row["view_count"]) == ("t", "s", 2)
    assert set(row) == set(Post._meta.fields)


def test_values_list_flat_gives_plain_values(engine):
    make_posts(("a", 3, False), ("b", 1, False))

    slugs = list(Post.objects.order_by("view_count").values_list("slug", flat=True))

    assert slugs == ["b", "a"]


def test_values_list_gives_tuples(engine):
    make_posts(("a", 3, False), ("b", 1, False))

    rows = list(Post.objects.order_by("view_count").values_list("slug", "view_count"))

    assert rows == [("b", 1), ("a", 3)]


def test_values_list_flat_with_two_fields_is_refused(engine):
    with pytest.raises((TypeError, ValueError)):
        Post.objects.values_list("slug", "title", flat=True)


# -- in_bulk / iterator -----------------------------------------------------------------


def test_in_bulk_maps_found_pks_to_objects(engine):
    a, b = make_posts(("a", 1, False), ("b", 2, False))
    missing = str(uuid.uuid4())

    found = Post.objects.in_bulk([a.pk, missing, b.pk])

    assert set(found) == {a.pk, b.pk}
    assert found[a.pk].slug == "a" and found[b.pk].slug == "b"


def test_in_bulk_of_nothing_is_empty_without_a_call(engine):
    with count_calls() as log:
        assert Post.objects.in_bulk([]) == {}
    assert log.total == 0


def test_iterator_yields_every_item(engine):
    make_posts(*[(f"s{n}", n, False) for n in range(7)])

    iterator = Post.objects.iterator()

    assert sorted(p.slug for p in iterator) == [f"s{n}" for n in range(7)]


# -- writes through the queryset ------------------------------------------------------


def test_get_or_create_gets_an_existing_item_without_writing(engine):
    (post,) = make_posts(("a", 7, True))

    with count_calls() as log:
        got, created = Post.objects.get_or_create(slug="a", defaults={"title": "other"})

    assert created is False and got.pk == post.pk and got.title == "title a"
    assert not {"PutItem", "UpdateItem", "BatchWriteItem"} & set(log.by_operation())


def test_update_or_create_creates_when_missing(engine):
    post, created = Post.objects.update_or_create(slug="new", defaults={"title": "T", "view_count": 3})

    assert created is True
    item = engine.raw_get(Post, post.pk)
    assert item["title"] == {"S": "T"} and item["view_count"] == {"N": "3"}


def test_update_or_create_updates_when_present(engine):
    (existing,) = make_posts(("a", 7, True))

    post, created = Post.objects.update_or_create(slug="a", defaults={"title": "changed"})

    assert created is False and post.pk == existing.pk
    assert engine.raw_get(Post, existing.pk)["title"] == {"S": "changed"}
    assert len(engine.raw_scan(Post)) == 1


def test_update_returns_the_number_of_items_changed(engine):
    make_posts(("a", 1, False), ("b", 2, False), ("c", 3, True))

    assert Post.objects.filter(published=False).update(title="draft") == 2

    titles = sorted(item["title"]["S"] for item in engine.raw_scan(Post))
    assert titles == ["draft", "draft", "title c"]


def test_update_by_pk_with_f_is_one_update_item(engine):
    (post,) = make_posts(("a", 1, False))

    with count_calls() as log:
        changed = Post.objects.filter(pk=post.pk).update(view_count=F("view_count") + 1)

    assert changed == 1
    assert log.by_operation() == {"UpdateItem": 1}
    assert engine.raw_get(Post, post.pk)["view_count"] == {"N": "2"}


def test_update_of_a_missing_pk_changes_nothing_and_creates_nothing(engine):
    missing = str(uuid.uuid4())

    assert Post.objects.filter(pk=missing).update(view_count=F("view_count") + 1) == 0

    assert engine.raw_get(Post, missing) is None


def test_update_by_pk_with_a_failing_condition_changes_nothing(engine):
    (post,) = make_posts(("a", 1, False))

    assert Post.objects.filter(pk=post.pk, published=True).update(title="changed") == 0

    assert engine.raw_get(Post, post.pk)["title"] == {"S": "title a"}


def test_update_of_a_filter_applies_f_to_each_item(engine):
    make_posts(("a", 1, True), ("b", 10, True), ("c", 100, False))

    assert Post.objects.filter(published=True).update(view_count=F("view_count") + 5) == 2

    views = {item["slug"]["S"]: item["view_count"]["N"] for item in engine.raw_scan(Post)}
    assert views == {"a": "6", "b": "15", "c": "100"}


def test_delete_by_pk_with_a_failing_condition_deletes_nothing(engine):
    (post,) = make_posts(("a", 1, False))

    Post.objects.filter(pk=post.pk, published=True).delete()

    assert engine.raw_get(Post, post.pk) is not None


def test_update_invalidates_cached_reads(engine):
    (post,) = make_posts(("a", 1, False))
    assert Post.objects.get(pk=post.pk).view_count == 1
    assert [p.view_count for p in Post.objects.filter(view_count__gte=0)] == [1]

    Post.objects.filter(pk=post.pk).update(view_count=F("view_count") + 10)

    assert Post.objects.get(pk=post.pk).view_count == 11
    assert [p.view_count for p in Post.objects.filter(view_count__gte=0)] == [11]


def test_delete_returns_django_style_counts(engine):
    make_posts(("a", 1, False), ("b", 2, False), ("c", 3, True))

    deleted = Post.objects.filter(published=False).delete()

    assert deleted == (2, {"libtests.Post": 2})
    assert [item["slug"]["S"] for item in engine.raw_scan(Post)] == ["c"]


@pytest.mark.models("Article")
def test_queryset_delete_uses_batch_write_in_chunks_of_25(engine, spy):
    Article.objects.bulk_create([Article(title=f"a{n}") for n in range(30)])
    cache.reset()
    spy.clear()

    assert Article.objects.all().delete()[0] == 30

    writes = spy.of("batch_write_item")
    assert len(writes) >= 2
    assert all(len(reqs) <= 25 for params in writes for reqs in params["RequestItems"].values())
    assert engine.raw_scan(Article) == []


@pytest.mark.models("Article")
def test_bulk_create_writes_in_batches_of_25(engine, spy):
    objs = Article.objects.bulk_create([Article(title=f"a{n}") for n in range(60)])

    assert len(objs) == 60 and all(obj.pk for obj in objs)
    writes = spy.of("batch_write_item")
    assert len(writes) == math.ceil(60 / 25)
    assert all(len(reqs) <= 25 for params in writes for reqs in params["RequestItems"].values())
    assert len(engine.raw_scan(Article)) == 60


@pytest.mark.models("Article")
def test_bulk_create_applies_defaults_and_auto_now_add(engine):
    (obj,) = Article.objects.bulk_create([Article(title="x")])

    item = engine.raw_get(Article, obj.pk)
    assert item["published"] == {"BOOL": False} and item["view_count"] == {"N": "0"}
    assert "created_at" in item


def test_deleting_a_post_frees_its_unique_slug(engine):
    (post,) = make_posts(("taken", 1, False))

    post.delete()
    again = Post.objects.create(title="again", slug="taken")

    assert engine.raw_get(Post, again.pk) is not None


def test_queryset_delete_frees_unique_slugs(engine):
    make_posts(("a", 1, False), ("b", 2, False))

    Post.objects.all().delete()

    Post.objects.create(title="again", slug="a")
    Post.objects.create(title="again", slug="b")
    assert len(engine.raw_scan(Post)) == 2


def test_refresh_from_db_reloads_the_stored_values(engine):
    (post,) = make_posts(("a", 1, False))
    Post.objects.filter(pk=post.pk).update(view_count=F("view_count") + 4)

    post.refresh_from_db()

    assert post.view_count == 5


# -- paginate --------------------------------------------------------------------------


def test_paginate_walks_every_item_once(engine):
    import json

    make_posts(*[(f"s{n:02d}", n, False) for n in range(20)])
    seen: list[str] = []
    start_key = None
    for _ in range(20):
        page = Post.objects.paginate(7, start_key=start_key)
        assert len(page.items) <= 7
        seen += [p.slug for p in page.items]
        if page.next_key is None:
            break
        json.dumps(page.next_key)  # the cursor is JSON-safe
        start_key = page.next_key
    assert sorted(seen) == [f"s{n:02d}" for n in range(20)]
