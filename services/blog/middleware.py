"""ApiErrorMiddleware: the one place where exceptions become HTTP responses.

Views never catch DynamoDB errors; whatever they raise lands here and leaves
as a JSON body in the shape of :mod:`services.blog.errors`:

=====================================================  ====  ===================
exception                                              HTTP  code
=====================================================  ====  ===================
errors.ApiError (and subclasses)                       own   own
django RequestDataTooBig                               413   payload_too_large
ValidationError (library's or Django's)                400   validation_error
RelatedObjectMissing (a references= target is gone)   400   validation_error
ProtectedError (on_delete=PROTECT children remain)     409   conflict
ObjectDoesNotExist, Http404                            404   not_found
UniqueConstraintError / ItemAlreadyExists /
VersionConflict / other ConditionalCheckFailed         409   conflict
TableDoesNotExist (logged: which table, which command)  503   service_unavailable
ServiceUnavailable / Throttled /
BatchError (retries exhausted)                         503   service_unavailable
SuspiciousOperation, BadRequest, UnreadablePostError   400   bad_request
PermissionDenied                                       403   forbidden
anything else                                          500   internal_error (logged)
=====================================================  ====  ===================
"""

from __future__ import annotations

import logging
import os

from django.core import exceptions as django_exc
from django.http import Http404, JsonResponse, UnreadablePostError

from dynamo_backend import exceptions as ddb
from dynamo_backend import stats as ddb_stats

from .errors import RETRY_AFTER_SECONDS, ApiError, error_response

logger = logging.getLogger("services.blog")


def _validation_fields(exc: django_exc.ValidationError) -> dict[str, list[str]] | None:
    if hasattr(exc, "error_dict"):
        return {
            ("request" if name == django_exc.NON_FIELD_ERRORS else name): list(msgs)
            for name, msgs in exc.message_dict.items()
        }
    return None


def _conflict_message(exc: Exception) -> tuple[str, dict[str, list[str]] | None]:
    if isinstance(exc, ddb.UniqueConstraintError):
        field = getattr(exc, "field", None)
        value = getattr(exc, "value", None)
        if field:
            message = f"{field} {value!r} is already taken." if value is not None else f"{field} is already taken."
            return message, {field: [message]}
        return "A unique value is already taken.", None
    if isinstance(exc, ddb.ItemAlreadyExists):
        return "The item already exists.", None
    if isinstance(exc, ddb.VersionConflict):
        return "The item was changed by someone else; reload and retry.", None
    return "The request conflicts with the current state of the resource.", None


def _conflict_response(request, exc: ddb.ConditionalCheckFailed) -> JsonResponse:
    message, fields = _conflict_message(exc)
    if type(exc) is ddb.ConditionalCheckFailed:  # no rule of ours explains it: the log says where it came from
        logger.warning("Unexplained conflict on %s %s: %r", request.method, request.path, exc, exc_info=exc)
    return error_response(409, "conflict", message, fields=fields)


def exception_to_response(request, exc: BaseException) -> JsonResponse | None:
    """Map ``exc`` to a JSON error response (None: not an Exception we handle)."""
    if isinstance(exc, ApiError):
        return exc.to_response()
    if isinstance(exc, django_exc.RequestDataTooBig):
        return error_response(413, "payload_too_large", "Request body is too large (limit 1 MiB).")
    if isinstance(exc, django_exc.ValidationError):
        fields = _validation_fields(exc)
        message = "Invalid input." if fields else "; ".join(exc.messages) or "Invalid input."
        return error_response(400, "validation_error", message, fields=fields)
    if isinstance(exc, ddb.RelatedObjectMissing):
        message = f"{exc.field}: the referenced item does not exist."
        return error_response(400, "validation_error", "Invalid input.", fields={exc.field: [message]})
    if isinstance(exc, ddb.ProtectedError):
        return error_response(409, "conflict", str(exc.args[0]))
    if isinstance(exc, (django_exc.ObjectDoesNotExist, Http404)):
        return error_response(404, "not_found", f"No resource at {request.path}.")
    if isinstance(exc, ddb.ConditionalCheckFailed):
        return _conflict_response(request, exc)
    if isinstance(exc, ddb.TableDoesNotExist):
        # Not the client's doing, nor a passing fault: the operator must create the table. The log says which.
        logger.error("DynamoDB table missing on %s %s: %s", request.method, request.path, exc)
        return error_response(
            503,
            "service_unavailable",
            "The service is not fully set up: a database table it needs does not exist.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, (ddb.ServiceUnavailable, ddb.Throttled, ddb.BatchError)):
        log = ddb_stats.request_log()  # where the time went: a slow call, or retries after errors
        timeline = log.timeline() if log is not None else "not counted"
        logger.warning("DynamoDB unavailable on %s %s: %r; calls: %s", request.method, request.path, exc, timeline)
        return error_response(
            503,
            "service_unavailable",
            "The database is unavailable or throttling; retry shortly.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, (django_exc.SuspiciousOperation, django_exc.BadRequest, UnreadablePostError)):
        return error_response(400, "bad_request", "Bad request.")
    if isinstance(exc, django_exc.PermissionDenied):
        return error_response(403, "forbidden", "Forbidden.")
    logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal server error.")


class ApiErrorMiddleware:
    """Turn every exception a view raises into a JSON error response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return exception_to_response(request, exception)


class WorkerHeaderMiddleware:
    """Name the serving process in an ``X-Worker`` header, for tests that pin connections to workers.

    Off unless ``DJANGO_EXPOSE_WORKER`` is 1/true/yes/on: a production answer
    should not say which process served it. When off, Django drops the
    middleware at startup (MiddlewareNotUsed), so it costs nothing.
    """

    def __init__(self, get_response):
        if os.environ.get("DJANGO_EXPOSE_WORKER", "").strip().lower() not in {"1", "true", "yes", "on"}:
            raise django_exc.MiddlewareNotUsed
        self.get_response = get_response
        self.worker = str(os.getpid())

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Worker"] = self.worker
        return response
