"""``GET /api/openapi.json`` (OpenAPI 3.1) and ``GET /api/docs`` (the same, as a page).

Both are built from the running ``Api``'s rules (``server/openapi.py``), so every
route is in them.  They need a login like every /api route: ``Api.handle``
authenticates all of /api in one place, and a page that lists the admin API is no
reason to open a hole there.  A browser asks for Basic credentials on the 401.

The page is rendered here (``render_html``): one self-contained page, the stylesheet
inlined from package data (``server/static/docs.css``), no scripts, no CDN, so
``/api/docs`` works on servers without Internet access.
"""

import html
import importlib.resources
import json
import re

from werkzeug.routing import Rule

from roomcal.server import openapi
from roomcal.server.openapi import answer, describe

# The page is static HTML with an inline stylesheet: nothing else may load or run.
DOCS_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'")


@describe("This document (OpenAPI 3.1)",
          responses={"200": answer("The document.", "OpenAPI")})
def openapi_document(api, request, identity):
    """The OpenAPI 3.1 document of this server."""
    spec = openapi.build(api.url_map, request.script_root)
    pretty = "pretty" in request.args or "application/pretty+json" in request.headers.get("Accept", "")
    text = json.dumps(spec, ensure_ascii=False, indent=2 if pretty else None)
    return 200, [("Content-Type", "application/json; charset=utf-8"),
                 ("Cache-Control", "no-cache")], text.encode()


@describe("This document as a readable page", responses={"200": {
    "description": "HTML, self-contained (no scripts, no external resources).",
    "content": {"text/html": {"schema": {"type": "string"}}}}})
def docs_page(api, request, identity):
    """The OpenAPI document as a readable HTML page, served from the package."""
    spec = openapi.build(api.url_map, request.script_root)
    page = render_html(spec, json_url=request.script_root + "/api/openapi.json")
    return 200, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache"),
                 ("Content-Security-Policy", DOCS_POLICY), ("X-Content-Type-Options", "nosniff"),
                 ("Referrer-Policy", "no-referrer")], page.encode()


# -- the page ----------------------------------------------------------------------------------
def stylesheet() -> str:
    return importlib.resources.files("roomcal.server").joinpath("static/docs.css").read_text("utf-8")


def render_html(spec: dict, json_url: str = "openapi.json") -> str:
    """One self-contained page: the operations by tag, then the schemas."""
    e = html.escape
    schemas = spec.get("components", {}).get("schemas", {})
    responses = spec.get("components", {}).get("responses", {})
    by_tag = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            tag = (operation.get("tags") or ["api"])[0]
            by_tag.setdefault(tag, []).append((path, method, operation, item.get("parameters", [])))
    tag_text = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    order = [t["name"] for t in spec.get("tags", [])] + sorted(set(by_tag) - set(tag_text))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(spec['info']['title'])} API</title>",
           f"<style>{stylesheet()}</style></head><body>",
           f"<header><h1>{e(spec['info']['title'])} API <small>{e(spec['info']['version'])}"
           f" · OpenAPI {e(spec['openapi'])}</small></h1>",
           f'<p class="raw"><a href="{e(json_url)}">openapi.json</a> (the same document, for tools)</p>',
           "</header><main>", _paragraphs(spec["info"].get("description", "")),
           "<h2>Authentication</h2><ul>"]
    for name, scheme in spec["components"].get("securitySchemes", {}).items():
        out.append(f"<li><b>{e(name)}</b>: HTTP {e(scheme.get('scheme', ''))} — "
                   f"{e(scheme.get('description', ''))}</li>")
    out.append("</ul><nav><h2>Contents</h2>")
    for tag in order:
        if tag not in by_tag:
            continue
        out.append(f"<h3>{e(tag)}</h3><ul class='toc'>")
        for path, method, operation, _ in by_tag[tag]:
            out.append(f"<li><a href='#{e(_anchor(operation, method, path))}'>"
                       f"<span class='method {method}'>{method.upper()}</span> "
                       f"<code>{e(path)}</code></a> {e(operation.get('summary', ''))}</li>")
        out.append("</ul>")
    out.append("<p><a href='#schemas'>Schemas</a></p></nav>")
    for tag in order:
        if tag not in by_tag:
            continue
        out.append(f"<section><h2 id='tag-{e(tag)}'>{e(tag)}</h2>")
        if tag_text.get(tag):
            out.append(f"<p>{e(tag_text[tag])}</p>")
        for path, method, operation, shared in by_tag[tag]:
            out.append(_operation(path, method, operation, shared, responses, schemas))
        out.append("</section>")
    out.append("<section><h2 id='schemas'>Schemas</h2>")
    for name, schema in schemas.items():
        out.append(f"<article class='schema' id='schema-{e(name)}'><h3>{e(name)}</h3>")
        if schema.get("description"):
            out.append(f"<p>{e(schema['description'])}</p>")
        out.append(_schema_block(schema))
        out.append("</article>")
    out.append("</section></main></body></html>")
    return "\n".join(out)


def _anchor(operation, method, path) -> str:
    return operation.get("operationId") or f"{method}-{path}"


def _paragraphs(text: str) -> str:
    parts = []
    for block in text.split("\n\n"):
        escaped = html.escape(" ".join(block.split()))
        parts.append("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped) + "</p>")
    return "\n".join(parts)


def _operation(path, method, operation, shared, responses, schemas) -> str:
    e = html.escape
    out = [f"<article class='operation' id='{e(_anchor(operation, method, path))}'>",
           f"<h3><span class='method {method}'>{method.upper()}</span> <code>{e(path)}</code></h3>",
           f"<p class='summary'>{e(operation.get('summary', ''))}</p>"]
    if operation.get("description"):
        out.append(_paragraphs(operation["description"]))
    parameters = list(shared) + list(operation.get("parameters", []))
    if parameters:
        out.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
                   "<th>description</th></tr>")
        for p in parameters:
            required = " <span class='req'>required</span>" if p.get("required") else ""
            out.append(f"<tr><td><code>{e(p['name'])}</code>{required}</td><td>{e(p['in'])}</td>"
                       f"<td>{_type(p.get('schema', {}))}</td><td>{e(p.get('description', ''))}</td></tr>")
        out.append("</table>")
    request = operation.get("requestBody")
    if request:
        out.append("<h4>Request body</h4>")
        if request.get("description"):
            out.append(f"<p>{e(request['description'])}</p>")
        out.append(_content(request.get("content", {}), schemas=schemas))
    out.append("<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>")
    for status, spec in sorted(operation.get("responses", {}).items()):
        if "$ref" in spec:
            spec = responses.get(spec["$ref"].rsplit("/", 1)[-1], {})
        headers = spec.get("headers", {})
        extra = "".join(f"<br><small>{e(h)}: {e(v.get('description', ''))}</small>"
                        for h, v in headers.items())
        out.append(f"<tr><td>{e(status)}</td><td>{e(spec.get('description', ''))}{extra}</td>"
                   f"<td>{_content(spec.get('content', {}), compact=True)}</td></tr>")
    out.append("</table></article>")
    return "\n".join(out)


def _content(media: dict, compact: bool = False, schemas=None) -> str:
    """Media types and their schemas; a request body's members shown in full."""
    e = html.escape
    parts = []
    for media_type, spec in media.items():
        schema = spec.get("schema", {})
        if compact:
            parts.append(f"<code>{e(media_type)}</code> {_type(schema)}")
        else:
            parts.append(f"<p><code>{e(media_type)}</code>: {_type(schema)}</p>")
            if "$ref" in schema and schemas:
                schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            if schema.get("type") == "object" and schema.get("properties"):
                parts.append(_schema_block(schema))
    return ("<br>" if compact else "\n").join(parts)


def _type(schema: dict, depth: int = 0) -> str:
    """A short HTML description of a schema's type, with links to named schemas."""
    e = html.escape
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"<a href='#schema-{e(name)}'>{e(name)}</a>"
    if "const" in schema:
        return f"<code>{e(json.dumps(schema['const']))}</code>"
    for key, word in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if key in schema:
            return word.join(_type(s, depth + 1) for s in schema[key])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    text = e(kind)
    if kind == "array":
        text = f"array of {_type(schema.get('items', {}), depth + 1)}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict) \
            and not schema.get("properties"):
        text = f"map of {_type(schema['additionalProperties'], depth + 1)}"
    if schema.get("enum"):
        text += " (" + ", ".join(f"<code>{e(str(v))}</code>" for v in schema["enum"]) + ")"
    return text


def _schema_block(schema: dict, depth: int = 0) -> str:
    e = html.escape
    properties = schema.get("properties") or {}
    if not properties:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required", ()))
    out = ["<table class='props'><tr><th>member</th><th>type</th><th>description</th></tr>"]
    for name, prop in properties.items():
        mark = " <span class='req'>required</span>" if name in required else ""
        nested = ""
        if depth < 2 and isinstance(prop, dict) and prop.get("type") == "object" and prop.get("properties"):
            nested = _schema_block(prop, depth + 1)
        examples = prop.get("examples") if isinstance(prop, dict) else None
        example = f" <small>e.g. <code>{e(str(examples[0]))}</code></small>" if examples else ""
        description = e(prop.get("description", "")) if isinstance(prop, dict) else ""
        out.append(f"<tr><td><code>{e(name)}</code>{mark}</td><td>{_type(prop)}{nested}</td>"
                   f"<td>{description}{example}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


ROUTES = [
    Rule("/api/openapi.json", endpoint=openapi_document, methods=["GET"]),
    Rule("/api/docs", endpoint=docs_page, methods=["GET"]),
]
