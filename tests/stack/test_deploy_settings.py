"""Production settings: no published keys, TLS settings behind DJANGO_SECURE, check --deploy clean.

Settings are evaluated once per process, so each case runs in a subprocess
with a controlled environment (production_env: debug off, a strong key).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.stack.servers import ROOT, production_env

_DUMP = """
import json
from django.conf import settings
names = [
    "DEBUG", "ALLOWED_HOSTS", "MIDDLEWARE", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SILENCED_SYSTEM_CHECKS", "DYNAMO_SERVER_TIMING",
]
print(json.dumps({name: getattr(settings, name, None) for name in names}))
"""

_PUBLISHED_KEYS = [
    "django-insecure-dev-only-do-not-use-in-production",
    "test-secret-key-not-for-production",
    "compose-local-only-not-a-secret",
    "django-insecure-" + "x" * 50,
]


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=production_env(**env), capture_output=True, text=True, timeout=60
    )


def settings_with(**env: str) -> dict:
    result = run(_DUMP, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", _PUBLISHED_KEYS)
def test_a_published_key_is_refused_with_debug_off(key):
    result = run(_DUMP, DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr


def test_the_test_suites_key_still_works_with_debug_on():
    assert settings_with(DJANGO_SECRET_KEY=_PUBLISHED_KEYS[1], DJANGO_DEBUG="1")["DEBUG"] is True


# --- hosts -------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", ["0", "1"])
def test_testserver_is_not_an_allowed_host_unless_listed(debug):
    env = production_env(DJANGO_DEBUG=debug)
    env.pop("DJANGO_ALLOWED_HOSTS")
    result = subprocess.run([sys.executable, "-c", _DUMP], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "testserver" not in json.loads(result.stdout)["ALLOWED_HOSTS"]
    assert "testserver" in settings_with(DJANGO_ALLOWED_HOSTS="testserver")["ALLOWED_HOSTS"]


# --- headers and TLS -----------------------------------------------------------------------


def test_frames_sniffing_and_referrers_are_refused_always():
    values = settings_with()
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in values["MIDDLEWARE"]
    # Outermost, the API's own (JSON errors, Cache-Control, CSP), then Django's security headers.
    assert values["MIDDLEWARE"][:2] == [
        "services.blog.security.ApiSecurityMiddleware",
        "django.middleware.security.SecurityMiddleware",
    ]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SECURE_REFERRER_POLICY"] in {"no-referrer", "same-origin", "strict-origin"}


def test_tls_settings_are_off_without_django_secure():
    values = settings_with()
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_django_secure_turns_on_hsts_redirect_secure_cookies_and_the_proxy_header():
    values = settings_with(DJANGO_SECURE="1")
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_hsts_options_can_be_tuned():
    values = settings_with(
        DJANGO_SECURE="1",
        DJANGO_SECURE_HSTS_SECONDS="600",
        DJANGO_SECURE_HSTS_PRELOAD="0",
        DJANGO_SECURE_PROXY_SSL_HEADER="0",
    )
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] is None


_REDIRECTS = """
from django.conf import settings
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
import django
django.setup()
middleware = SecurityMiddleware(lambda request: HttpResponse("ok"))
rf = RequestFactory()
plain = middleware(rf.get("/api/posts/", HTTP_HOST="localhost"))
health = middleware(rf.get("/healthz", HTTP_HOST="localhost"))
proxied = middleware(rf.get("/api/posts/", HTTP_HOST="localhost", HTTP_X_FORWARDED_PROTO="https"))
print(plain.status_code, plain.get("Location"))
print(health.status_code)
print(proxied.status_code, proxied.get("Strict-Transport-Security"))
"""


def test_secure_redirects_plain_http_except_healthz_and_sends_hsts_over_tls():
    result = run(_REDIRECTS, DJANGO_SECURE="1")
    assert result.returncode == 0, result.stderr
    plain, health, proxied = result.stdout.splitlines()
    assert plain == "301 https://localhost/api/posts/"
    assert health == "200", "container healthchecks ask over plain HTTP"
    status, hsts = proxied.split(" ", 1)
    assert status == "200" and "max-age=" in hsts and "includeSubDomains" in hsts


# --- manage.py check --deploy ------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(DJANGO_SECURE="1", DJANGO_ALLOWED_HOSTS="api.example.com"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNINGS" not in result.stdout + result.stderr


def test_only_the_csrf_middleware_check_is_silenced():
    # The API keeps no session or cookie; every other deploy check must pass on its merits.
    assert settings_with(DJANGO_SECURE="1")["SILENCED_SYSTEM_CHECKS"] == ["security.W003"]


# --- Server-Timing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"DJANGO_DEBUG": "1"}, True),
        ({}, False),
        ({"DYNAMO_SERVER_TIMING": "1"}, True),
        ({"DJANGO_DEBUG": "1", "DYNAMO_SERVER_TIMING": "0"}, False),
    ],
)
def test_server_timing_is_on_in_development_and_off_by_default_in_production(env, expected):
    assert settings_with(**env)["DYNAMO_SERVER_TIMING"] is expected
