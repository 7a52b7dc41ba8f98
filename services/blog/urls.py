"""Routes of the blog API. A catch-all last keeps every 404 JSON."""

from django.urls import path, re_path, register_converter

from . import docs, token_views, views
from .models import Comment


class UUIDStringConverter:
    """A UUID in any letter case, handed to the view as a canonical string."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()

    def to_url(self, value) -> str:
        return str(value)


class CommentIdConverter:
    """A comment's opaque id (its post and sort key, URL-safe base64); anything else matches no route (404)."""

    regex = "[A-Za-z0-9_-]{8,400}"

    def to_python(self, value: str) -> str:
        Comment.pk_from_text(value)  # ValueError: not a comment id, so Django tries the next route
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(UUIDStringConverter, "pk")
register_converter(CommentIdConverter, "comment")

urlpatterns = [
    path("healthz", views.HealthView.as_view(), name="healthz"),
    path("api/authors/", views.AuthorListView.as_view(), name="author-list"),
    path("api/authors/<pk:pk>/", views.AuthorDetailView.as_view(), name="author-detail"),
    path("api/authors/<pk:pk>/tokens/", token_views.TokenListView.as_view(), name="token-list"),
    path("api/authors/<pk:pk>/tokens/<pk:token_id>/", token_views.TokenDetailView.as_view(), name="token-detail"),
    path("api/posts/", views.PostListView.as_view(), name="post-list"),
    path("api/posts/<pk:pk>/", views.PostDetailView.as_view(), name="post-detail"),
    path("api/posts/<pk:pk>/comments/", views.PostCommentsView.as_view(), name="post-comments"),
    path("api/comments/<comment:pk>/", views.CommentDetailView.as_view(), name="comment-detail"),
    # The API's description and its docs page (not part of the description itself).
    path("api/openapi.json", docs.OpenApiView.as_view(), name="openapi"),
    path("api/docs/", docs.DocsPageView.as_view(), name="docs"),
    path("api/docs/init.js", docs.DocsInitView.as_view(), name="docs-init"),
    path("api/docs/assets/<str:name>", docs.DocsAssetView.as_view(), name="docs-asset"),
    re_path(r"^(?P<path>.*)$", views.route_not_found, name="not-found"),
]
