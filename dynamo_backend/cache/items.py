"""The item cache: raw items by (table, pk), process-wide, per-entry TTL, misses remembered briefly."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from .. import stats
from ..conf import get_setting
from .frozen import MISSING, freeze
from .store import BaseCache, Entry, GuardedTLRU

# Stored for a discarded key so an in-flight read cannot re-fill it with the old item.
_TOMBSTONE = object()
# How long a tombstone must outlive the longest plausible in-flight read.
_TOMBSTONE_TTL = 60.0
# Keys changed by other processes, remembered to refuse fills that raced with the change.
_REMOTE_SIZE = 4096


class ItemCache(BaseCache):
    """Process-wide cache of raw items keyed by (table, pk), with per-entry TTL."""

    ttl: float = 0.0  # CACHE_TTL as read at the last (re)build
    negative_ttl: float = 0.0

    def __init__(self) -> None:
        super().__init__()
        self._remote: OrderedDict[Hashable, int] = OrderedDict()  # key -> sequence number of its change
        self._remote_floor = 0  # newest sequence number pushed out of _remote

    def _read_settings(self) -> None:
        self.ttl = float(get_setting("CACHE_TTL"))
        self.negative_ttl = float(get_setting("NEGATIVE_CACHE_TTL"))

    def _enabled(self) -> bool:
        return self.ttl > 0

    @staticmethod
    def _effective(ttl: float | None, default: float) -> float:
        return default if ttl is None else float(ttl)

    def get(self, table: str, pk: str, ttl: float | None = None) -> Any:
        """Return the cached raw item (frozen, shared), MISSING for a cached miss, or None."""
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
                store[key] = Entry(_TOMBSTONE_TTL, _TOMBSTONE, self._next_seq(), True)
                return
            if seconds <= 0:
                store.pop(key, None)
                return
            store[key] = Entry(seconds, value, self._next_seq(), write)

    def _raced(self, store: GuardedTLRU, key: Hashable, seen: int) -> bool:
        # Only writes make a fill stale; two readers filling the same key both
        # read DynamoDB and may both be cached.
        if store.dropped_seq > seen or self._remote_floor > seen or self._remote.get(key, 0) > seen:
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
            store[key] = Entry(max(_TOMBSTONE_TTL, self.ttl), _TOMBSTONE, self._next_seq(), True)

    def changed(
        self,
        table: str,
        pk: str,
        old: Mapping | None,
        new: Mapping | None,
        *,
        images: bool = True,
        between: tuple[Mapping | None, ...] = (),
    ) -> None:
        """Apply a write made by another process (a stream record), keeping its order safe.

        The cached item is replaced by ``new`` only when it is exactly ``old``
        (the state this write started from) or one of the states ``between``
        (a batch of records: the states it passed through), so a record that
        arrives late can never put back an older item; kept when it already is
        ``new`` (this process's own write, or a record seen twice); otherwise
        dropped, and the next read asks DynamoDB. Without ``images`` it is dropped.
        """
        key = (table, pk)
        with self._lock:
            store = self._ensure()
            if store is None:
                return
            seq = self._next_seq()
            self._remote[key] = seq
            self._remote.move_to_end(key)
            if len(self._remote) > _REMOTE_SIZE:
                _, self._remote_floor = self._remote.popitem(last=False)
            entry = store.get(key)
            if entry is None or entry.value is _TOMBSTONE:
                return
            current = entry.value
            if images and new is not None and current is not MISSING:
                if current == new:
                    return
                if any(state is not None and current == state for state in (old, *between)):
                    store[key] = Entry(entry.ttl, freeze(new), seq, True)
                    return
            store[key] = Entry(max(_TOMBSTONE_TTL, self.ttl), _TOMBSTONE, seq, True)

    def flush(self, table: str | None = None) -> None:
        """Drop every cached item of a table (every table when None), refusing fills in flight."""
        with self._lock:
            store = self._ensure()
            if store is None:
                return
            # Every fill that started before now may carry an item older than the flush.
            store.dropped_seq = self._next_seq()
            for key in [k for k in store if table is None or k[0] == table]:
                del store[key]
