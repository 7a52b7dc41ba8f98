"""The read path's caches: a per-request identity map, a TTL item cache, a query cache.

- Identity map: a contextvar-held dict ``(table, pk) -> raw item | MISSING``,
  open for a request (the middleware) or a ``with scope():`` block.
- Item cache: process-wide, thread-safe, bounded by CACHE_MAXSIZE, each entry
  with its own TTL (models may set ``Meta.cache_ttl``); misses are remembered
  NEGATIVE_CACHE_TTL seconds.
- Query cache: ``(table, generation, key) -> value``; a write to a table bumps
  its generation, so the table's cached results become unreachable at once.

Everything stored is plain data frozen on the way in (FrozenDict / FrozenList,
which refuse changes), so entries are handed out without copying and no
mutable object is ever shared between threads or requests; model instances
are always built fresh from them.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, NamedTuple

from cachetools import TLRUCache

from . import stats
from .conf import get_setting

__all__ = [
    "MISSING",
    "scope",
    "in_scope",
    "identity_get",
    "identity_put",
    "identity_discard",
    "ItemCache",
    "QueryCache",
    "item_cache",
    "query_cache",
    "configure",
    "reset",
    "settings_changed",
    "copy_raw",
    "freeze",
    "FrozenDict",
    "FrozenList",
]

Timer = Callable[[], float]


class _Missing:
    """The marker for "known not to exist"; falsy, so `if cached:` skips it."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict) -> _Missing:
        return self

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# Leaves of raw items (boto3 client shapes) that are immutable, so sharing them is safe.
_IMMUTABLE = (str, bytes, int, float, bool, Decimal, type(None), frozenset, _Missing)


_SCALAR_TYPES = frozenset({"S", "N", "BOOL", "NULL", "B"})


def copy_raw(value: Any) -> Any:
    """Return a deep copy of plain data (dicts, lists, tuples of immutable leaves)."""
    # Hand-rolled because copy.deepcopy is over twice as slow on these shapes
    # and this runs on every cache read and write.
    if type(value) is dict:
        out = {}
        for key, item in value.items():
            # Most attribute values are one scalar, {"S": "..."}: copy those inline.
            if type(item) is dict and len(item) == 1:
                for kind, leaf in item.items():
                    if kind in _SCALAR_TYPES and isinstance(leaf, _IMMUTABLE):
                        out[key] = {kind: leaf}
                    else:
                        out[key] = copy_raw(item)
            else:
                out[key] = copy_raw(item)
        return out
    if isinstance(value, dict):
        return {key: copy_raw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_raw(item) for item in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(copy_raw(item) for item in value)
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, set):
        return set(value)  # members of a set are hashable, hence immutable enough
    if isinstance(value, bytearray):
        return bytearray(value)
    return copy.deepcopy(value)


def _read_only(self: Any, *args: Any, **kwargs: Any) -> None:
    raise TypeError("cached DynamoDB data is read-only; copy it (dict(x) / list(x)) to change it")


class FrozenDict(dict):
    """A dict that refuses changes: what the caches store and share between threads."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple:
        return (FrozenDict, (dict(self),))


class FrozenList(list):
    """A list that refuses changes (the L values inside cached items)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = remove = pop = clear = sort = reverse = _read_only

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict) -> FrozenList:
        return self

    def __reduce__(self) -> tuple:
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """Return an immutable deep copy of plain data (shared as is once frozen)."""
    kind = type(value)
    if kind is FrozenDict or kind is FrozenList:
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            # Most attribute values are one scalar, {"S": "..."}: freeze those inline.
            if type(item) is dict and len(item) == 1:
                for tag, leaf in item.items():
                    if tag in _SCALAR_TYPES and isinstance(leaf, _IMMUTABLE):
                        out[key] = FrozenDict(((tag, leaf),))
                    else:
                        out[key] = freeze(item)
            else:
                out[key] = freeze(item)
        return FrozenDict(out)
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(item) for item in value)
    if kind is tuple:
        return tuple(freeze(item) for item in value)
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return copy.deepcopy(value)


# --------------------------------------------------------------------------
# Identity map

_identity: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("dynamo_backend_identity_map", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """Open an identity map for the block; an inner scope reuses the outer map."""
    if _identity.get() is not None:
        # Library code opens scopes of its own; they must not hide the request's map.
        yield
        return
    token = _identity.set({})
    try:
        yield
    finally:
        _identity.reset(token)


def in_scope() -> bool:
    """Return True when an identity map is open in this context."""
    return _identity.get() is not None


def identity_get(table: str, pk: str) -> Any:
    """Return the raw item loaded in this scope, MISSING if known absent, else None."""
    identity = _identity.get()
    if identity is None:
        return None
    value = identity.get((table, pk))
    if value is None:
        return None
    stats.record_cache(True)
    # No copy: the map belongs to one request (one thread), and the library
    # never mutates raw items; instances get fresh values from the decoders.
    return value


def identity_put(table: str, pk: str, raw: Any) -> None:
    """Remember a loaded raw item in this scope; None (or MISSING) records it as absent."""
    identity = _identity.get()
    if identity is None:
        return
    identity[(table, pk)] = MISSING if raw is None or raw is MISSING else raw


def identity_discard(table: str, pk: str) -> None:
    """Forget one key in this scope."""
    identity = _identity.get()
    if identity is not None:
        identity.pop((table, pk), None)


# --------------------------------------------------------------------------
# Shared machinery of the two process-wide caches


class _Entry(NamedTuple):
    ttl: float
    value: Any
    seq: int  # sequence number, to refuse fills that raced with a write
    written: bool = False  # stored by a write (or a discard), not by a read


def _time_to_use(key: Hashable, entry: _Entry, now: float) -> float:
    return now + entry.ttl


class _GuardedTLRU(TLRUCache):
    """A TLRUCache that remembers the newest sequence number it dropped on its own."""

    def __init__(self, maxsize: int, timer: Timer) -> None:
        super().__init__(maxsize, _time_to_use, timer=timer)
        self.dropped_seq = 0  # newest sequence number of a *write* entry dropped on its own

    def expire(self, time: float | None = None) -> list:
        expired = super().expire(time)
        for _key, entry in expired:
            if entry.written:
                self.dropped_seq = max(self.dropped_seq, entry.seq)
        return expired

    def popitem(self) -> tuple:
        key, entry = super().popitem()
        if entry.written:
            self.dropped_seq = max(self.dropped_seq, entry.seq)
        return key, entry


class _FillGuard:
    """Per-thread memo of the write sequence seen at each miss.

    A reader that missed, called DynamoDB and then fills the cache may carry a
    value older than a write that landed meanwhile; comparing sequence numbers
    refuses such a fill instead of caching a stale item for a whole TTL.
    """

    # Misses that are never followed by a fill (errors, uncacheable results)
    # would otherwise pile up in long-lived threads.
    _MAX_PENDING = 4096

    def __init__(self) -> None:
        self._local = threading.local()

    def _pending(self) -> dict:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            pending = self._local.pending = {}
        return pending

    def remember(self, key: Hashable, seq: int) -> None:
        pending = self._pending()
        if len(pending) >= self._MAX_PENDING:
            pending.clear()
        pending[key] = seq

    def take(self, key: Hashable) -> int | None:
        return self._pending().pop(key, None)


class _BaseCache:
    """Lazily built, lock-guarded, settings-driven store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timer: Timer = time.monotonic
        self._store: _GuardedTLRU | None = None
        self._built = False
        self._seq = 0
        self._guard = _FillGuard()

    def _read_settings(self) -> None:
        raise NotImplementedError

    def _enabled(self) -> bool:
        raise NotImplementedError

    def _ensure(self) -> _GuardedTLRU | None:
        # Called with the lock held. Settings are read here, never at import.
        if not self._built:
            self._read_settings()
            maxsize = int(get_setting("CACHE_MAXSIZE"))
            self._store = _GuardedTLRU(maxsize, self._timer) if self._enabled() and maxsize > 0 else None
            self._built = True
        return self._store

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _rebuild(self, timer: Timer | None = None) -> None:
        with self._lock:
            if timer is not None:
                self._timer = timer
            self._store = None
            self._built = False
            # Misses remembered before a rebuild say nothing about the new store.
            self._guard = _FillGuard()

    def clear(self) -> None:
        """Drop every entry and re-read the settings at next use."""
        self._rebuild()

    @property
    def maxsize(self) -> int:
        """Return the bound on the number of entries (0 when disabled)."""
        with self._lock:
            store = self._ensure()
            return int(store.maxsize) if store is not None else 0

    def __len__(self) -> int:
        with self._lock:
            store = self._ensure()
            return len(store) if store is not None else 0


# --------------------------------------------------------------------------
# Item cache

# Stored for a discarded key so an in-flight read cannot re-fill it with the old item.
_TOMBSTONE = object()
# How long a tombstone must outlive the longest plausible in-flight read.
_TOMBSTONE_TTL = 60.0


class ItemCache(_BaseCache):
    """Process-wide cache of raw items keyed by (table, pk), with per-entry TTL."""

    ttl: float = 0.0  # CACHE_TTL as read at the last (re)build
    negative_ttl: float = 0.0

    def _read_settings(self) -> None:
        self.ttl = float(get_setting("CACHE_TTL"))
        self.negative_ttl = float(get_setting("NEGATIVE_CACHE_TTL"))

    def _enabled(self) -> bool:
        return self.ttl > 0

    @staticmethod
    def _effective(ttl: float | None, default: float) -> float:
        return default if ttl is None else float(ttl)

    def get(self, table: str, pk: str, ttl: float | None = None) -> Any:
        """Return a copy of the cached raw item, MISSING for a cached miss, or None."""
        if ttl is not None and ttl <= 0:
            return None  # caching is off for this model
        key = (table, pk)
        with self._lock:
            store = self._ensure()
            if store is None:
                return None
            entry = store.get(key)
            if entry is None or entry.value is _TOMBSTONE:
                self._guard.remember(key, self._seq)
                entry = None
        stats.record_cache(entry is not None)
        if entry is None:
            return None
        # The stored value is never mutated, so copying outside the lock is safe.
        # Frozen on the way in, so it is shared as is: nobody can change it.
        return entry.value

    def mark(self) -> int:
        """Return the current write sequence number, to pass as ``since=`` to a later put."""
        with self._lock:
            return self._seq

    def put(
        self,
        table: str,
        pk: str,
        raw: Any,
        ttl: float | None = None,
        *,
        since: int | None = None,
        replace: bool = True,
        write: bool = False,
    ) -> None:
        """Cache a raw item for ttl seconds (None: CACHE_TTL); a None raw caches a miss.

        ``since`` (from :meth:`mark`, taken before the read or write) refuses the
        value if the key was written meanwhile; ``replace=False`` only fills an
        absent key; ``write=True`` says the value comes from a confirmed write.
        """
        if raw is None or raw is MISSING:
            self.put_missing(table, pk, ttl, since=since)
            return
        self._store_entry(table, pk, freeze(raw), ttl, negative=False, since=since, replace=replace, write=write)

    def put_missing(self, table: str, pk: str, ttl: float | None = None, *, since: int | None = None) -> None:
        """Remember that (table, pk) does not exist, for NEGATIVE_CACHE_TTL seconds."""
        self._store_entry(table, pk, MISSING, ttl, negative=True, since=since, replace=True)

    def _store_entry(
        self,
        table: str,
        pk: str,
        value: Any,
        ttl: float | None,
        *,
        negative: bool,
        since: int | None,
        replace: bool,
        write: bool = False,
    ) -> None:
        if ttl is not None and ttl <= 0:
            return
        key = (table, pk)
        with self._lock:
            store = self._ensure()
            if store is None:
                return
            if negative:
                # A model's shorter TTL also caps how long its misses are remembered.
                seconds = self.negative_ttl if ttl is None else min(self.negative_ttl, float(ttl))
            else:
                seconds = self._effective(ttl, self.ttl)
            seen = self._guard.take(key)
            if since is not None:
                seen = since
            if not replace:
                current = store.get(key)
                if current is not None and current.value is not _TOMBSTONE:
                    return  # an eventually consistent read must not displace a known value
            if seen is not None and self._raced(store, key, seen):
                # Something wrote this key after our read (or write) began: which
                # value is newer is unknown, so cache nothing for it.
                store[key] = _Entry(_TOMBSTONE_TTL, _TOMBSTONE, self._next_seq(), True)
                return
            if seconds <= 0:
                store.pop(key, None)
                return
            store[key] = _Entry(seconds, value, self._next_seq(), write)

    @staticmethod
    def _raced(store: _GuardedTLRU, key: Hashable, seen: int) -> bool:
        # Only writes make a fill stale; two readers filling the same key both
        # read DynamoDB and may both be cached.
        if store.dropped_seq > seen:
            return True
        current = store.get(key)
        return current is not None and current.written and current.seq > seen

    def discard(self, table: str, pk: str) -> None:
        """Drop one key, and keep in-flight reads from putting the old item back."""
        key = (table, pk)
        with self._lock:
            store = self._ensure()
            if store is None:
                return
            self._guard.take(key)
            store[key] = _Entry(max(_TOMBSTONE_TTL, self.ttl), _TOMBSTONE, self._next_seq(), True)


# --------------------------------------------------------------------------
# Query cache


class QueryCache(_BaseCache):
    """Process-wide cache of query results keyed by (table, generation, key)."""

    ttl: float = 0.0  # min(CACHE_TTL, QUERY_CACHE_TTL) as read at the last (re)build

    def __init__(self) -> None:
        super().__init__()
        self._generations: dict[str, int] = {}

    def _read_settings(self) -> None:
        self.ttl = min(float(get_setting("CACHE_TTL")), float(get_setting("QUERY_CACHE_TTL")))

    def _enabled(self) -> bool:
        return self.ttl > 0

    def generation(self, table: str) -> int:
        """Return the table's current generation (bumped by every invalidate)."""
        with self._lock:
            return self._generations.get(table, 0)

    def get(self, table: str, key: Hashable) -> Any:
        """Return a copy of the cached value for the planned request, or None."""
        with self._lock:
            store = self._ensure()
            if store is None:
                return None
            generation = self._generations.get(table, 0)
            entry = store.get((table, generation, key))
            if entry is None:
                # A later put stores under this generation: if the table is
                # written meanwhile, the result lands where nobody looks.
                self._guard.remember((table, key), generation)
        stats.record_cache(entry is not None)
        return None if entry is None else entry.value

    def put(
        self, table: str, key: Hashable, value: Any, ttl: float | None = None, *, generation: int | None = None
    ) -> None:
        """Cache a query result for min(ttl, QUERY_CACHE_TTL) seconds."""
        if value is None or (ttl is not None and ttl <= 0):
            return
        value = freeze(value)
        with self._lock:
            store = self._ensure()
            seen = self._guard.take((table, key))
            if store is None:
                return
            if generation is None:
                generation = seen if seen is not None else self._generations.get(table, 0)
            if generation != self._generations.get(table, 0):
                return  # the table was written while this result was being read
            seconds = self.ttl if ttl is None else min(self.ttl, float(ttl))
            store[(table, generation, key)] = _Entry(seconds, value, self._next_seq())

    def invalidate(self, table: str) -> None:
        """Make every cached result of the table unreachable (they expire soon after)."""
        with self._lock:
            self._generations[table] = self._generations.get(table, 0) + 1
            # Stale generations are never read again; LRU order and their TTL evict them.

    def clear(self) -> None:
        """Drop every entry and re-read the settings at next use."""
        with self._lock:
            # Bumping rather than resetting keeps in-flight fills from landing.
            for table in self._generations:
                self._generations[table] += 1
        super().clear()


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
    identity = _identity.get()
    if identity is not None:
        identity.clear()


def settings_changed(*, setting: str | None = None, **kwargs: Any) -> None:
    """Receive Django's setting_changed signal: rebuild when DYNAMO_BACKEND changes."""
    if setting in (None, "DYNAMO_BACKEND"):
        item_cache.clear()
        query_cache.clear()
