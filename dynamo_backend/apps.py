"""Django integration: checks, settings reload, tables created at startup when asked."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed

from . import cache, checks, connection
from .conf import get_setting
from .exceptions import DynamoBackendError
from .table import ensure_all_tables

logger = logging.getLogger("dynamo_backend")


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "DYNAMO_BACKEND":
        connection.reset_client()
        cache.reset()


class DynamoBackendConfig(AppConfig):
    """The dynamo_backend app."""

    name = "dynamo_backend"
    verbose_name = "DynamoDB backend"

    def ready(self) -> None:
        checks.register()
        setting_changed.connect(_on_setting_changed, dispatch_uid="dynamo_backend.setting_changed")
        if get_setting("CREATE_TABLES_ON_STARTUP"):
            self.create_tables()

    def create_tables(self) -> None:
        """Create missing tables; several workers racing is fine (already-exists is ignored)."""
        try:
            created = ensure_all_tables()
        except DynamoBackendError as error:
            logger.error(
                "Could not create DynamoDB tables at startup: %s "
                "(run `python manage.py dynamo_tables create` once DynamoDB is reachable)",
                error,
            )
            return
        made = [label for label, new in created.items() if new]
        if made:
            logger.info("Created DynamoDB tables for %s", ", ".join(made))
