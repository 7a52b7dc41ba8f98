"""Model instances -> JSON-ready dicts (the response shapes of the API)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from .models import Author, Comment, Post


def author_to_dict(author: Author) -> dict[str, Any]:
    return {
        "pk": author.pk,
        "username": author.username,
        "email": author.email,
        "bio": author.bio,
        "created_at": author.created_at,
    }


def author_ref(author_pk: str, author: Author | None) -> dict[str, Any]:
    """The short author form embedded in posts and comments."""
    return {"pk": author_pk, "username": author.username if author is not None else None}


def related_author(obj: Post | Comment) -> Author | None:
    """``obj.author`` (prefetched), or None if the author no longer exists."""
    try:
        return obj.author
    except ObjectDoesNotExist:
        return None


def post_to_dict(post: Post, author: Author | None) -> dict[str, Any]:
    return {
        "pk": post.pk,
        "title": post.title,
        "slug": post.slug,
        "body": post.body,
        "author_pk": post.author_pk,
        "author": author_ref(post.author_pk, author),
        "published": post.published,
        "tags": list(post.tags or []),
        "view_count": post.views,  # the sharded count (read with the page's other items)
        "created_at": post.created_at,
        "updated_at": post.updated_at,
    }


def comment_to_dict(comment: Comment, author: Author | None) -> dict[str, Any]:
    return {
        "pk": comment.pk,
        "post_pk": comment.post_pk,
        "author_pk": comment.author_pk,
        "author": author_ref(comment.author_pk, author),
        "body": comment.body,
        "created_at": comment.created_at,
    }
