"""The API's OpenAPI 3.1 description, built from the routes, the views and the model schemas.

Paths and methods come from urls.py and the view classes (a route or method
this module does not describe fails the test suite); request and response
bodies from the resources' schemas (schemas.py, derived from the model
fields); security from each view method's ``auth`` mark (auth.py). What the
code cannot say by itself is here, once per operation: its summary, its
status codes, its links.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from dynamo_backend.schemas import json_schemas

from . import idempotency, pagination
from .errors import STATUS_CODES
from .schemas import ALL_SCHEMAS, AUTHOR_FROM_TOKEN, AUTHOR_SCHEMA, COMMENT_SCHEMA, POST_SCHEMA, TOKEN_SCHEMA, Schema

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
METHODS = ("get", "post", "put", "patch", "delete")
# The JSON 404 for every other path, and the description and its docs page themselves.
UNDOCUMENTED_ROUTES = {"not-found", "openapi", "docs", "docs-init", "docs-asset"}

DESCRIPTION = """\
A blog (authors, posts, comments) on DynamoDB, served by Django.

* **Reads are public**; writes need `Authorization: Bearer <token>` (sign-up answers an author's first token).
* **Errors** have one shape, `{"error": {"code", "message", "fields"?}}`: 400 bad input (`fields` names each
  bad field), 401/403 missing or wrong credentials, 404 unknown resource or route, 405 a method the path does not
  take (with `Allow`), 409 conflict, 413 body over 1 MiB, 415 body not declared JSON, 422 Idempotency-Key reused
  with another body, 429 rate limited and 503 DynamoDB unavailable (both with `Retry-After`).
* **Lists** answer `{"results": [...], "next_cursor": "..." | null}`: pass `next_cursor` back as `cursor`.
* **POST** takes an `Idempotency-Key`: a retry with the same key and body is answered once, from the first answer.
"""


@dataclass(frozen=True)
class Op:
    """What one operation says beyond its route and view: summary, bodies, statuses, links."""

    id: str
    summary: str
    ok: int = 200
    body: str | None = None  # "create" / "update": the request body of ``schema``
    schema: Schema | None = None
    page: bool = False  # the answer is a page of ``schema``
    detail: str | None = None  # a response schema name other than ``schema``'s
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str], ...] = ()  # (name, description) of UUID query parameters
    auth: str | None = None  # "bearer" (required) for a read the view checks itself
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429, 503)


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


AUTHOR_LINKS = {
    "GetAuthor": _link("getAuthor", "The new author.", pk="$response.body#/pk"),
    "UpdateAuthor": _link("updateAuthor", "Change the new author.", pk="$response.body#/pk"),
    "DeleteAuthor": _link("deleteAuthor", "Delete the new author.", pk="$response.body#/pk"),
    "ListTokens": _link("listTokens", "The new author's tokens.", pk="$response.body#/pk"),
    "CreateToken": _link("createToken", "Another token for the new author.", pk="$response.body#/pk"),
    "ListPostsOfAuthor": _link("listPosts", "The new author's posts.", author_pk="$response.body#/pk"),
    "CreatePost": {
        "operationId": "createPost",
        "requestBody": {"author_pk": "$response.body#/pk"},
        "description": "A post by the new author (with the new author's token).",
    },
}
POST_LINKS = {
    "GetPost": _link("getPost", "The new post.", pk="$response.body#/pk"),
    "UpdatePost": _link("updatePost", "Change the new post.", pk="$response.body#/pk"),
    "PatchPost": _link("patchPost", "Change the new post.", pk="$response.body#/pk"),
    "ListComments": _link("listComments", "The new post's comments.", pk="$response.body#/pk"),
    "CreateComment": {
        "operationId": "createComment",
        "parameters": {"pk": "$response.body#/pk"},
        "requestBody": {"author_pk": "$response.body#/author_pk"},
        "description": "The post's author comments on it.",
    },
    "DeletePost": _link("deletePost", "Delete the new post (and its comments).", pk="$response.body#/pk"),
    "GetAuthorOfPost": _link("getAuthor", "The post's author.", pk="$response.body#/author_pk"),
}
COMMENT_LINKS = {
    "GetComment": _link("getComment", "The new comment.", pk="$response.body#/pk"),
    "DeleteComment": _link("deleteComment", "Delete the new comment.", pk="$response.body#/pk"),
    "GetPostOfComment": _link("getPost", "The comment's post.", pk="$response.body#/post_pk"),
}
TOKEN_LINKS = {
    "GetToken": _link("getToken", "The new token.", pk="$request.path.pk", token_id="$response.body#/id"),
    "RevokeToken": _link("revokeToken", "Revoke the new token.", pk="$request.path.pk", token_id="$response.body#/id"),
}

# (route name, method) -> Op. Every route of urls.py and method of its view is here (a test checks it).
OPERATIONS: dict[tuple[str, str], Op] = {
    ("healthz", "get"): Op("health", "Health: DynamoDB answers", detail="Health", errors=(503,)),
    ("author-list", "get"): Op("listAuthors", "List authors", schema=AUTHOR_SCHEMA, page=True, errors=(400, 401, 503)),
    ("author-list", "post"): Op(
        "createAuthor",
        "Sign up: create an author",
        ok=201,
        body="create",
        schema=AUTHOR_SCHEMA,
        errors=(400, 409, 413, 415, 422, 429, 503),
        links=AUTHOR_LINKS,
        description="Answers the author's first API token, in this answer only: keep it.",
    ),
    ("author-detail", "get"): Op("getAuthor", "Read an author", schema=AUTHOR_SCHEMA, errors=(401, 404, 503)),
    ("author-detail", "put"): Op(
        "updateAuthor", "Change an author (the fields given)", body="update", schema=AUTHOR_SCHEMA, errors=WRITE_ERRORS
    ),
    ("author-detail", "patch"): Op(
        "patchAuthor", "Change an author (the fields given)", body="update", schema=AUTHOR_SCHEMA, errors=WRITE_ERRORS
    ),
    ("author-detail", "delete"): Op(
        "deleteAuthor",
        "Delete an author",
        ok=204,
        errors=(401, 403, 404, 409, 413, 429, 503),
        description="409 while the author has posts or comments.",
    ),
    ("token-list", "get"): Op(
        "listTokens",
        "List an author's tokens",
        schema=TOKEN_SCHEMA,
        page=True,
        auth="bearer",
        errors=(400, 401, 403, 404, 503),
    ),
    ("token-list", "post"): Op(
        "createToken",
        "Create a token (rotate: create, then revoke the old one)",
        ok=201,
        schema=TOKEN_SCHEMA,
        errors=(400, 401, 403, 404, 409, 413, 422, 429, 503),
        links=TOKEN_LINKS,
    ),
    ("token-detail", "get"): Op(
        "getToken", "Read a token (never its secret)", schema=TOKEN_SCHEMA, auth="bearer", errors=(401, 403, 404, 503)
    ),
    ("token-detail", "delete"): Op("revokeToken", "Revoke a token", ok=204, errors=(401, 403, 404, 413, 429, 503)),
    ("post-list", "get"): Op(
        "listPosts",
        "List posts, newest first",
        schema=POST_SCHEMA,
        page=True,
        query=(("author_pk", "Only this author's posts."),),
        errors=(400, 503),
    ),
    ("post-list", "post"): Op(
        "createPost",
        "Create a post",
        ok=201,
        body="create",
        schema=POST_SCHEMA,
        errors=(400, 401, 403, 409, 413, 415, 422, 429, 503),
        links=POST_LINKS,
    ),
    ("post-detail", "get"): Op(
        "getPost",
        "Read a post with its author and first comments (counts a view)",
        schema=POST_SCHEMA,
        errors=(404, 503),
    ),
    ("post-detail", "put"): Op(
        "updatePost", "Change a post (the fields given)", body="update", schema=POST_SCHEMA, errors=WRITE_ERRORS
    ),
    ("post-detail", "patch"): Op(
        "patchPost", "Change a post (the fields given)", body="update", schema=POST_SCHEMA, errors=WRITE_ERRORS
    ),
    ("post-detail", "delete"): Op(
        "deletePost", "Delete a post and its comments", ok=204, errors=(401, 403, 404, 409, 413, 429, 503)
    ),
    ("post-comments", "get"): Op(
        "listComments", "List a post's comments, oldest first", schema=COMMENT_SCHEMA, page=True, errors=(400, 404, 503)
    ),
    ("post-comments", "post"): Op(
        "createComment",
        "Comment on a post",
        ok=201,
        body="create",
        schema=COMMENT_SCHEMA,
        errors=(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
        links=COMMENT_LINKS,
    ),
    ("comment-detail", "get"): Op("getComment", "Read a comment", schema=COMMENT_SCHEMA, errors=(404, 503)),
    ("comment-detail", "delete"): Op(
        "deleteComment",
        "Delete a comment (its author, the post's author or the moderator)",
        ok=204,
        errors=(401, 403, 404, 413, 429, 503),
    ),
}

ERROR_RESPONSES = {
    400: ("BadRequest", "Bad input: `fields` names each bad field (or a bad `limit`, `cursor`, Idempotency-Key)."),
    401: ("Unauthorized", "No token, or one that is malformed, unknown or revoked."),
    403: ("Forbidden", "The token may not do this (another author's resource; the moderator writes as nobody)."),
    404: ("NotFound", "No such resource."),
    409: ("Conflict", "A unique value is taken, the resource is referenced, or the Idempotency-Key is in flight."),
    413: ("PayloadTooLarge", "The body is over 1 MiB."),
    415: ("UnsupportedMediaType", "The body is not declared JSON (Content-Type: application/json)."),
    422: ("IdempotencyKeyReused", "The Idempotency-Key was used with another request."),
    429: ("RateLimited", "Too many writes; retry after Retry-After seconds."),
    503: ("ServiceUnavailable", "DynamoDB is unavailable or throttling; retry after Retry-After seconds."),
}
# Every ``code`` an error may carry (a test finds each one the blog's code uses here).
ERROR_CODES = sorted(
    {
        *STATUS_CODES.values(),
        "validation_error",
        "invalid_json",
        "invalid_idempotency_key",
        "idempotency_key_reused",
        "idempotency_key_in_flight",
    }
)
HEADERS = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": 'The scheme the API wants (RFC 6750): `Bearer realm="api"`.', "schema": {}},
    "Location": {"description": "The new resource's URL.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
ERROR_HEADERS = {401: ("WWW-Authenticate", True), 403: ("WWW-Authenticate", False), 409: ("Retry-After", False)}
ERROR_HEADERS.update({429: ("Retry-After", True), 503: ("Retry-After", True)})


def _header(name: str, required: bool) -> dict[str, Any]:
    return {"$ref": f"#/components/headers/{name}"} if not required else {**HEADERS[name], "required": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def path_template(route: str) -> str:
    """``api/authors/<pk:pk>/`` -> ``/api/authors/{pk}/``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def routes(patterns: list | None = None, prefix: str = "") -> list[tuple[str, str, URLPattern]]:
    """The described routes of the URLconf: (name, route text, pattern)."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and pattern.name and pattern.name not in UNDOCUMENTED_ROUTES:
            found.append((pattern.name, route, pattern))
    return found


def view_methods(pattern: URLPattern) -> list[tuple[str, Any]]:
    """(method, handler) of a route's view class, HEAD and OPTIONS aside."""
    view_class = pattern.callback.view_class  # type: ignore[attr-defined]
    return [(m, getattr(view_class, m)) for m in METHODS if hasattr(view_class, m)]


def _parameters(route: str, op: Op, method: str) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", route):
        if converter == "comment":
            schema = {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,400}$"}
            about = "The comment's id (the `pk` its answers carry)."
        else:
            schema, about = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}, "A UUID."
        params.append({"name": name, "in": "path", "required": True, "description": about, "schema": schema})
    if op.page:
        params += [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/cursor"}]
    for name, description in op.query:
        schema = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
        params.append({"name": name, "in": "query", "description": description, "schema": schema})
    if method == "post":
        params.append({"$ref": "#/components/parameters/Idempotency-Key"})
    return params


def _success(op: Op, path_names: list[str]) -> dict[str, Any]:
    if op.ok == 204:
        return {"description": "Done; no content."}
    if op.page:
        assert op.schema is not None
        schema = _ref(f"{op.schema.name}Page")
    else:
        schema = _ref(op.detail or (op.schema.name if op.schema is not None else "Error"))
    response: dict[str, Any] = {"description": "OK." if op.ok == 200 else "Created.", "content": _json(schema)}
    if op.ok == 201:
        response["headers"] = {
            "Location": _header("Location", True),
            "Idempotent-Replayed": _header("Idempotent-Replayed", False),
        }
    links = dict(op.links)
    if op.page and not op.query:  # the next page: next_cursor back as cursor, the path as it was
        # (A filter in the query may be absent, which a link cannot say: those lists have no such link.)
        parameters = {f"path.{name}": f"$request.path.{name}" for name in path_names}
        parameters["query.cursor"] = "$response.body#/next_cursor"
        links["NextPage"] = {"operationId": op.id, "parameters": parameters, "description": "The next page."}
    if links:
        response["links"] = links
    return response


def _operation(route: str, method: str, handler: Any, op: Op) -> dict[str, Any]:
    auth = getattr(handler, "auth", None) or op.auth
    operation: dict[str, Any] = {
        "operationId": op.id,
        "summary": op.summary,
        "tags": [_tag(route)],
        "parameters": _parameters(route, op, method),
        "responses": {str(op.ok): _success(op, re.findall(r"<(?:\w+:)?(\w+)>", route))},
    }
    if op.description:
        operation["description"] = op.description
    for status in sorted(op.errors):
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    if op.body is not None:
        assert op.schema is not None
        suffix = "Create" if op.body == "create" else "Update"
        operation["requestBody"] = {"required": True, "content": _json(_ref(f"{op.schema.name}{suffix}"))}
    # Reads are public; a token (optional) shows the author's own email.
    operation["security"] = [{"bearer": []}] if auth == "bearer" else [{}, {"bearer": []}]
    return operation


def _tag(route: str) -> str:
    for tag in ("tokens", "comments", "posts", "authors"):
        if tag in route:
            return tag
    return "health"


def _components() -> dict[str, Any]:
    _refs, definitions = json_schemas(*ALL_SCHEMAS, ref_template=REF)
    for schema in AUTHOR_FROM_TOKEN:  # the server fills in the token's author
        create = definitions[f"{schema.name}Create"]
        create["required"] = [name for name in create["required"] if name != "author_pk"]
    for schema in (AUTHOR_SCHEMA, POST_SCHEMA, COMMENT_SCHEMA, TOKEN_SCHEMA):
        definitions[f"{schema.name}Page"] = {
            "type": "object",
            "title": f"{schema.name}Page",
            "additionalProperties": False,
            "required": ["results", "next_cursor"],
            "properties": {
                "results": {"type": "array", "items": _ref(schema.name)},
                "next_cursor": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "Pass it as `cursor` for the next page; null on the last page.",
                },
            },
        }
    definitions["Error"] = {
        "type": "object",
        "title": "Error",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": ERROR_CODES},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "description": "Each bad input field (or parameter) and what is wrong with it.",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }
    definitions["Health"] = {
        "type": "object",
        "title": "Health",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "cache": {
                "type": "object",
                "description": "How fresh this worker's caches are. Operators (the admin token, or "
                "DYNAMO_SERVER_TIMING on) also see the process, the stream reader and its counters.",
                "required": ["mode", "lag_seconds"],
                "properties": {
                    "mode": {"type": "string", "enum": ["streams", "ttl"]},
                    "lag_seconds": {"type": ["number", "null"]},
                },
            },
        },
    }
    responses = {}
    for status, (name, description) in ERROR_RESPONSES.items():
        responses[name] = {"description": description, "content": _json(_ref("Error"))}
        if status in ERROR_HEADERS:
            header, required = ERROR_HEADERS[status]
            responses[name]["headers"] = {header: _header(header, required)}
    return {
        "schemas": definitions,
        "responses": responses,
        "headers": HEADERS,
        "parameters": {
            "limit": {
                "name": "limit",
                "in": "query",
                "description": f"Items per page (default {pagination.DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": pagination.MAX_LIMIT},
            },
            "cursor": {
                "name": "cursor",
                "in": "query",
                "description": "The `next_cursor` of the previous page (opaque and signed: a changed one is a 400); "
                "absent or empty: the first page.",
                "schema": {"type": "string"},
            },
            "Idempotency-Key": {
                "name": "Idempotency-Key",
                "in": "header",
                "description": "Makes a retried POST happen once (kept 24 hours, per credential, method and path).",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": idempotency.MAX_KEY_LENGTH,
                    "pattern": "^[\\x20-\\x7e]+$",
                },
            },
        },
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An author's API token `<id>.<secret>` (sign-up answers the first), or the moderator's.",
            }
        },
    }


@functools.cache
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for name, route, pattern in routes():
        item = paths.setdefault(path_template(route), {})
        for method, handler in view_methods(pattern):
            item[method] = _operation(route, method, handler, OPERATIONS[(name, method)])
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": "DDBDjango blog API", "version": API_VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in ("authors", "tokens", "posts", "comments", "health")],
        "paths": paths,
        "components": _components(),
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    return copy.deepcopy(_document())
