"""dynamo_backend.schemas: request and response schemas from field declarations (pure: no DynamoDB)."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxValueValidator, RegexValidator, validate_email, validate_slug
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo_backend import (
    BooleanField,
    CharField,
    DateTimeField,
    DynamoModel,
    IntegerField,
    ListField,
    UUIDField,
    ValidationError,
)
from dynamo_backend.schemas import EMAIL_PATTERN, READ_ONLY, REQUIRED, UNKNOWN, ModelSchema, json_schemas, to_json
from tests.engines import REPO_ROOT

pytestmark = pytest.mark.usefixtures("no_dynamodb")


def no_blank(value: str) -> None:
    if not value.strip():
        raise DjangoValidationError("Say something.")


no_blank.json_schema = {"pattern": r"\S"}  # type: ignore[attr-defined]


class Profile(DynamoModel):
    class Meta:
        app_label = "libtests_schemas"

    handle = CharField(max_length=20, nullable=False, validators=[no_blank, RegexValidator(r"^[a-z]+\Z", "Lowercase.")])
    email = CharField(max_length=254, nullable=False, validators=[validate_email])
    slug = CharField(max_length=50, default="x", nullable=False, validators=[validate_slug])
    kind = CharField(choices=[("a", "A"), ("b", "B")], default="a", nullable=False)
    age = IntegerField(validators=[MaxValueValidator(150)])
    owner = UUIDField(auto=False, nullable=False)
    active = BooleanField(default=True, nullable=False)
    tags = ListField(default=list, nullable=False)
    created_at = DateTimeField(auto_now_add=True, nullable=False)


PROFILE = ModelSchema(Profile)
VALID = {"handle": "ann", "email": "ann@example.com", "owner": "5E0F6AE4-7A4C-4F5D-9B4E-123456789ABC"}


def errors_of(data: dict, *, partial: bool = False) -> dict:
    with pytest.raises(ValidationError) as info:
        PROFILE.validate(data, partial=partial)
    return info.value.message_dict


def test_defaults_split_writable_and_read_only_fields():
    assert PROFILE.writable == ("handle", "email", "slug", "kind", "age", "owner", "active", "tags")
    assert PROFILE.read_only == {"pk", "created_at"}
    assert PROFILE.required() == ["handle", "email", "owner"]


def test_values_come_back_cleaned_by_the_field():
    assert PROFILE.validate(VALID)["owner"] == "5e0f6ae4-7a4c-4f5d-9b4e-123456789abc"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"handle": "x" * 21}, "handle"),
        ({"handle": "   "}, "handle"),
        ({"handle": "UPPER"}, "handle"),
        ({"email": "nope"}, "email"),
        ({"kind": "c"}, "kind"),
        ({"age": 151}, "age"),
        ({"owner": "not-a-uuid"}, "owner"),
    ],
)
def test_value_errors_are_the_models_own_messages(change, field):
    data = {**VALID, **change}
    with pytest.raises(ValidationError) as model_error:
        Profile(**data).full_clean()

    assert errors_of(data) == {field: model_error.value.message_dict[field]}


def test_shape_errors_name_every_field_at_once():
    errors = errors_of({"pk": "x", "colour": "red", "handle": 5, "age": True, "active": None, "email": "a@b.co"})

    assert errors == {
        "pk": [READ_ONLY],
        "colour": [UNKNOWN],
        "handle": ["Input should be a valid string."],
        "age": ["Input should be a valid integer."],
        "active": ["This field cannot be null."],
        "owner": [REQUIRED],
    }


def test_a_partial_update_checks_only_what_is_given():
    assert PROFILE.validate({"age": None}, partial=True) == {"age": None}
    assert errors_of({"kind": "z"}, partial=True).keys() == {"kind"}


def test_the_json_schema_says_what_the_fields_declare():
    refs, defs = json_schemas(PROFILE)
    create, read = defs["ProfileCreate"], defs["Profile"]
    handle = create["properties"]["handle"]

    assert refs[(("Profile", "create"), "validation")] == {"$ref": "#/components/schemas/ProfileCreate"}
    assert create["required"] == ["handle", "email", "owner"]
    assert create["additionalProperties"] is False
    assert (handle["type"], handle["maxLength"]) == ("string", 20)
    assert handle["pattern"] == "^[a-z]+$" and handle["allOf"] == [{"pattern": r"\S"}]  # the whole-string one leads
    assert create["properties"]["email"]["pattern"] == EMAIL_PATTERN
    assert create["properties"]["slug"]["pattern"] == "^[-a-zA-Z0-9_]+$"
    assert create["properties"]["slug"]["default"] == "x"
    assert create["properties"]["kind"]["enum"] == ["a", "b"]
    assert create["properties"]["age"]["maximum"] == 150
    assert {"type": "null"} in create["properties"]["age"]["anyOf"]
    assert create["properties"]["owner"]["format"] == "uuid"
    assert create["properties"]["active"]["type"] == "boolean"
    assert "pk" not in create["properties"] and "created_at" not in create["properties"]
    assert read["properties"]["created_at"] == {
        "format": "date-time",
        "readOnly": True,
        "title": "Created At",
        "type": "string",
    }
    assert set(read["required"]) == {*PROFILE.writable, "pk", "created_at"}
    assert "required" not in defs["ProfileUpdate"]


def test_dump_takes_the_readable_fields_and_to_json_writes_rfc3339():
    profile = Profile(pk="p1", created_at=dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC), **VALID)

    data = json.loads(to_json(PROFILE.dump(profile, handle="override")))

    assert data["handle"] == "override"
    assert data["created_at"] == "2024-05-01T12:00:00.123456Z"
    assert set(data) == set(PROFILE.fields)


def test_a_field_name_the_model_lacks_fails_at_definition():
    with pytest.raises(ValueError, match="colour"):
        ModelSchema(Profile, writable=("colour",))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.from_regex(EMAIL_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 254))
def test_every_address_the_email_pattern_admits_django_accepts(address):
    """Found by the contract test: ``format: email`` alone admits ``0@0.a``, which Django refuses."""
    validate_email(address)


@pytest.mark.parametrize("address", ["0@0.a", "a@b", "a..b@example.com", ".a@example.com", "a@-x.com", "a@x.co-"])
def test_the_email_pattern_refuses_what_django_refuses(address):
    with pytest.raises(DjangoValidationError):
        validate_email(address)
    assert re.fullmatch(EMAIL_PATTERN, address) is None


def test_the_library_imports_without_pydantic():
    code = (
        "import sys; sys.modules['pydantic'] = None; sys.modules['pydantic_core'] = None\n"
        "import django; from django.conf import settings; settings.configure(); django.setup()\n"
        "import dynamo_backend\n"
        "try:\n    import dynamo_backend.schemas\nexcept ImportError as e:\n    print('ImportError:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "needs pydantic 2" in done.stdout
