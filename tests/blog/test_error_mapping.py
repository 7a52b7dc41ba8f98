"""The exception -> error response mapping, one exception at a time (pure: no DynamoDB)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.test import RequestFactory

import dynamo_backend
from services.blog import errors
from services.blog.middleware import ApiErrorMiddleware
from services.blog.models import Author


def _instance(cls, *args):
    try:
        return cls(*args)
    except TypeError:
        return cls.__new__(cls)


@pytest.mark.parametrize(
    "exc, status, code",
    [
        (errors.NotFound("x"), 404, "not_found"),
        (errors.Conflict("x"), 409, "conflict"),
        (errors.InvalidJson("x"), 400, "invalid_json"),
        (errors.Unauthorized("x"), 401, "unauthorized"),
        (errors.Forbidden("x"), 403, "forbidden"),
        (errors.UnsupportedMediaType("x"), 415, "unsupported_media_type"),
        (errors.RateLimited("x", retry_after=7), 429, "rate_limited"),
        (RequestDataTooBig("x"), 413, "payload_too_large"),
        (dynamo_backend.ValidationError({"email": ["bad"]}), 400, "validation_error"),
        (ObjectDoesNotExist("x"), 404, "not_found"),
        (Author.DoesNotExist("x"), 404, "not_found"),
        (Http404("x"), 404, "not_found"),
        (_instance(dynamo_backend.UniqueConstraintError, "taken"), 409, "conflict"),
        (_instance(dynamo_backend.ItemAlreadyExists, "exists"), 409, "conflict"),
        (_instance(dynamo_backend.VersionConflict, "stale"), 409, "conflict"),
        (_instance(dynamo_backend.ServiceUnavailable, "down"), 503, "service_unavailable"),
        (_instance(dynamo_backend.Throttled, "slow down"), 503, "service_unavailable"),
        (SuspiciousOperation("x"), 400, "bad_request"),
        (RuntimeError("x"), 500, "internal_error"),
        (KeyError("x"), 500, "internal_error"),
    ],
)
def test_middleware_maps_exceptions(exc, status, code, assert_error):
    request = RequestFactory().get("/api/anything/")
    response = ApiErrorMiddleware(lambda r: None).process_exception(request, exc)
    assert response.status_code == status
    error = assert_error(response, status, code)
    if status == 503:
        assert response["Retry-After"] == "1"
    if status == 429:
        assert response["Retry-After"] == "7"
    if status in (401, 403):
        assert response["WWW-Authenticate"].startswith("Bearer ")
    if code == "validation_error":
        assert error["fields"] == {"email": ["bad"]}


def test_handlers_are_json():
    request = RequestFactory().get("/x")
    assert errors.not_found(request, Http404()).status_code == 404
    response = errors.server_error(request)
    assert response.status_code == 500 and json.loads(response.content)["error"]["code"] == "internal_error"


@pytest.mark.parametrize(
    "status, code", [(400, "bad_request"), (403, "forbidden"), (413, "payload_too_large"), (502, "error")]
)
def test_a_bare_status_gets_its_usual_code(status, code, assert_error):
    assert_error(errors.status_error(status), status, code)
