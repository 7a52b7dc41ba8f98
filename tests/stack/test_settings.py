"""config/settings.py and config/gunicorn.conf.py read the environment as documented.

Settings are evaluated once per process, so each case runs in a fresh
``python -c`` subprocess with a controlled environment.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Variables that change what config.settings computes; scrubbed from every case.
_SCRUB_PREFIXES = ("DJANGO_", "DYNAMO_", "AWS_")

_DUMP = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "DATABASES": settings.DATABASES,
    "INSTALLED_APPS": settings.INSTALLED_APPS,
    "MIDDLEWARE": settings.MIDDLEWARE,
    "APPEND_SLASH": settings.APPEND_SLASH,
    "DATA_UPLOAD_MAX_MEMORY_SIZE": settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    "USE_TZ": settings.USE_TZ,
    "TIME_ZONE": settings.TIME_ZONE,
    "ROOT_URLCONF": settings.ROOT_URLCONF,
    "DYNAMO_BACKEND": settings.DYNAMO_BACKEND,
    "LOGGING_HANDLERS": {k: v.get("stream") for k, v in settings.LOGGING["handlers"].items()},
    "BLOG": {k: getattr(settings, k) for k in dir(settings) if k.startswith("BLOG_")},
}))
"""


def load_settings(**env: str) -> subprocess.CompletedProcess:
    """Evaluate config.settings in a subprocess with exactly these variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "-c", _DUMP], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def settings_with(**env: str) -> dict:
    result = load_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_missing_secret_key_with_debug_off_is_improperly_configured():
    result = load_settings()
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_debug_on_without_secret_key_uses_a_development_key():
    values = settings_with(DJANGO_DEBUG="1")
    assert values["DEBUG"] is True
    assert values["SECRET_KEY"]


def test_secret_key_comes_from_the_environment():
    values = settings_with(DJANGO_SECRET_KEY="s3cret")
    assert values["SECRET_KEY"] == "s3cret"
    assert values["DEBUG"] is False


@pytest.mark.parametrize("raw", ["1", "true", "yes", "on", "TRUE", " On "])
def test_debug_truthy_values_turn_debug_on(raw):
    assert settings_with(DJANGO_DEBUG=raw, DJANGO_SECRET_KEY="k")["DEBUG"] is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", ""])
def test_debug_falsy_values_keep_debug_off(raw):
    assert settings_with(DJANGO_DEBUG=raw, DJANGO_SECRET_KEY="k")["DEBUG"] is False


def test_debug_garbage_is_rejected():
    result = load_settings(DJANGO_DEBUG="maybe", DJANGO_SECRET_KEY="k")
    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_allowed_hosts_default_is_local_only():
    hosts = settings_with(DJANGO_DEBUG="1")["ALLOWED_HOSTS"]
    assert hosts == ["localhost", "127.0.0.1", "[::1]"]


def test_allowed_hosts_come_from_a_comma_list():
    hosts = settings_with(DJANGO_DEBUG="1", DJANGO_ALLOWED_HOSTS=" api.example.com, web ,")["ALLOWED_HOSTS"]
    assert hosts == ["api.example.com", "web"]


def test_no_relational_database_and_only_the_two_apps():
    values = settings_with(DJANGO_DEBUG="1")
    assert values["DATABASES"] == {}
    assert values["INSTALLED_APPS"] == ["dynamo_backend", "services.blog"]


def test_middleware_order_and_request_limits():
    values = settings_with(DJANGO_DEBUG="1")
    order = values["MIDDLEWARE"]
    assert order[0] == "services.blog.security.ApiSecurityMiddleware"  # any error leaves as JSON
    position = {name.rsplit(".", 1)[-1]: n for n, name in enumerate(order)}
    # The body is read before anything fingerprints it; the request scope and deadline cover the
    # Idempotency-Key's own DynamoDB calls; view errors become JSON inside both.
    assert position["ChunkedBodyMiddleware"] < position["IdempotencyMiddleware"]
    assert position["DynamoRequestMiddleware"] < position["IdempotencyMiddleware"]
    assert position["ApiErrorMiddleware"] < position["IdempotencyMiddleware"]
    assert values["APPEND_SLASH"] is True
    assert values["DATA_UPLOAD_MAX_MEMORY_SIZE"] == 1024 * 1024
    assert values["USE_TZ"] is True
    assert values["TIME_ZONE"] == "UTC"
    assert values["ROOT_URLCONF"] == "config.urls"


def test_logs_go_to_stdout():
    streams = settings_with(DJANGO_DEBUG="1")["LOGGING_HANDLERS"].values()
    assert {s for s in streams if s} == {"ext://sys.stdout"}


def test_dynamo_backend_defaults_target_real_aws_with_the_credential_chain():
    assert settings_with(DJANGO_DEBUG="1")["DYNAMO_BACKEND"] == {
        "ENDPOINT_URL": None,
        "REGION": "us-east-1",
        "TABLE_PREFIX": "",
        "CREATE_TABLES_ON_STARTUP": False,
        "CACHE_TTL": 60,
        "CACHE_MAXSIZE": 10000,
        "QUERY_CACHE_TTL": 5,
        "CONNECT_TIMEOUT": 2,
        "READ_TIMEOUT": 5,
        "REQUEST_DEADLINE": 4,
        "MAX_ATTEMPTS": 3,
        "STREAMS": True,
        "STREAM_POLL_INTERVAL": 0.5,
    }


def test_dynamo_environment_maps_into_dynamo_backend():
    backend = settings_with(
        DJANGO_DEBUG="1",
        AWS_ENDPOINT_URL_DYNAMODB="http://localhost:4566",
        AWS_REGION="eu-west-1",
        DYNAMO_TABLE_PREFIX="myapp_",
        DYNAMO_CREATE_TABLES_ON_STARTUP="yes",
        DYNAMO_CACHE_TTL="0",
        DYNAMO_CACHE_MAXSIZE="500",
        DYNAMO_QUERY_CACHE_TTL="1.5",
        DYNAMO_CONNECT_TIMEOUT="0.5",
        DYNAMO_READ_TIMEOUT="3",
        DYNAMO_REQUEST_DEADLINE="2.5",
        DYNAMO_MAX_ATTEMPTS="5",
        DYNAMO_STREAMS="0",
        DYNAMO_STREAM_POLL_INTERVAL="0.25",
    )["DYNAMO_BACKEND"]
    assert backend == {
        "ENDPOINT_URL": "http://localhost:4566",
        "REGION": "eu-west-1",
        "TABLE_PREFIX": "myapp_",
        "CREATE_TABLES_ON_STARTUP": True,
        "CACHE_TTL": 0,
        "CACHE_MAXSIZE": 500,
        "QUERY_CACHE_TTL": 1.5,
        "CONNECT_TIMEOUT": 0.5,
        "READ_TIMEOUT": 3,
        "REQUEST_DEADLINE": 2.5,
        "MAX_ATTEMPTS": 5,
        "STREAMS": False,
        "STREAM_POLL_INTERVAL": 0.25,
        # An emulator endpoint without credentials gets dummies.
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }


def test_explicit_credentials_win_over_the_dummies():
    backend = settings_with(
        DJANGO_DEBUG="1",
        AWS_ENDPOINT_URL_DYNAMODB="http://localhost:4566",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalr",
        AWS_SESSION_TOKEN="tok",
    )["DYNAMO_BACKEND"]
    assert backend["AWS_ACCESS_KEY_ID"] == "AKIDEXAMPLE"
    assert backend["AWS_SECRET_ACCESS_KEY"] == "wJalr"
    assert backend["AWS_SESSION_TOKEN"] == "tok"


def test_credentials_without_endpoint_are_passed_through():
    backend = settings_with(DJANGO_DEBUG="1", AWS_ACCESS_KEY_ID="id", AWS_SECRET_ACCESS_KEY="sk")["DYNAMO_BACKEND"]
    assert backend["ENDPOINT_URL"] is None
    assert (backend["AWS_ACCESS_KEY_ID"], backend["AWS_SECRET_ACCESS_KEY"]) == ("id", "sk")


@pytest.mark.parametrize(
    "name, raw",
    [("DYNAMO_CACHE_TTL", "soon"), ("DYNAMO_CACHE_MAXSIZE", "1.5"), ("DYNAMO_READ_TIMEOUT", "-1")],
)
def test_malformed_numbers_are_improperly_configured(name, raw):
    result = load_settings(DJANGO_DEBUG="1", **{name: raw})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_api_security_defaults():
    blog = settings_with(DJANGO_DEBUG="1")["BLOG"]
    assert blog == {
        "BLOG_ADMIN_TOKEN_SHA256": "",
        "BLOG_RATE_LIMIT_TOKEN": [60, 60],
        "BLOG_RATE_LIMIT_ADDRESS": [120, 60],
        "BLOG_RATE_LIMIT_SIGNUP": [20, 3600],
        "BLOG_TRUSTED_PROXY": False,
    }


def test_rate_limits_and_the_trusted_proxy_come_from_the_environment():
    blog = settings_with(
        DJANGO_DEBUG="1",
        DJANGO_RATE_LIMIT_TOKEN="5/10",
        DJANGO_RATE_LIMIT_ADDRESS="off",
        DJANGO_RATE_LIMIT_SIGNUP="0",
        DJANGO_TRUSTED_PROXY="1",
    )["BLOG"]
    assert blog["BLOG_RATE_LIMIT_TOKEN"] == [5, 10]
    assert blog["BLOG_RATE_LIMIT_ADDRESS"] is None and blog["BLOG_RATE_LIMIT_SIGNUP"] is None
    assert blog["BLOG_TRUSTED_PROXY"] is True


@pytest.mark.parametrize("raw", ["60", "60/", "/60", "a/b", "0/60", "60/0", "-1/60"])
def test_a_malformed_rate_limit_is_improperly_configured(raw):
    result = load_settings(DJANGO_DEBUG="1", DJANGO_RATE_LIMIT_TOKEN=raw)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_RATE_LIMIT_TOKEN" in result.stderr


def test_the_admin_token_is_kept_only_as_its_sha256():
    import hashlib

    token = "a-moderator-token-of-forty-characters-xx"
    result = load_settings(DJANGO_DEBUG="1", DJANGO_ADMIN_TOKEN=token)
    assert result.returncode == 0, result.stderr
    blog = json.loads(result.stdout)["BLOG"]
    assert blog["BLOG_ADMIN_TOKEN_SHA256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in result.stdout


def test_a_short_admin_token_is_refused_without_echoing_it():
    result = load_settings(DJANGO_DEBUG="1", DJANGO_ADMIN_TOKEN="short-secret")
    assert result.returncode != 0
    assert "DJANGO_ADMIN_TOKEN" in result.stderr and "short-secret" not in result.stderr


def test_dynamo_backend_keys_are_all_known_to_the_library():
    from dynamo_backend import conf

    backend = settings_with(
        DJANGO_DEBUG="1",
        AWS_ENDPOINT_URL_DYNAMODB="http://x:1",
        AWS_ACCESS_KEY_ID="a",
        AWS_SECRET_ACCESS_KEY="b",
        AWS_SESSION_TOKEN="c",
    )["DYNAMO_BACKEND"]
    assert set(backend) <= set(conf.DEFAULTS)


# --- gunicorn -----------------------------------------------------------------

GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"


def gunicorn_conf(monkeypatch, **env: str) -> dict:
    for name in ("HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_defaults(monkeypatch):
    conf = gunicorn_conf(monkeypatch)
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert (conf["workers"], conf["threads"], conf["worker_class"]) == (2, 4, "gthread")
    assert conf["preload_app"] is False
    assert conf["timeout"] > 0 and conf["graceful_timeout"] > 0


def test_gunicorn_reads_bind_workers_and_threads_from_env(monkeypatch):
    conf = gunicorn_conf(monkeypatch, HOST="0.0.0.0", PORT="9001", WEB_CONCURRENCY="5", GUNICORN_THREADS="8")
    assert conf["bind"] == ["0.0.0.0:9001"]
    assert (conf["workers"], conf["threads"]) == (5, 8)


def test_gunicorn_access_log_goes_to_stdout_with_latency(monkeypatch):
    conf = gunicorn_conf(monkeypatch)
    assert conf["accesslog"] == "-"
    assert "%(M)s" in conf["access_log_format"]
