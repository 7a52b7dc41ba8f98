"""The read path's caches: a per-request identity map, a TTL item cache, a query cache.

- Identity map (identity.py): a contextvar-held dict ``(table, pk) -> raw item | MISSING``,
  open for a request (the middleware) or a ``with scope():`` block.
- Item cache (items.py): process-wide, thread-safe, bounded by CACHE_MAXSIZE, each entry
  with its own TTL (models may set ``Meta.cache_ttl``); misses are remembered
  NEGATIVE_CACHE_TTL seconds.
- Query cache (queries.py): ``(table, key) -> keys of the result``, each entry with the
  attributes its query reads (dependencies.py); a write drops only the entries it can change.
- Writes made by other processes arrive through :func:`apply_change` (the stream reader).

Everything stored is plain data frozen on the way in (frozen.py: FrozenDict /
FrozenList refuse changes), so entries are handed out without copying and no
mutable object is ever shared between threads or requests; model instances
are always built fresh from them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from .dependencies import UNKNOWN, Change, Dependency, affects
from .frozen import MISSING, FrozenDict, FrozenList, freeze, thaw
from .identity import identity_clear, identity_discard, identity_get, identity_put, in_scope, scope
from .items import ItemCache
from .queries import QueryCache
from .store import Timer

__all__ = [
    "MISSING",
    "UNKNOWN",
    "Change",
    "Dependency",
    "affects",
    "apply_change",
    "apply_changes",
    "flush",
    "FrozenDict",
    "FrozenList",
    "ItemCache",
    "QueryCache",
    "configure",
    "freeze",
    "identity_discard",
    "identity_get",
    "identity_put",
    "in_scope",
    "item_cache",
    "query_cache",
    "reset",
    "scope",
    "thaw",
]

item_cache = ItemCache()
query_cache = QueryCache()


def configure(timer: Timer | None = None) -> None:
    """Rebuild both caches, optionally with an injected clock (tests)."""
    for cache in (item_cache, query_cache):
        cache._rebuild(timer=timer or time.monotonic)


def reset() -> None:
    """Clear both caches and this context's identity map; re-read settings at next use."""
    item_cache.clear()
    query_cache.clear()
    identity_clear()


def apply_change(table: str, pk: str, old: Mapping | None, new: Mapping | None, *, images: bool = True) -> int:
    """Apply another process's write to this process's caches; return how many cached queries it dropped.

    ``images`` False: the images were left out (the record was too large to
    pass on whole), so the item and every cached query of the table are dropped.
    """
    item_cache.changed(table, pk, old, new, images=images)
    return query_cache.invalidate(table, Change.from_images(old, new) if images else UNKNOWN)


def apply_changes(changes: list[tuple[str, str, Mapping | None, Mapping | None, bool]]) -> int:
    """Apply a batch of another process's writes, in order; return how many cached queries they dropped.

    Each change drops the cached queries it can affect, one by one. Items see
    one change per key, from the first record's old image to the last one's
    new image through every state between: an item cached in any of those
    states becomes the last, so one this process cached after the batch's
    last write (its own, or a read a moment later) is kept rather than dropped
    by an earlier record whose image it no longer matches.
    """
    dropped = 0
    chains: dict[tuple[str, str], list] = {}  # (table, pk) -> [old, new, new, ...]
    without_images: set[tuple[str, str]] = set()
    for table, pk, old, new, images in changes:
        dropped += query_cache.invalidate(table, Change.from_images(old, new) if images else UNKNOWN)
        chains.setdefault((table, pk), [old]).append(new)
        if not images:
            without_images.add((table, pk))
    for (table, pk), states in chains.items():
        images = (table, pk) not in without_images
        item_cache.changed(table, pk, states[0], states[-1], images=images, between=tuple(states[1:-1]))
    return dropped


def flush(table: str | None = None) -> None:
    """Drop everything cached for a table (every table when None): changes to it may have been missed."""
    item_cache.flush(table)
    query_cache.flush(table)
