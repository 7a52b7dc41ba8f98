"""Root URL configuration: the blog API owns every route.

Its patterns are used directly, not through include(): one resolver level
less on every request (see "The cost of a cached request" in docs/benchmarks.md).
"""

from services.blog.urls import urlpatterns

__all__ = ["urlpatterns"]

# JSON error bodies instead of Django's HTML pages.
handler400 = "services.blog.errors.bad_request"
handler403 = "services.blog.errors.permission_denied"
handler404 = "services.blog.errors.not_found"
handler500 = "services.blog.errors.server_error"
