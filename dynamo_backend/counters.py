"""Sharded counters: one count spread over several items, so no single item takes every write.

One DynamoDB partition accepts about 1,000 write units a second, and one item
always lives in one partition: a counter kept on one item (``F("n") + 1``)
tops out there, however the table scales. A :class:`ShardedCounter` keeps
``shards`` items per counted object in the model's ``<table>__counters``
table, each under a partition key of its own (``<counter>#<pk>#<n>``), so
DynamoDB spreads them over partitions. An increment ``ADD``\\s to one shard
picked at random (one UpdateItem, never retried once sent: a lost answer can
lose a count, never add one twice); a read sums the shards (one BatchGetItem),
and each shard's value is cached in-process for ``QUERY_CACHE_TTL`` seconds
(an increment refreshes its own shard from the UpdateItem's answer).

``base=`` names an IntegerField of the model that counts too (say, the
counts an item had before the counter was sharded). It is also where
:meth:`ShardedCounter.increment_and_get` adds when the caller needs the item
and this process does not have it cached: that UpdateItem returns the item,
so the read rides on the write (what ``update(n=F("n") + 1)`` costs today).
An item is uncached in a process at most once per CACHE_TTL, which bounds
the writes the item itself takes.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db.models import signals

from . import batch, cache, connection, loading, multiget
from .cache import MISSING
from .conf import get_setting
from .exceptions import DynamoBackendError, FieldError
from .expressions import Coalesce, F
from .fields import IntegerField

__all__ = ["ShardedCounter", "counters_of", "counter_table_names", "counter_table_spec"]

logger = logging.getLogger("dynamo_backend")
_registry: dict[Any, list[ShardedCounter]] = {}
_lock = threading.Lock()
_seq = 0


def _next_seq() -> int:
    global _seq
    with _lock:
        _seq += 1
        return _seq


def counters_of(model: Any) -> list[ShardedCounter]:
    """Return the ShardedCounters declared on a model."""
    return list(_registry.get(model, ()))


def counter_table_names(model: Any) -> list[str]:
    """Return the model's counters table (``<table>__counters``) in a list, or [] without counters."""
    return [f"{model._meta.table_name}__counters"] if counters_of(model) else []


def counter_table_spec(name: str) -> dict:
    """Return the CreateTable request of a counters table: hash key ``pk`` (S) only, on-demand."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def _pk_text(pk: Any) -> str:
    return pk if isinstance(pk, str) else json.dumps(pk, sort_keys=True, default=str)


class ShardedCounter:
    """A count per item of a model, spread over ``shards`` items of ``<table>__counters``.

    Declare it on the model (``views = ShardedCounter(shards=4)``); then
    ``Post.views.increment(pk)``, ``Post.views.get(pk)``,
    ``Post.views.get_many(posts)`` and, on an instance, ``post.views``.
    """

    def __init__(self, shards: int = 4, *, base: str | None = None, cache_ttl: float | None = None) -> None:
        if not isinstance(shards, int) or isinstance(shards, bool) or shards < 1:
            raise ValueError(f"shards must be a positive integer, got {shards!r}")
        self.shards = shards
        self.base = base
        self.cache_ttl = cache_ttl  # None: QUERY_CACHE_TTL
        self.model: Any = None
        self.name = ""
        self.choose: Callable[[int], int] = random.randrange  # which shard an increment takes

    def __repr__(self) -> str:
        owner = self.model.__name__ if self.model is not None else "?"
        return f"<ShardedCounter {owner}.{self.name} shards={self.shards}>"

    # -- declaration -----------------------------------------------------------
    def __set_name__(self, owner: Any, name: str) -> None:
        self.model, self.name = owner, name
        _registry.setdefault(owner, []).append(self)
        uid = f"dynamo_backend.counters:{id(self)}"
        signals.post_save.connect(self._saved, sender=owner, weak=False, dispatch_uid=uid)
        signals.post_delete.connect(self._deleted, sender=owner, weak=False, dispatch_uid=uid)

    def _check(self) -> None:
        if self.model is None:
            raise FieldError("A ShardedCounter must be declared on a model class")
        meta = self.model._meta
        if meta.abstract:
            raise FieldError(f"{self!r}: declare ShardedCounters on concrete models, not abstract ones")
        if self.base is not None and not isinstance(meta.fields.get(self.base), IntegerField):
            raise FieldError(f"{self!r}: base={self.base!r} must name an IntegerField of {self.model.__name__}")

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        total = instance.__dict__.get(self._attr)
        if total is None:
            total = self.get_many([instance])[instance.pk]
        return total

    @property
    def _attr(self) -> str:
        return f"_counter_{self.name}"

    @property
    def table_name(self) -> str:
        """Return the counters table's name (TABLE_PREFIX included)."""
        return f"{self.model._meta.table_name}__counters"

    def shard_keys(self, pk: Any) -> list[str]:
        """Return the partition keys of the shards of one item's counter."""
        text = _pk_text(pk)
        return [f"{self.name}#{text}#{n}" for n in range(self.shards)]

    # -- writes ------------------------------------------------------------------
    def increment(self, pk: Any, by: int = 1) -> None:
        """Add ``by`` to one shard picked at random: one UpdateItem, never retried after a lost answer.

        The item itself is not read or checked: incrementing a pk that has no
        item stores a count nobody shows. Raises ServiceUnavailable with
        ``maybe_applied`` when the answer was lost (the count may or may not be in).
        """
        self._check()
        if not isinstance(by, int) or isinstance(by, bool) or by == 0:
            raise ValueError(f"by must be a non-zero integer, got {by!r}")
        key = self.shard_keys(pk)[self.choose(self.shards)]
        response = connection.call(
            "UpdateItem",
            idempotent=False,  # ADD applied twice counts twice: at most once, never at least once
            TableName=self.table_name,
            Key={"pk": {"S": key}},
            UpdateExpression="ADD #n :by",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":by": {"N": str(by)}},
            ReturnValues="UPDATED_NEW",
        )
        self._remember_write(key, int(response["Attributes"]["n"]["N"]), by)

    def increment_and_get(self, pk: Any, by: int = 1) -> Any:
        """Increment the counter of item ``pk`` and return the item; raise DoesNotExist when there is none.

        With ``base`` and the item not cached here, the increment goes to the
        base field with one UpdateItem that also returns the item (no read);
        otherwise the item comes from the caches (or one GetItem) and a random
        shard takes the increment. Either way it is one write, at most once.
        """
        self._check()
        model = self.model
        if self.base is not None and model._meta.effective_cache_ttl() and not self._item_cached(pk):
            if not model.objects.filter(pk=pk).update(**{self.base: Coalesce(F(self.base), 0) + by}):
                raise model.DoesNotExist(f"{model.__name__} matching query does not exist.")
            return model.objects.get(pk=pk)  # the UpdateItem's answer, kept by the write-through
        obj = model.objects.get(pk=pk)
        self.increment(obj.pk, by)
        return obj

    def _item_cached(self, pk: Any) -> bool:
        meta = self.model._meta
        raw = cache.identity_get(meta.table_name, pk)
        if raw is None:
            raw = cache.item_cache.get(meta.table_name, pk, meta.effective_cache_ttl())
        return raw is not None and raw is not MISSING and not meta.expired(raw)

    def clear(self, pk: Any) -> None:
        """Delete the shards of one item's counter (the base field, if any, is the item's own)."""
        self._check()
        keys = self.shard_keys(pk)
        batch.batch_write(self.table_name, delete_pks=keys)
        for key in keys:
            self._put(key, 0)

    def _saved(self, sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
        if created:  # a new pk has no shards yet: its total is its base
            instance.__dict__[self._attr] = self._base_of(instance)

    def _deleted(self, sender: Any, instance: Any, **kwargs: Any) -> None:
        try:
            self.clear(instance.pk)
        except DynamoBackendError as error:  # the item is gone; stray shards are only storage
            logger.warning("%r: the shards of %s were not deleted: %s", self, instance.pk, error)

    # -- reads -------------------------------------------------------------------
    def get(self, item: Any) -> int:
        """Return the count of one item (a pk or an instance): its base plus every shard."""
        pk = item.pk if isinstance(item, self.model) else item
        return self.get_many([item])[pk]

    def get_many(self, items: Iterable[Any], *, also_load: Mapping[Any, Iterable[Any]] | None = None) -> dict:
        """Return {pk: count} for pks or instances, reading what the caches lack in one BatchGetItem.

        Instances keep their count (``obj.<counter>`` then costs nothing) and
        give their own base value. ``also_load`` ({Model: pks}) reads those
        items in the same BatchGetItem into the identity map and item cache, so
        the ``in_bulk``/``prefetch`` that follows costs no call.
        """
        self._check()
        entries: dict[Any, Any] = {}
        for item in items:
            if isinstance(item, self.model):
                entries[item.pk] = item
            else:
                entries.setdefault(item, None)
        values = self._shard_values(entries, also_load or {})
        totals = {}
        for pk, instance in entries.items():
            base = self._base_of(instance) if instance is not None else self._stored_base(pk)
            totals[pk] = base + sum(values[key] for key in self.shard_keys(pk))
            if instance is not None:
                instance.__dict__[self._attr] = totals[pk]
        return totals

    def _shard_values(self, entries: dict, also_load: Mapping[Any, Iterable[Any]]) -> dict[str, int]:
        """Return {shard key: value} for every shard of ``entries``, the uncached ones read in one call."""
        values: dict[str, int] = {}
        missing: list[str] = []
        for pk in entries:
            for key in self.shard_keys(pk):
                hit = self._cached(key)
                if hit is None:
                    missing.append(key)
                else:
                    values[key] = hit
        models: dict[Any, list] = {model: list(pks) for model, pks in also_load.items()}
        if self.base is not None:
            models.setdefault(self.model, []).extend(pk for pk, instance in entries.items() if instance is None)
        mark = _next_seq()
        found = multiget.load_with(models, {self.table_name: [{"pk": {"S": key}} for key in missing]})
        for raw in found.get(self.table_name, ()):
            values[raw["pk"]["S"]] = int(raw["n"]["N"])
        for key in missing:
            values.setdefault(key, 0)  # never incremented
            self._remember_read(key, values[key], mark)
        return values

    def _base_of(self, instance: Any) -> int:
        return (getattr(instance, self.base, None) or 0) if self.base is not None else 0

    def _stored_base(self, pk: Any) -> int:
        if self.base is None:
            return 0
        raw = loading.load_one(self.model, pk)  # just read, or cached: no call
        av = raw.get(self.base) if raw is not None else None
        return int(self.model._meta.fields[self.base].from_dynamo(av)) if av is not None else 0

    # -- the in-process cache of shard values (the query cache's store) -------------
    def _ttl(self) -> float:
        if not self.model._meta.effective_cache_ttl():
            return 0.0
        return float(get_setting("QUERY_CACHE_TTL") if self.cache_ttl is None else self.cache_ttl)

    def _cached(self, key: str) -> int | None:
        if not self._ttl():
            return None
        hit = cache.query_cache.get(self.table_name, ("shard", key))
        return None if hit is None else int(hit[0])

    def _put(self, key: str, value: int) -> None:
        ttl = self._ttl()
        if ttl:
            cache.query_cache.put(self.table_name, ("shard", key), (value, _next_seq()), ttl=ttl)

    def _remember_write(self, key: str, value: int, by: int) -> None:
        """Keep a shard's value from an increment's answer; of two racing answers the later count wins."""
        with _lock_for(key):
            current = self._cached(key)
            if current is not None:
                # Concurrent increments answer in any order: a count only moves the way it is pushed.
                value = max(current, value) if by > 0 else min(current, value)
            self._put(key, value)

    def _remember_read(self, key: str, value: int, mark: int) -> None:
        """Keep a shard's value read by a BatchGetItem begun at ``mark``, unless an increment answered since."""
        if not self._ttl():
            return
        with _lock_for(key):
            hit = cache.query_cache.get(self.table_name, ("shard", key))
            if hit is not None and hit[1] > mark:
                return
            self._put(key, value)


_key_locks = [threading.Lock() for _ in range(64)]


def _lock_for(key: str) -> threading.Lock:
    return _key_locks[hash(key) % len(_key_locks)]
