"""Write-sharded index keys and the merged read across their partitions.

A GSI partition takes about 1,000 write units and 3,000 read units a second.
An index whose partition key is one constant (``feed = "post"``, sorted by
``created_at``: "every post, newest first") puts every item into one partition.
A :class:`ShardKeyField` stores ``"<prefix>#<n>"`` instead, n in 0..shards-1
fixed at create from a hash of the primary key, so the index's items spread
over ``shards`` partitions. ``queryset.across_shards("feed")`` reads them back
as one list: it queries each shard partition in the QuerySet's order and
merges the answers (ties on the sort key: lower shard first, then DynamoDB's
order within a shard), and its page key holds every shard's position.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections import deque
from collections.abc import Iterator
from typing import Any

from .exceptions import FieldError
from .execution import Page
from .fields import CharField
from .relations import attach_related

__all__ = ["MergedQuery", "ShardKeyField"]


class ShardKeyField(CharField):
    """The partition key of a write-sharded index: ``"<prefix>#<n>"``, n = hash(pk) % shards.

    Set when the item is written (a value that is not one of the shard values,
    None included, is replaced by the item's own), so ``obj.feed = None;
    obj.save()`` re-stamps an item written before the field was sharded.
    Only ever raise ``shards``: items keep the value they were written with,
    and a read asks the partitions 0..shards-1.
    """

    def __init__(self, *, shards: int, prefix: str | None = None, **kwargs: Any) -> None:
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise ValueError(f"shards must be a positive integer, got {shards!r}")
        if prefix is not None and (not prefix or "#" in prefix):
            raise ValueError(f"prefix must be a non-empty string without '#', got {prefix!r}")
        kwargs.setdefault("nullable", False)
        super().__init__(**kwargs)
        self.shards = shards
        self.prefix = prefix

    def contribute_to_class(self, cls: Any, name: str) -> None:
        super().contribute_to_class(cls, name)
        if self.prefix is None:
            self.prefix = cls._meta.model_name

    def values(self) -> list[str]:
        """Return every shard value, in shard order."""
        return [f"{self.prefix}#{n}" for n in range(self.shards)]

    def value_for(self, pk: Any) -> str:
        """Return the shard value of the item with primary key ``pk`` (stable across processes)."""
        return f"{self.prefix}#{zlib.crc32(str(pk).encode('utf-8')) % self.shards}"

    def pre_save(self, instance: Any, add: bool) -> Any:
        value = getattr(instance, self.name)
        if value not in self.values() and instance.pk is not None:
            value = self.value_for(instance.pk)
            setattr(instance, self.name, value)
        return value


class _Desc:
    """A sort key in reverse: heapq pops the largest value first."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.value == other.value)


class _Shard:
    """One shard partition read lazily, ``chunk`` items a Query, from a position."""

    def __init__(self, queryset: Any, value: str, start: dict | None, chunk: int) -> None:
        self.queryset = queryset
        self.value = value
        self.position = start  # the key of the last item handed out (None: from the start)
        self.next_key = start
        self.buffer: deque = deque()
        self.started = False
        self.chunk = chunk
        self.head: Any = None  # pulled into the merge, not handed out yet

    @property
    def finished(self) -> bool:
        """Return whether everything read was handed out and DynamoDB said there is no more."""
        return self.head is None and self.started and not self.buffer and not self.next_key

    def pull(self) -> Any:
        """Return the next item of this partition, or None at its end (a Query when the buffer is empty)."""
        while not self.buffer:
            if self.started and not self.next_key:
                return None
            page = self.queryset.paginate(self.chunk, start_key=self.next_key)
            self.started = True
            self.buffer.extend(page.items)
            self.next_key = page.next_key
        return self.buffer.popleft()


class MergedQuery:
    """A QuerySet read from every partition of a ShardKeyField's index, merged in the QuerySet's order.

    Made by ``queryset.across_shards(field)``; the QuerySet's ordering must be
    the sort key of an index whose partition key is that field (so each shard
    is one ordered Query). ``paginate(limit, start_key)`` and iteration work as
    on the QuerySet; values()/values_list() and prefetch() are applied once to
    the merged result.
    """

    def __init__(self, queryset: Any, field_name: str) -> None:
        model = queryset.model
        field = model._meta.fields.get(field_name)
        if not isinstance(field, ShardKeyField):
            raise FieldError(f"across_shards({field_name!r}): {model.__name__}.{field_name} is not a ShardKeyField")
        ordering = queryset.ordering
        if len(ordering) != 1:
            raise FieldError(
                f"across_shards({field_name!r}) merges on one sort key: order_by() the sort key of an index "
                f"on {field_name}, got {ordering or 'no ordering'}"
            )
        if queryset._low or queryset._high is not None:
            raise TypeError("Cannot merge shards once a slice has been taken; paginate() instead.")
        self.queryset = queryset
        self.field = field
        self.sort_key = ordering[0].lstrip("-")
        self.descending = ordering[0].startswith("-")
        plain = queryset._clone()
        plain._prefetch, plain._values, plain._values_mode, plain._distinct = [], None, None, False
        self._shards = [plain.filter(**{field_name: value}) for value in field.values()]

    def explain(self) -> dict:
        """Return the plan of each shard's Query."""
        return {"field": self.field.name, "shards": [qs.explain() for qs in self._shards]}

    def _key(self, obj: Any) -> Any:
        value = obj.__dict__.get(self.sort_key)
        return _Desc(value) if self.descending else value

    def _position(self, obj: Any) -> dict:
        """Return the ExclusiveStartKey that resumes a shard's Query after ``obj``."""
        meta = obj._meta
        raw = obj._state.stored
        key = dict(meta.key(meta.pk_of(raw)))
        key[self.field.name] = {"S": obj.__dict__[self.field.name]}
        key[self.sort_key] = raw[self.sort_key]
        return key

    def _open(self, start_key: dict | None, chunk: int) -> list[_Shard]:
        after, done = _parse(start_key, self.field.values())
        return [
            _Shard(qs, value, after.get(value), chunk)
            for qs, value in zip(self._shards, self.field.values(), strict=True)
            if value not in done
        ]

    def _merge(self, shards: list[_Shard], limit: int | None) -> list:
        heap: list[tuple] = []
        for index, shard in enumerate(shards):
            self._push(heap, index, shard)
        out: list = []
        while heap and (limit is None or len(out) < limit):
            _key, index, obj = heapq.heappop(heap)
            shard = shards[index]
            shard.head, shard.position = None, self._position(obj)
            out.append(obj)
            if limit is None or len(out) < limit:
                self._push(heap, index, shard)
        return out

    def _push(self, heap: list, index: int, shard: _Shard) -> None:
        # One head per shard in the heap, so (key, shard) never ties and items are never compared.
        shard.head = shard.pull()
        if shard.head is not None:
            heapq.heappush(heap, (self._key(shard.head), index, shard.head))

    def paginate(self, limit: int, start_key: dict | None = None) -> Page:
        """Return the first ``limit`` items after ``start_key`` across all shards, and the key to continue."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        shards = self._open(start_key, min(limit, math.ceil(2 * limit / self.field.shards)))
        objs = self._merge(shards, limit)
        return Page(self._finish(objs), self._next_key(shards))

    def _next_key(self, shards: list[_Shard]) -> dict | None:
        opened = {shard.value for shard in shards}
        done = [value for value in self.field.values() if value not in opened]
        after = {}
        for shard in shards:
            if shard.finished:
                done.append(shard.value)
            elif shard.position is not None:
                after[shard.value] = shard.position
        if len(done) == self.field.shards:
            return None
        return {"after": after, "done": sorted(done)}

    def _finish(self, objs: list) -> list:
        if self.queryset._prefetch:
            attach_related(self.queryset.model, objs, self.queryset._prefetch)
        return list(self.queryset._transform(objs))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._finish(self._merge(self._open(None, 100), None)))

    def count(self) -> int:
        """Return the number of matching items over all shards (one Select=COUNT Query per shard)."""
        return sum(qs.count() for qs in self._shards)


def _parse(start_key: dict | None, values: list[str]) -> tuple[dict, set]:
    """Return (positions, finished shards) of a merged page key; refuse anything else."""
    if start_key is None:
        return {}, set()
    after = start_key.get("after") if isinstance(start_key, dict) else None
    done = start_key.get("done") if isinstance(start_key, dict) else None
    if not isinstance(after, dict) or not isinstance(done, list) or not set(after) | set(done) <= set(values):
        raise ValueError("start_key is not a page key of this merged query")
    if not all(isinstance(key, dict) for key in after.values()):
        raise ValueError("start_key is not a page key of this merged query")
    return after, set(done)
