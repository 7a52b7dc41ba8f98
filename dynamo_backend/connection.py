"""The low-level DynamoDB client: built lazily, shared per process, errors translated here.

This is the only module that imports boto3 or botocore. Everything else in the
library performs I/O through :func:`call`.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from . import exceptions as exc
from . import stats
from .conf import get_setting

_lock = threading.Lock()
_client: Any = None
_client_key: tuple | None = None
_override: list[Any] = []

# APIs that accept ReturnConsumedCapacity.
_CAPACITY_OPS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerException",
    }
)
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
# Set in a response's ResponseMetadata when an earlier attempt of the call may have been applied.
_AFTER_UNKNOWN = "DynamoBackendAfterUnknownAttempt"
_method_names: dict[str, str] = {}


def _settings_key() -> tuple:
    return tuple(
        get_setting(name)
        for name in (
            "ENDPOINT_URL",
            "REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "CONNECT_TIMEOUT",
            "READ_TIMEOUT",
            "MAX_ATTEMPTS",
            "MAX_POOL_CONNECTIONS",
            "REQUEST_DEADLINE",
        )
    )


def attempt_timeouts(connect: float, read: float, attempts: int, deadline: float) -> tuple[float, float]:
    """Return (connect, read) timeouts of one attempt: the settings, capped so the attempts fit the deadline."""
    if deadline and attempts:
        share = float(deadline) / int(attempts)
        return min(float(connect), share), min(float(read), share)
    return float(connect), float(read)


def _build_client(key: tuple, service: str = "dynamodb") -> Any:
    (endpoint, region, key_id, secret, token, connect_timeout, read_timeout, max_attempts, pool, deadline) = key
    if service == "dynamodb":
        connect, read = attempt_timeouts(connect_timeout, read_timeout, max_attempts, deadline)
        # The library retries itself (call()): only it knows whether a write may be repeated.
        options = {"retries": {"mode": "standard", "total_max_attempts": 1}, "max_pool_connections": int(pool)}
    else:  # the stream reader's reads are idempotent: botocore retries them
        connect, read = float(connect_timeout), float(read_timeout)
        # The regional endpoint: an ARN's account-based one is unknown to moto's in-process mock.
        options = {"retries": {"mode": "standard", "max_attempts": int(max_attempts)}}
        options["account_id_endpoint_mode"] = "disabled"
    return _session().client(
        service,
        endpoint_url=endpoint or None,
        region_name=region,
        config=botocore.config.Config(connect_timeout=connect, read_timeout=read, **options),
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )


_boto_session: Any = None


def _session() -> Any:
    """Return one boto3 session for the process (its loaders cache the service model).

    Only used under ``_lock``: sessions are not thread-safe, clients are.
    """
    global _boto_session
    if _boto_session is None:
        _boto_session = boto3.session.Session()
    return _boto_session


def get_client() -> Any:
    """Return the process's DynamoDB client, building it on first use."""
    global _client, _client_key
    if _override:
        return _override[-1]
    key = _settings_key()
    client = _client
    if client is not None and _client_key == key:
        return client
    with _lock:
        if _client is None or _client_key != key:
            _client = _build_client(key)
            _client_key = key
        return _client


def reset_client() -> None:
    """Forget the client so the next call builds one from the current settings."""
    global _client, _client_key
    with _lock:
        _client = None
        _client_key = None


@contextlib.contextmanager
def use_client(client: Any) -> Iterator[Any]:
    """Route every call through ``client`` inside the block (tests, stubs)."""
    _override.append(client)
    try:
        yield client
    finally:
        _override.remove(client)


def _table_of(params: dict) -> str | None:
    if "TableName" in params:
        return params["TableName"]
    items = params.get("RequestItems")
    if items:
        return ",".join(items)
    actions = params.get("TransactItems")
    if actions:
        names = []
        for action in actions:
            for body in action.values():
                name = body.get("TableName")
                if name and name not in names:
                    names.append(name)
        return ",".join(names)
    return None


# Operations a retry can never apply twice (reads, puts and deletes of a whole item, table admin).
_IDEMPOTENT = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "PutItem",
        "DeleteItem",
        "BatchWriteItem",
        "DescribeTable",
        "ListTables",
        "CreateTable",
        "UpdateTable",
        "DeleteTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
        "DescribeContinuousBackups",
        "UpdateContinuousBackups",
        "ListTagsOfResource",
        "TagResource",
        "UntagResource",
    }
)
_deadline: ContextVar[float | None] = ContextVar("dynamo_backend_deadline", default=None)
sleep: Callable[[float], None] = time.sleep  # tests replace it
clock: Callable[[], float] = time.monotonic


@contextlib.contextmanager
def deadline(seconds: float | None, *, replace: bool = False) -> Iterator[None]:
    """Bound the DynamoDB time of the block: once spent, calls raise DeadlineExceeded.

    Nested deadlines keep the sooner one, unless ``replace`` (a bounded piece of
    work that must run even when the request's own time is spent, e.g. recording
    the answer of a write that did happen).
    """
    if not seconds:
        yield
        return
    ends = clock() + float(seconds)
    outer = _deadline.get()
    token = _deadline.set(ends if outer is None or replace else min(outer, ends))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Return the seconds left before this context's deadline, or None without one."""
    ends = _deadline.get()
    return None if ends is None else ends - clock()


def _backoff(attempt: int) -> float:
    # Full jitter: spreads the retries of many throttled clients apart.
    return min(1.0, 0.025 * 2**attempt) * random.random()


def _is_idempotent(operation: str, params: dict) -> bool:
    if operation == "TransactWriteItems":
        return "ClientRequestToken" in params  # DynamoDB applies a token's transaction once (10 minutes)
    return operation in _IDEMPOTENT


def call(operation: str, *, idempotent: bool | None = None, **params: Any) -> dict:
    """Run one DynamoDB API call, record it, translate its errors, and retry what may be retried.

    Throttling and refused connections are retried whatever the call (nothing
    was applied). A timeout or a 5xx leaves the outcome unknown: only an
    ``idempotent`` call (by default: reads, puts, deletes, transactions with a
    ClientRequestToken) is retried then; an UpdateItem is not unless the caller
    says it is, so a counter is never incremented twice. ``MAX_ATTEMPTS`` is
    the total number of attempts; a deadline (see :func:`deadline`) ends the
    retries early with DeadlineExceeded.
    """
    method = _method_names.get(operation)
    if method is None:
        method = _method_names[operation] = _SNAKE.sub("_", operation).lower()
    if operation in _CAPACITY_OPS and "ReturnConsumedCapacity" not in params:
        params["ReturnConsumedCapacity"] = "TOTAL"
    repeatable = _is_idempotent(operation, params) if idempotent is None else idempotent
    attempts = max(1, int(get_setting("MAX_ATTEMPTS")))
    unknown = False  # an earlier attempt may have been applied
    for attempt in range(attempts):
        _check_deadline(operation, attempt)
        try:
            response = _attempt(operation, method, params)
        except exc.DynamoBackendError as error:
            error.after_unknown = unknown
            retry = attempt + 1 < attempts and (not error.maybe_applied or repeatable) and _retryable(error)
            if not retry:
                raise
            unknown = unknown or error.maybe_applied
            pause = _backoff(attempt)
            left = remaining()
            if left is not None and left <= pause:
                raise exc.DeadlineExceeded(
                    f"{operation}: the request's DynamoDB deadline ran out after {error}"
                ) from error
            sleep(pause)
            continue
        if unknown:
            response.setdefault("ResponseMetadata", {})[_AFTER_UNKNOWN] = True
        return response
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def after_unknown(response: dict) -> bool:
    """Return whether a call's answer came from a retry after an attempt that may have been applied.

    A DeleteItem that finds nothing then may have found nothing because its
    own earlier attempt deleted the item (that attempt's answer was lost).
    """
    return bool(response.get("ResponseMetadata", {}).get(_AFTER_UNKNOWN))


def _retryable(error: exc.DynamoBackendError) -> bool:
    return isinstance(error, exc.Throttled | exc.ServiceUnavailable) and not isinstance(error, exc.DeadlineExceeded)


def _check_deadline(operation: str, attempt: int) -> None:
    left = remaining()
    if left is not None and left <= 0:
        what = "before it was sent" if attempt == 0 else f"after {attempt} attempt(s)"
        raise exc.DeadlineExceeded(f"{operation}: the request's DynamoDB deadline ran out {what}")


def _attempt(operation: str, method: str, params: dict) -> dict:
    client = get_client()
    started = time.perf_counter()
    response: dict | None = None
    try:
        response = getattr(client, method)(**params)
        return response
    except botocore.exceptions.BotoCoreError as error:
        raise translate_error(error, operation) from error
    except botocore.exceptions.ClientError as error:
        translated = translate_error(error, operation)
        if isinstance(translated, exc.TableDoesNotExist) or _missing_index(translated, params):
            translated = _missing_table(translated, operation, params)
        raise translated from error
    finally:
        capacity = response.get("ConsumedCapacity") if response else None
        stats.record_call(operation, _table_of(params), time.perf_counter() - started, capacity)


COMMAND_HINT = "create it with `python manage.py dynamo_tables create` (`dynamo_tables plan` lists what is missing)"


def _missing_index(error: exc.DynamoBackendError, params: dict) -> bool:
    """DynamoDB answers a read of an index the table lacks with a ValidationException, not a missing resource."""
    return isinstance(error, exc.RequestValidationError) and "IndexName" in params and "specified index" in str(error)


def _missing_table(error: exc.DynamoBackendError, operation: str, params: dict) -> exc.DynamoBackendError:
    """Name the missing table (or index) and the command that creates it."""
    names = tuple(filter(None, (_table_of(params) or "").split(",")))
    index = params.get("IndexName")
    if not names:
        return error
    if index:
        what = f"table {names[0]!r} or its index {index!r} does not exist"
    elif len(names) == 1:
        what = f"table {names[0]!r} does not exist"
    else:
        what = f"one of the tables {', '.join(repr(n) for n in names)} does not exist"
    message = f"{operation}: {what} ({error.code}); {COMMAND_HINT}"
    return exc.TableDoesNotExist(message, code=error.code, tables=names, index=index)


_AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "AccessDeniedException",
    }
)
_BY_CODE: dict[str, type[exc.DynamoBackendError]] = {
    "ConditionalCheckFailedException": exc.ConditionalCheckFailed,
    "ResourceNotFoundException": exc.TableDoesNotExist,
    "ValidationException": exc.RequestValidationError,
    **{code: exc.Throttled for code in _THROTTLE_CODES},
    **{code: exc.ConfigurationError for code in _AUTH_CODES},
}


def _translate_client_error(error: botocore.exceptions.ClientError, where: str) -> exc.DynamoBackendError:
    info = error.response.get("Error", {})
    code = info.get("Code", "")
    message = f"{where}{code}: {info.get('Message', '')}"
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons") or []
        return exc.TransactionCanceled(message, code=code, reasons=reasons)
    if code in _BY_CODE:
        return _BY_CODE[code](message, code=code)
    if code in _UNAVAILABLE_CODES or status >= 500:
        # DynamoDB's own words: the request may or may not have been applied.
        return exc.ServiceUnavailable(message, code=code or str(status), maybe_applied=True)
    return exc.DynamoBackendError(message, code=code or None)


def translate_error(error: Exception, operation: str = "") -> exc.DynamoBackendError:
    """Map a botocore error to the library's exception tree, keeping the AWS code."""
    where = f"{operation}: " if operation else ""
    if isinstance(error, botocore.exceptions.ClientError):
        return _translate_client_error(error, where)
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return exc.ConfigurationError(
            f"{where}no AWS credentials found: set DYNAMO_BACKEND['AWS_ACCESS_KEY_ID'] or the AWS credential chain",
            code="NoCredentials",
        )
    if isinstance(error, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        # Never connected: nothing was sent, so nothing was applied.
        return exc.ServiceUnavailable(f"{where}DynamoDB unreachable: {error}", code=type(error).__name__)
    if isinstance(error, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        # Sent, then the answer was lost (read timeout, connection reset): the outcome is unknown.
        return exc.ServiceUnavailable(
            f"{where}DynamoDB did not answer: {error}", code=type(error).__name__, maybe_applied=True
        )
    if isinstance(error, botocore.exceptions.ParamValidationError):
        return exc.RequestValidationError(f"{where}{error}", code="ParamValidationError")
    return exc.DynamoBackendError(f"{where}{error}", code=type(error).__name__)


# --- DynamoDB Streams --------------------------------------------------------------

_streams_client: Any = None
_streams_key: tuple | None = None


def get_streams_client() -> Any:
    """Return the process's DynamoDB Streams client (same endpoint, region and credentials)."""
    global _streams_client, _streams_key
    key = _settings_key()
    with _lock:
        if _streams_client is None or _streams_key != key:
            _streams_client, _streams_key = _build_client(key, "dynamodbstreams"), key
        return _streams_client


def streams_call(operation: str, **params: Any) -> dict:
    """Run one DynamoDB Streams call ("DescribeStream", "GetShardIterator", "GetRecords"); errors translated.

    Not counted in the request's call log: the stream reader runs in a thread of its own.
    """
    method = _SNAKE.sub("_", operation).lower()
    try:
        return getattr(get_streams_client(), method)(**params)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise translate_error(error, operation) from error
