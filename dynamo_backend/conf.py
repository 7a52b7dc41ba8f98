"""The library's settings: the DYNAMO_BACKEND dict, with AWS's standard variables as fallback."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

from .exceptions import ConfigurationError

_UNSET = object()


def _env_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None


def _env_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


# name -> default (a callable is evaluated at read time, so env changes are seen)
DEFAULTS: dict[str, Any] = {
    "ENDPOINT_URL": _env_endpoint,
    "REGION": _env_region,
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "TABLE_PREFIX": "",
    "CREATE_TABLES_ON_STARTUP": False,
    "CONNECT_TIMEOUT": 2.0,
    "READ_TIMEOUT": 5.0,
    "MAX_ATTEMPTS": 3,  # in all, the first attempt included
    "REQUEST_DEADLINE": 4.0,  # seconds of DynamoDB time a request may spend (0: no deadline)
    "MAX_POOL_CONNECTIONS": 50,
    "BATCH_MAX_ATTEMPTS": 8,
    "BATCH_BASE_DELAY": 0.05,
    "BATCH_MAX_DELAY": 2.0,
    "CACHE_TTL": 60,
    "CACHE_MAXSIZE": 10000,
    "QUERY_CACHE_TTL": 5,
    "NEGATIVE_CACHE_TTL": 2,
    "TABLE_WAIT_TIMEOUT": 60,
    # Coherence across processes (dynamo_backend.streams): a stream on every model table,
    # read by one process per host, which passes each change on to the host's other processes.
    "STREAMS": True,
    "STREAM_POLL_INTERVAL": 0.5,  # seconds between two reads of every shard (when nothing is waiting)
    "STREAM_DIR": None,  # the host's rendezvous directory (lock, sockets); None: one under the temp dir
}


def user_settings() -> dict[str, Any]:
    """Return the DYNAMO_BACKEND dict from Django settings (empty when unset)."""
    value = getattr(settings, "DYNAMO_BACKEND", None) or {}
    if not isinstance(value, dict):
        raise ConfigurationError("DYNAMO_BACKEND must be a dict")
    return value


def unknown_keys() -> list[str]:
    """Return the keys of DYNAMO_BACKEND that the library does not know."""
    return sorted(k for k in user_settings() if k not in DEFAULTS)


_checked: tuple[int, int] | None = None


def get_setting(name: str) -> Any:
    """Return one setting, from DYNAMO_BACKEND or its default."""
    global _checked
    if name not in DEFAULTS:
        raise KeyError(name)
    values = user_settings()
    # Runs on every call (hot path): check the keys only when the dict changes.
    signature = (id(values), len(values))
    if _checked == signature:
        bad = []
    else:
        bad = [k for k in values if k not in DEFAULTS]
        if not bad:
            _checked = signature
    if bad:
        raise ConfigurationError(
            f"Unknown DYNAMO_BACKEND key(s): {', '.join(sorted(bad))}. Known keys: {', '.join(DEFAULTS)}"
        )
    value = values.get(name, _UNSET)
    if value is _UNSET or (value is None and callable(DEFAULTS[name])):
        default = DEFAULTS[name]
        value = default() if callable(default) else default
    return value
