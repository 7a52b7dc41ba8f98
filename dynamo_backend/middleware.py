"""Per-request identity map and DynamoDB call accounting, reported in Server-Timing."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from . import cache, connection, stats
from .conf import get_setting

__all__ = ["DynamoRequestMiddleware", "server_timing"]


def server_timing(log: stats.CallLog) -> str:
    """Format a CallLog as a Server-Timing header value."""
    return f'ddb;dur={log.duration_ms:.1f};desc="calls={log.total}", cache;desc="hits={log.hits} misses={log.misses}"'


class DynamoRequestMiddleware:
    """Open an identity map and a call log per request; add a Server-Timing header."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with cache.scope(), stats.count_calls() as log, connection.deadline(get_setting("REQUEST_DEADLINE")):
            response = self.get_response(request)
        # The header tells a client what others recently read: only where settings.DYNAMO_SERVER_TIMING
        # allows it (default: DEBUG), or for a request an app vouches for (request.dynamo_server_timing).
        enabled = getattr(settings, "DYNAMO_SERVER_TIMING", settings.DEBUG)
        if not (enabled or getattr(request, "dynamo_server_timing", False)):
            return response
        # A streaming body runs after this point, outside the scope: the header
        # counts the work done before the response was handed back.
        timing = server_timing(log)
        existing = response.get("Server-Timing")
        response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
        return response
