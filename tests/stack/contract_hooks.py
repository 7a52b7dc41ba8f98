"""Schemathesis hooks for the contract test (loaded with SCHEMATHESIS_HOOKS=tests.stack.contract_hooks).

Writes authenticate like a real client (tests/faults/stack.py does the same):

* a sign-up sends no token; every sign-up's answer leaves its token here;
* a create (post, comment, token) goes as the author it names (body or path)
  when that author signed up in this run, else as one author signed up first;
* any other write, and a token read, goes as the moderator (it may change
  anything, but writes as nobody: a 403 the description lists);
* reads go without a token.

A ``cursor`` the generator made up is dropped from a request meant to be
valid: a cursor is an opaque signed value only the server can make (any other
is a documented 400); real cursors come from ``next_cursor`` through the links
and are kept (their signature checks out with the stack's key).

The stack's URL, moderator token and secret key come from CONTRACT_BASE_URL,
CONTRACT_ADMIN_TOKEN and CONTRACT_SECRET_KEY.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import requests
import schemathesis
from django.core import signing

BASE_URL = os.environ.get("CONTRACT_BASE_URL", "http://127.0.0.1:8000")
ADMIN_TOKEN = os.environ.get("CONTRACT_ADMIN_TOKEN", "")
SECRET_KEY = os.environ.get("CONTRACT_SECRET_KEY", "")
CURSOR_SALT = "services.blog.pagination.cursor"  # services/blog/pagination.py

TOKENS: dict[str, str] = {}  # author pk -> token
_lock = threading.Lock()
_default: dict[str, str] = {}


def remember(body: Any) -> None:
    if isinstance(body, dict) and isinstance(body.get("pk"), str) and isinstance(body.get("token"), str):
        with _lock:
            TOKENS[body["pk"]] = body["token"]


def default_token() -> str:
    """The token of an author signed up for this run (once)."""
    with _lock:
        if not _default:
            response = requests.post(
                f"{BASE_URL}/api/authors/",
                json={"username": f"contract-{uuid.uuid4().hex[:12]}", "email": "contract@example.com"},
                timeout=30,
            )
            response.raise_for_status()
            created = response.json()
            TOKENS[created["pk"]] = _default["token"] = created["token"]
        return _default["token"]


def token_for(method: str, path: str, path_parameters: dict[str, Any], body: Any) -> str | None:
    """The token a real client would send for this request (None: none)."""
    if method in ("GET", "HEAD") and "/tokens/" not in path:
        return None
    if method == "POST" and path == "/api/authors/":
        return None  # sign-up
    if method == "POST":
        if path.endswith("/tokens/"):
            owner = path_parameters.get("pk")
        else:
            owner = body.get("author_pk") if isinstance(body, dict) else None
        return TOKENS.get(owner) if isinstance(owner, str) and owner in TOKENS else default_token()
    if path.startswith("/api/authors/{pk}/"):
        owner = path_parameters.get("pk")
        if isinstance(owner, str) and owner in TOKENS:
            return TOKENS[owner]
    return ADMIN_TOKEN


@schemathesis.auth(refresh_interval=None, retry_on=[])
class BlogTokens:
    """Per request: the token :func:`token_for` picks."""

    def get(self, case, ctx):
        return token_for(case.method.upper(), case.path, dict(case.path_parameters or {}), case.body)

    def set(self, case, data, ctx):
        if data:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def server_made(cursor: Any) -> bool:
    """Whether the stack signed this cursor (a ``next_cursor`` it answered)."""
    try:
        signing.loads(str(cursor), key=SECRET_KEY, salt=CURSOR_SALT, fallback_keys=[])
    except (signing.BadSignature, ValueError):
        return False
    return True


@schemathesis.hook
def map_case(context, case):
    meta = getattr(case, "meta", None)
    positive = meta is None or not meta.generation.mode.is_negative
    if positive and case.query and "cursor" in case.query and not server_made(case.query["cursor"]):
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case


@schemathesis.hook
def after_call(context, case, response):
    if case.method.upper() == "POST" and response.status_code == 201:
        try:
            body = response.json()
        except ValueError:
            return
        if case.path == "/api/authors/":
            remember(body)
