"""ApiSecurityMiddleware: the outermost layer; every response leaves it with the API's headers.

* An error answered below as something else than JSON (Django's HTML 400
  for a disallowed Host, its debug page with DEBUG on, any handler Django
  falls back to) is re-shaped into the API's error shape, keeping its status
  and headers: the debug page is never served.
* ``Cache-Control``: ``no-store`` for anything personal or changing (a request
  with a token, a write, an error, ``/healthz``), else ``no-cache`` (a public
  read: a cache may keep it but must ask again before using it, since no
  validators are sent); ``Vary: Authorization`` on every response.
* A strict ``Content-Security-Policy`` on every response that sets none
  (JSON needs nothing; an HTML page, such as a future docs page, sets its own).
* ``Server-Timing`` for the moderator's requests even when
  ``DYNAMO_SERVER_TIMING`` is off (dynamo_backend's middleware reads
  ``request.dynamo_server_timing``).
"""

from __future__ import annotations

from django.utils.cache import patch_vary_headers

from .auth import is_admin_request
from .errors import status_error

JSON_CSP = "default-src 'none'; frame-ancestors 'none'"
_REPLACED_HEADERS = {"content-type", "content-length"}


def is_json(response) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def as_json_error(response):
    """The same error in the API's shape, with the original's headers (Allow, Retry-After...)."""
    replacement = status_error(response.status_code)
    for name, value in response.items():
        if name.lower() not in _REPLACED_HEADERS:
            replacement[name] = value
    return replacement


class ApiSecurityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.dynamo_server_timing = is_admin_request(request)
        response = self.get_response(request)
        if response.status_code >= 400 and not is_json(response):
            response = as_json_error(response)
        if not response.has_header("Cache-Control"):
            personal = (
                "HTTP_AUTHORIZATION" in request.META
                or request.method not in ("GET", "HEAD")
                or response.status_code >= 400
                or request.path == "/healthz"
            )
            response["Cache-Control"] = "no-store" if personal else "no-cache"
        patch_vary_headers(response, ["Authorization"])
        if not response.has_header("Content-Security-Policy"):
            response["Content-Security-Policy"] = JSON_CSP
        return response
