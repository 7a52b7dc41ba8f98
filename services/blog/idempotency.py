"""Idempotency-Key on POST (the IETF httpapi idempotency-key draft): a retried create is done once.

A POST with ``Idempotency-Key: <key>`` first records the key, a fingerprint of
the request and the pk the new resource will have, in DynamoDB (a conditional
create, so two racing requests with one key cannot both run), with a TTL of
24 hours. Then:

- the same key with the same request, once answered, gets the stored answer
  again (status, body, Location), marked ``Idempotent-Replayed: true``, and
  writes nothing;
- the same key with a different request is 422 ``idempotency_key_reused``;
- the same key while the first request still runs is 409
  ``idempotency_key_in_flight`` with Retry-After;
- a request that failed with a 5xx (DynamoDB down, deadline spent) leaves the
  key claimable at once: its retry runs again with the same resource pk, so a
  resource the first attempt did store is found, not created twice;
- so does a request refused before it ran (401 without a usable token, 429
  rate limited): its answer is not kept, and the retry runs.

Keys are scoped per client credential (a hash of the Authorization header),
method and path. Secrets in a response (a signup's token) are never stored:
their replay leaves them out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from dynamo_backend import DynamoBackendError, DynamoModel, ItemAlreadyExists, ValidationError, connection

from .errors import error_response
from .middleware import exception_to_response
from .models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
KEEP = dt.timedelta(hours=24)
# How long a request may hold its key before a retry may take over (a crashed worker's key frees itself).
LEASE = dt.timedelta(seconds=30)
MAX_KEY_LENGTH = 255
# Attempts at recording an answer, and the DynamoDB time they may take beyond the request's deadline.
FINISH_TRIES = 3
FINISH_SECONDS = 3.0
# Answers to a request that was refused before it ran (no token, rate limited): not kept, so
# its retry runs (a kept 429 would answer every retry with the same key for 24 hours).
NOT_RUN = frozenset({401, 429})
# Response fields never stored for a replay (secrets shown once).
SECRET_FIELDS = ("token",)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _record_pk(request: HttpRequest, key: str) -> str:
    credential = request.META.get("HTTP_AUTHORIZATION", "")
    scope = "\n".join((hashlib.sha256(credential.encode()).hexdigest(), request.method or "", request.path, key))
    return hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256(request.META.get("CONTENT_TYPE", "").encode())
    digest.update(b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _problem(key: str) -> str | None:
    if not key or len(key) > MAX_KEY_LENGTH:
        return f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters."
    if any(not (32 <= ord(c) < 127) for c in key):
        return "Idempotency-Key must be printable ASCII."
    return None


def resource_pk(request: HttpRequest) -> str | None:
    """Return the pk the resource created by this request must have (None without an Idempotency-Key)."""
    record = getattr(request, "idempotency_record", None)
    return record.resource_pk if record is not None else None


def create_once(model: type[DynamoModel], request: HttpRequest, **values: Any) -> DynamoModel:
    """Create the request's resource; under an Idempotency-Key, find the one an earlier attempt stored."""
    pinned = resource_pk(request)
    if pinned is None:
        return model.objects.create(**values)
    if model._meta.composite_key:
        # The key's sort part is pinned instead (the model says how: e.g. its time, then this UUID).
        record = request.idempotency_record  # type: ignore[attr-defined]
        values.update(model.pinned_values(pinned, record.expires_at - KEEP))  # type: ignore[attr-defined]
    else:
        values["pk"] = pinned
    try:
        return model.objects.create(**values)
    except ItemAlreadyExists:
        # The key was made for this Idempotency-Key alone: the item is an earlier attempt's of this very request.
        key = tuple(values[name] for name in model._meta.keys.names) if model._meta.composite_key else pinned
        return model.objects.get(pk=key, consistent_read=True)


class IdempotencyMiddleware:
    """Apply Idempotency-Key to POST requests (see the module docstring)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.META.get(HEADER)
        if request.method != "POST" or key is None:
            return self.get_response(request)
        problem = _problem(key)
        if problem:
            return error_response(400, "invalid_idempotency_key", problem, fields={"Idempotency-Key": [problem]})
        try:
            record, early = self._claim(request, key)
        except DynamoBackendError as error:
            return exception_to_response(request, error)
        if early is not None:
            return early
        request.idempotency_record = record  # type: ignore[attr-defined]
        response = self.get_response(request)
        self._finish(record, response)
        return response

    def _claim(self, request: HttpRequest, key: str) -> tuple[IdempotencyRecord, HttpResponse | None]:
        pk, fingerprint, now = _record_pk(request, key), _fingerprint(request), _now()
        fresh = IdempotencyRecord(
            pk=pk,
            fingerprint=fingerprint,
            resource_pk=str(uuid.uuid4()),
            state="in_flight",
            lease_until=int((now + LEASE).timestamp()),
            expires_at=now + KEEP,
        )
        try:
            fresh.save()
            return fresh, None
        except ItemAlreadyExists:
            pass
        existing = IdempotencyRecord.objects.filter(pk=pk).consistent().first()
        if existing is None:  # expired, not yet deleted by DynamoDB: start over in its place
            IdempotencyRecord(pk=pk).delete()
            fresh.save()
            return fresh, None
        if existing.fingerprint != fingerprint:
            return existing, error_response(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request; use a new key for a new request.",
            )
        if existing.state == "done":
            return existing, _replay(existing)
        if existing.lease_until > int(now.timestamp()):
            return existing, error_response(
                409,
                "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                headers={"Retry-After": str(max(1, existing.lease_until - int(now.timestamp())))},
            )
        return self._take_over(existing, now), None

    @staticmethod
    def _take_over(existing: IdempotencyRecord, now: dt.datetime) -> IdempotencyRecord:
        """The earlier request died or failed: run again, with the same resource pk."""
        existing.lease_until = int((now + LEASE).timestamp())
        existing.save(update_fields=["lease_until"])  # VersionConflict-free: a racing take-over is harmless
        return existing

    @staticmethod
    def _finish(record: IdempotencyRecord, response: HttpResponse) -> None:
        """Remember the answer (or, after a 5xx, free the key at once), trying hard: the write did happen."""
        if response.status_code >= 500 or response.status_code in NOT_RUN:
            record.lease_until = 0  # a retry may run again at once, with the same resource pk
            updates = [["lease_until"]] * FINISH_TRIES  # else the key waits out its LEASE (409 in flight)
        else:
            record.state = "done"
            record.status = response.status_code
            record.body = _stored_body(response)
            record.location = response.get("Location")
            updates = [["state", "status", "body", "location"]] * FINISH_TRIES
            # Last resort: free the key, so a retry runs again and finds the stored resource.
            updates.append(["lease_until"])
        with connection.deadline(FINISH_SECONDS, replace=True):
            for fields in updates:
                if fields == ["lease_until"]:
                    record.lease_until = 0
                try:
                    record.save(update_fields=fields)
                    return
                except ValidationError:  # the answer cannot be stored (too large): free the key instead
                    record.lease_until = 0
                    with contextlib.suppress(DynamoBackendError):
                        record.save(update_fields=["lease_until"])
                    return
                except DynamoBackendError:
                    continue


def _stored_body(response: HttpResponse) -> str:
    text = response.content.decode("utf-8") if response.content else ""
    if not text or response.get("Content-Type", "").split(";")[0] != "application/json":
        return text
    data = json.loads(text)
    if isinstance(data, dict):
        for name in SECRET_FIELDS:
            data.pop(name, None)
    return json.dumps(data)


def _replay(record: IdempotencyRecord) -> HttpResponse:
    if record.body:
        response: HttpResponse = JsonResponse(json.loads(record.body), status=record.status or 200, safe=False)
    else:
        response = HttpResponse(status=record.status or 204)
    if record.location:
        response["Location"] = record.location
    response["Idempotent-Replayed"] = "true"
    return response
