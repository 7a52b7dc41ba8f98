"""The planner picks GetItem / BatchGetItem / Query / Scan, and explain() says which. No engine needed."""

from __future__ import annotations

import datetime as dt
import uuid

from dynamo_backend import Q
from dynamo_backend.stats import count_calls

from .models import Post

START = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_explain_pk_equality_is_get_item():
    plan = Post.objects.filter(pk=str(uuid.uuid4())).explain()

    assert plan["operation"] == "GetItem"
    assert plan["table"] == Post._meta.table_name


def test_explain_pk_in_is_batch_get_item():
    plan = Post.objects.filter(pk__in=[str(uuid.uuid4()), str(uuid.uuid4())]).explain()

    assert plan["operation"] == "BatchGetItem"


def test_explain_indexed_equality_is_query_on_its_index():
    plan = Post.objects.filter(author_pk="a1").explain()

    assert plan["operation"] == "Query"
    assert plan["index"] == "author_pk-index"
    assert plan["key_condition"]
    assert not plan["filter"]


def test_explain_indexed_equality_puts_other_conditions_in_the_filter():
    plan = Post.objects.filter(author_pk="a1", view_count__gte=3, published=True).explain()

    assert plan["operation"] == "Query" and plan["index"] == "author_pk-index"
    assert plan["filter"]
    assert {"view_count", "published"} <= set(plan["names"].values())


def test_explain_non_indexed_condition_is_scan_with_filter():
    plan = Post.objects.filter(view_count__gte=3).explain()

    assert plan["operation"] == "Scan"
    assert not plan["index"]
    assert plan["filter"]
    assert "view_count" in plan["names"].values()


def test_explain_indexed_field_with_a_non_equality_lookup_is_scan():
    plan = Post.objects.filter(author_pk__startswith="a").explain()

    assert plan["operation"] == "Scan"


def test_explain_or_across_fields_is_scan():
    plan = Post.objects.filter(Q(author_pk="a1") | Q(view_count=1)).explain()

    assert plan["operation"] == "Scan"


def test_explain_all_is_scan_without_filter():
    plan = Post.objects.all().explain()

    assert plan["operation"] == "Scan"
    assert not plan["filter"]


def test_explain_makes_no_call():
    with count_calls() as log:
        Post.objects.filter(author_pk="a1").explain()
        Post.objects.filter(pk=str(uuid.uuid4())).explain()
    assert log.total == 0


def test_values_never_reach_the_expressions():
    plan = Post.objects.filter(title="sneaky) OR (pk", view_count=7).explain()

    assert "sneaky" not in plan["filter"]
    assert "sneaky) OR (pk" in str(plan["values"])
