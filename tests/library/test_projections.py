"""Index projections (KEYS_ONLY, INCLUDE): declared, created, planned, completed, cached, on every engine.

Memo's indexes project keys only (owner-keys) and keys + title, n (shelf-some);
MemoAll holds the same rows under ALL indexes: every answer must be the same.
"""

from __future__ import annotations

import math
import random

import pytest

from dynamo_backend import CharField, DynamoModel, FieldError, Index, IntegerField, Q, TTLField, cache
from dynamo_backend.fields import scalars
from dynamo_backend.stats import count_calls
from dynamo_backend.table import table_spec

from .models import Ledger, Memo, MemoAll

pytestmark = [pytest.mark.models("Memo", "MemoAll", "Ledger")]

ROWS = 40


def _rows() -> list[dict]:
    rng = random.Random(7)
    ranks = list(range(ROWS))
    rng.shuffle(ranks)  # created out of order: only the index's sort key orders them
    return [
        {
            "owner": rng.choice(["o1", "o2"]),
            "shelf": rng.choice(["s1", "s2"]),
            "rank": rank,
            "title": rng.choice(["a", "b", None]),
            "n": rng.choice([1, 2, 3, None]),
            "body": rng.choice(["x", "y", "long text", None]),
        }
        for rank in ranks
    ]


@pytest.fixture
def memos(tables):
    for row in _rows():
        memo = Memo.objects.create(**row)
        MemoAll.objects.create(pk=memo.pk, **row)
    cache.reset()


def _same(build) -> None:
    """Run one QuerySet recipe on Memo and on MemoAll; the answers must match."""
    ours, theirs = build(Memo.objects), build(MemoAll.objects)
    if isinstance(ours, list) and ours and isinstance(ours[0], DynamoModel):
        ours = [(o.pk, o.owner, o.shelf, o.rank, o.title, o.n, o.body) for o in ours]
        theirs = [(o.pk, o.owner, o.shelf, o.rank, o.title, o.n, o.body) for o in theirs]
    elif isinstance(ours, DynamoModel):
        ours, theirs = (ours.pk, ours.body), (theirs.pk, theirs.body)
    assert ours == theirs


RECIPES = {
    "whole objects in index order": lambda m: list(m.filter(owner="o1").order_by("rank")),
    "reversed, sliced": lambda m: list(m.filter(owner="o2").order_by("-rank")[3:9]),
    "sort key bounds": lambda m: list(m.filter(owner="o1", rank__gte=5, rank__lt=30).order_by("rank")),
    "filter on a field the index lacks, sliced": lambda m: list(m.filter(owner="o1", body="x").order_by("rank")[:3]),
    "exclude on a lacking field": lambda m: list(m.filter(owner="o2").exclude(body__isnull=True).order_by("-rank")),
    "ordered in memory by a lacking field": lambda m: list(m.filter(owner="o1").order_by("body", "rank")[:5]),
    "count with a lacking field": lambda m: m.filter(owner="o1", body__startswith="l").count(),
    "count covered": lambda m: m.filter(shelf="s1", n__gte=2).count(),
    "exists with a lacking field": lambda m: m.filter(owner="o2", body="nothing").exists(),
    "first with a lacking field": lambda m: m.filter(owner="o1", body="y").order_by("rank").first(),
    "values within INCLUDE": lambda m: list(m.filter(shelf="s2").order_by("rank").values("title", "n")),
    "values outside INCLUDE": lambda m: list(m.filter(shelf="s2", title="a").order_by("rank").values("body")),
    "values_list on KEYS_ONLY": lambda m: list(m.filter(owner="o1").order_by("rank").values_list("pk", "rank")),
    "values_list outside KEYS_ONLY": lambda m: list(m.filter(owner="o1").order_by("-rank").values_list("n", flat=True)),
    "filter on included field": lambda m: list(m.filter(shelf="s1", n=2).order_by("rank").values_list("rank", "body")),
    "last with a lacking field": lambda m: m.filter(shelf="s1", body__isnull=False).order_by("rank").last(),
    "or across covered and lacking": lambda m: sorted(
        m.filter(owner="o2").filter(Q(title="a") | Q(body="x")).values_list("rank", flat=True)
    ),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_projected_indexes_answer_as_all_indexes(memos, recipe):
    _same(RECIPES[recipe])


def test_whole_objects_cost_one_query_and_a_batch_get_per_hundred_keys(tables):
    Memo.objects.bulk_create([Memo(owner="big", shelf="s", rank=i, body=f"b{i}") for i in range(150)])
    cache.reset()

    with count_calls() as log:
        memos = list(Memo.objects.filter(owner="big").order_by("rank"))

    assert [m.body for m in memos] == [f"b{i}" for i in range(150)]
    assert log.by_operation() == {"Query": 1, "BatchGetItem": math.ceil(150 / 100)}


def test_values_within_the_projection_read_only_the_index(memos):
    with count_calls() as log:
        rows = list(Memo.objects.filter(shelf="s1", n__gte=2).order_by("rank").values("title", "n"))
        ranks = list(Memo.objects.filter(owner="o1").values_list("rank", flat=True))
        count = Memo.objects.filter(shelf="s1", title="a").count()

    assert rows and ranks and count
    assert log.by_operation() == {"Query": 3}


def test_values_outside_the_projection_complete_the_items(memos):
    with count_calls() as log:
        bodies = list(Memo.objects.filter(owner="o1").values_list("body", flat=True))

    assert len(bodies) == len([r for r in _rows() if r["owner"] == "o1"])
    assert log.count("Query") == 1 and log.count("BatchGetItem") == 1


def test_a_slice_pushes_its_end_down_when_nothing_is_checked_after_completion(memos, spy):
    spy.clear()
    first_three = list(Memo.objects.filter(owner="o1").order_by("rank")[:3])

    (query,) = spy.of("query")
    assert query["Limit"] == 3
    (batch,) = spy.of("batch_get_item")
    assert len(batch["RequestItems"][Memo._meta.table_name]["Keys"]) == 3
    assert [m.rank for m in first_three] == sorted(m.rank for m in first_three)


def test_a_filter_on_a_lacking_field_never_goes_to_the_index_query(memos, spy):
    spy.clear()
    qs = Memo.objects.filter(owner="o1", body="x")
    plan = qs.explain()
    assert plan["filter"] is None and "body" in plan["evaluated_in_python"]

    assert [m.body for m in qs[:2]] == ["x", "x"]
    assert all("FilterExpression" not in q and q.get("Limit") == 100 for q in spy.of("query"))


def test_explain_says_whether_the_projection_covers_the_request():
    covered = Memo.objects.filter(shelf="s1").values("title").explain()
    completed = Memo.objects.filter(shelf="s1").explain()
    whole = MemoAll.objects.filter(shelf="s1").explain()

    assert "covers the request" in covered["completion"] and covered["projection"]
    assert "completed from the base table by BatchGetItem" in completed["completion"]
    assert "whole items" in completed["completion"] and completed["projection"] is None
    assert "completion" not in whole


def test_partial_index_items_never_enter_the_item_cache(memos):
    pk = Memo.objects.filter(owner="o1").values_list("pk", flat=True)[0]
    cache.reset()
    list(Memo.objects.filter(owner="o1").values("rank"))
    Memo.objects.filter(shelf="s1").count()
    list(Memo.objects.filter(owner="o1").filter(rank__gte=0).values_list("pk", flat=True))

    with count_calls() as log:
        memo = Memo.objects.get(pk=pk)

    assert log.count("GetItem") == 1  # nothing cached under that key: the index never held the item
    assert memo.body == MemoAll.objects.get(pk=pk).body


def test_completed_items_are_whole_and_cached(memos):
    memos = list(Memo.objects.filter(owner="o2"))

    with count_calls() as log:
        again = [Memo.objects.get(pk=m.pk) for m in memos]
        repeated = list(Memo.objects.filter(owner="o2"))

    assert [m.body for m in again] == [m.body for m in memos] == [m.body for m in repeated]
    assert log.total == 0  # item cache for the gets, query cache (keys) + item cache for the repeat


def test_paginate_completes_each_page(memos):
    qs = Memo.objects.filter(owner="o1").order_by("rank")
    first = qs.paginate(4)
    second = qs.paginate(4, start_key=first.next_key)

    expected = list(MemoAll.objects.filter(owner="o1").order_by("rank")[:8])
    assert [(m.pk, m.body) for m in first.items + second.items] == [(m.pk, m.body) for m in expected]


def test_updates_and_deletes_through_a_projected_index_see_whole_items(memos):
    updated = Memo.objects.filter(owner="o1", body="x").update(n=99)
    MemoAll.objects.filter(owner="o1", body="x").update(n=99)
    deleted, _ = Memo.objects.filter(shelf="s2", body="y").delete()
    MemoAll.objects.filter(shelf="s2", body="y").delete()

    assert updated and deleted is not None
    _same(lambda m: list(m.order_by("rank")))


def test_a_consistent_read_of_a_keys_only_local_index_completes_consistently(tables, spy):
    for line in range(5):
        Ledger.objects.create(book="b", line=line, score=10 - line, text=f"t{line}")
    spy.clear()

    texts = [e.text for e in Ledger.objects.filter(book="b", score__gte=7).order_by("score").consistent()]

    assert texts == ["t3", "t2", "t1", "t0"]
    (query,) = spy.of("query")
    assert query["IndexName"] == "book-score-index" and query["ConsistentRead"] is True
    (batch,) = spy.of("batch_get_item")
    assert batch["RequestItems"][Ledger._meta.table_name]["ConsistentRead"] is True


def test_tables_are_created_with_the_declared_projections(tables, engine):
    described = engine.client.describe_table(TableName=Memo._meta.table_name)["Table"]
    projections = {g["IndexName"]: g["Projection"] for g in described["GlobalSecondaryIndexes"]}
    assert projections["owner-keys"] == {"ProjectionType": "KEYS_ONLY"}
    assert projections["shelf-some"]["ProjectionType"] == "INCLUDE"
    assert sorted(projections["shelf-some"]["NonKeyAttributes"]) == ["n", "title"]
    local = engine.client.describe_table(TableName=Ledger._meta.table_name)["Table"]["LocalSecondaryIndexes"]
    assert local[0]["Projection"]["ProjectionType"] == "KEYS_ONLY"


class Lease(DynamoModel):
    """A TTL model whose index holds keys only: the TTL attribute is not in the index."""

    class Meta:
        app_label = "libtests"
        indexes = [Index("holder", projection=Index.KEYS_ONLY)]

    holder = CharField()
    expires_at = TTLField()


def test_a_keys_only_index_hides_expired_items_after_completion(engine, monkeypatch):
    now = 1_800_000_000
    monkeypatch.setattr(scalars, "ttl_clock", lambda: now)
    engine.create_tables(Lease)
    live = Lease.objects.create(holder="h", expires_at=now + 60)
    Lease.objects.create(holder="h", expires_at=now - 1)
    cache.reset()

    assert [lease.pk for lease in Lease.objects.filter(holder="h")] == [live.pk]
    assert list(Lease.objects.filter(holder="h").values_list("pk", flat=True)) == [live.pk]
    assert Lease.objects.filter(holder="h").count() == 1
    assert "completed from the base table" in Lease.objects.filter(holder="h").values("pk").explain()["completion"]


# -- declaring a projection (no engine) ------------------------------------------------------


def test_the_create_table_request_carries_each_projection():
    spec = table_spec(Memo)
    assert {g["IndexName"]: g["Projection"] for g in spec["GlobalSecondaryIndexes"]} == {
        "owner-keys": {"ProjectionType": "KEYS_ONLY"},
        "shelf-some": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title", "n"]},
    }
    assert table_spec(Ledger)["LocalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert Memo._meta.indexes[1].projected == {"pk", "shelf", "rank", "title", "n"}


def _declare(index: Index, **fields) -> None:
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "libtests_bad", "indexes": [index]})}
    attrs.update({"owner": CharField(), "title": CharField(), **fields})
    type("Projected", (DynamoModel,), attrs)


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (Index("owner", include=["nope"]), "index owner-index includes unknown field 'nope'"),
        (Index("owner", include=["pk"]), "includes key field 'pk'"),
        (Index("owner", include=["owner"]), "includes key field 'owner'"),
        (Index("owner", projection="SOME"), "projection must be one of ALL, KEYS_ONLY, INCLUDE"),
        (Index("owner", projection=Index.KEYS_ONLY, include=["title"]), "only an INCLUDE projection"),
        (Index("owner", projection=Index.INCLUDE), "needs include="),
        (Index("owner", include=["title", "title"]), "includes a field twice"),
    ],
)
def test_a_bad_projection_is_refused_naming_the_model_and_index(index, message):
    with pytest.raises(FieldError, match="Projected") as info:
        _declare(index)
    assert message in str(info.value)


def test_more_than_twenty_included_fields_in_one_index_are_refused():
    fields = {f"f{i}": IntegerField() for i in range(21)}
    with pytest.raises(FieldError, match="includes 21 fields; DynamoDB allows 20 per index"):
        _declare(Index("owner", include=list(fields)), **fields)


def test_more_than_a_hundred_included_attributes_per_table_are_refused():
    fields = {f"f{i}": IntegerField() for i in range(20)}
    keys = {f"k{i}": CharField() for i in range(6)}
    indexes = [Index(key, include=list(fields)) for key in keys]
    attrs = {"__module__": __name__, "Meta": type("Meta", (), {"app_label": "libtests_bad", "indexes": indexes})}
    with pytest.raises(FieldError, match="include 120 non-key attributes in all; DynamoDB allows 100"):
        type("Wide", (DynamoModel,), {**attrs, **fields, **keys})
