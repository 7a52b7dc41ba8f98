"""Helpers for projects testing their own DynamoModels."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import cache, connection
from .table import delete_table, ensure_table


@contextlib.contextmanager
def dynamo_tables(*models: Any) -> Iterator[None]:
    """Create the models' tables for the block and drop them afterwards."""
    cache.reset()
    for model in models:
        ensure_table(model)
    try:
        yield
    finally:
        for model in models:
            delete_table(model)
        cache.reset()
        connection.reset_client()
