"""gunicorn as the image runs it: a stalled client cannot hold a worker, malformed HTTP gets JSON.

The server runs the image's command (config/gunicorn.conf.py, config.wsgi)
with production settings and one worker with one thread, so a single stuck
request would block everything. The requests sent need no DynamoDB: the
catch-all 404, and a POST whose body never finishes arriving.
"""

from __future__ import annotations

import json
import os
import runpy
import time

import pytest

from tests.stack.servers import ROOT, get, gunicorn, read_until_closed, request, send_partial, stalled_post

pytestmark = pytest.mark.slow

CLIENT_TIMEOUT = 2  # GUNICORN_CLIENT_TIMEOUT for these servers, in seconds
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with gunicorn(
        tmp_path_factory.mktemp("gunicorn"),
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="1",
        GUNICORN_CLIENT_TIMEOUT=str(CLIENT_TIMEOUT),
    ) as server:
        yield server


def error_of(response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response
    body = json.loads(response.body)
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def test_the_single_thread_answers(server):
    response = get(server.port, "/no-such-route")
    assert response.status == 404
    assert error_of(response)["code"] == "not_found"


def test_a_stalled_body_cannot_hold_the_only_worker_past_the_client_timeout(server):
    stalled = stalled_post(server.port)
    try:
        started = time.monotonic()
        # Queued behind the stalled request on the one thread: answered once
        # gunicorn gives up on the stalled client (a read timeout, then the
        # bounded drain of the unread body), not never.
        response = get(server.port, "/no-such-route", timeout=6 * CLIENT_TIMEOUT)
        waited = time.monotonic() - started
        assert response.status == 404
        assert waited < 3 * CLIENT_TIMEOUT + 1, f"the worker was held for {waited:.1f}s"
        # The stalled client got a JSON 400 (or nothing), and its connection is closed.
        leftover = read_until_closed(stalled, timeout=3 * CLIENT_TIMEOUT)
        if leftover:
            assert b"400 Bad Request" in leftover.split(b"\r\n", 1)[0]
    finally:
        stalled.close()
    assert get(server.port, "/no-such-route").status == 404


def test_a_client_that_stalls_in_its_headers_is_dropped(server):
    started = time.monotonic()
    with send_partial(server.port, b"GET /no-such-route HTTP/1.1\r\nHost: local") as sock:
        assert read_until_closed(sock, timeout=4 * CLIENT_TIMEOUT) == b""
    assert time.monotonic() - started < 2 * CLIENT_TIMEOUT + 1
    assert get(server.port, "/no-such-route").status == 404


def test_a_request_line_over_the_limit_is_a_json_414(server):
    conf = runpy.run_path(str(GUNICORN_CONF))
    path = "/" + "a" * conf["limit_request_line"]
    response = request(server.port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    assert response.status == 414
    assert error_of(response)["code"] == "uri_too_long"


def test_too_many_headers_are_a_json_431(server):
    conf = runpy.run_path(str(GUNICORN_CONF))
    headers = "".join(f"X-H{i}: {i}\r\n" for i in range(conf["limit_request_fields"] + 1))
    response = request(server.port, f"GET / HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode())
    assert response.status == 431
    assert error_of(response)["code"] == "request_header_fields_too_large"


def test_a_garbled_request_line_is_a_json_400_that_does_not_echo_it(server):
    response = request(server.port, b"GET /<script> HTTP/9\r\nHost: localhost\r\n\r\n")
    assert response.status == 400
    error = error_of(response)
    assert error["code"] == "bad_request"
    assert "<script>" not in error["message"]


# --- the config itself -------------------------------------------------------------------


def gunicorn_conf(monkeypatch, **env: str) -> dict:
    for name in list(os.environ):
        if name.startswith("GUNICORN_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_timeouts_and_limits_have_bounded_defaults(monkeypatch):
    conf = gunicorn_conf(monkeypatch)
    assert 0 < conf["client_timeout"] <= conf["timeout"]
    assert 0 < conf["keepalive"] < conf["timeout"]
    assert 0 < conf["graceful_timeout"] <= conf["timeout"]
    assert 0 < conf["limit_request_line"] <= 8190
    assert 0 < conf["limit_request_fields"] <= 32768
    assert 0 < conf["limit_request_field_size"] <= 8190


def test_timeouts_and_limits_come_from_the_environment(monkeypatch):
    conf = gunicorn_conf(
        monkeypatch,
        GUNICORN_TIMEOUT="60",
        GUNICORN_GRACEFUL_TIMEOUT="7",
        GUNICORN_KEEPALIVE="3",
        GUNICORN_CLIENT_TIMEOUT="4",
        GUNICORN_LIMIT_REQUEST_LINE="2048",
        GUNICORN_LIMIT_REQUEST_FIELDS="50",
        GUNICORN_LIMIT_REQUEST_FIELD_SIZE="1024",
    )
    assert (conf["timeout"], conf["graceful_timeout"], conf["keepalive"], conf["client_timeout"]) == (60, 7, 3, 4)
    assert (conf["limit_request_line"], conf["limit_request_fields"], conf["limit_request_field_size"]) == (
        2048,
        50,
        1024,
    )


def test_gunicorns_own_errors_are_in_the_api_shape(monkeypatch):
    raw = gunicorn_conf(monkeypatch)["json_error"](431, "Request Header Fields Too Large")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"Content-Type: application/json" in head and f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {
        "error": {"code": "request_header_fields_too_large", "message": "Request Header Fields Too Large."}
    }
