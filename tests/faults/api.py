"""Small helpers for driving the blog API through a pinned connection, and for judging its answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.faults.stack import Pinned


def unique(label: str) -> str:
    """A name no other test or round uses (letters, digits and dashes: a valid slug and username)."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 201, (
        f"{response.request.method} {response.url}: {response.status_code} {response.text}"
    )
    return response.json()


def unavailable(answer: requests.Response | BaseException | None) -> bool:
    """A 503 with Retry-After: the request ran out of its DynamoDB deadline (a loaded machine) before it could
    decide; the client is told to send it again."""
    return isinstance(answer, requests.Response) and answer.status_code == 503 and "Retry-After" in answer.headers


def retried(
    send: Callable[..., Any],
    *args: Any,
    answer: Any = None,
    retry_if: Callable[[Any], bool] = unavailable,
    **kwargs: Any,
) -> Any:
    """``send(*args, **kwargs)`` (unless its first ``answer`` came already), sent again while ``retry_if(answer)``
    (default: a 503 with Retry-After), after the Retry-After it gives and half a second more, as a client would,
    at most 4 more times: the answer that decided.

    Only for requests whose repeat is harmless: a GET, PUT, PATCH or DELETE, a POST with an Idempotency-Key,
    or one that must be refused anyway.
    """
    answer = send(*args, **kwargs) if answer is None else answer
    for _ in range(4):
        if not retry_if(answer):
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")) + 0.5)
        answer = send(*args, **kwargs)
    return answer


def create(client: Pinned, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a create that must succeed (a test's setup), with an Idempotency-Key so a retry after a 503 is
    done once."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    return created(retried(client.post, path, body, headers=headers))


def new_author(client: Pinned, label: str = "author") -> dict[str, Any]:
    name = unique(label)
    return create(client, "/api/authors/", {"username": name, "email": f"{name}@example.com", "bio": "b"})


def post_body(author_pk: str, **fields: Any) -> dict[str, Any]:
    slug = unique("post")
    return {"title": f"Title {slug}", "slug": slug, "author_pk": author_pk, "body": "text", **fields}


def new_post(client: Pinned, author_pk: str, **fields: Any) -> dict[str, Any]:
    return create(client, "/api/posts/", post_body(author_pk, **fields))


def error_of(response: requests.Response) -> dict[str, Any]:
    """The API's error object; fails unless the answer is in the one error shape."""
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        f"{response.status_code} not JSON: {response.headers.get('Content-Type')} {response.text[:300]}"
    )
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and error["message"], body
    return error


def attempt(call: Callable[[], requests.Response]) -> requests.Response | requests.RequestException:
    """The answer, or the exception the client got instead (a timeout, a dropped connection)."""
    try:
        return call()
    except requests.RequestException as exc:
        return exc


def status(answer: requests.Response | BaseException | None) -> int | str:
    """The HTTP status, or the name of the exception the client got instead."""
    return answer.status_code if isinstance(answer, requests.Response) else type(answer).__name__


def describe(response: requests.Response | BaseException | None) -> str:
    """One line for an answer (or the exception a client got instead)."""
    if response is None or isinstance(response, BaseException):
        return repr(response)
    return f"{response.status_code} {response.text[:200]}"


def no_problems(problems: list[str], what: str, out_of: int | None = None) -> None:
    """Fail listing ``problems`` (at most 20 lines) under a one-line summary, unless there are none."""
    if problems:
        total = f" of {out_of}" if out_of is not None else ""
        shown = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        pytest.fail(f"{len(problems)}{total} {what}:\n  {shown}")
