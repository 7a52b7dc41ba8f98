"""QuerySets answer as Django's ORM does, on every engine (issue 9's numbered bugs, one test each at least)."""

from __future__ import annotations

import re

import pytest
from django.db.models import Avg, Count, Max, Min, Q, Sum, signals

from dynamo_backend import (
    Coalesce,
    ConsistencyError,
    F,
    UniqueConstraintError,
)
from dynamo_backend.stats import count_calls

from .models import Pair, Row

ROWS = [
    # cat, grp, rank, num
    ("a", "g1", 1, 10),
    ("b", "g1", 2, None),
    ("b", "g1", None, 5),
    ("b", "g2", 3, 7),
    ("c", "g1", None, None),
    ("b", "g1", 5, 3),
]


@pytest.fixture
def rows(engine):
    engine.create_tables(Row)
    made = [Row.objects.create(cat=c, grp=g, rank=r, num=n, note=f"{c}{g}{r}{n}") for c, g, r, n in ROWS]
    return made


def notes(qs) -> list[str]:
    return sorted(r.note for r in qs)


def names_in(expression: str | None, names: dict) -> set[str]:
    return {names[token] for token in re.findall(r"#n\d+", expression or "")}


# -- 1. rows whose index sort key is NULL do not vanish ---------------------------


def test_count_on_a_gsi_partition_counts_rows_without_the_sort_key(rows):
    assert Row.objects.filter(grp="g1").count() == 5
    assert Row.objects.filter(grp="g1").explain()["operation"] == "Scan"


def test_update_and_delete_reach_rows_without_the_sort_key(rows):
    assert Row.objects.filter(grp="g1").update(note="seen") == 5
    assert Row.objects.filter(note="seen").count() == 5
    assert Row.objects.filter(grp="g1").delete()[0] == 5
    assert Row.objects.count() == 1


def test_ordering_by_the_sort_key_does_not_drop_rows_without_it(rows):
    got = [r.rank for r in Row.objects.filter(cat="b", grp="g1").order_by("rank")]
    assert got == [None, 2, 5]  # NULL first ascending, as SQLite orders


def test_a_sort_key_condition_lets_the_sparse_index_serve(rows):
    plan = Row.objects.filter(grp="g1", rank__gte=2).explain()
    assert (plan["operation"], plan["index"]) == ("Query", "grp-rank-index")
    assert notes(Row.objects.filter(grp="g1", rank__gte=2)) == ["bg12None", "bg153"]


def test_explain_says_why_an_index_was_passed_over(rows):
    plan = Row.objects.filter(grp="g1").explain()
    assert any("passed over" in reason and "rank" in reason for reason in plan["index_choice"])


# -- 2. key attributes of the queried index never reach the FilterExpression ---------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Q(cat="b") & Q(cat__startswith="b"), ["bg12None", "bg153", "bg1None5", "bg237"]),
        (Q(grp="g1", rank__gt=0, rank__lt=5), ["ag1110", "bg12None"]),
        (Q(grp="g1", rank__in=[1]), ["ag1110"]),
        (Q(grp="g1", rank__gte=2, rank__lte=5), ["bg12None", "bg153"]),
        (Q(grp="g1", rank__range=(1, 2), num__isnull=False), ["ag1110"]),
        (Q(cat="b") & (Q(cat="b") | Q(num=1)), ["bg12None", "bg153", "bg1None5", "bg237"]),
    ],
)
def test_conditions_on_index_keys_are_key_conditions_or_checked_after_the_read(rows, query, expected):
    qs = Row.objects.filter(query)
    plan = qs.explain()
    assert plan["operation"] == "Query"
    index_keys = {"cat"} if plan["index"] == "cat-index" else {"grp", "rank"}
    assert not names_in(plan["filter"], plan["names"]) & index_keys
    assert notes(qs) == expected
    assert qs.count() == len(expected)


def test_two_range_bounds_become_between(rows):
    plan = Row.objects.filter(grp="g1", rank__gte=2, rank__lte=5).explain()
    assert "BETWEEN" in plan["key_condition"]
    assert "evaluated_in_python" not in plan


# -- 3. always-false and always-true conditions are folded -----------------------------------


def test_exclude_in_empty_list_is_everything(rows):
    assert Row.objects.exclude(num__in=[]).count() == len(ROWS)


def test_in_empty_list_or_condition_keeps_the_other_side(rows):
    assert notes(Row.objects.filter(Q(num__in=[]) | Q(cat="c"))) == ["cg1NoneNone"]


def test_negated_in_empty_list_is_everything(rows):
    assert Row.objects.filter(~Q(num__in=[])).count() == len(ROWS)


def test_in_empty_list_costs_no_call(rows):
    with count_calls() as log:
        assert list(Row.objects.filter(num__in=[], cat="b")) == []
    assert log.total == 0


# -- 4. None inside __in is ignored, as Django does --------------------------------------------


def test_none_in_an_in_list_is_ignored(rows):
    assert notes(Row.objects.filter(num__in=[None, 10])) == ["ag1110"]
    assert Row.objects.filter(num__in=[None]).count() == 0


# -- 5. a reversed range matches nothing ---------------------------------------------------------


def test_reversed_range_is_empty_and_its_exclude_is_everything(rows):
    assert Row.objects.filter(num__range=(9, 1)).count() == 0
    assert Row.objects.exclude(num__range=(9, 1)).count() == len(ROWS)
    assert Row.objects.filter(grp="g1", rank__range=(5, 1)).count() == 0


# -- 6. NULL + 1 stays NULL; Coalesce is the counter idiom -------------------------------------------


def test_f_plus_one_leaves_null_null(rows):
    assert Row.objects.filter(grp="g1").update(num=F("num") + 1) == 5
    assert sorted((r.note, r.num) for r in Row.objects.filter(grp="g1")) == [
        ("ag1110", 11),
        ("bg12None", None),
        ("bg153", 4),
        ("bg1None5", 6),
        ("cg1NoneNone", None),
    ]


def test_f_plus_one_by_pk_leaves_null_null_but_counts_the_row(rows):
    row = next(r for r in rows if r.num is None)
    assert Row.objects.filter(pk=row.pk).update(num=F("num") + 1) == 1
    assert Row.objects.get(pk=row.pk).num is None


def test_coalesce_counts_from_zero(rows):
    row = next(r for r in rows if r.num is None)
    for _ in range(3):
        Row.objects.filter(pk=row.pk).update(num=Coalesce(F("num"), 0) + 1)
    assert Row.objects.get(pk=row.pk).num == 3


def test_f_of_another_field_is_null_when_that_field_is(rows):
    Row.objects.all().update(num=F("rank") - 1)
    assert sorted((r.note, r.num) for r in Row.objects.filter(cat="b")) == [
        ("bg12None", 1),
        ("bg153", 4),
        ("bg1None5", None),
        ("bg237", 2),
    ]


# -- consistency ------------------------------------------------------------------------------------


def test_consistent_query_on_a_gsi_is_refused_naming_the_index(rows):
    with pytest.raises(ConsistencyError, match="cat-index"):
        list(Row.objects.consistent().filter(cat="b"))


def test_consistent_scan_and_get_are_allowed_and_say_so(rows):
    assert Row.objects.consistent().filter(num=10).explain()["consistent"] is True
    assert Row.objects.consistent().filter(num=10).count() == 1
    assert Row.objects.consistent().get(pk=rows[0].pk).note == "ag1110"


# -- Django API: aggregate, distinct, only/defer/values ------------------------------------------


def test_aggregate_matches_django(rows):
    got = Row.objects.filter(grp="g1").aggregate(
        Count("num"), Sum("num"), Min("rank"), Max("rank"), Avg("num"), total=Count("*")
    )
    assert got == {
        "num__count": 3,
        "num__sum": 18,
        "rank__min": 1,
        "rank__max": 5,
        "num__avg": 6.0,
        "total": 5,
    }


def test_aggregate_of_nothing_is_none_or_its_default(rows):
    got = Row.objects.filter(cat="zzz").aggregate(Sum("num"), m=Max("num", default=0), n=Count("pk"))
    assert got == {"num__sum": None, "m": 0, "n": 0}


def test_aggregate_with_filter_and_distinct(rows):
    got = Row.objects.aggregate(
        b=Count("pk", filter=Q(cat="b")), cats=Count("cat", distinct=True), g1=Sum("num", filter=Q(grp="g1"))
    )
    assert got == {"b": 4, "cats": 3, "g1": 18}


def test_distinct_values(rows):
    assert sorted(Row.objects.values_list("cat", flat=True).distinct()) == ["a", "b", "c"]
    assert sorted(Row.objects.values_list("cat", "grp").distinct()) == [
        ("a", "g1"),
        ("b", "g1"),
        ("b", "g2"),
        ("c", "g1"),
    ]
    assert len(Row.objects.values("grp").distinct()) == 2


def test_values_read_only_the_attributes_asked_for(rows, spy):
    assert sorted(Row.objects.filter(num__gte=5).values_list("note", flat=True)) == ["ag1110", "bg1None5", "bg237"]
    (request,) = spy.of("scan")
    projected = {request["ExpressionAttributeNames"][n] for n in request["ProjectionExpression"].split(", ")}
    assert projected == {"pk", "note"}


def test_only_loads_deferred_fields_on_first_access(rows, spy):
    (row,) = Row.objects.filter(num=10).only("note")
    assert row.get_deferred_fields() == {"cat", "grp", "rank", "num"}
    spy.clear()
    assert row.rank == 1 and row.cat == "a"
    assert len(spy.of("get_item")) == 1
    assert row.get_deferred_fields() == set()


def test_partial_items_do_not_poison_the_item_cache(rows):
    list(Row.objects.filter(num=10).only("note"))
    full = Row.objects.get(pk=rows[0].pk)
    assert (full.cat, full.grp, full.rank) == ("a", "g1", 1)


def test_saving_a_deferred_instance_keeps_the_fields_it_never_read(rows):
    (row,) = Row.objects.filter(num=10).defer("cat", "rank")
    row.note = "changed"
    row.save()
    stored = Row.objects.consistent().get(pk=row.pk)
    assert (stored.note, stored.cat, stored.rank) == ("changed", "a", 1)


# -- unique_together ---------------------------------------------------------------------------------


@pytest.fixture
def pairs(engine):
    engine.create_tables(Pair)
    return Pair


def test_unique_together_refuses_a_second_item_with_the_same_values(pairs):
    Pair.objects.create(owner="o", name="n", rank=1)
    Pair.objects.create(owner="o", name="other", rank=1)
    Pair.objects.create(owner="p", name="n", rank=1)
    with pytest.raises(UniqueConstraintError) as info:
        Pair.objects.create(owner="o", name="n", rank=2)
    assert info.value.fields == ("owner", "name")
    assert Pair.objects.count() == 3


def test_unique_together_ignores_null_parts(pairs):
    Pair.objects.create(owner="o", name=None)
    Pair.objects.create(owner="o", name=None)
    assert Pair.objects.count() == 2


def test_unique_together_value_moves_on_update_and_is_freed_on_delete(pairs):
    first = Pair.objects.create(owner="o", name="n")
    first.name = "m"
    first.save()
    Pair.objects.create(owner="o", name="n")  # the old value is free again
    with pytest.raises(UniqueConstraintError):
        Pair.objects.filter(pk=first.pk).update(name="n")
    first.delete()
    Pair.objects.create(owner="o", name="m")


def test_equality_on_a_unique_together_constraint_reads_its_claim(pairs):
    made = Pair.objects.create(owner="o", name="n")
    plan = Pair.objects.filter(owner="o", name="n").explain()
    assert plan["operation"] == "GetItem" and plan["via_unique_claim"]["field"] == "owner,name"
    assert Pair.objects.get(owner="o", name="n").pk == made.pk


# -- an empty string in a Meta.indexes key is stored absent (the GSI would refuse it) -------------------


def test_empty_string_in_a_declared_index_key_is_stored_absent(rows):
    row = Row.objects.create(cat="z", grp="", rank=1)
    assert Row.objects.get(pk=row.pk).grp is None


# -- Django's model signals ---------------------------------------------------------------------------


def test_save_and_delete_send_django_signals(rows):
    seen = []

    def record(signal_name):
        def receiver(sender, instance, **kwargs):
            seen.append((signal_name, sender, kwargs.get("created"), kwargs.get("update_fields")))

        return receiver

    receivers = {name: record(name) for name in ("pre_save", "post_save", "pre_delete", "post_delete")}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver, sender=Row)
    try:
        row = Row.objects.create(cat="s")
        row.note = "x"
        row.save(update_fields=["note"])
        row.delete()
        Row.objects.filter(cat="b").delete()
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver, sender=Row)
    assert seen[:6] == [
        ("pre_save", Row, None, None),
        ("post_save", Row, True, None),
        ("pre_save", Row, None, frozenset({"note"})),
        ("post_save", Row, False, frozenset({"note"})),
        ("pre_delete", Row, None, None),
        ("post_delete", Row, None, None),
    ]
    # QuerySet.delete() sends both signals for each of the four rows, as Django's does.
    assert [s[0] for s in seen[6:]] == ["pre_delete"] * 4 + ["post_delete"] * 4
