"""multiget.batch_get_tables: one BatchGetItem over several tables, 100 keys a call, leftovers retried (pure)."""

from __future__ import annotations

import pytest

from dynamo_backend import BatchGetError, connection
from dynamo_backend.batch import RetryPolicy
from dynamo_backend.multiget import batch_get_tables

NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0, sleep=lambda _s: None)


def key(pk: str) -> dict:
    return {"pk": {"S": pk}}


class FakeDynamoDB:
    """Answers BatchGetItem with every key it is asked for, holding back ``hold`` keys once each."""

    def __init__(self, hold: dict[str, set[str]] | None = None, forever: bool = False) -> None:
        self.hold = hold or {}
        self.forever = forever
        self.requests: list[dict] = []

    def batch_get_item(self, RequestItems, **_params):
        self.requests.append(RequestItems)
        responses: dict[str, list] = {}
        unprocessed: dict[str, dict] = {}
        for table, request in RequestItems.items():
            for k in request["Keys"]:
                pk = k["pk"]["S"]
                if pk in self.hold.get(table, set()):
                    if not self.forever:
                        self.hold[table].discard(pk)
                    unprocessed.setdefault(table, {"Keys": []})["Keys"].append(k)
                else:
                    responses.setdefault(table, []).append({**k, "table": {"S": table}})
        return {"Responses": responses, "UnprocessedKeys": unprocessed}


def test_keys_of_two_tables_share_a_call_and_repeats_are_read_once():
    fake = FakeDynamoDB()
    with connection.use_client(fake):
        found = batch_get_tables({"a": [key("1"), key("2"), key("1")], "b": [key("3")]}, policy=NO_WAIT)
    assert len(fake.requests) == 1
    assert sorted(i["pk"]["S"] for i in found["a"]) == ["1", "2"] and [i["pk"]["S"] for i in found["b"]] == ["3"]


def test_a_hundred_keys_a_call_across_tables():
    fake = FakeDynamoDB()
    with connection.use_client(fake):
        found = batch_get_tables({"a": [key(f"a{i}") for i in range(70)], "b": [key(f"b{i}") for i in range(60)]})
    assert [sum(len(r["Keys"]) for r in request.values()) for request in fake.requests] == [100, 30]
    assert (len(found["a"]), len(found["b"])) == (70, 60)


def test_unprocessed_keys_are_retried_per_table():
    fake = FakeDynamoDB(hold={"b": {"3"}})
    with connection.use_client(fake):
        found = batch_get_tables({"a": [key("1")], "b": [key("2"), key("3")]}, policy=NO_WAIT)
    assert fake.requests[1] == {"b": {"Keys": [key("3")]}}
    assert sorted(i["pk"]["S"] for i in found["b"]) == ["2", "3"]


def test_keys_left_after_every_attempt_are_named():
    fake = FakeDynamoDB(hold={"b": {"3"}}, forever=True)
    with connection.use_client(fake), pytest.raises(BatchGetError) as info:
        batch_get_tables({"a": [key("1")], "b": [key("3")]}, policy=NO_WAIT)
    assert info.value.unprocessed == [("b", key("3"))]
    assert len(fake.requests) == 3
