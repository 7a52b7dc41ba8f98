"""Response checks for the scenarios: a status, a JSON body, and what the body must hold.

A validator takes the parsed JSON body and returns None when it is right, or
a message saying what is wrong; :func:`checked` turns that into a locust
success or failure on a ``catch_response`` response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Validator = Callable[[Any], str | None]


def _snippet(resp: Any, limit: int = 200) -> str:
    text = getattr(resp, "text", None) or ""
    return text[:limit].replace("\n", " ")


def checked(resp: Any, expected: int | Iterable[int], *validators: Validator) -> Any:
    """Mark the response a success or a failure that says why; return the body (``{}`` for 204) or None."""
    statuses = (expected,) if isinstance(expected, int) else tuple(expected)
    if resp.status_code not in statuses:
        error = getattr(resp, "error", None)
        detail = f" ({error})" if resp.status_code == 0 and error else f": {_snippet(resp)}"
        resp.failure(f"expected HTTP {'/'.join(map(str, statuses))}, got {resp.status_code}{detail}")
        return None
    if resp.status_code == 204:
        resp.success()
        return {}
    try:
        body = resp.json()
    except (ValueError, TypeError):  # not JSON, or no body at all
        resp.failure(f"HTTP {resp.status_code} body is not JSON: {_snippet(resp)}")
        return None
    for validate in validators:
        if problem := validate(body):
            resp.failure(problem)
            return None
    resp.success()
    return body


def has_keys(*keys: str, what: str = "object") -> Validator:
    def validate(body: Any) -> str | None:
        if not isinstance(body, dict):
            return f"{what} is not a JSON object"
        missing = [k for k in keys if k not in body]
        return f"{what} lacks {missing}" if missing else None

    return validate


def field_equals(key: str, value: Any) -> Validator:
    def validate(body: Any) -> str | None:
        got = body.get(key) if isinstance(body, dict) else None
        return None if got == value else f"{key}={got!r}, expected {value!r}"

    return validate


def embeds_author(obj: Any) -> str | None:
    """The embedded ``author`` is there and matches ``author_pk``."""
    author = obj.get("author")
    if not isinstance(author, dict) or "pk" not in author:
        return f"{obj.get('pk')} has no embedded author"
    if "author_pk" in obj and author["pk"] != obj["author_pk"]:
        return f"{obj.get('pk')} embeds author {author['pk']} but author_pk is {obj['author_pk']}"
    return None


def all_of(*validators: Validator) -> Validator:
    def validate(body: Any) -> str | None:
        return next((problem for v in validators if (problem := v(body))), None)

    return validate


author_item = has_keys("pk", "username", what="author")
post_summary = all_of(has_keys("pk", "title", "slug", what="post"), embeds_author)
comment_item = all_of(has_keys("pk", "body", what="comment"), embeds_author)


def list_page(item_check: Validator, *, max_items: int) -> Validator:
    """A list response: ``{"results": [...], "next_cursor": str | None}``, each item checked."""

    def validate(body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            return "list response lacks a results array"
        if not isinstance(body.get("next_cursor", 0), str | None):
            return "next_cursor is missing, or neither a string nor null"
        if len(body["results"]) > max_items:
            return f"{len(body['results'])} results for limit={max_items}"
        return next((problem for item in body["results"] if (problem := item_check(item))), None)

    return validate


def post_detail(pk: str) -> Validator:
    """``GET /api/posts/<pk>/``: the post, its author, a view counted, its comments with their authors."""

    def validate(body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("pk") != pk:
            return f"asked for post {pk}, got {body.get('pk') if isinstance(body, dict) else body!r}"
        if not isinstance(body.get("view_count"), int) or body["view_count"] < 1:
            return f"view_count {body.get('view_count')!r} after a view"
        if not isinstance(body.get("comments"), list):
            return "post detail lacks a comments array"
        return embeds_author(body) or next((p for c in body["comments"] if (p := comment_item(c))), None)

    return validate
