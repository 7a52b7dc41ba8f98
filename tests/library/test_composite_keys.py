"""Composite primary keys (HASH+RANGE tables), local secondary indexes, and base-table Queries."""

from __future__ import annotations

import datetime as dt

import pytest

from dynamo_backend import FieldError, UniqueConstraintError, cache
from dynamo_backend.stats import count_calls

from .models import COMPOSITE_MODELS, Message, Thread

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def thread(engine):
    engine.create_tables(*COMPOSITE_MODELS)
    thread = Thread.objects.create(title="t")
    for n in range(8):
        Message.objects.create(thread_pk=thread.pk, sent=at(n), author=f"a{n % 2}", score=n % 4, body=f"m{n}")
    return thread


# -- no engine ------------------------------------------------------------------------------


def test_the_table_is_hash_and_range_with_a_local_index():
    from dynamo_backend.table import table_spec

    spec = table_spec(Message)
    assert spec["KeySchema"] == [
        {"AttributeName": "thread_pk", "KeyType": "HASH"},
        {"AttributeName": "sent", "KeyType": "RANGE"},
    ]
    assert [i["IndexName"] for i in spec["LocalSecondaryIndexes"]] == ["thread_pk-score-index"]
    assert [i["IndexName"] for i in spec["GlobalSecondaryIndexes"]] == ["author-sent-index"]


def test_pk_is_the_pair_and_its_text_round_trips():
    message = Message(thread_pk="00000000-0000-4000-8000-000000000001", sent=at(1))
    assert message.pk == ("00000000-0000-4000-8000-000000000001", at(1))
    text = Message._meta.keys.text(message.pk)
    assert "/" not in text and "+" not in text
    assert Message._meta.keys.from_text(text) == message.pk


def test_equality_on_both_key_fields_is_a_get_item():
    plan = Message.objects.filter(pk=("00000000-0000-4000-8000-000000000001", at(1))).explain()
    assert plan["operation"] == "GetItem"
    assert (
        Message.objects.filter(thread_pk="00000000-0000-4000-8000-000000000001", sent=at(1)).explain()["operation"]
        == "GetItem"
    )


def test_the_partition_key_alone_is_a_consistent_capable_base_table_query():
    plan = Message.objects.filter(thread_pk="00000000-0000-4000-8000-000000000001").consistent().explain()
    assert (plan["operation"], plan["index"], plan["consistent"]) == ("Query", None, True)


def test_a_local_index_serves_its_sort_key_consistently():
    qs = Message.objects.consistent().filter(thread_pk="00000000-0000-4000-8000-000000000001", score__gte=2)
    plan = qs.order_by("-score").explain()
    assert (plan["index"], plan["scan_index_forward"]) == ("thread_pk-score-index", False)


def test_a_key_field_cannot_be_updated():
    with pytest.raises(FieldError, match="primary key"):
        Message.objects.filter(author="a").update(sent=at(9))


# -- on every engine ------------------------------------------------------------------------


def test_get_by_pair_reads_one_item(thread):
    cache.reset()
    with count_calls() as log:
        message = Message.objects.get(pk=(thread.pk, at(3)))
    assert message.body == "m3" and message.pk == (thread.pk, at(3))
    assert log.by_operation() == {"GetItem": 1}


def test_a_threads_messages_are_one_query_in_key_order(thread, spy):
    page = list(Message.objects.consistent().filter(thread_pk=thread.pk).order_by("-sent")[:3])
    assert [m.body for m in page] == ["m7", "m6", "m5"]
    (request,) = spy.of("query")
    assert "IndexName" not in request and request["ConsistentRead"] is True and request["Limit"] == 3


def test_sort_key_conditions_go_into_the_key_condition(thread):
    qs = Message.objects.filter(thread_pk=thread.pk, sent__gte=at(2), sent__lt=at(5)).order_by("sent")
    assert [m.body for m in qs] == ["m2", "m3", "m4"]
    assert "BETWEEN" in qs.explain()["key_condition"]


def test_the_local_index_orders_by_its_sort_key(thread):
    got = [(m.score, m.body) for m in Message.objects.filter(thread_pk=thread.pk, score__gte=2).order_by("score")]
    scores = [s for s, _ in got]
    assert scores == sorted(scores) and set(scores) == {2, 3} and len(got) == 4  # ties: in no promised order


def test_pk_in_is_one_batch_get(thread):
    cache.reset()
    keys = [(thread.pk, at(1)), (thread.pk, at(6)), (thread.pk, at(99))]
    with count_calls() as log:
        found = Message.objects.in_bulk(keys)
    assert [m.body for m in found.values()] == ["m1", "m6"]
    assert log.count("BatchGetItem") == 1


def test_saves_updates_and_deletes_address_the_pair(thread, engine):
    message = Message.objects.get(pk=(thread.pk, at(0)))
    message.body = "edited"
    message.save()
    assert Message.objects.filter(thread_pk=thread.pk, author="a0").update(score=9) == 4
    stored = engine.client.get_item(TableName=Message._meta.table_name, Key=Message._meta.key(message.pk))["Item"]
    assert (stored["body"], stored["score"]) == ({"S": "edited"}, {"N": "9"})
    message.delete()
    assert not Message.objects.consistent().filter(pk=message.pk).exists()
    assert Message.objects.filter(thread_pk=thread.pk).count() == 7


def test_first_without_an_ordering_is_the_smallest_key(thread):
    assert Message.objects.filter(thread_pk=thread.pk).first().body == "m0"
    assert Message.objects.filter(thread_pk=thread.pk).last().body == "m7"


def test_unique_values_of_a_composite_key_model(thread):
    Message.objects.create(thread_pk=thread.pk, sent=at(50), slug="only")
    with pytest.raises(UniqueConstraintError):
        Message.objects.create(thread_pk=thread.pk, sent=at(51), slug="only")
    Message.objects.get(slug="only").delete()
    Message.objects.create(thread_pk=thread.pk, sent=at(52), slug="only")


def test_deleting_the_thread_cascades_to_its_messages_read_consistently(thread, engine):
    assert thread.delete()[0] == 1
    assert engine.client.scan(TableName=Message._meta.table_name, ConsistentRead=True)["Items"] == []
