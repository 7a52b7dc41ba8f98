"""Model instances -> JSON-ready dicts (the response shapes of the API)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from .models import ApiToken, Author, Comment, Post


def author_to_dict(author: Author, *, show_email: bool = False) -> dict[str, Any]:
    """An author; ``email`` only for the author themself and the moderator (``auth.viewer().may_see_email``)."""
    data = {
        "pk": author.pk,
        "username": author.username,
        "email": author.email,
        "bio": author.bio,
        "created_at": author.created_at,
    }
    if not show_email:
        del data["email"]
    return data


def token_to_dict(token: ApiToken) -> dict[str, Any]:
    """What the API says about a token: never its secret nor its hash (the secret is shown once, at creation)."""
    return {
        "id": token.pk,
        "author_pk": token.author_pk,
        "created_at": token.created_at,
        "revoked": bool(token.revoked),
        "revoked_at": token.revoked_at,
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
        "pk": Comment.pk_text(comment.pk),
        "post_pk": comment.post_pk,
        "author_pk": comment.author_pk,
        "author": author_ref(comment.author_pk, author),
        "body": comment.body,
        "created_at": comment.created_at,
    }
