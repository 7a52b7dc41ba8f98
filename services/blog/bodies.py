"""Request bodies sent with ``Transfer-Encoding: chunked``: read them, within the same size limit.

Django reads a body by its Content-Length; a chunked request has none, so
Django sees an empty body. gunicorn decodes the chunks; this middleware reads
them (at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes, else 413 in the API's error
shape) so views and the Idempotency-Key fingerprint see the real body.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .errors import error_response


def is_chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


class ChunkedBodyMiddleware:
    """Give chunked requests their body (see the module docstring)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_chunked(request) and not request.META.get("CONTENT_LENGTH"):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
            stream = request.META["wsgi.input"]
            body = stream.read(limit + 1) if limit else stream.read()
            if limit and len(body) > limit:
                return error_response(413, "payload_too_large", f"The request body is larger than {limit} bytes.")
            request._body = body  # what request.body returns from now on
            request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
            request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)
