"""update() beyond SET/REMOVE: list append/prepend, set ADD/DELETE, if_not_exists of any type, JSON paths.

On every engine, through QuerySet.update() and (where the engine has them) transactions.
"""

from __future__ import annotations

import pytest
from django.db.models import Value

from dynamo_backend import (
    Coalesce,
    F,
    FieldError,
    Remove,
    ServiceUnavailable,
    SetAdd,
    SetRemove,
    TransactionCanceled,
    ValidationError,
    cache,
    connection,
)
from dynamo_backend.stats import count_calls
from dynamo_backend.transactions import transact_write
from dynamo_backend.update_values import is_idempotent
from dynamo_backend.updates import clean_changes

from .models import Tagged
from .test_exactly_once import LoseAnswers

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Tagged")]


def fresh(obj: Tagged) -> Tagged:
    cache.reset()
    return Tagged.objects.get(pk=obj.pk)


def update(obj: Tagged, **changes) -> int:
    return Tagged.objects.filter(pk=obj.pk).update(**changes)


# -- lists -------------------------------------------------------------------------------------


def test_a_list_is_appended_to_and_prepended_to(engine):
    obj = Tagged.objects.create(items=["b"])

    assert update(obj, items=F("items") + ["c", "d"]) == 1
    assert update(obj, items=["a"] + F("items")) == 1

    assert fresh(obj).items == ["a", "b", "c", "d"]


def test_appending_to_a_missing_list_leaves_it_missing_as_null_does(engine):
    obj = Tagged.objects.create()

    assert update(obj, items=F("items") + ["x"]) == 1

    assert fresh(obj).items is None


def test_coalesce_appends_to_a_missing_list(engine):
    obj = Tagged.objects.create()

    update(obj, items=Coalesce(F("items"), []) + ["x"])
    update(obj, items=Coalesce(F("items"), []) + ["y"])

    assert fresh(obj).items == ["x", "y"]


def test_a_list_of_another_field_is_appended(engine):
    obj = Tagged.objects.create(items=["a"], data={"more": ["z"]})

    update(obj, items=F("items") + F("data__more"))

    assert fresh(obj).items == ["a", "z"]


def test_a_bare_string_in_coalesce_is_a_field_name_as_in_django():
    with pytest.raises(FieldError, match="Value"):
        clean_changes(Tagged, {"title": Coalesce(F("title"), "untitled")})


def test_list_append_needs_a_list_target():
    with pytest.raises(FieldError, match="ListField or JSONField"):
        clean_changes(Tagged, {"title": F("title") + ["x"]})


# -- sets --------------------------------------------------------------------------------------


def test_set_add_creates_then_grows_a_set(engine):
    obj = Tagged.objects.create()

    update(obj, tags=SetAdd("a"), scores=SetAdd({1, 2.5}))
    update(obj, tags=SetAdd("b", "a"), scores=SetAdd(3))

    back = fresh(obj)
    assert back.tags == {"a", "b"} and back.scores == {1, 2.5, 3}


def test_set_remove_takes_elements_out_and_an_emptied_set_is_gone(engine):
    obj = Tagged.objects.create(tags={"a", "b"}, blobs={b"\x01"})

    update(obj, tags=SetRemove("a", "not there"), blobs=SetRemove(b"\x01"))

    back = fresh(obj)
    assert back.tags == {"b"} and back.blobs is None
    assert "blobs" not in engine.raw_get(Tagged, obj.pk)


def test_set_remove_on_a_missing_set_is_harmless(engine):
    obj = Tagged.objects.create()

    assert update(obj, tags=SetRemove("a")) == 1
    assert fresh(obj).tags is None


def test_set_operations_validate_their_elements_and_target():
    with pytest.raises(ValidationError):
        clean_changes(Tagged, {"ids": SetAdd(9)})  # not a choice
    with pytest.raises(FieldError, match="works on a SetField"):
        clean_changes(Tagged, {"items": SetAdd("x")})
    with pytest.raises(FieldError, match="at least one element"):
        SetAdd()


def test_filters_and_set_updates_combine(engine):
    red = Tagged.objects.create(title="red", tags={"red"})
    Tagged.objects.create(title="blue", tags={"blue"})

    assert Tagged.objects.filter(tags__contains="red").update(tags=SetAdd("seen")) == 1

    assert fresh(red).tags == {"red", "seen"}
    assert Tagged.objects.filter(tags__contains="seen").count() == 1


# -- if_not_exists of any type -----------------------------------------------------------------


def test_coalesce_sets_a_string_only_when_absent(engine):
    blank = Tagged.objects.create()
    named = Tagged.objects.create(title="kept")

    assert Tagged.objects.update(title=Coalesce(F("title"), Value("untitled"))) == 2

    assert fresh(blank).title == "untitled" and fresh(named).title == "kept"


def test_coalesce_takes_any_value_of_the_field(engine):
    obj = Tagged.objects.create(n=4)

    update(obj, tags=Coalesce(F("tags"), {"first"}), data=Coalesce(F("data"), {"a": 1}), n=Coalesce(F("n"), 0))

    back = fresh(obj)
    assert back.tags == {"first"} and back.data == {"a": 1} and back.n == 4


def test_coalesce_of_another_field_copies_it_when_the_target_is_absent(engine):
    obj = Tagged.objects.create(title="from title")

    update(obj, kind=Coalesce(F("title"), Value("default")))

    assert fresh(obj).kind == "from title"


# -- JSON paths --------------------------------------------------------------------------------


def test_a_nested_key_is_set_without_touching_its_siblings(engine):
    obj = Tagged.objects.create(data={"a": {"keep": 1}, "other": True})

    assert update(obj, data__a__b=3) == 1

    assert fresh(obj).data == {"a": {"keep": 1, "b": 3}, "other": True}


def test_missing_maps_along_a_path_are_created(engine):
    empty = Tagged.objects.create()
    partial = Tagged.objects.create(data={"x": 1})

    assert Tagged.objects.update(data__a__b={"c": [1, "two"]}) == 2

    assert fresh(empty).data == {"a": {"b": {"c": [1, "two"]}}}
    assert fresh(partial).data == {"x": 1, "a": {"b": {"c": [1, "two"]}}}


def test_a_path_through_a_value_that_is_not_a_map_is_refused_and_nothing_is_written(engine):
    obj = Tagged.objects.create(data={"a": "text"}, title="before")

    with pytest.raises(ValidationError) as error:
        update(obj, data__a__b=1, title="after")

    assert "data" in error.value.message_dict
    assert fresh(obj).data == {"a": "text"} and fresh(obj).title == "before"


def test_list_elements_are_set_by_index(engine):
    obj = Tagged.objects.create(data={"items": ["a", {"k": 1}]})

    update(obj, data__items__0="A", data__items__1__k=2)

    assert fresh(obj).data == {"items": ["A", {"k": 2}]}


def test_a_nested_counter_counts_from_zero_with_coalesce(engine):
    obj = Tagged.objects.create()

    for _ in range(3):
        update(obj, data__stats__views=Coalesce(F("data__stats__views"), 0) + 1)

    assert fresh(obj).data == {"stats": {"views": 3}}


def test_a_nested_null_operand_makes_the_result_null(engine):
    obj = Tagged.objects.create(data={"stats": {}})

    update(obj, data__stats__views=F("data__stats__views") + 1)

    assert fresh(obj).data == {"stats": {}}


def test_remove_takes_out_one_key_and_a_missing_one_is_fine(engine):
    obj = Tagged.objects.create(data={"a": {"b": 1, "c": 2}})
    other = Tagged.objects.create()

    assert update(obj, data__a__b=Remove()) == 1
    assert update(other, data__a__b=Remove()) == 1

    assert fresh(obj).data == {"a": {"c": 2}} and fresh(other).data is None


def test_none_at_a_path_stores_json_null(engine):
    obj = Tagged.objects.create(data={"a": 1})

    update(obj, data__a=None)

    assert fresh(obj).data == {"a": None}


def test_remove_on_a_field_is_none(engine):
    obj = Tagged.objects.create(title="x")

    update(obj, title=Remove())

    assert fresh(obj).title is None


def test_overlapping_paths_are_refused():
    with pytest.raises(FieldError, match="overlap"):
        clean_changes(Tagged, {"data": {}, "data__a": 1})


@pytest.mark.parametrize("target", ["title__x", "tags__a", "data__"])
def test_paths_are_only_for_json_fields(target):
    with pytest.raises(FieldError):
        clean_changes(Tagged, {target: 1})


def test_a_path_in_f_must_be_inside_a_json_field():
    with pytest.raises(FieldError, match="only a JSONField"):
        clean_changes(Tagged, {"n": F("title__x") + 1})


# -- idempotency ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": "x"}, True),
        ({"tags": SetAdd("x")}, True),
        ({"tags": SetRemove("x")}, True),
        ({"data__a": 1}, True),
        ({"data__a": Remove()}, True),
        ({"title": Coalesce(F("title"), Value("t"))}, False),
        ({"kind": Coalesce(F("title"), Value("t"))}, True),
        ({"items": F("items") + ["x"]}, False),
        ({"n": F("n") + 1}, False),
        ({"data__n": Coalesce(F("data__n"), 0) + 1}, False),
    ],
)
def test_each_operation_says_whether_it_may_be_sent_twice(changes, expected):
    assert is_idempotent(clean_changes(Tagged, changes)) is expected


def test_an_update_whose_filter_reads_what_it_writes_is_not_sent_twice():
    assert not is_idempotent(clean_changes(Tagged, {"title": "done"}), condition_reads=["title"])


def test_a_set_add_whose_answer_was_lost_is_sent_again_and_lands_once(engine):
    obj = Tagged.objects.create(tags={"a"})

    with connection_losing("update_item") as client:
        assert update(obj, tags=SetAdd("b")) == 1

    assert client.calls.count("update_item") == 2
    assert fresh(obj).tags == {"a", "b"}


def test_a_list_append_whose_answer_was_lost_is_not_sent_again(engine):
    obj = Tagged.objects.create(items=["a"])

    with connection_losing("update_item") as client, pytest.raises(ServiceUnavailable) as error:
        update(obj, items=F("items") + ["b"])

    assert error.value.maybe_applied and client.calls.count("update_item") == 1
    assert fresh(obj).items == ["a", "b"]  # applied once, never twice


def connection_losing(*methods):
    return connection.use_client(LoseAnswers(connection.get_client(), *methods))


# -- costs and transactions -------------------------------------------------------------------------


def test_set_and_list_operations_are_one_update_item(engine):
    obj = Tagged.objects.create(items=["a"], data={"a": {}})

    with count_calls() as calls:
        update(obj, tags=SetAdd("x"), items=F("items") + ["b"], data__a__b=1, blobs=SetRemove(b"q"))

    assert calls.by_operation() == {"UpdateItem": 1}


@pytest.mark.transactions
def test_transactions_take_the_new_operations(engine):
    obj = Tagged.objects.create(items=["a"], data={"a": {}})

    with transact_write() as tx:
        tx.update(Tagged, obj.pk, tags=SetAdd("x"), items=F("items") + ["b"], data__a__b=1)

    back = fresh(obj)
    assert back.tags == {"x"} and back.items == ["a", "b"] and back.data == {"a": {"b": 1}}


@pytest.mark.transactions
def test_in_a_transaction_a_path_needs_its_maps_to_exist(engine):
    obj = Tagged.objects.create(data={"x": 1})

    with pytest.raises(TransactionCanceled), transact_write() as tx:
        tx.update(Tagged, obj.pk, data__a__b=1)

    assert fresh(obj).data == {"x": 1}


@pytest.mark.engines("moto", "moto_server")  # dynalite never matches a map with = (an engine bug)
def test_a_path_update_drops_cached_queries_on_its_field(engine):
    obj = Tagged.objects.create(title="t", data={"a": {"k": 1}})
    assert [o.pk for o in Tagged.objects.filter(data={"a": {"k": 1}})] == [obj.pk]  # now cached

    update(obj, data__a__b=1)

    assert list(Tagged.objects.filter(data={"a": {"k": 1}})) == []
