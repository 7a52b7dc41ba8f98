"""Reading the tables' DynamoDB Streams, shard by shard, into messages for the caches.

One :class:`StreamReader` runs per host (host.py elects it). Each
:meth:`StreamReader.poll` reads every ready shard of every table once and
hands what it found to ``deliver`` as messages:

- ``("c", table, pk, old_image, new_image, images)``: one change, in shard order;
- ``("f", table)``: drop everything cached for the table, changes may have been missed.

What it copes with:

- **shards**: a shard is read only once its parent is read to its end (a
  split or a rollover closes the parent; its children start at TRIM_HORIZON,
  so nothing is lost and an item's changes stay in order);
- **expired iterators**: a new one after the last sequence number delivered;
- **trimmed records** (older than 24 h) or a lost position: the table is
  flushed and the shard read from LATEST;
- **a stream that goes away or changes** (table deleted, stream disabled or
  re-enabled): the table is flushed, and re-described every RECHECK_SECONDS;
- **engines without streams** (dynalite): the table is marked "no stream" and
  the caches use their TTLs for it.

The first time a shard is read without a known position (a fresh reader, or
one taking over from a dead one without a checkpoint) it starts at LATEST and
the table is flushed once the iterators are taken: writes made before that
are then read from DynamoDB, writes after it come through the stream.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import connection
from ..exceptions import DynamoBackendError

logger = logging.getLogger("dynamo_backend.streams")

# Records asked for per GetRecords call (DynamoDB's maximum).
RECORDS_PER_CALL = 1000
# How often a table without a stream, or whose stream failed, is described again.
RECHECK_SECONDS = 30.0
# GetRecords failures in a row after which the iterator is replaced.
ITERATOR_FAILURES = 3

Call = Callable[..., dict]
Deliver = Callable[[list[tuple]], None]


@dataclass
class Shard:
    id: str
    parent: str | None = None
    iterator: str | None = None
    sequence: str | None = None  # the last sequence number delivered
    start: str = "TRIM_HORIZON"  # where to begin without a sequence number
    finished: bool = False  # read to its end (closed), or skipped as history
    failures: int = 0  # GetRecords failures in a row with this iterator


@dataclass
class TableStream:
    table: str
    arn: str | None = None
    state: str = "new"  # "stream", "no stream" or "no table"
    error: str | None = None  # the code of the last poll's failure, if it failed
    shards: dict[str, Shard] = field(default_factory=dict)
    described: float = float("-inf")  # time.monotonic() of the last DescribeTable
    refresh: bool = True  # DescribeStream due (start, a shard finished)
    flush_due: bool = False  # flush once this poll has taken its iterators

    def ready(self) -> list[Shard]:
        """Shards to read now: not finished, and their parent (if still listed) finished."""
        return [
            shard
            for shard in self.shards.values()
            if not shard.finished
            and (shard.parent is None or shard.parent not in self.shards or self.shards[shard.parent].finished)
        ]


def _code(error: DynamoBackendError) -> str:
    return error.code or type(error).__name__


class StreamReader:
    """Poll every table's stream and deliver its changes (see the module docstring)."""

    def __init__(
        self,
        tables: Iterable[str],
        deliver: Deliver,
        *,
        call: Call | None = None,
        describe_table: Call | None = None,
        checkpoint: dict | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.streams = {name: TableStream(name) for name in tables}
        self.deliver = deliver
        self.call = call or connection.streams_call
        self.describe_table = describe_table or (lambda **kw: connection.call("DescribeTable", **kw))
        self.checkpoint = checkpoint or {}
        self.clock = clock
        self.monotonic = monotonic
        self.watermark: float | None = None  # wall-clock start of the last poll that drained every shard
        self.record_age: float | None = None  # age of the newest record at its last delivery, seconds
        self.counters: Counter[str] = Counter()

    # --- one poll -------------------------------------------------------------------

    def poll(self) -> bool:
        """Read every ready shard once; return whether every shard was drained (nothing left waiting)."""
        started = self.clock()
        self.counters["polls"] += 1
        drained = True
        for stream in self.streams.values():
            try:
                drained = self._poll_table(stream) and drained
                stream.error = None
            except DynamoBackendError as error:
                self.counters["errors"] += 1
                stream.error = _code(error)
                drained = False
                logger.warning("stream of %s: %s", stream.table, error)
        if drained:
            self.watermark = started
        return drained

    def _poll_table(self, stream: TableStream) -> bool:
        if self.monotonic() - stream.described >= RECHECK_SECONDS:
            had = stream.arn  # the stream may have appeared, gone, or been replaced
            if self._describe_table(stream) is None:
                return had is None  # no stream: the table's caches rely on their TTLs
        elif stream.arn is None:
            return True
        try:
            return self._read_table(stream)
        except DynamoBackendError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            self._lost(stream, "no stream")
            return False

    def _read_table(self, stream: TableStream) -> bool:
        if stream.refresh:
            self._describe_stream(stream)
        drained = True
        for shard in stream.ready():
            drained = self._read_shard(stream, shard) and drained
        if stream.flush_due:
            stream.flush_due = False
            self._flush(stream)
        return drained

    def _describe_table(self, stream: TableStream) -> str | None:
        """Describe the table; return its stream's ARN, None when it has none now."""
        stream.described = self.monotonic()
        try:
            table = self.describe_table(TableName=stream.table)["Table"]
        except DynamoBackendError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            self._lost(stream, "no table")
            return None
        enabled = table.get("StreamSpecification", {}).get("StreamEnabled")
        arn = table.get("LatestStreamArn") if enabled else None
        if arn is None:
            if stream.arn is not None:
                self._lost(stream, "no stream")
            stream.state = "no stream"
            return None
        if stream.arn not in (None, arn):
            self._lost(stream, "stream")  # a new stream: nothing of the old one applies
        if stream.arn != arn:
            stream.arn, stream.refresh = arn, True
        stream.state = "stream"
        return arn

    def _lost(self, stream: TableStream, state: str) -> None:
        """The stream went away or was replaced: forget its shards and flush the table."""
        had = stream.arn is not None
        stream.arn, stream.shards, stream.state, stream.refresh = None, {}, state, True
        if had:
            self._flush(stream)

    def _describe_stream(self, stream: TableStream) -> None:
        fresh = not stream.shards
        known = self.checkpoint.get(stream.table) or {}
        positions = known.get("shards", {}) if known.get("arn") == stream.arn else {}
        listed: dict[str, dict] = {}
        params: dict[str, Any] = {"StreamArn": stream.arn}
        while True:
            description = self.call("DescribeStream", **params)["StreamDescription"]
            for shard in description.get("Shards", []):
                listed[shard["ShardId"]] = shard
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            params["ExclusiveStartShardId"] = last
        for shard_id, raw in listed.items():
            if shard_id in stream.shards:
                continue
            shard = Shard(shard_id, raw.get("ParentShardId"))
            closed = "EndingSequenceNumber" in raw.get("SequenceNumberRange", {})
            position = positions.get(shard_id)
            if position == "done":
                shard.finished = True
            elif position:
                shard.sequence = position
            elif fresh and not (positions and shard.parent in listed):
                # History before this reader: closed shards are skipped, open ones read from now on,
                # and the table flushed once their iterators are taken. (A child of a shard the
                # checkpoint knows is read from its start instead: nothing of it was delivered.)
                shard.finished, shard.start = closed, "LATEST"
                stream.flush_due = stream.flush_due or not closed
            stream.shards[shard_id] = shard
        # Shards trimmed from the stream (older than 24 h) are forgotten.
        for shard_id in [s for s in stream.shards if s not in listed]:
            del stream.shards[shard_id]
        stream.refresh = False
        self.counters["describes"] += 1

    def _iterator(self, stream: TableStream, shard: Shard) -> str | None:
        params = {"StreamArn": stream.arn, "ShardId": shard.id}
        if shard.sequence is not None:
            params.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard.sequence)
        else:
            params["ShardIteratorType"] = shard.start
        try:
            return self.call("GetShardIterator", **params).get("ShardIterator")
        except DynamoBackendError as error:
            if _code(error) != "TrimmedDataAccessException":
                raise
            return self._restart(stream, shard)

    def _restart(self, stream: TableStream, shard: Shard) -> str | None:
        """The position is gone (trimmed, or an expired iterator without one): flush and read from LATEST."""
        self.counters["restarts"] += 1
        shard.sequence, shard.start = None, "LATEST"
        stream.flush_due = True
        params = {"StreamArn": stream.arn, "ShardId": shard.id, "ShardIteratorType": "LATEST"}
        return self.call("GetShardIterator", **params).get("ShardIterator")

    def _read_shard(self, stream: TableStream, shard: Shard) -> bool:
        if shard.iterator is None:
            shard.iterator = self._iterator(stream, shard)
            if shard.iterator is None:
                return self._finish(stream, shard)
        try:
            response = self.call("GetRecords", ShardIterator=shard.iterator, Limit=RECORDS_PER_CALL)
        except DynamoBackendError as error:
            code = _code(error)
            if code == "ExpiredIteratorException":
                self.counters["expired"] += 1
                # After the last record delivered, or (none yet) a restart: read again next poll.
                shard.iterator = None if shard.sequence is not None else self._restart(stream, shard)
                return False
            if code == "TrimmedDataAccessException":
                self.counters["trimmed"] += 1
                shard.iterator = self._restart(stream, shard)
                return False
            shard.failures += 1
            if shard.failures >= ITERATOR_FAILURES:
                # The iterator itself may be what fails: take a new one (after the last record, or restart).
                shard.failures, shard.iterator = 0, None if shard.sequence is not None else self._restart(stream, shard)
            raise  # otherwise the iterator stays good: the next poll tries it again
        self.counters["reads"] += 1
        shard.failures = 0
        records = response.get("Records", [])
        if records:
            self._deliver(stream, shard, records)
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            return self._finish(stream, shard)
        return len(records) < RECORDS_PER_CALL

    def _finish(self, stream: TableStream, shard: Shard) -> bool:
        """A closed shard read to its end: its children are next (DescribeStream lists them)."""
        shard.finished, stream.refresh = True, True
        self.counters["shards_finished"] += 1
        return False

    def _deliver(self, stream: TableStream, shard: Shard, records: list[dict]) -> None:
        messages: list[tuple] = []
        for record in records:
            body = record.get("dynamodb", {})
            keys = body.get("Keys", {})
            pk = keys.get("pk", {}).get("S")
            if pk is None:
                continue
            old, new = body.get("OldImage"), body.get("NewImage")
            event = record.get("eventName")
            images = (old is not None or event == "INSERT") and (new is not None or event == "REMOVE")
            messages.append(("c", stream.table, pk, old, new, images))
        shard.sequence = records[-1].get("dynamodb", {}).get("SequenceNumber", shard.sequence)
        created = records[-1].get("dynamodb", {}).get("ApproximateCreationDateTime")
        if created is not None:
            stamp = created.timestamp() if hasattr(created, "timestamp") else float(created)
            self.record_age = max(0.0, self.clock() - stamp)
        self.counters["records"] += len(records)
        self.deliver(messages)

    def _flush(self, stream: TableStream) -> None:
        self.counters["flushes"] += 1
        self.deliver([("f", stream.table)])

    # --- what the host shares -------------------------------------------------------

    def positions(self) -> dict:
        """Return a checkpoint: each table's stream and the last sequence number read of each shard."""
        out: dict[str, dict] = {}
        for stream in self.streams.values():
            if stream.arn is None:
                continue
            shards = {s.id: "done" if s.finished else s.sequence for s in stream.shards.values()}
            out[stream.table] = {"arn": stream.arn, "shards": {k: v for k, v in shards.items() if v}}
        return out

    def tables(self) -> dict[str, str]:
        """Return each table's state: "stream", "no stream", "no table" or the code of its last failure."""
        return {name: stream.error or stream.state for name, stream in self.streams.items()}
