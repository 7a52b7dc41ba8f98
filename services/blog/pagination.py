"""``?limit=`` and opaque signed ``?cursor=`` for list endpoints.

A cursor is the library's ``Page.next_key`` (the DynamoDB ExclusiveStartKey)
signed with Django's :mod:`~django.core.signing` together with a *scope*
naming the list it belongs to, so a tampered cursor, or one taken from
another list, is a 400 instead of an odd DynamoDB request. A cursor signed
with the right key can still be forged by whoever knows the key (a published
development key, a leaked one): its contents are checked too, and a start key
DynamoDB refuses is a 400 as well, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.core import signing

from dynamo_backend import RequestValidationError

from .errors import BadRequest, InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_SALT = "services.blog.pagination.cursor"


def parse_limit(request) -> int:
    """``?limit=``: an integer from 1 to MAX_LIMIT, DEFAULT_LIMIT when absent (an empty value is not a number)."""
    raw = request.GET.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(
            "Invalid limit.",
            fields={"limit": [f"Must be an integer from 1 to {MAX_LIMIT}."]},
        )
    return limit


def encode_cursor(next_key: dict[str, Any] | None, scope: str) -> str | None:
    if not next_key:
        return None
    return signing.dumps({"s": scope, "k": next_key}, salt=_SALT, compress=True)


def decode_cursor(request, scope: str) -> dict[str, Any] | None:
    """The start key a ``?cursor=`` names; None for the first page (no cursor, or an empty one)."""
    raw = request.GET.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        data = signing.loads(raw, salt=_SALT)
    except (signing.BadSignature, ValueError):
        raise _invalid_cursor() from None
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), dict):
        raise BadRequest("Invalid cursor.", fields={"cursor": ["This cursor belongs to another list."]})
    if not (_is_key(data["k"]) or _is_sharded_key(data["k"])):
        raise _invalid_cursor()
    return data["k"]


def _is_key(key: Any) -> bool:
    """A DynamoDB ExclusiveStartKey: a non-empty dict of key attribute values."""
    return isinstance(key, dict) and bool(key) and all(_is_key_value(value) for value in key.values())


def _is_sharded_key(key: Any) -> bool:
    """A merged feed's page key: each shard's own start key (``after``) and the shards read to the end (``done``)."""
    if not isinstance(key, dict) or not set(key) <= {"after", "done"}:
        return False
    after, done = key.get("after", {}), key.get("done", [])
    return (
        isinstance(after, dict)
        and all(isinstance(shard, str) and _is_key(k) for shard, k in after.items())
        and isinstance(done, list)
        and all(isinstance(shard, str) for shard in done)
    )


def _is_key_value(value: Any) -> bool:
    """A key attribute value as DynamoDB sends it: {"S": str} or {"N": str} (the blog has no binary keys)."""
    return isinstance(value, dict) and len(value) == 1 and any(isinstance(value.get(t), str) for t in ("S", "N"))


def _invalid_cursor() -> BadRequest:
    return BadRequest("Invalid cursor.", fields={"cursor": ["Invalid or tampered cursor."]})


def paginate(request, queryset, scope: str) -> tuple[list, str | None]:
    """Run one page of ``queryset``; return (items, next_cursor)."""
    limit = parse_limit(request)
    start_key = decode_cursor(request, scope)
    try:
        page = queryset.paginate(limit, start_key=start_key)
    except RequestValidationError:
        if start_key is None:
            raise
        raise _invalid_cursor() from None  # DynamoDB refused the start key: not ours
    return list(page.items), encode_cursor(page.next_key, scope)
