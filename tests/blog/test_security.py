"""Every error in the JSON shape (whatever produced it), JSON bodies only, forged cursors, response headers."""

from __future__ import annotations

import botocore.exceptions
import pytest
from django.test import override_settings

import dynamo_backend
from dynamo_backend import connection


def test_botocore_parameter_validation_is_a_request_validation_error():
    """dynamo_backend.connection.translate_error: a value of the wrong type refused before sending."""
    error = botocore.exceptions.ParamValidationError(report="Invalid type for parameter ExclusiveStartKey.pk")
    translated = connection.translate_error(error, "Query")
    assert isinstance(translated, dynamo_backend.RequestValidationError)
    assert translated.code == "ParamValidationError" and "ExclusiveStartKey" in str(translated)


@pytest.mark.usefixtures("blog_tables")
class TestServerTiming:
    def test_off_by_setting_no_header(self, api):
        with override_settings(DYNAMO_SERVER_TIMING=False):
            assert "Server-Timing" not in api.get("/api/posts/")

    def test_on_by_setting_the_header(self, api):
        with override_settings(DYNAMO_SERVER_TIMING=True):
            assert api.get("/api/posts/")["Server-Timing"].startswith("ddb;dur=")
