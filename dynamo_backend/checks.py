"""System checks with stable ids: dynamo_backend.E001 ..."""

from __future__ import annotations

import re
from typing import Any

from django.core import checks

from . import conf, table_options
from .exceptions import DynamoBackendError
from .options import all_models

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """Check the DYNAMO_BACKEND setting."""
    errors: list = []
    try:
        values = conf.user_settings()
    except Exception as error:  # reported as a check
        return [checks.Error(str(error), hint="Set DYNAMO_BACKEND to a dict.", id="dynamo_backend.E001")]
    unknown = conf.unknown_keys()
    if unknown:
        errors.append(
            checks.Error(
                f"DYNAMO_BACKEND has unknown key(s): {', '.join(unknown)}",
                hint=f"Known keys: {', '.join(conf.DEFAULTS)}",
                id="dynamo_backend.E001",
            )
        )
    numeric = (
        "CONNECT_TIMEOUT",
        "READ_TIMEOUT",
        "MAX_ATTEMPTS",
        "BATCH_MAX_ATTEMPTS",
        "BATCH_BASE_DELAY",
        "BATCH_MAX_DELAY",
        "CACHE_TTL",
        "CACHE_MAXSIZE",
        "QUERY_CACHE_TTL",
        "NEGATIVE_CACHE_TTL",
        "TABLE_WAIT_TIMEOUT",
        "MAX_POOL_CONNECTIONS",
    )
    for key in numeric:
        if key in values:
            value = values[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                errors.append(
                    checks.Error(
                        f"DYNAMO_BACKEND['{key}'] must be a number >= 0, got {value!r}",
                        hint="Use seconds for timeouts and TTLs, a count for sizes.",
                        id="dynamo_backend.E002",
                    )
                )
    for key in table_options.SETTING_KEYS:
        if key in values:
            try:
                table_options.setting(key)
            except DynamoBackendError as error:
                errors.append(checks.Error(str(error), hint=table_options.HINT, id="dynamo_backend.E006"))
    prefix = values.get("TABLE_PREFIX", "")
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]*", prefix):
        errors.append(
            checks.Error(
                f"DYNAMO_BACKEND['TABLE_PREFIX'] {prefix!r} has characters DynamoDB table names refuse",
                hint="Use letters, digits, '_', '-' and '.'.",
                id="dynamo_backend.E003",
            )
        )
    return errors


def check_models(app_configs: Any = None, **kwargs: Any) -> list:
    """Check every model's table name and relations."""
    errors: list = []
    for model in all_models():
        meta = model._meta
        try:
            name = meta.table_name
        except Exception:  # settings errors are reported by check_settings
            continue
        if not _TABLE_NAME.match(name):
            errors.append(
                checks.Error(
                    f"{meta.label}: table name {name!r} is not a valid DynamoDB table name",
                    hint="Table names are 3-255 characters of letters, digits, '_', '-' and '.'.",
                    obj=model,
                    id="dynamo_backend.E004",
                )
            )
        try:
            table_options.resolve(meta)
        except DynamoBackendError as error:  # a Meta that contradicts itself or the settings
            errors.append(checks.Error(str(error), hint=table_options.HINT, obj=model, id="dynamo_backend.E007"))
        for relation in meta.references:
            try:
                meta.related_model(relation)
            except (LookupError, Exception) as error:
                errors.append(
                    checks.Error(
                        f"{meta.label}.{relation}: {error}",
                        hint="references= takes a model class or 'app_label.ModelName'.",
                        obj=model,
                        id="dynamo_backend.E005",
                    )
                )
    return errors


def register() -> None:
    """Register the checks with Django (called from AppConfig.ready)."""
    checks.register(check_settings, "dynamo_backend")
    checks.register(check_models, "dynamo_backend")
