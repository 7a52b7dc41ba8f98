"""Fields named after DynamoDB reserved words (name, status, comment, data, date, count)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dynamo_backend import F, Q

from .models import Reserved

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Reserved")]

RESERVED = ("name", "status", "comment", "data", "date", "count")
DAY = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def rows(engine):
    return {
        r.name: r
        for r in (
            Reserved.objects.create(name="alpha", status="open", comment="first one", data={"k": 1}, date=DAY, count=1),
            Reserved.objects.create(
                name="beta", status="closed", comment="second", data=None, date=DAY + dt.timedelta(days=2), count=5
            ),
            Reserved.objects.create(
                name="gamma",
                status="open",
                comment="third one",
                data={"k": 2},
                date=DAY + dt.timedelta(days=4),
                count=9,
            ),
        )
    }


def names(qs) -> list[str]:
    return sorted(r.name for r in qs)


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        pytest.param({"name": "beta"}, ["beta"], id="name-indexed"),
        pytest.param({"status": "open"}, ["alpha", "gamma"], id="status"),
        pytest.param({"comment__contains": "one"}, ["alpha", "gamma"], id="comment"),
        pytest.param({"data__isnull": True}, ["beta"], id="data"),
        pytest.param({"date__gte": DAY + dt.timedelta(days=1)}, ["beta", "gamma"], id="date"),
        pytest.param({"count__range": (2, 9)}, ["beta", "gamma"], id="count"),
        pytest.param({"name": "gamma", "status": "open", "count__gt": 3}, ["gamma"], id="query-with-filter"),
    ],
)
def test_reserved_word_field_filters(rows, lookups, expected):
    assert names(Reserved.objects.filter(**lookups)) == expected


def test_reserved_word_fields_in_q_and_exclude(rows):
    qs = Reserved.objects.filter(Q(status="closed") | Q(count__lt=2)).exclude(comment="second")

    assert names(qs) == ["alpha"]


def test_values_and_values_list_of_reserved_word_fields(rows):
    assert sorted(Reserved.objects.values_list("name", "status", "count")) == [
        ("alpha", "open", 1),
        ("beta", "closed", 5),
        ("gamma", "open", 9),
    ]
    (row,) = Reserved.objects.filter(name="beta").values("comment", "date", "data")
    assert row == {"comment": "second", "date": DAY + dt.timedelta(days=2), "data": None}


def test_order_by_a_reserved_word_field(rows):
    assert [r.name for r in Reserved.objects.order_by("-count")] == ["gamma", "beta", "alpha"]


def test_reserved_word_fields_update(engine, rows):
    target = rows["alpha"]

    changed = Reserved.objects.filter(pk=target.pk).update(
        status="archived", comment="edited", data={"nested": [1, 2]}, date=DAY, count=F("count") + 10
    )

    assert changed == 1
    item = engine.raw_get(Reserved, target.pk)
    assert item["status"] == {"S": "archived"} and item["comment"] == {"S": "edited"}
    assert item["count"] == {"N": "11"}
    assert item["data"] == {"M": {"nested": {"L": [{"N": "1"}, {"N": "2"}]}}}


def test_update_filtered_on_reserved_words(engine, rows):
    changed = Reserved.objects.filter(status="open", count__gte=1).update(comment="bulk")

    assert changed == 2
    comments = {item["name"]["S"]: item["comment"]["S"] for item in engine.raw_scan(Reserved)}
    assert comments == {"alpha": "bulk", "beta": "second", "gamma": "bulk"}


def test_save_and_delete_of_a_reserved_word_model(engine, rows):
    row = rows["beta"]
    row.status = "reopened"
    row.count = 0
    row.save()
    assert engine.raw_get(Reserved, row.pk)["status"] == {"S": "reopened"}

    row.delete()

    assert engine.raw_get(Reserved, row.pk) is None


def test_reserved_word_filter_deletes(engine, rows):
    Reserved.objects.filter(status="closed").delete()

    assert names(Reserved.objects.all()) == ["alpha", "gamma"]


def test_expressions_alias_every_attribute_name(engine):
    plan = Reserved.objects.filter(
        name="alpha", status="open", comment__contains="x", count__gt=1, data__isnull=False, date__lt=DAY
    ).explain()

    expressions = " ".join(str(plan.get(key) or "") for key in ("key_condition", "filter"))
    bare_words = set(re.findall(r"(?<![#:\w])[A-Za-z_]\w*", expressions))
    functions = {
        "AND",
        "OR",
        "NOT",
        "BETWEEN",
        "IN",
        "attribute_exists",
        "attribute_not_exists",
        "begins_with",
        "contains",
        "size",
        "attribute_type",
    }
    assert not (bare_words - functions), expressions
    assert set(RESERVED) <= set(plan["names"].values())
