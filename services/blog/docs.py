"""``/api/openapi.json`` and the interactive docs page ``/api/docs/`` (Swagger UI, served from a package).

The page's JavaScript and CSS are Swagger UI's built files as the
``drf-spectacular-sidecar`` package ships them (no CDN: the page works
offline), served by :class:`DocsAssetView` from an allow-list. The page has a
Content-Security-Policy of its own that lets it load only those assets (and
data: images Swagger UI's CSS embeds) and call only this origin: no inline
script, no eval, no other host.
"""

from __future__ import annotations

import functools
import mimetypes
from importlib import resources
from pathlib import Path

from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import escape

from dynamo_backend.schemas import to_json

from .errors import NotFound
from .openapi import document
from .views import ApiView

SWAGGER_UI = "drf_spectacular_sidecar"
SWAGGER_UI_DIR = ("static", "drf_spectacular_sidecar", "swagger-ui-dist")
# The package's files the page uses, served under /api/docs/assets/<name>.
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
ASSET_MAX_AGE = 24 * 3600

DOCS_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

# The page's own script (inline scripts are refused by its CSP).
INIT_JS = """\
"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
  });
});
"""

PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" type="image/png" href="{assets}favicon-32x32.png">
  <link rel="stylesheet" href="{assets}swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-url="{schema_url}"></div>
  <script src="{assets}swagger-ui-bundle.js"></script>
  <script src="{init}"></script>
</body>
</html>
"""


def asset_dir() -> Path:
    """Where the Swagger UI package keeps its built files."""
    return Path(str(resources.files(SWAGGER_UI).joinpath(*SWAGGER_UI_DIR)))


@functools.cache
def _asset(name: str) -> tuple[bytes, str]:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return (asset_dir() / name).read_bytes(), content_type


def _static(body: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}"
    return response


class OpenApiView(ApiView):
    def get(self, request):
        return HttpResponse(to_json(document()), content_type="application/json")


class DocsPageView(ApiView):
    def get(self, request):
        html = PAGE.format(
            title=escape(document()["info"]["title"]),
            assets=escape(reverse("docs-asset", args=["x"])[:-1]),
            schema_url=escape(reverse("openapi")),
            init=escape(reverse("docs-init")),
        )
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class DocsInitView(ApiView):
    def get(self, request):
        return _static(INIT_JS.encode(), "text/javascript; charset=utf-8")


class DocsAssetView(ApiView):
    def get(self, request, name):
        if name not in ASSETS:
            raise NotFound(f"No resource at {request.path}.")
        return _static(*_asset(name))
