"""Who a request is, and what it may change: API tokens, the moderator's token, ownership.

Tokens are ``<id>.<secret>``: ``id`` is the pk of an :class:`ApiToken`, and
``secret`` 256 random bits (``secrets.token_urlsafe(32)``). Only a salted
SHA-256 of the secret is stored, and it is compared in constant time; one
hash is enough for a random secret of that size (a password would need a slow
hash; nobody chooses these). A token is read with a consistent GetItem and
never from a cache, so a revocation holds at once on every worker.

``DJANGO_ADMIN_TOKEN`` is the moderator's token: the settings keep only its
SHA-256. It may change or delete anything and see every email, but writes as
no author (it creates no posts or comments and mints no tokens).

Views use :func:`write` (writes: a token, then the rate limits) and
:func:`signup` on their methods, then :func:`check_owner`,
:func:`check_comment_delete` and :func:`as_author` once they know what the
request touches. Reads stay public; :func:`viewer` says whose email a read
may show. Each decorator marks its method with ``auth`` ("bearer" or None)
for whatever describes the API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from . import ratelimit
from .errors import Forbidden, Unauthorized
from .models import ApiToken, Author, Comment, Post
from .validation import parse_uuid

# A revoked token stays listed (as revoked) this long, then DynamoDB's TTL removes it.
REVOKED_TOKEN_KEPT = dt.timedelta(days=30)
_SECRET_BYTES = 32
_SALT_BYTES = 16

_INVALID = "The token is invalid or has been revoked."


@dataclass(frozen=True)
class Principal:
    """Who made a request: an author (by token), the moderator, or nobody (reads need no token)."""

    author_pk: str | None = None
    token_id: str | None = None
    is_admin: bool = False

    @property
    def authenticated(self) -> bool:
        return self.is_admin or self.author_pk is not None

    def may_change(self, *owners: str | None) -> bool:
        """Whether this principal may change or delete what ``owners`` own."""
        return self.is_admin or (self.author_pk is not None and self.author_pk in owners)

    def may_see_email(self, author_pk: str) -> bool:
        return self.may_change(author_pk)


ANONYMOUS = Principal()


# --- tokens ---------------------------------------------------------------------


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def issue_token(author_pk: str) -> tuple[ApiToken, str]:
    """Store a new token for an author; return it and the ``<id>.<secret>`` string, which is never stored."""
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    salt = secrets.token_hex(_SALT_BYTES)
    token = ApiToken.objects.create(author_pk=author_pk, salt=salt, digest=_digest(salt, secret))
    return token, f"{token.pk}.{secret}"


def first_token(author: Author) -> str:
    """Issue a new author's first token; if it cannot be stored, delete the author so sign-up can be retried."""
    try:
        return issue_token(author.pk)[1]
    except Exception:
        with contextlib.suppress(Exception):
            author.delete()
        raise


def revoke_token(author_pk: str, token_id: str) -> bool:
    """Revoke one of an author's tokens (again is fine); False when the author has no such token."""
    token = ApiToken.objects.consistent().filter(pk=token_id, author_pk=author_pk).first()
    if token is None:
        return False
    if not token.revoked:
        now = timezone.now()
        ApiToken.objects.filter(pk=token_id).update(revoked=True, revoked_at=now, expires_at=now + REVOKED_TOKEN_KEPT)
    return True


@receiver(post_delete, sender=Author, dispatch_uid="services.blog.auth.drop_tokens")
def _drop_tokens(sender: Any, instance: Author, **kwargs: Any) -> None:
    """An author's tokens go with the author."""
    ApiToken.objects.uncached().filter(author_pk=instance.pk).delete()


# --- who is asking ----------------------------------------------------------------


def _bearer(request) -> str | None:
    """The credentials of ``Authorization: Bearer <credentials>``; None without the header."""
    header = request.META.get("HTTP_AUTHORIZATION", "").strip()
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Use Authorization: Bearer <token>.")
    if not credentials.strip():
        raise Unauthorized(_INVALID, invalid_token=True)
    return credentials.strip()


def _is_admin_token(credentials: str) -> bool:
    expected = getattr(settings, "BLOG_ADMIN_TOKEN_SHA256", "")
    presented = hashlib.sha256(credentials.encode()).hexdigest()
    return bool(expected) and hmac.compare_digest(presented, expected)


def is_admin_request(request) -> bool:
    """Whether the request carries the moderator's token (no DynamoDB call, never raises)."""
    try:
        credentials = _bearer(request)
    except Unauthorized:
        return False
    return credentials is not None and _is_admin_token(credentials)


def _authenticate(request) -> Principal:
    credentials = _bearer(request)
    if credentials is None:
        return ANONYMOUS
    if _is_admin_token(credentials):
        return Principal(is_admin=True)
    token_id, _, secret = credentials.partition(".")
    try:
        token_id = str(uuid.UUID(token_id))
    except ValueError:
        raise Unauthorized(_INVALID, invalid_token=True) from None
    token = ApiToken.objects.consistent().filter(pk=token_id).first() if secret else None
    if token is None or token.revoked or not hmac.compare_digest(_digest(token.salt, secret), token.digest):
        raise Unauthorized(_INVALID, invalid_token=True)
    if Author.objects.filter(pk=token.author_pk).first() is None:  # deleted a moment ago
        raise Unauthorized(_INVALID, invalid_token=True)
    return Principal(author_pk=token.author_pk, token_id=token.pk)


def viewer(request) -> Principal:
    """Who the request is: ANONYMOUS without a token; 401 (Unauthorized) for a bad one. Once per request."""
    principal = getattr(request, "_blog_principal", None)
    if principal is None:
        principal = request._blog_principal = _authenticate(request)
    return principal


def require(request) -> Principal:
    """The request's principal; 401 when it has no token."""
    principal = viewer(request)
    if not principal.authenticated:
        raise Unauthorized("This request needs a token: Authorization: Bearer <token>.")
    return principal


# --- view method decorators -------------------------------------------------------

ViewMethod = Callable[..., Any]


def write(method: ViewMethod) -> ViewMethod:
    """A write: a token is required; the client address and the token are rate limited.

    A request without a token is refused before anything is counted (it costs
    no DynamoDB call); one with a token counts against its address before the
    token is looked up, so guessing tokens is limited too. Nothing is counted
    or looked up before the body has arrived whole (a stalled client meets the
    server's timeout first).
    """

    @functools.wraps(method)
    def wrapper(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if _bearer(request) is None:
            raise Unauthorized("This request needs a token: Authorization: Bearer <token>.")
        request.body  # noqa: B018 -- read it whole first (413, a stalled client) before any DynamoDB call
        ratelimit.check_address(request)
        principal = require(request)
        if not principal.is_admin:
            ratelimit.check_token(str(principal.token_id))
        return method(view, request, *args, **kwargs)

    wrapper.auth = "bearer"  # type: ignore[attr-defined]
    return wrapper


def signup(method: ViewMethod) -> ViewMethod:
    """Sign-up (author creation): no token needed; limited per client address."""

    @functools.wraps(method)
    def wrapper(view: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        request.body  # noqa: B018 -- read it whole first, as write() does
        ratelimit.check_address(request)
        ratelimit.check_signup(request)
        return method(view, request, *args, **kwargs)

    wrapper.auth = None  # type: ignore[attr-defined]
    return wrapper


# --- what the principal may change ------------------------------------------------


def check_owner(request, *owners: str | None) -> Principal:
    """403 unless the request's token is one of ``owners``' or the moderator's (401 without a token)."""
    principal = require(request)
    if not principal.may_change(*owners):
        raise Forbidden("This token may not change what another author owns.")
    return principal


def check_comment_delete(request, comment: Comment) -> Principal:
    """A comment may be deleted by its author, by the post's author, or by the moderator."""
    principal = require(request)
    if principal.may_change(comment.author_pk):
        return principal
    post = Post.objects.filter(pk=comment.post_pk).first()
    if post is None or not principal.may_change(post.author_pk):
        raise Forbidden("Only the comment's author or the post's author may delete this comment.")
    return principal


_MISSING = object()


def as_author(request, body: dict[str, Any], *, create: bool = True) -> dict[str, Any]:
    """Write as the token's author: ``author_pk`` in the body must be that author or be left out.

    A create fills it in; an update leaves it out (no change). The moderator
    writes as nobody, so it cannot create posts or comments, or set author_pk.
    """
    principal = require(request)
    given = body.get("author_pk", _MISSING)
    if given is _MISSING and not create:
        return body
    if principal.author_pk is None:
        raise Forbidden("The administrator token moderates; it does not write as an author.")
    if given is _MISSING:
        return {**body, "author_pk": principal.author_pk}
    try:
        same = parse_uuid(given) == principal.author_pk
    except ValueError:
        return body  # not a UUID: validation names it (400)
    if not same:
        message = "author_pk must be the token's author (or be left out)."
        raise Forbidden(message, fields={"author_pk": [message]})
    return body
