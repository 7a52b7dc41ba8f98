"""python manage.py dynamo_tables create|delete|describe|list|plan|apply [app_label.Model ...]

``plan`` prints what ``apply`` would change to make the live tables match the
models (schema.py); ``apply`` does it, one step at a time, and may be run
again after any interruption. Both exit with status 1 when something needs a
person: a table to rebuild, or unique values two items hold (``plan --check``
also when there is anything to apply).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ... import schema_apply, table
from ...exceptions import DynamoBackendError
from ...options import all_models, get_model
from ...schema_steps import Plan, Step


class Command(BaseCommand):
    help = "Create, delete, describe, list, plan or apply the DynamoDB tables of the DynamoModels."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["create", "delete", "describe", "list", "plan", "apply"])
        parser.add_argument("models", nargs="*", help="app_label.ModelName (default: every model)")
        parser.add_argument(
            "--check", action="store_true", help="plan: exit with status 1 when there is anything to apply"
        )
        parser.add_argument(
            "--segments", type=int, default=4, help="apply: Scan segments read in parallel by a claims backfill"
        )
        parser.add_argument(
            "--max-rcu",
            type=float,
            default=100.0,
            help="apply: read capacity units a second a claims backfill's Scan may consume (0: no limit)",
        )

    def handle(self, *args: Any, action: str, models: list[str], **options: Any) -> None:
        try:
            chosen = [get_model(label) for label in models] if models else all_models()
        except LookupError as error:
            raise CommandError(str(error)) from None
        try:
            if action == "plan":
                self.do_plan(chosen, check=options["check"])
            elif action == "apply":
                self.do_apply(chosen, segments=options["segments"], max_rcu=options["max_rcu"])
            else:
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

    def do_plan(self, models: list, *, check: bool = False) -> None:
        plan = schema_apply.plan(models)
        self._print_plan(plan)
        if plan.rebuilds:
            raise CommandError(f"{len(plan.rebuilds)} table(s) must be rebuilt by hand (see above)")
        if check and plan.changes:
            raise CommandError(f"{len(plan.changes)} change(s) to apply")

    def _print_plan(self, plan: Plan) -> None:
        model = None
        for step in plan.steps:
            if step.model != model:
                model = step.model
                self.stdout.write(f"{model}:")
            self.stdout.write(f"  {'-' if step.runs else '!'} {step}")
        skipped = f" ({len(plan.skipped)} skipped: this endpoint cannot make them)" if plan.skipped else ""
        if plan.changes:
            self.stdout.write(f"{len(plan.changes)} change(s) to apply{skipped}.")
        else:
            self.stdout.write(f"No changes: the tables match the models{skipped}.")

    def do_apply(self, models: list, *, segments: int, max_rcu: float) -> None:
        def report(event: str, step: Step) -> None:
            if event == "start":
                self.stdout.write(f"{step.text()} ...")
            elif event == "skipped":
                self.stdout.write(f"skipped: {step.text()} ({step.skipped})")

        result = schema_apply.apply(models, total_segments=segments, max_rcu_per_second=max_rcu or None, report=report)
        for backfill in result.backfills:
            state = "complete" if backfill.complete else f"{len(backfill.conflicts)} conflict(s)"
            self.stdout.write(
                f"{backfill.model} claims ({', '.join(backfill.labels)}): {backfill.scanned} item(s) scanned, "
                f"{backfill.claimed} claim(s) taken, {state}"
            )
            for conflict in backfill.conflicts:
                self.stdout.write(f"  conflict: {conflict}")
        for rebuild in result.plan.rebuilds:
            self.stdout.write(str(rebuild))
        if not result.ok:
            problems = []
            if result.conflicts:
                problems.append(f"{len(result.conflicts)} unique value(s) held by two items: fix them, apply again")
            if result.plan.rebuilds:
                problems.append(f"{len(result.plan.rebuilds)} table(s) to rebuild by hand")
            raise CommandError("; ".join(problems))
        self.stdout.write(f"Applied {len(result.done)} change(s)." if result.done else "No changes.")
