"""The identity map: one loaded item per key within a request (or a ``with scope():`` block)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .. import stats
from .frozen import MISSING

__all__ = ["scope", "in_scope", "identity_get", "identity_put", "identity_discard", "identity_clear"]

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


def identity_clear() -> None:
    """Forget everything this context's identity map holds."""
    identity = _identity.get()
    if identity is not None:
        identity.clear()
