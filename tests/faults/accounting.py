"""Write accounting: what the emulator holds, read straight from it with a bare boto3 client.

After a fault run the tests compare the answers the clients got with what
is stored: every acknowledged write stored, nothing stored twice, no unique
value held by two items, counters within their guarantee, no orphans. The
reads here are consistent Scans and GetItems against the emulator itself,
around the proxy and around every cache of the app.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from services.blog.models import Comment

# The blog's tables (services/blog/models.py), before the stack's prefix.
AUTHORS = "blog_author"
POSTS = "blog_post"
COMMENTS = "blog_comment"


def plain(item: dict) -> dict[str, Any]:
    """A stored item as plain values (S -> str, N -> int or float, BOOL, L, M, NULL)."""
    return {name: _value(value) for name, value in item.items()}


def _value(value: dict) -> Any:
    (kind, raw), *_ = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        number = float(raw)
        return int(number) if number.is_integer() else number
    if kind == "L":
        return [_value(v) for v in raw]
    if kind == "M":
        return plain(raw)
    if kind == "NULL":
        return None
    return raw  # BOOL, B, SS, NS


def _with_api_pk(base: str, item: dict[str, Any]) -> dict[str, Any]:
    """Comments are stored under their post (post_pk, sk): the API names one by Comment.pk_text."""
    if base == COMMENTS and "pk" not in item:
        item["pk"] = Comment.pk_text((item["post_pk"], item["sk"]))
    return item


class Store:
    """The stack's tables in the emulator, read consistently."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def table(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def scan(self, base: str) -> list[dict[str, Any]]:
        """Every item of a table, as plain values; a comment also gets ``pk``, its id in the API."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table(base), "ConsistentRead": True}
        while True:
            page = self.client.scan(**kwargs)
            items += [_with_api_pk(base, plain(item)) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, base: str, pk: str) -> dict[str, Any] | None:
        key = Comment._meta.key(Comment.pk_from_text(pk)) if base == COMMENTS else {"pk": {"S": pk}}
        item = self.client.get_item(TableName=self.table(base), Key=key, ConsistentRead=True)
        return _with_api_pk(base, plain(item["Item"])) if "Item" in item else None

    def exists(self, base: str, pk: str) -> bool:
        return self.get(base, pk) is not None

    # --- invariants -----------------------------------------------------------------------

    def orphan_posts(self, authors: Iterable[str]) -> list[dict[str, Any]]:
        """Stored posts of these authors whose author is gone."""
        wanted = set(authors)
        posts = [p for p in self.scan(POSTS) if p.get("author_pk") in wanted]
        live = {pk for pk in wanted if self.exists(AUTHORS, pk)}
        return [p for p in posts if p["author_pk"] not in live]

    def orphan_comments(self, posts: Iterable[str]) -> list[dict[str, Any]]:
        """Stored comments on these posts whose post, or author, is gone."""
        wanted = set(posts)
        comments = [c for c in self.scan(COMMENTS) if c.get("post_pk") in wanted]
        live_posts = {pk for pk in wanted if self.exists(POSTS, pk)}
        authors = {c.get("author_pk") for c in comments}
        live_authors = {pk for pk in authors if pk and self.exists(AUTHORS, pk)}
        return [c for c in comments if c["post_pk"] not in live_posts or c.get("author_pk") not in live_authors]

    def duplicates(self, base: str, attribute: str, values: Iterable[str] | None = None) -> dict[str, int]:
        """Values of ``attribute`` held by more than one stored item (only ``values``, if given)."""
        wanted = None if values is None else set(values)
        held = Counter(
            item[attribute]
            for item in self.scan(base)
            if attribute in item and (wanted is None or item[attribute] in wanted)
        )
        return {value: n for value, n in held.items() if n > 1}
