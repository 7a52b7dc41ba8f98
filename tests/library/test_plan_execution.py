"""What the planned operations cost when they run: one GetItem, one BatchGetItem, one Query in key order."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from dynamo_backend import cache
from dynamo_backend.stats import count_calls

from .models import Comment, Post

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Post")]

START = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


# -- what actually runs ------------------------------------------------------------


def test_get_by_pk_costs_one_get_item(engine):
    post = Post.objects.create(title="t", slug="s")
    cache.reset()

    with count_calls() as log:
        Post.objects.get(pk=post.pk)

    assert log.by_operation() == {"GetItem": 1}


def test_filter_pk_in_costs_one_batch_get_item(engine):
    pks = [Post.objects.create(title="t", slug=f"s{n}").pk for n in range(3)]
    cache.reset()

    with count_calls() as log:
        assert len(list(Post.objects.filter(pk__in=pks))) == 3

    assert log.by_operation() == {"BatchGetItem": 1}


def test_indexed_equality_runs_a_query_not_a_scan(engine):
    Post.objects.create(title="t", slug="s", author_pk="a1")
    cache.reset()

    with count_calls() as log:
        assert [p.slug for p in Post.objects.filter(author_pk="a1")] == ["s"]

    assert log.count("Query") == 1 and log.count("Scan") == 0


def test_non_indexed_filter_runs_a_scan(engine):
    Post.objects.create(title="t", slug="s", view_count=5)
    cache.reset()

    with count_calls() as log:
        assert [p.slug for p in Post.objects.filter(view_count=5)] == ["s"]

    assert log.count("Scan") >= 1 and log.count("Query") == 0


# -- sort-key index: one Query, in key order, with a limit -----------------------------


@pytest.fixture
def comments(engine):
    post_pk = str(uuid.uuid4())
    # created out of order, so only the sort key can put them in order
    order = [
        17,
        3,
        29,
        0,
        11,
        24,
        6,
        20,
        1,
        14,
        27,
        9,
        22,
        4,
        18,
        12,
        25,
        7,
        15,
        2,
        28,
        10,
        19,
        5,
        23,
        13,
        26,
        8,
        16,
        21,
    ]
    Comment.objects.bulk_create(
        [Comment(post_pk=post_pk, body=f"c{n:02d}", created_at=START + dt.timedelta(minutes=n)) for n in order]
    )
    Comment.objects.create(post_pk=str(uuid.uuid4()), body="elsewhere", created_at=START)
    cache.reset()
    return post_pk


@pytest.mark.models("Comment")
def test_explain_sort_key_order_and_slice_is_a_limited_forward_query(comments):
    plan = Comment.objects.filter(post_pk=comments).order_by("created_at")[:20].explain()

    assert plan["operation"] == "Query"
    assert plan["index"] == "post_pk-created_at-index"
    assert plan["scan_index_forward"] is True
    assert plan["limit"] == 20


@pytest.mark.models("Comment")
def test_explain_descending_sort_key_queries_backwards(comments):
    plan = Comment.objects.filter(post_pk=comments).order_by("-created_at")[:5].explain()

    assert plan["operation"] == "Query"
    assert plan["index"] == "post_pk-created_at-index"
    assert plan["scan_index_forward"] is False
    assert plan["limit"] == 5


@pytest.mark.models("Comment")
def test_sort_key_order_and_slice_is_one_query_in_key_order(comments, spy):
    with count_calls() as log:
        page = list(Comment.objects.filter(post_pk=comments).order_by("created_at")[:20])

    assert [c.body for c in page] == [f"c{n:02d}" for n in range(20)]
    assert log.by_operation() == {"Query": 1}
    (request,) = spy.of("query")
    assert request["IndexName"] == "post_pk-created_at-index"
    assert request.get("ScanIndexForward", True) is True
    assert request["Limit"] == 20


@pytest.mark.models("Comment")
def test_descending_sort_key_slice_returns_the_newest(comments, spy):
    with count_calls() as log:
        page = list(Comment.objects.filter(post_pk=comments).order_by("-created_at")[:5])

    assert [c.body for c in page] == ["c29", "c28", "c27", "c26", "c25"]
    assert log.by_operation() == {"Query": 1}
    (request,) = spy.of("query")
    assert request["ScanIndexForward"] is False and request["Limit"] == 5


@pytest.mark.models("Comment")
def test_sort_key_range_goes_into_the_key_condition(comments):
    since = START + dt.timedelta(minutes=25)
    qs = Comment.objects.filter(post_pk=comments, created_at__gte=since).order_by("created_at")

    plan = qs.explain()

    assert plan["operation"] == "Query" and plan["index"] == "post_pk-created_at-index"
    assert not plan["filter"]
    assert [c.body for c in qs] == ["c25", "c26", "c27", "c28", "c29"]


@pytest.mark.models("Comment")
def test_sort_key_slice_with_a_filter_still_returns_a_full_page(comments):
    qs = Comment.objects.filter(post_pk=comments, body__startswith="c2").order_by("created_at")[:3]

    assert [c.body for c in qs] == ["c20", "c21", "c22"]


@pytest.mark.models("Comment")
def test_explain_sort_key_slice_with_a_filter_sets_no_limit(comments):
    plan = Comment.objects.filter(post_pk=comments, body__startswith="c2").order_by("created_at")[:3].explain()

    assert plan["operation"] == "Query" and plan["filter"]
    assert plan["limit"] is None  # Limit counts items before the filter: it would cut the page short
