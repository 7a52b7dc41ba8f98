"""Frozen data: what the caches store and share between threads without copying."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

__all__ = ["MISSING", "FrozenDict", "FrozenList", "freeze", "thaw"]


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

# Leaves of raw items (boto3 client shapes) that are immutable, so sharing them is safe.
_IMMUTABLE = (str, bytes, int, float, bool, Decimal, type(None), frozenset, _Missing)

# Attribute-value tags whose payload is one immutable leaf.
_SCALAR_TYPES = frozenset({"S", "N", "BOOL", "NULL", "B"})


def _refuse(self: Any, *args: Any, **kwargs: Any) -> None:
    raise TypeError("cached DynamoDB data is read-only; copy it (dict(x) / list(x)) to change it")


# Typed Any so it may stand in for every mutating method of dict and list.
_read_only: Any = _refuse


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


def _freeze_item(value: dict) -> FrozenDict:
    out = {}
    for key, item in value.items():
        # Most attribute values are one scalar, {"S": "..."}: freeze those inline.
        if type(item) is dict and len(item) == 1:
            ((tag, leaf),) = item.items()
            if tag in _SCALAR_TYPES and isinstance(leaf, _IMMUTABLE):
                out[key] = FrozenDict(((tag, leaf),))
                continue
        out[key] = freeze(item)
    return FrozenDict(out)


def freeze(value: Any) -> Any:
    """Return an immutable deep copy of plain data (shared as is once frozen)."""
    kind = type(value)
    if kind is FrozenDict or kind is FrozenList or isinstance(value, _IMMUTABLE):
        return value
    if kind is dict:
        return _freeze_item(value)
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(item) for item in value)
    if kind is tuple:
        return tuple(freeze(item) for item in value)
    if isinstance(value, set):
        return frozenset(value)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return copy.deepcopy(value)


def thaw(value: Any) -> Any:
    """Return a mutable deep copy of (possibly frozen) plain data, for callers that may change it."""
    if isinstance(value, dict):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thaw(item) for item in value]
    if type(value) is tuple:
        return tuple(thaw(item) for item in value)
    return value
