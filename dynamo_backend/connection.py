"""The low-level DynamoDB client: built lazily, shared per process, errors translated here.

This is the only module that imports boto3 or botocore. Everything else in the
library performs I/O through :func:`call`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
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
        )
    )


def _build_client(key: tuple) -> Any:
    (endpoint, region, key_id, secret, token, connect_timeout, read_timeout, max_attempts, pool) = key
    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": int(max_attempts)},
        connect_timeout=float(connect_timeout),
        read_timeout=float(read_timeout),
        max_pool_connections=int(pool),
    )
    return _session().client(
        "dynamodb",
        endpoint_url=endpoint or None,
        region_name=region,
        config=config,
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


def call(operation: str, **params: Any) -> dict:
    """Run one DynamoDB API call, record it, and translate its errors."""
    method = _method_names.get(operation)
    if method is None:
        method = _method_names[operation] = _SNAKE.sub("_", operation).lower()
    if operation in _CAPACITY_OPS and "ReturnConsumedCapacity" not in params:
        params["ReturnConsumedCapacity"] = "TOTAL"
    client = get_client()
    started = time.perf_counter()
    response: dict | None = None
    try:
        response = getattr(client, method)(**params)
        return response
    except botocore.exceptions.BotoCoreError as error:
        raise translate_error(error, operation) from error
    except botocore.exceptions.ClientError as error:
        raise translate_error(error, operation) from error
    finally:
        capacity = response.get("ConsumedCapacity") if response else None
        stats.record_call(operation, _table_of(params), time.perf_counter() - started, capacity)


def translate_error(error: Exception, operation: str = "") -> exc.DynamoBackendError:
    """Map a botocore error to the library's exception tree, keeping the AWS code."""
    where = f"{operation}: " if operation else ""
    if isinstance(error, botocore.exceptions.ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code", "")
        message = f"{where}{code}: {info.get('Message', '')}"
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code == "ConditionalCheckFailedException":
            return exc.ConditionalCheckFailed(message, code=code)
        if code in _THROTTLE_CODES:
            return exc.Throttled(message, code=code)
        if code == "ResourceNotFoundException":
            return exc.TableDoesNotExist(message, code=code)
        if code == "ValidationException":
            return exc.RequestValidationError(message, code=code)
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons") or []
            return exc.TransactionCanceled(message, code=code, reasons=reasons)
        if code in _UNAVAILABLE_CODES or status >= 500:
            return exc.ServiceUnavailable(message, code=code or str(status))
        if code in (
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "MissingAuthenticationTokenException",
            "AccessDeniedException",
        ):
            return exc.ConfigurationError(message, code=code)
        return exc.DynamoBackendError(message, code=code or None)
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return exc.ConfigurationError(
            f"{where}no AWS credentials found: set DYNAMO_BACKEND['AWS_ACCESS_KEY_ID'] or the AWS credential chain",
            code="NoCredentials",
        )
    if isinstance(
        error,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionError,
            botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.HTTPClientError,
        ),
    ):
        return exc.ServiceUnavailable(f"{where}DynamoDB unreachable: {error}", code=type(error).__name__)
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
            (endpoint, region, key_id, secret, token, connect_timeout, read_timeout, max_attempts, _pool) = key
            config = botocore.config.Config(
                retries={"mode": "standard", "max_attempts": int(max_attempts)},
                connect_timeout=float(connect_timeout),
                read_timeout=float(read_timeout),
                # The regional endpoint: an ARN's account-based one is unknown to moto's in-process mock.
                account_id_endpoint_mode="disabled",
            )
            _streams_client = _session().client(
                "dynamodbstreams",
                endpoint_url=endpoint or None,
                region_name=region,
                config=config,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                aws_session_token=token,
            )
            _streams_key = key
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
