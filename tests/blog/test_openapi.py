"""The API describes itself: /api/openapi.json (OpenAPI 3.1) and the docs page /api/docs/ (pure: no DynamoDB)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from openapi_spec_validator import validate

from services.blog import docs, openapi
from services.blog.models import NOT_BLANK_PATTERN
from services.blog.schemas import AUTHOR_SCHEMA, COMMENT_SCHEMA, POST_SCHEMA

pytestmark = pytest.mark.usefixtures("no_dynamodb")

BLOG = Path(openapi.__file__).parent
DOC = openapi.document()


def operations():
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_1():
    assert DOC["openapi"].startswith("3.1")
    validate(DOC)


def test_it_is_served_as_json():
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert json.loads(response.content) == json.loads(json.dumps(DOC))


def test_every_route_and_method_is_described_and_nothing_else():
    described = {
        (name, method) for name, _route, pattern in openapi.routes() for method, _ in openapi.view_methods(pattern)
    }
    assert described == set(openapi.OPERATIONS)
    assert sum(1 for _ in operations()) == len(openapi.OPERATIONS)
    assert "/api/comments/{pk}/" in DOC["paths"] and "/api/authors/{pk}/tokens/{token_id}/" in DOC["paths"]


def test_writes_need_a_bearer_token_and_reads_take_one_optionally():
    assert DOC["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": DOC["components"]["securitySchemes"]["bearer"]["description"],
    }
    for path, method, operation in operations():
        if operation["operationId"] == "createAuthor":
            assert operation["security"] == [{}, {"bearer": []}]  # sign-up: no token yet
        elif method != "get" or "/tokens/" in path:
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
        else:
            assert {} in operation["security"], (method, path)


def test_posts_take_an_idempotency_key_and_lists_a_limit_and_cursor():
    for _path, method, operation in operations():
        names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in operation["parameters"]}
        assert ("Idempotency-Key" in names) == (method == "post"), operation["operationId"]
        page = operation["responses"].get("200", {}).get("content", {}).get("application/json", {})
        is_page = page.get("schema", {}).get("$ref", "").endswith("Page")
        assert ({"limit", "cursor"} <= names) == is_page, operation["operationId"]
    page = DOC["components"]["schemas"]["PostPage"]
    assert page["required"] == ["results", "next_cursor"]


def test_every_error_answer_is_the_error_shape_with_its_headers():
    responses = DOC["components"]["responses"]
    for name, response in responses.items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["RateLimited"]["headers"]["Retry-After"]["required"] is True
    assert responses["ServiceUnavailable"]["headers"]["Retry-After"]["required"] is True
    statuses = {status for _p, _m, operation in operations() for status in operation["responses"]}
    assert {"400", "401", "403", "404", "409", "413", "415", "422", "429", "503"} <= statuses
    for _path, method, operation in operations():
        assert "503" in operation["responses"]
        if method in ("post", "put", "patch"):
            assert {"413", "429"} <= set(operation["responses"]) or operation["operationId"] == "createToken"


def test_every_error_code_the_blog_answers_with_is_described():
    source = "\n".join(path.read_text() for path in BLOG.glob("*.py"))
    used = set(re.findall(r'error_response\(\s*\d{3},\s*"([a-z_]+)"', source))
    used |= set(re.findall(r'code = \d{3}, "([a-z_]+)"', source))
    assert used and used <= set(openapi.ERROR_CODES), used - set(openapi.ERROR_CODES)


def test_bodies_come_from_the_model_schemas():
    schemas = DOC["components"]["schemas"]
    username = schemas["AuthorCreate"]["properties"]["username"]
    assert username["maxLength"] == 50 and username["pattern"] == r"^[\w.@+-]+$"
    assert username["allOf"] == [{"pattern": NOT_BLANK_PATTERN}]

    assert schemas["AuthorCreate"]["required"] == ["username", "email"]
    assert schemas["PostCreate"]["required"] == ["title", "slug"]  # author_pk: the token's author
    assert schemas["PostCreate"]["properties"]["tags"]["maxItems"] == 20
    assert schemas["Post"]["properties"]["created_at"]["readOnly"] is True
    assert "email" not in schemas["Author"]["required"]  # only its author sees it
    for schema in (AUTHOR_SCHEMA, POST_SCHEMA, COMMENT_SCHEMA):
        assert set(schemas[f"{schema.name}Update"]["properties"]) == set(schema.writable)
        assert schemas[f"{schema.name}Create"]["additionalProperties"] is False


def test_the_not_blank_pattern_is_pythons_whitespace_exactly():
    """Found by the contract test: ``\\S`` let U+0085 through JSON Schema, which str.strip() calls blank."""
    blank = re.compile(NOT_BLANK_PATTERN)
    for code in range(0x110000):
        char = chr(code)
        assert (blank.fullmatch(char) is None) == char.isspace(), hex(code)


def test_creates_link_to_what_they_made():
    links = DOC["paths"]["/api/authors/"]["post"]["responses"]["201"]["links"]
    assert links["CreatePost"]["requestBody"] == {"author_pk": "$response.body#/pk"}
    post_links = DOC["paths"]["/api/posts/"]["post"]["responses"]["201"]["links"]
    assert {"CreateComment", "DeletePost"} <= set(post_links)
    comment_links = DOC["paths"]["/api/posts/{pk}/comments/"]["post"]["responses"]["201"]["links"]
    assert comment_links["DeleteComment"]["parameters"] == {"pk": "$response.body#/pk"}


# --- the docs page --------------------------------------------------------------------------------


class References(HTMLParser):
    """The URLs a page loads: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(("script", attrs["src"]))
            else:
                self.inline_scripts += 1
        elif tag == "link" and attrs.get("href"):
            self.urls.append((attrs.get("rel", ""), attrs["href"]))
        elif tag == "img" and attrs.get("src"):
            self.urls.append(("img", attrs["src"]))
        if any(name.startswith("on") for name in attrs) or "style" in attrs:
            self.inline_scripts += 1


EXPECTED_TYPES = {"script": "text/javascript", "stylesheet": "text/css", "icon": "image/png"}


def test_the_docs_page_loads_every_asset_it_references_from_this_server():
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200 and page["Content-Type"] == "text/html; charset=utf-8"
    refs = References()
    refs.feed(page.content.decode())

    assert refs.inline_scripts == 0
    assert {kind for kind, _ in refs.urls} == {"script", "stylesheet", "icon"}
    assert len(refs.urls) == 4
    for kind, url in refs.urls:
        assert url.startswith("/api/docs/"), url  # this server, no CDN
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].split(";")[0] == EXPECTED_TYPES[kind], (url, response["Content-Type"])
        assert len(response.content) > 0
    bundle = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.content == (docs.asset_dir() / "swagger-ui-bundle.js").read_bytes()  # the package's file
    assert b"/api/openapi.json" in page.content


def test_the_docs_page_has_a_csp_that_allows_only_its_own_assets():
    response = Client().get("/api/docs/")
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["img-src"] == "'self' data:"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"] and "http" not in response["Content-Security-Policy"]


def test_the_swagger_bundle_runs_under_that_csp_without_evaluating_strings():
    """script-src 'self' refuses eval and the Function constructor. The bundle's only Function constructors
    are fallbacks a browser with globalThis, self and a native bind never reaches; an upgraded bundle that
    adds another (or eval, or a style element) fails here until someone checks it against the CSP."""
    bundle = (docs.asset_dir() / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w$.])eval\s*\(", bundle)
    assert 'createElement("style")' not in bundle
    constructors = list(re.finditer(r"(?<![\w$.])(?:new\s+)?Function\s*\(", bundle))
    assert constructors
    for found in constructors:
        before, call = bundle[found.start() - 40 : found.start()], bundle[found.start() : found.end() + 20]
        # `globalThis || self || Function("return this")()`, or function-bind's polyfill behind the native bind
        fallback = before.endswith("||") and re.match(r'(?:new\s+)?Function\("return this"\)', call) is not None
        polyfill = call.startswith('Function("binder"') and "Function.prototype.bind||" in bundle
        assert fallback or polyfill, f"...{before}{call}..."


def test_json_answers_keep_the_strict_csp():
    assert Client().get("/api/openapi.json")["Content-Security-Policy"].startswith("default-src 'none'")


def test_only_the_listed_assets_are_served(assert_error):
    for name in ("oauth2-redirect.html", "..%2F__init__.py", "swagger-ui-bundle.js.map"):
        assert_error(Client().get(f"/api/docs/assets/{name}"), 404, "not_found")
