"""python manage.py dynamo_tables create|delete|describe|list [app_label.Model ...]"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import table
from ...exceptions import DynamoBackendError
from ...options import all_models, get_model


class Command(BaseCommand):
    help = "Create, delete, describe or list the DynamoDB tables of the DynamoModels."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["create", "delete", "describe", "list"])
        parser.add_argument("models", nargs="*", help="app_label.ModelName (default: every model)")

    def handle(self, *args: Any, action: str, models: list[str], **options: Any) -> None:
        try:
            chosen = [get_model(label) for label in models] if models else all_models()
        except LookupError as error:
            raise CommandError(str(error)) from None
        try:
            getattr(self, f"do_{action}")(chosen)
        except DynamoBackendError as error:
            raise CommandError(f"{action} failed: {error}") from error

    def do_create(self, models: list) -> None:
        for model in models:
            created = table.ensure_table(model)
            state = "created" if created else "exists"
            self.stdout.write(f"{model._meta.label}: {model._meta.table_name} {state} (ACTIVE)")

    def do_delete(self, models: list) -> None:
        for model in models:
            existed = table.delete_table(model)
            state = "deleted" if existed else "absent"
            self.stdout.write(f"{model._meta.label}: {model._meta.table_name} {state}")

    def do_describe(self, models: list) -> None:
        for model in models:
            desc = table.describe(model._meta.table_name)
            if desc is None:
                self.stdout.write(f"{model._meta.label}: {model._meta.table_name} does not exist")
                continue
            summary = {
                "model": model._meta.label,
                "table": desc["TableName"],
                "status": desc.get("TableStatus"),
                "items": desc.get("ItemCount"),
                "indexes": [
                    {
                        "name": g["IndexName"],
                        "keys": [k["AttributeName"] for k in g["KeySchema"]],
                        "status": g.get("IndexStatus"),
                    }
                    for g in desc.get("GlobalSecondaryIndexes", [])
                ],
            }
            self.stdout.write(json.dumps(summary, indent=2))

    def do_list(self, models: list) -> None:
        existing = set(table.list_tables())
        for model in models:
            name = model._meta.table_name
            mark = "present" if name in existing else "missing"
            self.stdout.write(f"{model._meta.label}\t{name}\t{mark}")
