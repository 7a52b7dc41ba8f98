"""REST views for authors, posts and comments.

Views validate input, call the model layer and shape JSON. They catch no
DynamoDB errors: :class:`~services.blog.middleware.ApiErrorMiddleware` maps
every exception to the API's error shape. Reads fan out through the
library's batched loading (``prefetch("author")`` / ``in_bulk``) so a page
costs a small constant number of DynamoDB calls, not one per row. Writes
need a token (``@auth.write``) and may change only what its author owns
(services/blog/auth.py); reads are public.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.http import HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views import View

from dynamo_backend import exceptions as ddb
from dynamo_backend.options import all_models
from dynamo_backend.stats import stream_status
from dynamo_backend.table import missing_tables

from . import auth
from .conditional import etag, not_modified, tagged
from .errors import RETRY_AFTER_SECONDS, InvalidInput, NotFound, error_response
from .idempotency import create_once
from .models import Author, Comment, Post
from .pagination import paginate
from .serializers import author_to_dict, comment_to_dict, post_to_dict, related_author, render
from .validation import AUTHOR_SCHEMA, COMMENT_SCHEMA, POST_SCHEMA, parse_json_object, parse_uuid

# The post page shows this many comments; the rest are one cursor away
# on /api/posts/<pk>/comments/.
DETAIL_COMMENTS_LIMIT = 100


class ApiView(View):
    """A class-based view whose 405 is JSON with an ``Allow`` header."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        allowed = ", ".join(self._allowed_methods())
        return error_response(
            405,
            "method_not_allowed",
            f"Method {request.method} is not allowed here; allowed: {allowed}.",
            headers={"Allow": allowed},
        )


def _no_content() -> HttpResponse:
    return HttpResponse(status=204)


def _created(payload: dict, location: str) -> HttpResponse:
    response = render(payload, status=201)
    response["Location"] = location
    return response


def _require_author(author_pk: str) -> Author:
    """Return the author a write refers to, or a 400 naming author_pk."""
    author = Author.objects.filter(pk=author_pk).first()
    if author is None:
        raise InvalidInput("Invalid input.", fields={"author_pk": [f"Author {author_pk} does not exist."]})
    return author


def _get_or_404(model, pk: str):
    try:
        return model.objects.get(pk=pk)  # by pk: straight to the read path
    except model.DoesNotExist:
        raise NotFound(f"{model.__name__} {pk} does not exist.") from None


# --- authors ------------------------------------------------------------------


class AuthorListView(ApiView):
    def get(self, request):
        viewer = auth.viewer(request)
        authors, next_cursor = paginate(request, Author.objects.all(), "authors")
        shown = [viewer.may_see_email(a.pk) for a in authors]
        tag = etag(*authors, shown, next_cursor)
        if unchanged := not_modified(request, tag):
            return unchanged
        results = [author_to_dict(a, show_email=show) for a, show in zip(authors, shown, strict=True)]
        return tagged(render({"results": results, "next_cursor": next_cursor}), tag)

    @auth.signup
    def post(self, request):
        data = AUTHOR_SCHEMA.validate(parse_json_object(request), partial=False)
        author = create_once(Author, request, **data)
        # The token is in this answer only: just its hash is stored (and an Idempotency-Key replay leaves it out).
        token = auth.first_token(author)
        return _created({**author_to_dict(author, show_email=True), "token": token}, f"/api/authors/{author.pk}/")


class AuthorDetailView(ApiView):
    def get(self, request, pk):
        viewer = auth.viewer(request)
        author = _get_or_404(Author, pk)
        show_email = viewer.may_see_email(author.pk)
        tag = etag(author, show_email)
        if unchanged := not_modified(request, tag):
            return unchanged  # the body is never built
        return tagged(render(author_to_dict(author, show_email=show_email)), tag)

    @auth.write
    def put(self, request, pk):
        data = AUTHOR_SCHEMA.validate(parse_json_object(request), partial=True)
        author = _get_or_404(Author, pk)
        auth.check_owner(request, author.pk)
        if data:
            for name, value in data.items():
                setattr(author, name, value)
            author.save(update_fields=list(data))
        return render(author_to_dict(author, show_email=True))

    patch = put

    @auth.write
    def delete(self, request, pk):
        author = _get_or_404(Author, pk)
        auth.check_owner(request, author.pk)
        # on_delete=PROTECT: refused (409) while posts or comments reference the
        # author, atomically with their creation, so no race leaves an orphan.
        if not author.delete()[0]:
            raise NotFound(f"Author {pk} does not exist.")
        return _no_content()


# --- posts --------------------------------------------------------------------


class PostListView(ApiView):
    def get(self, request):
        author_pk = request.GET.get("author_pk")
        if author_pk is not None:
            try:
                author_pk = parse_uuid(author_pk)
            except ValueError as exc:
                raise InvalidInput("Invalid author_pk.", fields={"author_pk": [str(exc)]}) from None
            queryset, scope = Post.objects.filter(author_pk=author_pk), f"posts:author:{author_pk}"
        else:
            queryset, scope = Post.objects.all(), "posts:feed"
        queryset = queryset.order_by("-created_at")
        if author_pk is None:  # the feed index is write-sharded: every shard queried, merged newest first
            queryset = queryset.across_shards("feed")
        posts, next_cursor = paginate(request, queryset, scope)
        # The view counts' shards and the authors in one BatchGetItem.
        Post.views.get_many(posts, also_load={Author: [p.author_pk for p in posts]})
        # The tag covers what the page shows: the posts, their authors and their (sharded) view counts.
        tag = etag(*(part for p in posts for part in (p, related_author(p))), [p.views for p in posts], next_cursor)
        if unchanged := not_modified(request, tag):
            return unchanged
        return tagged(
            render({"results": [post_to_dict(p, related_author(p)) for p in posts], "next_cursor": next_cursor}), tag
        )

    @auth.write
    def post(self, request):
        data = POST_SCHEMA.validate(auth.as_author(request, parse_json_object(request)), partial=False)
        author = _require_author(data["author_pk"])
        post = create_once(Post, request, **data)
        return _created(post_to_dict(post, author), f"/api/posts/{post.pk}/")


class PostDetailView(ApiView):
    def get(self, request, pk):
        # One UpdateItem, at most once: on a view-count shard, or (when this
        # process has no copy of the post) on the post itself, which returns it.
        # HEAD runs this handler too; only a real read counts as a view.
        if request.method == "HEAD":
            post = _get_or_404(Post, pk)
        else:
            try:
                post = Post.views.increment_and_get(pk)
            except Post.DoesNotExist:
                raise NotFound(f"Post {pk} does not exist.") from None
        page = Comment.objects.filter(post_pk=pk).order_by("sk").paginate(DETAIL_COMMENTS_LIMIT)
        comments = list(page.items)
        # One batched load for the post's author, every commenter and the view-count shards.
        author_pks = list({post.author_pk, *(c.author_pk for c in comments)})
        Post.views.get_many([post], also_load={Author: author_pks})
        authors = Author.objects.in_bulk(author_pks)
        payload = post_to_dict(post, authors.get(post.author_pk))
        payload["comments"] = [comment_to_dict(c, authors.get(c.author_pk)) for c in comments]
        payload["comments_truncated"] = page.next_key is not None
        return render(payload)

    @auth.write
    def put(self, request, pk):
        data = POST_SCHEMA.validate(auth.as_author(request, parse_json_object(request), create=False), partial=True)
        post = _get_or_404(Post, pk)
        auth.check_owner(request, post.author_pk)
        author = _require_author(data["author_pk"]) if "author_pk" in data else None
        if data:
            for name, value in data.items():
                setattr(post, name, value)
            post.save(update_fields=[*data, "updated_at"])
        return render(post_to_dict(post, author or related_author(post)))

    patch = put

    @auth.write
    def delete(self, request, pk):
        # on_delete=CASCADE: the library marks the post (no new comment can
        # join), deletes its comments, then the post; an interrupted delete
        # resumes when repeated.
        post = Post.objects.consistent().filter(pk=pk).first()
        if post is None:
            raise NotFound(f"Post {pk} does not exist.")
        auth.check_owner(request, post.author_pk)
        if not post.delete()[0]:
            raise NotFound(f"Post {pk} does not exist.")
        return _no_content()


# --- comments -----------------------------------------------------------------


class PostCommentsView(ApiView):
    def get(self, request, pk):
        _get_or_404(Post, pk)
        queryset = Comment.objects.filter(post_pk=pk).order_by("sk").prefetch("author")
        comments, next_cursor = paginate(request, queryset, f"comments:{pk}")
        tag = etag(*(part for c in comments for part in (c, related_author(c))), next_cursor)
        if unchanged := not_modified(request, tag):
            return unchanged
        body = {"results": [comment_to_dict(c, related_author(c)) for c in comments], "next_cursor": next_cursor}
        return tagged(render(body), tag)

    @auth.write
    def post(self, request, pk):
        body = auth.as_author(request, parse_json_object(request))
        _get_or_404(Post, pk)
        data = COMMENT_SCHEMA.validate(body, partial=False)
        author = _require_author(data["author_pk"])
        comment = create_once(Comment, request, post_pk=pk, **data)
        return _created(comment_to_dict(comment, author), f"/api/comments/{Comment.pk_text(comment.pk)}/")


def _comment_or_404(text: str) -> Comment:
    """The comment an opaque id names, or 404 (also for an id that names no comment key)."""
    try:
        pk = Comment.pk_from_text(text)
    except ValueError:
        raise NotFound(f"Comment {text} does not exist.") from None
    return _get_or_404(Comment, pk)


class CommentDetailView(ApiView):
    def get(self, request, pk):
        comment = _comment_or_404(pk)
        return render(comment_to_dict(comment, related_author(comment)))

    @auth.write
    def delete(self, request, pk):
        comment = _comment_or_404(pk)
        auth.check_comment_delete(request, comment)
        if not comment.delete()[0]:
            raise NotFound(f"Comment {pk} does not exist.")
        return _no_content()


# --- health and fallbacks -----------------------------------------------------


def blog_models() -> list:
    """The DynamoModels of this app (the process may have registered others)."""
    return [model for model in all_models() if model._meta.app_label == "blog"]


class HealthView(ApiView):
    def get(self, request):
        try:
            missing = missing_tables(blog_models())
        except ddb.DynamoBackendError as exc:
            return error_response(
                503,
                "service_unavailable",
                f"DynamoDB did not answer: {type(exc).__name__}.",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        if missing:
            # For operators (health checks are not the public API): what to create, and how.
            return error_response(
                503,
                "service_unavailable",
                f"DynamoDB tables missing: {', '.join(missing)}. "
                "Create them with `python manage.py dynamo_tables create` (or `plan` and `apply`).",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        # How fresh this worker's caches are: the stream reader's lag as this process sees it.
        cache = {"pid": os.getpid(), **stream_status().as_dict()}
        if not _operator(request):  # process ids, table names and reader counters are for operators
            cache = {name: cache[name] for name in PUBLIC_CACHE_STATUS}
        return JsonResponse({"status": "ok", "cache": cache})


PUBLIC_CACHE_STATUS = ("mode", "lag_seconds")


def _operator(request) -> bool:
    """Whether /healthz may show everything: Server-Timing's setting (DEBUG by default) or the admin token."""
    return bool(getattr(settings, "DYNAMO_SERVER_TIMING", settings.DEBUG)) or auth.is_admin_request(request)


def route_not_found(request, path=""):
    """Catch-all route: JSON 404 even with DEBUG on (Django's is HTML then).

    A GET for a known route without its trailing slash is redirected, like
    APPEND_SLASH would; other methods get a 404 that names the right URL
    (a redirect would drop their body).
    """
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path_info + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not route_not_found:
            target = request.path + "/"
            if request.method in ("GET", "HEAD"):
                query = request.META.get("QUERY_STRING", "")
                return HttpResponsePermanentRedirect(target + ("?" + query if query else ""))
            return error_response(404, "not_found", f"No resource at {request.path}; did you mean {target}?")
    return error_response(404, "not_found", f"No resource at {request.path}.")
