"""One BatchGetItem for keys of several tables: model items land in the read path's caches.

BatchGetItem reads up to 100 keys from any number of tables in one call. The
read path (loading.py) batches per table; this module folds reads of different
tables into the same call, so a page that needs its references *and* the
shards of its counters (counters.py) pays one round trip, not two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import cache, connection, loading
from .batch import GET_CHUNK, RetryPolicy, chunked
from .exceptions import BatchGetError

__all__ = ["batch_get_tables", "load_with"]


def _key_text(key: dict) -> tuple:
    return tuple(sorted((name, tuple(sorted(av.items()))) for name, av in key.items()))


def batch_get_tables(requests: Mapping[str, list[dict]], *, policy: RetryPolicy | None = None) -> dict[str, list[dict]]:
    """Return {table: [raw items found]} for {table: [keys]}; 100 keys a call, UnprocessedKeys retried.

    Keys repeated within a table are read once. Attempts exhausted raise
    BatchGetError whose ``unprocessed`` lists (table, key) pairs.
    """
    pairs: list[tuple[str, dict]] = []
    for table, keys in requests.items():
        seen: set[tuple] = set()
        for key in keys:
            text = _key_text(key)
            if text not in seen:
                seen.add(text)
                pairs.append((table, key))
    found: dict[str, list[dict]] = {table: [] for table in requests}
    if not pairs:
        return found
    policy = policy or RetryPolicy.from_settings()
    chunks = list(chunked(pairs, GET_CHUNK))
    for index, chunk in enumerate(chunks):
        pending: dict[str, dict] = {}
        for table, key in chunk:
            pending.setdefault(table, {"Keys": []})["Keys"].append(key)
        for attempt in range(policy.max_attempts):
            if attempt:
                policy.sleep(policy.delay(attempt - 1))
            response = connection.call("BatchGetItem", RequestItems=pending)
            for table, items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            pending = {t: {"Keys": r["Keys"]} for t, r in (response.get("UnprocessedKeys") or {}).items() if r}
            if not pending:
                break
        else:
            leftover = [(t, key) for t, r in pending.items() for key in r["Keys"]]
            leftover += [pair for later in chunks[index + 1 :] for pair in later]
            raise BatchGetError(
                f"BatchGetItem on {', '.join(requests)}: {len(leftover)} of {len(pairs)} key(s) "
                f"left unprocessed after {policy.max_attempts} attempt(s)",
                unprocessed=leftover,
            )
    return found


def _uncached(model: Any, pks: Iterable[Any]) -> list[Any]:
    """Return the pks neither the identity map nor the item cache can answer (MISSING answers too)."""
    table = model._meta.table_name
    ttl = model._meta.effective_cache_ttl()
    wanted = []
    for pk in dict.fromkeys(pk for pk in pks if pk is not None):
        if cache.identity_get(table, pk) is not None:
            continue
        if ttl and cache.item_cache.get(table, pk, ttl) is not None:
            continue
        wanted.append(pk)
    return wanted


def load_with(models: Mapping[Any, Iterable[Any]], extra: Mapping[str, list[dict]]) -> dict[str, list[dict]]:
    """Read the uncached items of ``models`` ({Model: pks}) and the raw ``extra`` keys in one BatchGetItem.

    Model items are remembered in the identity map and the item cache (misses
    as misses), so a following ``in_bulk``, ``get`` or ``obj.<relation>``
    costs no call. Returns {table: raw items read} for every table asked
    (a model's cached items were not read, so they are not in it).
    """
    requests: dict[str, list[dict]] = {table: list(keys) for table, keys in extra.items() if keys}
    wanted: dict[Any, list[Any]] = {}
    for model, pks in models.items():
        missing = _uncached(model, pks)
        if missing:
            wanted[model] = missing
            requests.setdefault(model._meta.table_name, []).extend(model._meta.key(pk) for pk in missing)
    if not requests:
        return {}
    mark = cache.item_cache.mark()
    found = batch_get_tables(requests)
    for model, pks in wanted.items():
        meta = model._meta
        items = {meta.pk_of(raw): raw for raw in found.get(meta.table_name, ())}
        for pk in pks:
            raw = items.get(pk)
            if raw is None or meta.expired(raw):
                cache.identity_put(meta.table_name, pk, None)
                if meta.effective_cache_ttl():
                    cache.item_cache.put_missing(meta.table_name, pk, since=mark)
            else:
                loading.remember(model, raw, since=mark)
    return found
