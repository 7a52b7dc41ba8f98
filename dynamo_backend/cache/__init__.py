"""The read path's caches: a per-request identity map, a TTL item cache, a query cache.

- Identity map (identity.py): a contextvar-held dict ``(table, pk) -> raw item | MISSING``,
  open for a request (the middleware) or a ``with scope():`` block.
- Item cache (items.py): process-wide, thread-safe, bounded by CACHE_MAXSIZE, each entry
  with its own TTL (models may set ``Meta.cache_ttl``); misses are remembered
  NEGATIVE_CACHE_TTL seconds.
- Query cache (queries.py): ``(table, generation, key) -> value``; a write to a table bumps
  its generation, so the table's cached results become unreachable at once.

Everything stored is plain data frozen on the way in (frozen.py: FrozenDict /
FrozenList refuse changes), so entries are handed out without copying and no
mutable object is ever shared between threads or requests; model instances
are always built fresh from them.
"""

from __future__ import annotations

import time

from .frozen import MISSING, FrozenDict, FrozenList, freeze, thaw
from .identity import identity_clear, identity_discard, identity_get, identity_put, in_scope, scope
from .items import ItemCache
from .queries import QueryCache
from .store import Timer

__all__ = [
    "MISSING",
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
