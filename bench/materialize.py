"""Materialisation: N model instances from the same raw DynamoDB items, three ways.

    python -m bench.materialize [--items 10000] [--repeat 7] [--json out.json]

ours (``Model.from_raw``), boto3's ``TypeDeserializer`` (to plain dicts) and
PynamoDB's ``Model.from_raw_data``, on blog-post-shaped items (datetimes in
PynamoDB's format, which ours reads too); the three results must agree field
by field before anything is timed. Runs in a process of its own, with a minimal Django.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import django
from boto3.dynamodb.types import TypeDeserializer
from django.conf import settings
from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from bench.results import Contender, Materialisation
from loadtests.records import to_json

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+0000"  # PynamoDB's wire format for datetimes


def _our_model() -> type:
    """The blog's Post shape as a dynamo_backend model, in a minimal Django of its own."""
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    settings.configure(
        SECRET_KEY="bench-materialize-not-a-secret",
        INSTALLED_APPS=["dynamo_backend", "bench"],
        USE_TZ=True,
        DYNAMO_BACKEND={"REGION": "us-east-1", "CREATE_TABLES_ON_STARTUP": False},
        LOGGING_CONFIG=None,
    )
    django.setup()
    # Imported once Django is set up: a model class needs the app registry.
    from dynamo_backend import BooleanField, CharField, DateTimeField, DynamoModel, IntegerField, ListField, UUIDField

    class BenchPost(DynamoModel):
        class Meta:
            app_label = "bench"
            table_name = "bench_posts"

        feed = CharField(default="post")
        title = CharField(max_length=200, nullable=False)
        slug = CharField(max_length=200, nullable=False)
        body = CharField()
        author_pk = UUIDField(auto=False)
        published = BooleanField(default=False)
        tags = ListField()
        view_count = IntegerField(default=0)
        created_at = DateTimeField()
        updated_at = DateTimeField()

    return BenchPost


def _pynamo_model() -> type:
    """The same shape in PynamoDB."""

    class PynamoPost(Model):
        class Meta:
            table_name = "bench_posts"
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        feed = UnicodeAttribute(null=True)
        title = UnicodeAttribute()
        slug = UnicodeAttribute()
        body = UnicodeAttribute(null=True)
        author_pk = UnicodeAttribute(null=True)
        published = BooleanAttribute(null=True)
        tags = ListAttribute(of=UnicodeAttribute, null=True)
        view_count = NumberAttribute(null=True)
        created_at = UTCDateTimeAttribute(null=True)
        updated_at = UTCDateTimeAttribute(null=True)

    return PynamoPost


def make_items(n: int) -> list[dict[str, Any]]:
    """N distinct raw items shaped like the blog's posts."""
    start = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 4
    items = []
    for i in range(n):
        created = start + timedelta(seconds=i)
        items.append(
            {
                "pk": {"S": str(uuid.UUID(int=i + 1, version=4))},
                "feed": {"S": "post"},
                "title": {"S": f"Post number {i}"},
                "slug": {"S": f"post-number-{i}"},
                "body": {"S": body},
                "author_pk": {"S": str(uuid.UUID(int=(i % 50) + 10_000_000, version=4))},
                "published": {"BOOL": i % 3 != 0},
                "tags": {"L": [{"S": "django"}, {"S": "dynamodb"}, {"S": f"t{i % 7}"}]},
                "view_count": {"N": str(i * 7)},
                "created_at": {"S": created.strftime(DATETIME_FORMAT)},
                "updated_at": {"S": (created + timedelta(minutes=5)).strftime(DATETIME_FORMAT)},
            }
        )
    return items


def _check_same(ours: list, dicts: list, pynamo: list) -> None:
    """The three results agree on every field: the comparison is like for like."""
    for a, d, p in zip(ours[:50], dicts[:50], pynamo[:50], strict=False):
        assert a.pk == d["pk"] == p.pk, (a.pk, d["pk"], p.pk)
        assert a.view_count == int(d["view_count"]) == int(p.view_count)
        assert list(a.tags) == list(d["tags"]) == list(p.tags)
        assert a.published is d["published"] is p.published
        assert a.created_at == p.created_at and a.updated_at == p.updated_at
        assert a.title == d["title"] == p.title and a.body == d["body"] == p.body


def run(n: int = 10_000, repeat: int = 7) -> Materialisation:
    items = make_items(n)
    from_raw, from_raw_data = _our_model().from_raw, _pynamo_model().from_raw_data
    deserialize = TypeDeserializer().deserialize

    contenders: dict[str, Callable[[], list]] = {
        "ours": lambda: [from_raw(item) for item in items],
        "typedeserializer": lambda: [{k: deserialize(v) for k, v in item.items()} for item in items],
        "pynamodb": lambda: [from_raw_data(item) for item in items],
    }
    _check_same(contenders["ours"](), contenders["typedeserializer"](), contenders["pynamodb"]())

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, build in contenders.items():
            gc.collect()
            start = time.perf_counter()
            result = build()
            times[name].append(time.perf_counter() - start)
            assert len(result) == n
            del result
    return Materialisation(
        items=n,
        repeat=repeat,
        datetime_format=f"PynamoDB's ({DATETIME_FORMAT})",
        contenders={k: Contender(min(t), statistics.median(t), t, n) for k, t in times.items()},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="write the result here (default: stdout)")
    args = parser.parse_args(argv)
    result = run(args.items, args.repeat)
    if args.json:
        Path(args.json).write_text(to_json(result), encoding="utf-8")
    else:
        print(to_json(result))
    for other in ("typedeserializer", "pynamodb"):
        best, median = result.speedup(other), result.speedup(other, median=True)
        print(f"ours is {best:.2f}x faster than {other} (median {median:.2f}x)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
