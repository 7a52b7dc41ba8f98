"""The stream reader on real engines: changes made elsewhere reach the caches; faults; the TTL fallback.

"Elsewhere" is a bare boto3 client writing around the library (as another
process would); the reader's messages are applied here as a listener would.
Faults are injected at the streams call seam (a wrapper around the real call).
"""

from __future__ import annotations

from collections import Counter

import pytest

from dynamo_backend import cache, connection, stats
from dynamo_backend.exceptions import DynamoBackendError
from dynamo_backend.stats import count_calls
from dynamo_backend.streams import StreamReader
from dynamo_backend.streams.host import apply

from .models import Story, Writer

pytestmark = [pytest.mark.usefixtures("tables"), pytest.mark.models("Writer", "Story")]
STREAM_ENGINES = pytest.mark.engines("moto", "moto_server")


class Faults:
    """The streams call with faults injected: ``fail["GetRecords"] = ["ExpiredIteratorException", ...]``."""

    def __init__(self) -> None:
        self.fail: dict[str, list[str]] = {}
        self.calls: Counter[str] = Counter()

    def __call__(self, operation: str, **params):
        self.calls[operation] += 1
        if self.fail.get(operation):
            raise DynamoBackendError(f"{operation}: injected", code=self.fail[operation].pop(0))
        return connection.streams_call(operation, **params)


class Listener:
    """Apply what the reader delivers to this process's caches, and keep it for assertions."""

    def __init__(self) -> None:
        self.messages: list[tuple] = []
        self.status = stats.StreamStatus()

    def __call__(self, messages: list[tuple]) -> None:
        self.messages += messages
        apply(messages, self.status)

    def kinds(self) -> list[str]:
        return [m[0] for m in self.messages]


def has_stream(engine) -> bool:
    table = engine.client.describe_table(TableName=Writer._meta.table_name)["Table"]
    return bool(table.get("StreamSpecification", {}).get("StreamEnabled"))


@pytest.fixture
def streamed(engine) -> None:
    """For the tests of an engine with streams (DDB_ENGINES may pick any engine)."""
    if not has_stream(engine):
        pytest.skip(f"{engine.name} has no streams")


@pytest.fixture
def unstreamed(engine) -> None:
    """For the tests of the TTL fallback on an engine without streams."""
    if has_stream(engine):
        pytest.skip(f"{engine.name} has streams")


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def reader(engine, streamed, listener, faults) -> StreamReader:
    started = StreamReader([Writer._meta.table_name, Story._meta.table_name], listener, call=faults)
    assert started.poll()  # a fresh reader: LATEST, then a flush of each streamed table
    return started


def rename_elsewhere(engine, pk: str, name: str) -> None:
    engine.client.update_item(
        TableName=Writer._meta.table_name,
        Key={"pk": {"S": pk}},
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": "name"},
        ExpressionAttributeValues={":v": {"S": name}},
    )


@STREAM_ENGINES
def test_a_fresh_reader_flushes_what_it_cannot_vouch_for(engine, reader, listener):
    assert sorted(m for m in listener.messages if m[0] == "f") == [
        ("f", Story._meta.table_name),
        ("f", Writer._meta.table_name),
    ]
    assert reader.tables() == {Writer._meta.table_name: "stream", Story._meta.table_name: "stream"}


@STREAM_ENGINES
def test_a_change_made_elsewhere_replaces_the_cached_item(engine, reader, listener):
    writer = Writer.objects.create(name="before")
    rename_elsewhere(engine, writer.pk, "after")
    assert Writer.objects.get(pk=writer.pk).name == "before"  # cached, as another process would see it
    assert reader.poll()
    with count_calls() as calls:
        assert Writer.objects.get(pk=writer.pk).name == "after"
    assert calls.total == 0  # the record's new image took the old one's place


@STREAM_ENGINES
def test_a_late_record_never_puts_back_an_older_item(engine, reader, listener):
    writer = Writer.objects.create(name="one")
    rename_elsewhere(engine, writer.pk, "two")
    Writer.objects.filter(pk=writer.pk).update(name="three")  # this process's write, newer than "two"
    assert reader.poll()
    assert Writer.objects.get(pk=writer.pk).name == "three"


@STREAM_ENGINES
def test_changes_elsewhere_drop_only_the_lists_they_change(engine, reader, listener):
    story = Story.objects.create(title="kept")
    list(Story.objects.filter(shelf="all"))
    reader.poll()  # this process's own create comes back: the list may be re-read once
    list(Story.objects.filter(shelf="all"))
    engine.client.update_item(
        TableName=Story._meta.table_name,
        Key={"pk": {"S": story.pk}},
        UpdateExpression="SET title = :t",
        ExpressionAttributeValues={":t": {"S": "renamed"}},
    )
    reader.poll()
    with count_calls() as calls:
        assert [s.title for s in Story.objects.filter(shelf="all")] == ["renamed"]
    assert calls.total == 0  # the list stayed; the item came from the record
    engine.client.delete_item(TableName=Story._meta.table_name, Key={"pk": {"S": story.pk}})
    reader.poll()
    assert list(Story.objects.filter(shelf="all")) == []


@STREAM_ENGINES
def test_an_expired_iterator_resumes_after_the_last_record(engine, reader, listener, faults):
    writer = Writer.objects.create(name="w")
    reader.poll()
    rename_elsewhere(engine, writer.pk, "seen after expiry")
    faults.fail["GetRecords"] = ["ExpiredIteratorException"]
    flushes = listener.kinds().count("f")
    assert not reader.poll()  # this poll lost its iterator
    assert reader.poll()
    assert Writer.objects.get(pk=writer.pk).name == "seen after expiry"
    assert listener.kinds().count("f") == flushes  # nothing was missed, nothing flushed
    assert reader.counters["expired"] == 1


@STREAM_ENGINES
def test_trimmed_records_flush_the_table_and_restart_at_latest(engine, reader, listener, faults):
    writer = Writer.objects.create(name="w")
    reader.poll()
    faults.fail["GetRecords"] = ["TrimmedDataAccessException"]
    rename_elsewhere(engine, writer.pk, "lost in the gap")
    reader.poll()
    assert ("f", Writer._meta.table_name) in listener.messages[-3:]
    assert reader.counters["trimmed"] == 1
    assert Writer.objects.get(pk=writer.pk).name == "lost in the gap"  # flushed: read from DynamoDB


@STREAM_ENGINES
def test_a_failing_stream_call_is_retried_and_reported(engine, reader, listener, faults):
    faults.fail["GetRecords"] = ["ProvisionedThroughputExceededException"]
    assert not reader.poll()
    assert reader.counters["errors"] == 1
    assert "ProvisionedThroughputExceededException" in reader.tables().values()
    writer = Writer.objects.create(name="w")
    rename_elsewhere(engine, writer.pk, "after the error")
    assert reader.poll()
    assert Writer.objects.get(pk=writer.pk).name == "after the error"


@STREAM_ENGINES
def test_a_reader_taking_over_resumes_from_the_checkpoint(engine, reader, listener):
    writer = Writer.objects.create(name="w")
    reader.poll()
    checkpoint = reader.positions()
    rename_elsewhere(engine, writer.pk, "written while no one read")
    successor = StreamReader([Writer._meta.table_name], listener, checkpoint=checkpoint)
    flushes = listener.kinds().count("f")
    assert successor.poll()
    assert Writer.objects.get(pk=writer.pk).name == "written while no one read"
    assert listener.kinds().count("f") == flushes  # the checkpoint covered the gap


@pytest.mark.engines("dynalite")
def test_without_streams_the_caches_fall_back_to_their_ttls(engine, unstreamed, listener):
    reader = StreamReader([Writer._meta.table_name], listener)
    assert reader.poll()
    assert reader.tables() == {Writer._meta.table_name: "no stream"}
    assert listener.messages == []
    assert not stats.streamed(Writer._meta.table_name)


@pytest.mark.engines("dynalite")
def test_on_dynalite_changes_elsewhere_show_once_the_ttls_expire(engine, unstreamed):
    clock = FakeClock()
    cache.configure(timer=clock)
    try:
        writer = Writer.objects.create(name="before")
        rename_elsewhere(engine, writer.pk, "after")
        clock.now += 59
        assert Writer.objects.get(pk=writer.pk).name == "before"
        clock.now += 2  # past CACHE_TTL (60 s): nothing is ever served older than that
        assert Writer.objects.get(pk=writer.pk).name == "after"
        assert list(Story.objects.filter(shelf="all")) == []
        engine.client.put_item(
            TableName=Story._meta.table_name,
            Item={"pk": {"S": "s1"}, "shelf": {"S": "all"}, "created_at": {"S": "2024-05-01T12:00:00+00:00"}},
        )
        clock.now += 4.9
        assert list(Story.objects.filter(shelf="all")) == []
        clock.now += 0.2  # past QUERY_CACHE_TTL (5 s): without a reader, lists keep that TTL
        assert [s.pk for s in Story.objects.filter(shelf="all")] == ["s1"]
    finally:
        cache.configure()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.engines("moto")
def test_iterators_moto_expires_are_replaced_after_the_last_record(engine, reader, listener, monkeypatch):
    from scripts import moto_server

    monkeypatch.setattr(moto_server, "ITERATORS_KEPT", 1)  # each table's read expires the other's iterator
    writer = Writer.objects.create(name="w")
    story = Story.objects.create(title="s")
    for poll in range(4):
        rename_elsewhere(engine, writer.pk, f"name {poll}")
        engine.client.update_item(
            TableName=Story._meta.table_name,
            Key={"pk": {"S": story.pk}},
            UpdateExpression="SET title = :t",
            ExpressionAttributeValues={":t": {"S": f"title {poll}"}},
        )
        reader.poll()
    for _ in range(4):
        reader.poll()
    assert reader.counters["expired"] >= 2
    assert Writer.objects.get(pk=writer.pk).name == "name 3"
    assert Story.objects.get(pk=story.pk).title == "title 3"
