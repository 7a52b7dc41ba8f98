"""The stream reader's shard handling on a fake stream (no engine): rollover, splits, order, positions.

moto keeps one shard for ever, so shards closing and splitting are played by
:class:`FakeStream`, which answers the three Streams calls the reader makes.
"""

from __future__ import annotations

from typing import Any

import pytest

from dynamo_backend.exceptions import DynamoBackendError
from dynamo_backend.streams import StreamReader

TABLE = "blog_post"


class FakeStream:
    """Shards with parents, closed on demand as DynamoDB does on a rollover or a split."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.sequence = 0
        self.expire_next = False
        self.issued = 0
        self.broken: set[str] = set()  # iterators whose GetRecords fails with an internal error
        self.open_shard("s1")

    def open_shard(self, shard: str, parent: str | None = None) -> None:
        self.shards[shard] = {"parent": parent, "records": [], "closed": False}

    def write(self, shard: str, pk: str, name: str = "MODIFY") -> None:
        self.sequence += 1
        image = {"pk": {"S": pk}, "n": {"N": str(self.sequence)}}
        body = {"Keys": {"pk": {"S": pk}}, "SequenceNumber": str(self.sequence), "NewImage": image}
        self.shards[shard]["records"].append({"eventName": name, "dynamodb": body})

    def close(self, shard: str, *children: str) -> None:
        self.shards[shard]["closed"] = True
        for child in children:
            self.open_shard(child, parent=shard)

    def iterator(self, shard: str, position: int) -> str:
        self.issued += 1  # every iterator is a new one, as DynamoDB's are
        return f"{shard}:{position}:{self.issued}"

    def describe_table(self, **params: Any) -> dict:
        return {"Table": {"StreamSpecification": {"StreamEnabled": True}, "LatestStreamArn": "arn:stream"}}

    def __call__(self, operation: str, **params: Any) -> dict:
        if operation == "DescribeStream":
            shards = []
            for shard, state in self.shards.items():
                numbers: dict[str, str] = {"StartingSequenceNumber": "0"}
                if state["closed"]:
                    numbers["EndingSequenceNumber"] = str(self.sequence)
                shards.append({"ShardId": shard, "ParentShardId": state["parent"], "SequenceNumberRange": numbers})
            return {"StreamDescription": {"Shards": shards}}
        if operation == "GetShardIterator":
            records = self.shards[params["ShardId"]]["records"]
            kind = params["ShardIteratorType"]
            if kind == "LATEST":
                position = len(records)
            elif kind == "TRIM_HORIZON":
                position = 0
            else:
                after = int(params["SequenceNumber"])
                position = sum(1 for r in records if int(r["dynamodb"]["SequenceNumber"]) <= after)
            return {"ShardIterator": self.iterator(params["ShardId"], position)}
        if operation == "GetRecords":
            if self.expire_next:
                self.expire_next = False
                raise DynamoBackendError("expired", code="ExpiredIteratorException")
            if params["ShardIterator"] in self.broken:
                raise DynamoBackendError("internal", code="InternalServerError")
            shard, position, _ = params["ShardIterator"].split(":")
            state = self.shards[shard]
            records = state["records"][int(position) : int(position) + params["Limit"]]
            end = int(position) + len(records)
            done = state["closed"] and end == len(state["records"])
            return {"Records": records, "NextShardIterator": None if done else self.iterator(shard, end)}
        raise AssertionError(operation)


@pytest.fixture
def fake() -> FakeStream:
    return FakeStream()


def start(fake: FakeStream, delivered: list, checkpoint: dict | None = None) -> StreamReader:
    reader = StreamReader(
        [TABLE], delivered.extend, call=fake, describe_table=fake.describe_table, checkpoint=checkpoint
    )
    reader.poll()
    return reader


def changes(delivered: list) -> list[str]:
    return [f"{m[2]}{m[4]['n']['N']}" for m in delivered if m[0] == "c"]


def drain(reader: StreamReader, polls: int = 6) -> None:
    for _ in range(polls):
        reader.poll()


def test_a_rollover_reads_the_parent_to_its_end_then_the_child_from_its_start(fake):
    delivered: list = []
    reader = start(fake, delivered)
    fake.write("s1", "a")
    fake.close("s1", "s2")
    fake.write("s2", "a")
    drain(reader)
    assert changes(delivered) == ["a1", "a2"]
    assert reader.counters["shards_finished"] == 1


def test_after_a_split_every_child_is_read_and_no_child_before_its_parent(fake):
    delivered: list = []
    reader = start(fake, delivered)
    fake.write("s1", "a")
    fake.close("s1", "s2", "s3")
    fake.write("s2", "a")  # the item's next change is in a child...
    fake.write("s3", "b")
    reader.poll()  # ...which this poll does not read yet: the parent is not finished
    assert changes(delivered) == ["a1"]
    drain(reader)
    assert sorted(changes(delivered)) == ["a1", "a2", "b3"]
    assert changes(delivered).index("a1") < changes(delivered).index("a2")


def test_a_fresh_reader_skips_closed_history_and_flushes_the_open_shards(fake):
    fake.write("s1", "old")
    fake.close("s1", "s2")
    fake.write("s2", "old")
    delivered: list = []
    reader = start(fake, delivered)
    drain(reader)
    assert changes(delivered) == []
    assert delivered == [("f", TABLE)]
    fake.write("s2", "new")
    reader.poll()
    assert changes(delivered) == ["new3"]


def test_an_expired_iterator_before_any_record_flushes_and_restarts(fake):
    delivered: list = []
    reader = start(fake, delivered)
    fake.expire_next = True
    reader.poll()
    assert delivered.count(("f", TABLE)) == 2  # the fresh start's, and the restart's
    fake.write("s1", "a")
    drain(reader)
    assert changes(delivered) == ["a1"]


def test_a_successor_resumes_the_children_its_predecessor_never_saw(fake):
    delivered: list = []
    reader = start(fake, delivered)
    fake.write("s1", "a")
    reader.poll()
    checkpoint = reader.positions()
    fake.write("s1", "a")  # written while no reader runs, then the shard rolls over
    fake.close("s1", "s2")
    fake.write("s2", "a")
    successor_saw: list = []
    successor = start(fake, successor_saw, checkpoint)
    drain(successor)
    assert changes(successor_saw) == ["a2", "a3"]
    assert ("f", TABLE) not in successor_saw


def test_an_iterator_that_keeps_failing_is_replaced_after_the_last_record(fake):
    delivered: list = []
    reader = start(fake, delivered)
    fake.write("s1", "a")
    reader.poll()
    fake.write("s1", "a")
    fake.broken.add(reader.streams[TABLE].shards["s1"].iterator or "")
    for _ in range(3):
        assert not reader.poll()
    assert reader.streams[TABLE].shards["s1"].iterator is None  # dropped after three failures in a row
    drain(reader)
    assert changes(delivered) == ["a1", "a2"]
