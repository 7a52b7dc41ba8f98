"""Conditional GET: an ETag computed from the stored items a response is built from.

A client that sends the ETag back in ``If-None-Match`` gets a 304 before any
serialisation happens: the items come from the caches, the body is never built.
The tag is weak (``W/"..."``): it names the data, not the bytes (a proxy may
compress the body).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotModified

from dynamo_backend.cache import FrozenDict

# Digests of cached items, by identity: a cached item is frozen (it never changes), and the
# entry holds it, so its id cannot be reused while the entry lives. Cleared when full.
_DIGESTS: dict[int, tuple[Any, bytes]] = {}
_MAX_DIGESTS = 4096  # it keeps the items alive: bounded well below the item cache


def _shown(value: Any, fields: Any) -> Any:
    """The attributes of a stored item that are model fields: bookkeeping (child counts) is not data."""
    return value if fields is None else sorted((k, v) for k, v in value.items() if k in fields)


def _digest(value: Any, fields: Any = None) -> bytes:
    if type(value) is not FrozenDict:
        return hashlib.blake2b(repr(_shown(value, fields)).encode(), digest_size=12).digest()
    known = _DIGESTS.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    digest = hashlib.blake2b(repr(_shown(value, fields)).encode(), digest_size=12).digest()
    if len(_DIGESTS) >= _MAX_DIGESTS:
        _DIGESTS.clear()
    _DIGESTS[id(value)] = (value, digest)
    return digest


def etag(*parts: Any) -> str:
    """Return a weak ETag over model instances (their stored items) and other plain values."""
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        state = getattr(part, "_state", None)
        if state is None:
            digest.update(_digest(part))
        else:
            digest.update(_digest(state.stored, part._meta.fields))
    return f'W/"{digest.hexdigest()}"'


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def not_modified(request: HttpRequest, tag: str) -> HttpResponseNotModified | None:
    """Return a 304 when If-None-Match names this tag (weak comparison, as RFC 9110 asks for GET)."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return None
    wanted = _opaque(tag)
    if header.strip() == "*" or any(_opaque(t) == wanted for t in header.split(",")):
        response = HttpResponseNotModified()
        response["ETag"] = tag
        return response
    return None


def tagged(response: HttpResponseBase, tag: str) -> HttpResponseBase:
    """Return the response with its ETag set."""
    response["ETag"] = tag
    return response
