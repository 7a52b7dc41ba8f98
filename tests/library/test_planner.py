"""The planner picks GetItem / BatchGetItem / Query / Scan, and explain() says which. No engine needed."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from dynamo_backend import ConsistencyError, Q
from dynamo_backend.stats import count_calls

from .models import Post, Row

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


# -- the rules of issue 9, each as a plan (no engine) --------------------------------


def names_in(expression, names):
    return {names[token] for token in re.findall(r"#n\d+", expression or "")}


def test_plan_sparse_index_without_sort_key_condition_is_scan():
    plan = Row.objects.filter(grp="g1").explain()
    assert plan["operation"] == "Scan"
    assert any("passed over" in reason for reason in plan["index_choice"])


@pytest.mark.parametrize("lookup", ["rank__gte", "rank__in", "rank__isnull"])
def test_plan_sort_key_condition_implying_presence_uses_the_index(lookup):
    value = {"rank__gte": 1, "rank__in": [1, 2], "rank__isnull": False}[lookup]
    plan = Row.objects.filter(grp="g1", **{lookup: value}).explain()
    assert (plan["operation"], plan["index"]) == ("Query", "grp-rank-index")


def test_plan_isnull_true_on_the_sort_key_cannot_use_the_index():
    assert Row.objects.filter(grp="g1", rank__isnull=True).explain()["operation"] == "Scan"


def test_plan_two_bounds_are_one_between_key_condition():
    plan = Row.objects.filter(grp="g1", rank__gte=1, rank__lte=4).explain()
    assert plan["key_condition"].count("BETWEEN") == 1
    assert plan["filter"] is None and "evaluated_in_python" not in plan
    assert plan["limit"] is None


def test_plan_strict_bounds_between_then_checked_in_python():
    plan = Row.objects.filter(grp="g1", rank__gt=1, rank__lt=4).explain()
    assert "BETWEEN" in plan["key_condition"]
    assert "rank__gt=1" in plan["evaluated_in_python"] and "rank__lt=4" in plan["evaluated_in_python"]


def test_plan_crossing_bounds_is_empty():
    plan = Row.objects.filter(grp="g1", rank__gt=5, rank__lt=1).explain()
    assert plan["empty"] is True


def test_plan_never_filters_on_the_queried_index_keys():
    plan = Row.objects.filter(cat="b", cat__startswith="b", num=1).explain()
    assert plan["index"] == "cat-index"
    assert names_in(plan["filter"], plan["names"]) == {"num"}
    assert "cat__startswith='b'" in plan["evaluated_in_python"]


def test_plan_or_touching_an_index_key_is_checked_in_python():
    plan = Row.objects.filter(Q(cat="b"), Q(cat="c") | Q(num=1)).explain()
    assert plan["filter"] is None
    assert plan["evaluated_in_python"]


def test_plan_limit_is_pushed_only_without_filter_or_residual():
    assert Row.objects.filter(cat="b")[:3].explain()["limit"] == 3
    assert Row.objects.filter(cat="b", num=1)[:3].explain()["limit"] is None


def test_plan_always_false_is_empty_and_always_true_has_no_filter():
    assert Row.objects.filter(num__in=[]).explain()["empty"] is True
    assert Row.objects.filter(num__range=(5, 1)).explain()["empty"] is True
    plan = Row.objects.exclude(num__in=[None]).explain()
    assert (plan["operation"], plan["filter"]) == ("Scan", None)


def test_plan_in_drops_none():
    plan = Row.objects.filter(num__in=[None, 3]).explain()
    assert list(plan["values"].values()) == [{"N": "3"}]


def test_plan_consistent_never_uses_a_gsi():
    with pytest.raises(ConsistencyError, match="cat-index"):
        Row.objects.consistent().filter(cat="b").explain()
    plan = Row.objects.consistent().filter(num=1).explain()
    assert (plan["operation"], plan["consistent"]) == ("Scan", True)


def test_plan_projection_names_what_values_reads_plus_pk_and_order():
    plan = Row.objects.filter(num=1).order_by("rank").values("note").explain()
    assert names_in(plan["projection"], plan["names"]) == {"note", "pk", "rank"}


def test_plan_count_has_no_projection():
    assert Row.objects.filter(num=1).values("note")._plan(for_count=True).projection is None
