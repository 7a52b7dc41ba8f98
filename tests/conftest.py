"""Suite-wide setup: Django settings, fake AWS credentials, the engine harness, engine shutdown.

Runs before any test module is imported, so nothing can reach real AWS: the
credentials are dummies, config files and instance metadata are switched off,
and endpoint variables from the developer's shell are dropped (each engine
sets its own endpoint through ``DYNAMO_BACKEND``). Only an integration run
against AWS (``DDB_INTEGRATION_ENDPOINT=aws``) keeps the credential chain. The engine fixtures live in
tests/fixtures.py, loaded below once Django is set up.
"""

from __future__ import annotations

import os

import django

from tests import engines

os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
os.environ["DJANGO_DEBUG"] = "1"
os.environ["DJANGO_SECRET_KEY"] = "test-secret-key-not-for-production"
# Django's test client sends Host: testserver; the settings only allow it when asked to.
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1,[::1]"

# `DDB_INTEGRATION_ENDPOINT=aws` is the one way to reach real AWS: the credential chain stays then.
_real_aws = (engines.integration_endpoint() or "").lower() == "aws"
for _name in (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "DYNAMO_CREATE_TABLES_ON_STARTUP",
    "DYNAMO_TABLE_PREFIX",
):
    os.environ.pop(_name, None)
# Tables are the fixtures' business: a pure test's first request must not try to create every model's.
os.environ["DYNAMO_CREATE_TABLES_ON_STARTUP"] = "0"
if not _real_aws:
    for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(_name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ["AWS_REGION"] = "us-east-1"
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

django.setup()

# Imported after django.setup(): the harness imports the library.
pytest_plugins = ["tests.fixtures"]


def pytest_sessionfinish(session, exitstatus):
    engines.stop_all()
