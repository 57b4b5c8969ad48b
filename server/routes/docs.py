"""``GET /api/openapi.json`` (OpenAPI 3.1) and ``GET /api/docs`` (the same, as a page).

Both are built from the running ``Api``'s rules (``server/openapi.py``), so every
route is in them.  They need a login like every /api route: ``Api.handle``
authenticates all of /api in one place, and a page that lists the admin API is no
reason to open a hole there.  A browser asks for Basic credentials on the 401.
"""

import json

from werkzeug.routing import Rule

from roomcal.server import openapi

# The page is static HTML with an inline stylesheet: nothing else may load or run.
DOCS_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")


def openapi_document(api, request, identity):
    """The OpenAPI 3.1 document of this server."""
    spec = openapi.build(api.url_map, request.script_root)
    pretty = "pretty" in request.args or "application/pretty+json" in request.headers.get("Accept", "")
    text = json.dumps(spec, ensure_ascii=False, indent=2 if pretty else None)
    return 200, [("Content-Type", "application/json; charset=utf-8"),
                 ("Cache-Control", "no-cache")], text.encode()


def docs_page(api, request, identity):
    """The OpenAPI document as a readable HTML page, served from the package."""
    spec = openapi.build(api.url_map, request.script_root)
    page = openapi.render_html(spec, json_url=request.script_root + "/api/openapi.json")
    return 200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"),
                 ("Content-Security-Policy", DOCS_POLICY), ("X-Content-Type-Options", "nosniff"),
                 ("Referrer-Policy", "no-referrer")], page.encode()


ROUTES = [
    Rule("/api/openapi.json", endpoint=openapi_document, methods=["GET"]),
    Rule("/api/docs", endpoint=docs_page, methods=["GET"]),
]
