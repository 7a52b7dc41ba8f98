"""Root URL configuration: the blog API owns every route."""

from django.urls import include, path

urlpatterns = [
    path("", include("services.blog.urls")),
]

# JSON error bodies instead of Django's HTML pages.
handler400 = "services.blog.errors.bad_request"
handler403 = "services.blog.errors.permission_denied"
handler404 = "services.blog.errors.not_found"
handler500 = "services.blog.errors.server_error"
