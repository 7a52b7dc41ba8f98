"""Django settings for DDBDjango, read from environment variables.

Development gets safe defaults; production secrets have none: with
``DJANGO_DEBUG`` off, ``DJANGO_SECRET_KEY`` must be set and must not be one of
the keys published in this repository. ``DJANGO_SECURE=1`` turns on the
settings for serving behind TLS (HSTS, HTTPS redirect, secure cookies, the
proxy's X-Forwarded-Proto); ``manage.py check --deploy`` is clean with it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1/true/yes/on" are true)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable, failing loudly on garbage."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_seconds(name: str, default: int | float) -> int | float:
    """Read a duration in seconds; whole numbers stay ints ("60" -> 60, "0.5" -> 0.5)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number of seconds") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a finite number >= 0")
    return int(value) if value.is_integer() else value


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """Read a rate limit "COUNT/SECONDS" ("60/60": 60 a minute); "0" or "off" turns it off (None)."""
    raw = os.environ.get(name, "").strip().lower() or default
    if raw in ("0", "off"):
        return None
    count, _, seconds = raw.partition("/")
    try:
        limit = (int(count), int(seconds))
    except ValueError:
        limit = (0, 0)
    if limit[0] < 1 or limit[1] < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} is not COUNT/SECONDS with both >= 1 (e.g. 60/60), 0 or off")
    return limit


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable."""
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- core -------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-dev-only-do-not-use-in-production"
# Keys anyone can read in this repository (development, tests, old compose
# defaults): signing cursors with one of them lets anyone forge cursors.
_PUBLIC_SECRET_KEYS = frozenset(
    {
        _DEV_SECRET_KEY,
        "test-secret-key-not-for-production",
        "compose-local-only-not-a-secret",
    }
)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (set DJANGO_DEBUG=1 for local development)."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (SECRET_KEY in _PUBLIC_SECRET_KEYS or SECRET_KEY.startswith("django-insecure-")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is a published development key; with DJANGO_DEBUG off set a long random one, e.g. "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

# Only these Host headers are served. Django's test client sends "testserver":
# the test suite lists it in DJANGO_ALLOWED_HOSTS, nothing adds it here.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

# No relational database: all data lives in DynamoDB via dynamo_backend.
DATABASES: dict = {}

INSTALLED_APPS = [
    "dynamo_backend",
    "services.blog",
]

MIDDLEWARE = [
    # Outermost: whatever any layer below answers, an error leaves as JSON.
    "services.blog.security.ApiSecurityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "services.blog.middleware.WorkerHeaderMiddleware",  # X-Worker, only with DJANGO_EXPOSE_WORKER=1 (tests)
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "services.blog.bodies.ChunkedBodyMiddleware",
    "dynamo_backend.middleware.DynamoRequestMiddleware",
    "services.blog.middleware.ApiErrorMiddleware",
    "services.blog.idempotency.IdempotencyMiddleware",
]

# A JSON API renders no HTML; kept so Django's defaults have something to read.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {},
    }
]

APPEND_SLASH = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # 1 MiB; larger bodies are a 413

LANGUAGE_CODE = "en-us"
USE_I18N = False
USE_TZ = True
TIME_ZONE = "UTC"

# --- security headers and TLS -------------------------------------------------

# Always: no framing, no MIME sniffing, no Referer sent from our responses.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# DJANGO_SECURE=1: the site is served over HTTPS by a TLS terminator in front
# of nginx. Off by default so `make run` and the compose stack work over plain
# HTTP on localhost; production turns it on.
_secure = env_bool("DJANGO_SECURE", False)
SECURE_SSL_REDIRECT = _secure
# Container and load-balancer health checks ask over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000) if _secure else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure and env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _secure and env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
# Trust X-Forwarded-Proto only behind a proxy that sets it (deploy/nginx does).
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", _secure):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# No CsrfViewMiddleware: the API keeps no session or cookie for a cross-site
# request to ride on; writes carry a bearer token, which a browser never adds
# to a cross-site request by itself.
SILENCED_SYSTEM_CHECKS = ["security.W003"]
# Should CsrfViewMiddleware ever be added, its refusals are JSON too.
CSRF_FAILURE_VIEW = "services.blog.errors.csrf_failure"

# Server-Timing (DynamoDB calls and cache hits per response) tells a client
# whether someone else recently read an item: on in development only, unless
# DYNAMO_SERVER_TIMING says otherwise.
DYNAMO_SERVER_TIMING = env_bool("DYNAMO_SERVER_TIMING", DEBUG)

# --- API authentication and rate limits (services/blog/auth.py, ratelimit.py) --

# The moderator's bearer token: it may change or delete anything. Only its
# SHA-256 is kept in the settings; the token itself is never logged.
_admin_token = os.environ.get("DJANGO_ADMIN_TOKEN", "").strip()
if _admin_token and len(_admin_token) < 32:
    raise ImproperlyConfigured(
        "DJANGO_ADMIN_TOKEN is too short to be a secret (32 characters at least), e.g. "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )
BLOG_ADMIN_TOKEN_SHA256 = hashlib.sha256(_admin_token.encode()).hexdigest() if _admin_token else ""
del _admin_token

# Fixed-window write limits, shared by every worker and host through DynamoDB:
# (requests, seconds) or None for no limit.
BLOG_RATE_LIMIT_TOKEN = env_rate("DJANGO_RATE_LIMIT_TOKEN", "60/60")
BLOG_RATE_LIMIT_ADDRESS = env_rate("DJANGO_RATE_LIMIT_ADDRESS", "120/60")
BLOG_RATE_LIMIT_SIGNUP = env_rate("DJANGO_RATE_LIMIT_SIGNUP", "20/3600")
# 1 behind a proxy that sets X-Real-IP / X-Forwarded-For to the client's
# address (deploy/nginx does). Off, those headers are the client's own words.
BLOG_TRUSTED_PROXY = env_bool("DJANGO_TRUSTED_PROXY", False)

# --- DynamoDB ---------------------------------------------------------------

_endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None

DYNAMO_BACKEND: dict = {
    "ENDPOINT_URL": _endpoint,
    "REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    "TABLE_PREFIX": os.environ.get("DYNAMO_TABLE_PREFIX", ""),
    "CREATE_TABLES_ON_STARTUP": env_bool("DYNAMO_CREATE_TABLES_ON_STARTUP", False),
    "CACHE_TTL": env_seconds("DYNAMO_CACHE_TTL", 60),
    "CACHE_MAXSIZE": env_int("DYNAMO_CACHE_MAXSIZE", 10000),
    "QUERY_CACHE_TTL": env_seconds("DYNAMO_QUERY_CACHE_TTL", 5),
    "CONNECT_TIMEOUT": env_seconds("DYNAMO_CONNECT_TIMEOUT", 2),
    "READ_TIMEOUT": env_seconds("DYNAMO_READ_TIMEOUT", 5),
    # A request spends at most this long in DynamoDB calls, then answers 503 + Retry-After;
    # each attempt's timeouts are capped at REQUEST_DEADLINE / MAX_ATTEMPTS.
    "REQUEST_DEADLINE": env_seconds("DYNAMO_REQUEST_DEADLINE", 4),
    "MAX_ATTEMPTS": env_int("DYNAMO_MAX_ATTEMPTS", 3),
    # Coherence across workers: a stream on each table, one reader per host (dynamo_backend.streams).
    "STREAMS": env_bool("DYNAMO_STREAMS", True),
    "STREAM_POLL_INTERVAL": env_seconds("DYNAMO_STREAM_POLL_INTERVAL", 0.5),
}

# Credentials: only when given; otherwise boto3's own chain applies. A local
# emulator accepts anything, so an endpoint without credentials gets dummies.
_key_id = os.environ.get("AWS_ACCESS_KEY_ID")
_secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
if _key_id and _secret:
    DYNAMO_BACKEND["AWS_ACCESS_KEY_ID"] = _key_id
    DYNAMO_BACKEND["AWS_SECRET_ACCESS_KEY"] = _secret
    if os.environ.get("AWS_SESSION_TOKEN"):
        DYNAMO_BACKEND["AWS_SESSION_TOKEN"] = os.environ["AWS_SESSION_TOKEN"]
elif _endpoint:
    DYNAMO_BACKEND["AWS_ACCESS_KEY_ID"] = "test"
    DYNAMO_BACKEND["AWS_SECRET_ACCESS_KEY"] = "test"

# --- logging ----------------------------------------------------------------

LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"},
    },
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # 4xx are answered as JSON on purpose; don't log each as a warning.
        "django.request": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
        # A wrong Host header is a client's 400, not a traceback in our logs.
        "django.security.DisallowedHost": {"handlers": ["null"], "propagate": False},
        "dynamo_backend": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "botocore": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}
