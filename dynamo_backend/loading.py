"""The read path: identity map -> item cache -> DynamoDB, and write-through after writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import batch, cache, connection


def _ttl(model: Any) -> float:
    return model._meta.effective_cache_ttl()


def write_mark() -> int:
    """Return the item cache's sequence mark; take it before a write, pass it to remember()."""
    return cache.item_cache.mark()


def remember(model: Any, raw: dict, *, since: int | None = None, replace: bool = True, write: bool = False) -> None:
    """Record an item in the identity map and the item cache.

    Query/Scan results pass ``since`` (a mark taken before the read) so a write
    that happened meanwhile wins, and GSI reads pass ``replace=False`` because
    they are eventually consistent and must not displace a known value.
    Writes pass ``write=True`` and the mark taken before the write: if another
    write to the key landed meanwhile, their order is unknown and nothing is cached.
    """
    table = model._meta.table_name
    pk = model._meta.pk_of(raw)
    cache.identity_put(table, pk, raw)
    ttl = _ttl(model)
    if ttl:
        cache.item_cache.put(table, pk, raw, ttl, since=since, replace=replace, write=write)


def forget(model: Any, pk: str, *, deleted: bool = False) -> None:
    """Drop a pk from the caches (``deleted``: remember it as missing in this scope)."""
    table = model._meta.table_name
    cache.item_cache.discard(table, pk)
    if deleted:
        cache.identity_put(table, pk, None)
    else:
        cache.identity_discard(table, pk)


def table_written(model: Any, *changes: cache.Change) -> None:
    """Drop this process's cached queries on the model's table that the writes can change.

    Each change says what one write did (``cache.Change.created(item)``,
    ``.modified(item, names)``, ``.deleted(old)``); with none, every cached
    query of the table is dropped.
    """
    cache.query_cache.invalidate(model._meta.table_name, *changes)


def _cached(model: Any, table: str, pk: str) -> Any:
    """Return a raw item, cache.MISSING, or None when the caches cannot answer."""
    raw = cache.identity_get(table, pk)
    if raw is not None:
        return raw
    ttl = _ttl(model)
    if not ttl:
        return None
    hit = cache.item_cache.get(table, pk, ttl)
    if hit is None:
        return None
    if hit is not cache.MISSING:
        cache.identity_put(table, pk, hit)
    return hit


def load_one(model: Any, pk: str, *, consistent: bool = False, cached: bool | None = None) -> dict | None:
    """Return the raw item for pk (None when absent or expired), asking DynamoDB at most once."""
    raw = _load_one(model, pk, consistent=consistent, cached=cached)
    return None if raw is not None and model._meta.expired(raw) else raw


def _load_one(model: Any, pk: str, *, consistent: bool = False, cached: bool | None = None) -> dict | None:
    """Return the raw item for pk (None when absent), asking DynamoDB at most once.

    ``cached`` (default: not consistent) lets the identity map and item cache answer.
    """
    table = model._meta.table_name
    if cached is None:
        cached = not consistent
    if cached:
        hit = _cached(model, table, pk)
        if hit is cache.MISSING:
            return None
        if hit is not None:
            return hit
    params: dict = {"TableName": table, "Key": model._meta.key(pk)}
    if consistent:
        params["ConsistentRead"] = True
    item = connection.call("GetItem", **params).get("Item")
    if item is None:
        cache.identity_put(table, pk, None)
        if _ttl(model):
            cache.item_cache.put_missing(table, pk)
        return None
    remember(model, item)
    return item


def load_many(
    model: Any, pks: Iterable[str], *, consistent: bool = False, cached: bool | None = None
) -> dict[str, dict]:
    """Return {pk: raw item} for the pks that exist and have not expired; one BatchGetItem per 100 uncached keys."""
    found = _load_many(model, pks, consistent=consistent, cached=cached)
    if model._meta.ttl_field is None:
        return found
    return {pk: raw for pk, raw in found.items() if not model._meta.expired(raw)}


def _load_many(
    model: Any, pks: Iterable[str], *, consistent: bool = False, cached: bool | None = None
) -> dict[str, dict]:
    """Return {pk: raw item} for the pks that exist; one BatchGetItem per 100 uncached keys."""
    table = model._meta.table_name
    if cached is None:
        cached = not consistent
    found: dict[str, dict] = {}
    wanted: list[str] = []
    seen: set[str] = set()
    for pk in pks:
        if pk in seen:
            continue
        seen.add(pk)
        if cached:
            hit = _cached(model, table, pk)
            if hit is cache.MISSING:
                continue
            if hit is not None:
                found[pk] = hit
                continue
        wanted.append(pk)
    if wanted:
        meta = model._meta
        keys = {pk: meta.key(pk) for pk in wanted}
        fetched = batch.batch_get(table, keys.values(), consistent_read=consistent, key_names=meta.keys.names)
        ttl = _ttl(model)
        for pk in wanted:
            item = fetched.get(batch.key_id(keys[pk]))
            if item is None:
                cache.identity_put(table, pk, None)
                if ttl:
                    cache.item_cache.put_missing(table, pk)
            else:
                remember(model, item)
                found[pk] = item
    return found
