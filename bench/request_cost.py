"""g. What a cached GET costs outside DynamoDB, in process: microseconds per request through Django's WSGI handler.

    python -m bench.request_cost --json out.json

No server, no network, no emulator process: moto in process holds one author,
read once so every variant answers from the item cache (0 DynamoDB calls).
Each variant is the same request through a handler built with other
settings; rounds interleave the variants, best and median are reported.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.update(
    DJANGO_SETTINGS_MODULE="config.settings",
    DJANGO_DEBUG="0",
    DJANGO_SECRET_KEY="bench-request-cost-not-a-secret",
    AWS_ACCESS_KEY_ID="test",
    AWS_SECRET_ACCESS_KEY="test",
    DYNAMO_SERVER_TIMING="1",
)
os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from scripts.moto_server import serialized_mock_aws

    with serialized_mock_aws():
        import django

        django.setup()
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import override_settings

        from dynamo_backend.table import ensure_all_tables
        from services.blog.models import Author

        ensure_all_tables()
        path = f"/api/authors/{Author.objects.create(username='cost', email='cost@example.com', bio='b').pk}/"
        full = list(settings.MIDDLEWARE)
        lean = [m for m in full if "common" not in m]
        variants = {
            "bare Django view (bench/bare_app.py)": ({"MIDDLEWARE": [], "ROOT_URLCONF": "bench.bare_app"}, {}),
            "cached author page, as served": ({}, {}),
            "... without CommonMiddleware": ({"MIDDLEWARE": lean}, {}),
            "... without CommonMiddleware and XFrameOptionsMiddleware": (
                {"MIDDLEWARE": [m for m in lean if "clickjacking" not in m]},
                {},
            ),
            "... without DynamoRequestMiddleware (request scope, call log, Server-Timing)": (
                {"MIDDLEWARE": [m for m in full if "dynamo_backend" not in m]},
                {},
            ),
            "... revalidated: If-None-Match, 304": ({}, {"HTTP_IF_NONE_MATCH": "*"}),
        }

        def environ(extra: dict) -> dict:
            return {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": path,
                "QUERY_STRING": "",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "HTTP_HOST": "127.0.0.1:8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": sys.stderr,
                **extra,
            }

        samples: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds + 1):  # the first round warms up and is dropped
            for name, (overrides, extra) in variants.items():
                with override_settings(**overrides):
                    handler = WSGIHandler()
                    started = time.perf_counter()
                    for _ in range(args.requests):
                        b"".join(handler(environ(extra), lambda status, headers, exc_info=None: None))
                    if round_:
                        samples[name].append((time.perf_counter() - started) / args.requests * 1e6)
        out = {name: {"best_us": min(v), "median_us": statistics.median(v)} for name, v in samples.items()}
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
