"""What the write guarantees cost: DynamoDB calls and capacity per request, side by side.

``python -m bench.write_costs`` runs the same requests (through Django's test
client, on moto in-process, caches warm as a running worker's would be, but
for one cold read of a post page) on this checkout and on an earlier commit
(``--before REV``, default the commit before the exactly-once work and the
move of comments under their post), each in its own process, and prints one
table; ``--json PATH`` also writes the figures (``make bench`` section h).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "3e1f9ad"  # main before issues 8-12 (stop 6's landing)

SCENARIO = r"""
import json, os, sys, uuid
os.environ.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="1", DJANGO_SECRET_KEY="bench",
                  DJANGO_ALLOWED_HOSTS="testserver", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                  AWS_DEFAULT_REGION="us-east-1", DJANGO_RATE_LIMIT_TOKEN="0", DJANGO_RATE_LIMIT_ADDRESS="0",
                  DJANGO_RATE_LIMIT_SIGNUP="0")
import django
django.setup()
from moto import mock_aws
from django.test import Client
from dynamo_backend import stats
from dynamo_backend.table import ensure_all_tables

results = {}
with mock_aws():
    ensure_all_tables()
    client, token = Client(), None

    def send(label, method, url, body=None, **headers):
        global token
        if token and method != "GET" and not url.rstrip("/").endswith("/api/authors"):
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = json.dumps(body) if body is not None else ""
        with stats.count_calls() as log:
            response = client.generic(method, url, data=data, content_type="application/json", **headers)
        assert response.status_code < 300, (label, response.status_code, response.content[:300])
        results[label] = {"calls": log.total, "ops": dict(log.by_operation()), "capacity": round(log.capacity, 2)}
        return response.json() if response.content else None

    author = send("sign up (POST author)", "POST", "/api/authors/", {"username": "bench", "email": "b@example.com"})
    token = author.get("token")
    post = send("POST post", "POST", "/api/posts/", {"title": "t", "slug": "s", "author_pk": author["pk"]})
    send("POST post with Idempotency-Key", "POST", "/api/posts/",
         {"title": "t", "slug": "s2", "author_pk": author["pk"]}, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    send("POST comment", "POST", f"/api/posts/{post['pk']}/comments/", {"author_pk": author["pk"], "body": "c"})
    send("GET post (counts a view)", "GET", f"/api/posts/{post['pk']}/")
    send("PATCH post (one field)", "PATCH", f"/api/posts/{post['pk']}/", {"published": True})
    for n in range(9):
        body = json.dumps({"author_pk": author["pk"], "body": f"c{n}"})
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        client.generic("POST", f"/api/posts/{post['pk']}/comments/", body, content_type="application/json", **auth)
    from dynamo_backend import cache
    cache.reset()  # a worker that has not seen this post or its comments
    send("GET post page, 10 comments, caches cold", "GET", f"/api/posts/{post['pk']}/")
    send("GET post page, 10 comments, caches warm", "GET", f"/api/posts/{post['pk']}/")
    send("DELETE post with 10 comments", "DELETE", f"/api/posts/{post['pk']}/")
print(json.dumps(results))
"""


def measure(repo: Path) -> dict:
    """Run the scenario in a fresh process on ``repo``'s code; return {request: figures}."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"scenario failed on {repo}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def checkout(rev: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(where), rev], check=True)
    return where


def table(before: dict, after: dict) -> str:
    lines = [
        "| Request | Calls before | Calls now | Capacity before | Capacity now | Calls now by operation |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, now in after.items():
        old = before.get(label)
        ops = ", ".join(f"{op} {n}" for op, n in sorted(now["ops"].items()))
        old_calls = "-" if old is None else old["calls"]
        old_capacity = "-" if old is None else old["capacity"]
        lines.append(f"| {label} | {old_calls} | {now['calls']} | {old_capacity} | {now['capacity']} | {ops} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write {before, rows_before, rows_now} here")
    args = parser.parse_args()
    after = measure(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        where = checkout(args.before, Path(tmp) / "before")
        try:
            before = measure(where)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)
    print(table(before, after))
    if args.json:
        args.json.write_text(json.dumps({"before": args.before, "rows_before": before, "rows_now": after}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
