"""The API's one error shape, and the exceptions views raise to produce it.

Every error body is::

    {"error": {"code": "validation_error", "message": "...", "fields": {"email": ["..."]}}}

``fields`` appears only when the error is about named input fields. Views
raise :class:`ApiError` subclasses (or let library exceptions propagate);
:mod:`services.blog.middleware` turns every exception into a response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus

from django.http import JsonResponse

RETRY_AFTER_SECONDS = "1"

# The ``code`` of each status the API answers with, when nothing more specific
# applies (an error page Django or a library produced, re-shaped as JSON).
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

# RFC 6750: a 401 or 403 from a bearer-token API says which scheme it wants.
AUTH_REALM = 'Bearer realm="api"'


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JsonResponse:
    """Build a JSON error response in the API's single error shape."""
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = {name: [str(m) for m in msgs] for name, msgs in fields.items()}
    response = JsonResponse({"error": error}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiError(Exception):
    """An error the client should see as-is: status, code, message, fields."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = dict(fields) if fields else None
        self.headers = dict(headers) if headers else None

    def to_response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.message, fields=self.fields, headers=self.headers)


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class InvalidJson(ApiError):
    status, code = 400, "invalid_json"


class InvalidInput(ApiError):
    """Input fields failed validation; ``fields`` says which and why."""

    status, code = 400, "validation_error"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unauthorized(ApiError):
    """No usable credentials: no token, or one that is malformed, unknown or revoked."""

    status, code = 401, "unauthorized"

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        challenge = f'{AUTH_REALM}, error="invalid_token"' if invalid_token else AUTH_REALM
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    """Valid credentials without the right to do this."""

    status, code = 403, "forbidden"

    def __init__(self, message: str, *, fields: Mapping[str, Sequence[str]] | None = None) -> None:
        headers = {"WWW-Authenticate": f'{AUTH_REALM}, error="insufficient_scope"'}
        super().__init__(message, fields=fields, headers=headers)


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class RateLimited(ApiError):
    """Too many requests in a window; ``retry_after`` seconds until the window ends."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


def status_error(status: int, message: str | None = None) -> JsonResponse:
    """An error response for a bare status, with its usual code and reason."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return error_response(status, STATUS_CODES.get(status, "error"), message or f"{reason}.")


def bad_request(request, exception=None) -> JsonResponse:
    """handler400: DisallowedHost, SuspiciousOperation, TooManyFieldsSent... as JSON, without details."""
    return error_response(400, "bad_request", "Bad request.")


def permission_denied(request, exception=None) -> JsonResponse:
    """handler403: an unhandled PermissionDenied as JSON."""
    return error_response(403, "forbidden", "Forbidden.")


def csrf_failure(request, reason: str = "") -> JsonResponse:
    """CSRF_FAILURE_VIEW: a cross-site refusal as JSON (the API sets no cookie, so none is expected)."""
    return error_response(403, "forbidden", "Cross-site request refused.")


def not_found(request, exception=None) -> JsonResponse:
    """handler404: unknown routes and unhandled Http404 as JSON."""
    return error_response(404, "not_found", f"No resource at {request.path}.")


def server_error(request) -> JsonResponse:
    """handler500: a JSON 500 with no internals in it."""
    return error_response(500, "internal_error", "Internal server error.")
