"""The HTTP ceiling: a bare Django JSON view, served by gunicorn with the stack's own config.

    PORT=8001 gunicorn -c config/gunicorn.conf.py bench.bare_app:application

No middleware, no DynamoDB, no data: ``GET /api/authors/<pk>/`` answers an
author-shaped JSON object (about the size of the real one) so the blog's
cached author page can be read as a fraction of what Django and gunicorn
alone manage on this machine.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

os.environ.pop("DJANGO_SETTINGS_MODULE", None)  # this module is its own settings
if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-bare-app-not-a-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "[::1]", "testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        USE_I18N=False,
        LOGGING_CONFIG=None,
    )


def author(request: HttpRequest, pk: str) -> JsonResponse:
    """Answer like ``GET /api/authors/<pk>/`` would, without looking anything up."""
    return JsonResponse(
        {
            "pk": pk,
            "username": "bare-author",
            "email": "bare-author@example.com",
            "bio": "A constant answer for the HTTP ceiling.",
            "created_at": "2024-05-01T12:00:00.000000+00:00",
        }
    )


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("api/authors/<str:pk>/", author),
    path("healthz", healthz),
]

application = get_wsgi_application()
