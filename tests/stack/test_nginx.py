"""deploy/nginx: the proxy's config agrees with the app, and nginx run here in front of gunicorn.

The first half reads the config (rendered as compose renders it); the second
runs the real nginx (Debian's package; .ci/run installs it) in front of the
image's gunicorn command, with one worker thread, and plays the slow client.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import time

import pytest

from tests.engines import free_port
from tests.stack.deployfiles import (
    ROOT,
    Directive,
    environment,
    load_compose,
    nginx_seconds,
    nginx_size,
    parse_nginx,
)
from tests.stack.servers import (
    NGINX_DIR,
    get,
    gunicorn,
    nginx,
    nginx_binary,
    nginx_command,
    nginx_prefix,
    read_until_closed,
    render_site,
    request,
    send_partial,
    stalled_post,
)

ERROR_STATUSES = {400, 403, 404, 405, 408, 413, 414, 429, 500, 502, 503, 504}
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"


def compose_proxy_env() -> dict[str, str]:
    services = load_compose({"DJANGO_SECRET_KEY": "x"})["services"]
    (proxy,) = [s for s in services.values() if s.get("image", "").startswith("nginx:")]
    return environment(proxy)


@pytest.fixture(scope="module")
def server_block() -> Directive:
    env = compose_proxy_env()
    tree = parse_nginx(render_site(env["PROXY_UPSTREAM"], env["PROXY_LISTEN"]))
    return tree.one("server")


@pytest.fixture(scope="module")
def gunicorn_conf() -> dict:
    return runpy.run_path(str(GUNICORN_CONF))


def app_setting(name: str):
    from django.conf import settings

    return getattr(settings, name)


def location(server: Directive, *args: str) -> Directive:
    (found,) = [d for d in server.find("location") if d.args == list(args)]
    return found


def error_pages(server: Directive) -> dict[int, tuple[int | None, str]]:
    """status -> (status answered, or None for the same; the URI of the page)."""
    pages = {}
    for directive in server.find("error_page"):
        *codes, uri = directive.args
        answered = int(codes.pop()[1:]) if codes[-1].startswith("=") else None
        for code in codes:
            pages[int(code)] = (answered, uri)
    return pages


# --- the config ----------------------------------------------------------------------------


def test_body_limit_matches_the_apps(server_block):
    assert nginx_size(server_block.value("client_max_body_size")) == app_setting("DATA_UPLOAD_MAX_MEMORY_SIZE")


def test_slow_clients_are_timed_out(server_block):
    for name in ("client_header_timeout", "client_body_timeout", "send_timeout", "keepalive_timeout"):
        assert 0 < nginx_seconds(server_block.value(name)) <= 60, name


def test_requests_are_buffered_before_they_reach_gunicorn(server_block):
    app = location(server_block, "/")
    assert app.value("proxy_request_buffering") == "on"
    assert app.value("proxy_buffering") == "on"
    assert app.value("proxy_intercept_errors") == "off", "the app's own JSON errors pass through"


def test_nginx_waits_longer_for_gunicorn_than_gunicorn_lets_a_request_run(server_block, gunicorn_conf):
    assert nginx_seconds(location(server_block, "/").value("proxy_read_timeout")) > gunicorn_conf["timeout"]


def test_nginx_header_limits_are_tighter_than_gunicorns(server_block, gunicorn_conf):
    """So an oversized request line or header is answered by nginx first."""
    _count, size = server_block.one("large_client_header_buffers").args
    assert nginx_size(size) < gunicorn_conf["limit_request_line"]
    assert nginx_size(size) < gunicorn_conf["limit_request_field_size"]


def test_the_client_address_and_scheme_are_set_by_nginx(server_block):
    headers = {d.args[0].lower(): d.args[1] for d in location(server_block, "/").find("proxy_set_header")}
    assert headers["x-forwarded-for"] == "$remote_addr", "overwritten, never appended to what the client sent"
    assert headers["x-real-ip"] == "$remote_addr"
    assert "x-forwarded-proto" in headers and headers["host"] == "$http_host"


def test_every_error_nginx_produces_has_a_json_page(server_block):
    pages = error_pages(server_block)
    assert set(pages) >= ERROR_STATUSES
    assert pages[494] == (431, "/_edge_errors/431.json"), "oversized headers answered as 431"
    for status, (answered, uri) in pages.items():
        path = NGINX_DIR / "errors" / uri.rsplit("/", 1)[-1]
        assert path.name == f"{answered or status}.json"
        body = json.loads(path.read_text())
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, path
        assert re.fullmatch(r"[a-z_]+", body["error"]["code"]) and body["error"]["message"], path


def test_nginx_pages_use_the_apps_codes_where_the_app_has_one():
    pages = {p.stem: json.loads(p.read_text())["error"]["code"] for p in (NGINX_DIR / "errors").glob("*.json")}
    # The app's table (README, services/blog/middleware.py) for the statuses both can answer.
    assert pages["404"] == "not_found"
    assert pages["405"] == "method_not_allowed"
    assert pages["413"] == "payload_too_large"
    assert pages["500"] == "internal_error"
    assert pages["503"] == "service_unavailable"


def test_error_pages_are_internal_json_and_not_cached(server_block):
    for block in server_block.find("location"):
        if "/_edge_errors/" not in " ".join(block.args):
            continue
        assert block.find("internal"), block.args
        assert block.value("default_type") == "application/json"
        assert any(d.args[:2] == ["Cache-Control", "no-store"] for d in block.find("add_header"))


def test_rate_limited_and_unavailable_pages_say_when_to_retry(server_block):
    (retry,) = [b for b in server_block.find("location") if "429|502|503" in " ".join(b.args)]
    assert any(d.args[0] == "Retry-After" for d in retry.find("add_header"))


# --- nginx itself ------------------------------------------------------------------------------


def test_nginx_accepts_the_config(tmp_path):
    binary = nginx_binary()
    prefix = nginx_prefix(tmp_path, "127.0.0.1:8000", "127.0.0.1:8080")
    result = subprocess.run(nginx_command(binary, prefix, "-t"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """nginx in front of the image's gunicorn, which has a single worker thread."""
    tmp = tmp_path_factory.mktemp("edge")
    with (
        gunicorn(tmp, WEB_CONCURRENCY="1", GUNICORN_THREADS="1") as app,
        nginx(tmp, app.port) as proxy,
    ):
        yield proxy


def error_of(response) -> dict:
    assert response.headers["content-type"] == "application/json", response
    return json.loads(response.body)["error"]


@pytest.mark.slow
def test_stalled_bodies_wait_in_nginx_while_the_app_keeps_answering(stack, server_block):
    body_timeout = nginx_seconds(server_block.value("client_body_timeout"))
    # More stalled clients than gunicorn has threads (one).
    stalled = [stalled_post(stack.port) for _ in range(4)]
    try:
        started = time.monotonic()
        for _ in range(3):
            response = get(stack.port, "/no-such-route", timeout=5)
            assert response.status == 404 and error_of(response)["message"] == "No resource at /no-such-route."
        assert time.monotonic() - started < 3, "gunicorn was blocked by the stalled clients"
        # nginx drops each stalled client after client_body_timeout (nginx sends
        # no 408 page on a timeout; anything it did send would be the JSON one).
        for sock in stalled:
            leftover = read_until_closed(sock, timeout=body_timeout + 5)
            assert not leftover or b'"request_timeout"' in leftover, leftover
        assert time.monotonic() - started < body_timeout + 5
    finally:
        for sock in stalled:
            sock.close()


@pytest.mark.slow
def test_a_client_that_stalls_in_its_headers_is_dropped_by_nginx(stack, server_block):
    header_timeout = nginx_seconds(server_block.value("client_header_timeout"))
    started = time.monotonic()
    with send_partial(stack.port, b"GET /no-such-route HTTP/1.1\r\nHost: local") as sock:
        assert get(stack.port, "/no-such-route").status == 404
        read_until_closed(sock, timeout=header_timeout + 5)
    assert time.monotonic() - started < header_timeout + 5


def test_a_body_over_the_limit_is_nginxs_json_413(stack):
    size = app_setting("DATA_UPLOAD_MAX_MEMORY_SIZE") + 1
    head = f"POST /api/authors/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    response = request(stack.port, head.encode())  # nginx answers from the headers alone
    assert response.status == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_long_request_line_is_nginxs_json_414(stack):
    response = get(stack.port, "/" + "a" * 5000)
    assert response.status == 414
    assert error_of(response)["code"] == "uri_too_long"


def test_an_oversized_header_is_nginxs_json_431(stack):
    response = get(stack.port, "/healthz", "X-Big: " + "b" * 5000)
    assert response.status == 431
    assert error_of(response)["code"] == "request_header_fields_too_large"


def test_a_malformed_request_is_nginxs_json_400(stack):
    response = request(stack.port, b"GET / HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n")
    assert response.status == 400
    assert error_of(response)["code"] == "bad_request"


def test_the_error_pages_cannot_be_fetched_directly(stack):
    response = get(stack.port, "/_edge_errors/500.json")
    assert response.status == 404
    assert error_of(response)["code"] == "not_found"


def test_the_proxy_health_location_answers_on_loopback(stack):
    response = get(stack.port, "/_edge/health")
    assert response.status == 200 and json.loads(response.body) == {"status": "ok"}


def test_the_apps_own_answers_pass_through_untouched(stack):
    redirect = get(stack.port, "/api/posts")  # the app redirects to the slash URL
    assert (redirect.status, redirect.headers["location"]) == (301, "/api/posts/")
    missing = get(stack.port, "/no-such-route")
    assert error_of(missing)["message"] == "No resource at /no-such-route.", "the app's 404, not nginx's page"


def test_a_dead_upstream_is_a_json_502_with_retry_after(tmp_path):
    with nginx(tmp_path, free_port()) as proxy:
        response = get(proxy.port, "/api/posts/")
    assert response.status == 502
    assert error_of(response)["code"] == "bad_gateway"
    assert response.headers["retry-after"] == "1"
