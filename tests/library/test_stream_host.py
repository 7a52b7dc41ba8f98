"""The host's fan-out, without an engine: datagrams, the flush a receiver that missed messages gets first."""

from __future__ import annotations

import marshal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamo_backend import cache, stats
from dynamo_backend.cache.dependencies import Dependency
from dynamo_backend.streams import host

TABLE = "blog_author"


@pytest.fixture
def directory() -> Iterator[Path]:
    # Short: a Unix socket's path is limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="ddb-", dir="/tmp") as name:
        yield Path(name)


def receiver(directory: Path, name: str, buffer: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    sock.bind(str(directory / f"{name}.sock"))
    sock.settimeout(1)
    return sock


def received(sock: socket.socket) -> list[tuple]:
    sock.setblocking(False)
    out: list[tuple] = []
    try:
        while True:
            out += marshal.loads(sock.recv(1 << 20))
    except BlockingIOError:
        return out


def change(pk: str, size: int = 10) -> tuple:
    image = {"pk": {"S": pk}, "bio": {"S": "x" * size}}
    return ("c", TABLE, pk, image, image, True)


def test_messages_are_packed_into_bounded_datagrams_and_a_huge_change_loses_its_images():
    datagrams = host._encode([change(str(i), 1000) for i in range(200)] + [change("big", 100_000)])
    assert len(datagrams) > 1 and all(len(d) <= host.MAX_DATAGRAM + 1024 for d in datagrams)
    messages = [m for d in datagrams for m in marshal.loads(d)]
    assert len(messages) == 201
    assert messages[-1] == ("c", TABLE, "big", None, None, False)


def test_a_change_without_images_drops_the_item_and_the_tables_queries():
    cache.reset()
    cache.item_cache.put(TABLE, "a", {"pk": {"S": "a"}})
    cache.query_cache.put(TABLE, "all", ("a",))
    host.apply([("c", TABLE, "a", None, None, False)], stats.StreamStatus())
    assert cache.item_cache.get(TABLE, "a") is None
    assert cache.query_cache.get(TABLE, "all") is None


def test_a_heartbeat_makes_the_tables_streamed_until_it_goes_stale():
    status = stats.StreamStatus()
    beat = {"pid": 1, "watermark": 0.0, "tables": {TABLE: "stream"}, "reader": {}, "stale_after": 5.0}
    host.apply([("b", beat)], status)
    assert status.live() and status.as_dict()["mode"] == "streams"
    status.heard = (status.heard or 0) - 6
    assert not status.live() and status.lag() is None


def test_the_broadcast_skips_a_receiver_that_is_gone_and_flushes_one_that_missed_messages(directory):
    sender = host.Host(directory, name="reader", interval=1.0)
    try:
        alive = receiver(directory, "alive")
        full = receiver(directory, "full", buffer=1)
        gone = receiver(directory, "gone")
        gone.close()  # its process died: the socket file stays behind
        for _ in range(50):
            sender.broadcast([change("a", 2000)])
            if sender._missed:
                break
        assert not (directory / "gone.sock").exists()
        assert received(alive)
        assert str(directory / "full.sock") in sender._missed
        while received(full):
            pass
        sender.broadcast([change("b")])
        assert received(full)[0] == ("f", None)  # before anything else
    finally:
        sender.stop()


def author(bio: str) -> dict:
    return {"pk": {"S": "a"}, "bio": {"S": bio}}


def test_an_item_cached_after_the_batchs_last_write_stays_cached():
    # Created, then changed (a post's count on its author), then read by this process: the
    # creation's record no longer matches what is cached, the batch's net change does.
    cache.reset()
    cache.item_cache.put(TABLE, "a", author("two"))
    host.apply(
        [("c", TABLE, "a", None, author("one"), True), ("c", TABLE, "a", author("one"), author("two"), True)],
        stats.StreamStatus(),
    )
    assert cache.item_cache.get(TABLE, "a") == author("two")


def test_a_batch_moves_an_item_from_its_first_old_image_to_its_last_new_one():
    cache.reset()
    cache.item_cache.put(TABLE, "a", author("zero"))
    records = [("c", TABLE, "a", author(old), author(new), True) for old, new in [("zero", "one"), ("one", "two")]]
    host.apply(records, stats.StreamStatus())
    assert cache.item_cache.get(TABLE, "a") == author("two")


def test_records_in_separate_batches_drop_an_item_they_cannot_place():
    cache.reset()
    cache.item_cache.put(TABLE, "a", author("two"))
    host.apply([("c", TABLE, "a", None, author("one"), True)], stats.StreamStatus())
    assert cache.item_cache.get(TABLE, "a") is None  # an older state, or a newer one: the cache cannot tell


def test_every_record_of_a_batch_drops_the_queries_it_affects_even_when_the_item_ends_as_it_began():
    cache.reset()
    cache.query_cache.put(TABLE, "by bio", ("a",), Dependency(frozenset({"bio"})))
    cache.query_cache.put(TABLE, "by name", ("a",), Dependency(frozenset({"name"})))
    records = [("c", TABLE, "a", author(old), author(new), True) for old, new in [("zero", "one"), ("one", "zero")]]
    host.apply(records, stats.StreamStatus())
    assert cache.query_cache.get(TABLE, "by bio") is None  # a query read in between saw bio "one"
    assert cache.query_cache.get(TABLE, "by name") == ("a",)


def test_a_flush_between_changes_keeps_their_order():
    cache.reset()
    cache.item_cache.put(TABLE, "a", author("zero"))
    host.apply(
        [
            ("c", TABLE, "a", author("zero"), author("one"), True),
            ("f", TABLE),
            ("c", TABLE, "a", author("one"), author("two"), True),
        ],
        stats.StreamStatus(),
    )
    assert cache.item_cache.get(TABLE, "a") is None  # flushed, then a change to an item no longer cached
