"""``?limit=`` and opaque signed ``?cursor=`` for list endpoints.

A cursor is the library's ``Page.next_key`` (the DynamoDB ExclusiveStartKey)
signed with Django's :mod:`~django.core.signing` together with a *scope*
naming the list it belongs to, so a tampered cursor, or one taken from
another list, is a 400 instead of an odd DynamoDB request.
"""

from __future__ import annotations

from typing import Any

from django.core import signing

from .errors import BadRequest, InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_SALT = "services.blog.pagination.cursor"


def parse_limit(request) -> int:
    raw = request.GET.get("limit")
    if raw is None or raw == "":
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
    raw = request.GET.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        data = signing.loads(raw, salt=_SALT)
    except (signing.BadSignature, ValueError):
        raise BadRequest("Invalid cursor.", fields={"cursor": ["Invalid or tampered cursor."]}) from None
    if not isinstance(data, dict) or data.get("s") != scope or not isinstance(data.get("k"), dict):
        raise BadRequest("Invalid cursor.", fields={"cursor": ["This cursor belongs to another list."]})
    return data["k"]


def paginate(request, queryset, scope: str) -> tuple[list, str | None]:
    """Run one page of ``queryset``; return (items, next_cursor)."""
    limit = parse_limit(request)
    start_key = decode_cursor(request, scope)
    page = queryset.paginate(limit, start_key=start_key)
    return list(page.items), encode_cursor(page.next_key, scope)
