"""Django integration: checks, settings reload, missing tables created when a server starts serving.

``CREATE_TABLES_ON_STARTUP`` (on by default) creates the missing tables of
every model when the process handles its first request: ``runserver``,
gunicorn and any other WSGI/ASGI server, never a management command (so
``dynamo_tables plan`` still shows what is missing). If DynamoDB cannot be
reached then, the error is logged with the command that creates the tables,
and a later request tries again (at most every RETRY_SECONDS).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.apps import AppConfig
from django.core.signals import request_started, setting_changed

from . import cache, checks, connection
from .conf import get_setting, user_settings
from .exceptions import DynamoBackendError
from .table import ensure_all_tables

logger = logging.getLogger("dynamo_backend")

RETRY_SECONDS = 10.0
_lock = threading.Lock()
_done_for: Any = None  # the DYNAMO_BACKEND dict the tables were ensured for (or that turns it off)
_failed_at: float | None = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    global _failed_at
    if setting == "DYNAMO_BACKEND":
        connection.reset_client()
        cache.reset()
        _failed_at = None  # other settings, perhaps another endpoint: the next request may try at once


def create_tables_once(clock: Any = time.monotonic) -> dict[str, bool] | None:
    """Create the missing tables once per process and settings, if CREATE_TABLES_ON_STARTUP asks.

    Returns {label: created} when it ran and succeeded, else None. Threads
    racing here wait for the first; processes racing are fine (a table
    another made is left as it is).
    """
    global _done_for, _failed_at
    values = user_settings()
    if values is _done_for:
        return None
    with _lock:
        if values is _done_for:
            return None
        if not get_setting("CREATE_TABLES_ON_STARTUP"):
            _done_for = values
            return None
        if _failed_at is not None and clock() - _failed_at < RETRY_SECONDS:
            return None
        try:
            created = ensure_all_tables()
        except DynamoBackendError as error:
            _failed_at = clock()
            logger.error(
                "Could not create the DynamoDB tables: %s. Requests that need them answer 503 until they exist: "
                "run `python manage.py dynamo_tables create` (or `plan` and `apply`) once DynamoDB is reachable",
                error,
            )
            return None
        _done_for, _failed_at = values, None
    made = [label for label, new in created.items() if new]
    if made:
        logger.info("Created DynamoDB tables for %s", ", ".join(made))
    return created


def _on_request_started(**kwargs: Any) -> None:
    create_tables_once()


class DynamoBackendConfig(AppConfig):
    """The dynamo_backend app."""

    name = "dynamo_backend"
    verbose_name = "DynamoDB backend"

    def ready(self) -> None:
        checks.register()
        setting_changed.connect(_on_setting_changed, dispatch_uid="dynamo_backend.setting_changed")
        request_started.connect(_on_request_started, dispatch_uid="dynamo_backend.create_tables")

    def create_tables(self) -> dict[str, bool] | None:
        """Create the missing tables now, as the first request would (CREATE_TABLES_ON_STARTUP permitting)."""
        return create_tables_once()
