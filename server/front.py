"""The WSGI application: authentication, then /api or Radicale.

Every request is authenticated here once — Basic (bcrypt htpasswd) or
``Authorization: Bearer <token>`` — and the identity is handed to Radicale's
auth plugin.  Refusals of the storage come back through the request context
and replace Radicale's generic status with ours and a ``DAV:error`` body.
"""

import base64
import binascii
import io
import logging

import radicale.app
from radicale import pathutils

from plugins.auth import hand_over
from server import errors
from server.rest import wants_json
from storage import context
from storage.errors import NotFound

logger = logging.getLogger("roomcal")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})
XML_METHODS = frozenset({"PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR", "MKCOL"})


class Unauthorized(Exception):
    pass


class Front:
    def __init__(self, configuration):
        self.configuration = configuration
        self.radicale = radicale.app.Application(configuration)
        self.storage = self.radicale._storage  # shares the lock, caches and index
        self.accounts = self.storage.accounts
        from server.api import Api
        from server.rest import Rest
        self.api = Api(self)
        self.rest = Rest(self)
        self.max_content_length = configuration.get("server", "max_content_length")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        context.set_where(f"{environ.get('REQUEST_METHOD', 'GET')} {path}")
        if path == "/.feeds" or path.startswith("/.feeds/"):  # secret feed links: no login, no Radicale
            from server.routes.feeds import serve_public
            return serve_public(self, environ, start_response)
        is_api = path == "/api" or path.startswith("/api/")
        too_large = self.refuse_large_body(environ, is_api)
        if too_large is not None:
            return _respond(start_response, *too_large)
        unknown_charset = _refuse_unknown_charset(environ, is_api)
        if unknown_charset is not None:
            return _respond(start_response, *unknown_charset)
        try:
            identity = self.authenticate(environ)
        except Unauthorized as e:
            answer = errors.unauthorized(str(e)) if is_api else errors.dav_unauthorized(str(e))
            return _respond(start_response, *answer)
        if is_api:
            status, headers, body = self.api.handle(environ, identity)
            return _respond(start_response, status, headers, body)
        if wants_json(environ):  # JSCalendar on the CalDAV URLs
            return _respond(start_response, *self.rest.handle(environ, identity))
        return self.caldav(environ, start_response, identity)

    def refuse_large_body(self, environ, is_api):
        """413 for a declared body above ``[server] max_content_length``, on every path, before
        anything reads it (Radicale checks it only under its own server, not under gunicorn).

        A chunked body (no Content-Length, as ``curl -T -`` sends) is read here, up to the
        limit, and handed on with its length: Radicale and the JSON layer read
        CONTENT_LENGTH bytes and would see an empty body."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = self.max_content_length if self.max_content_length > 0 else None
        chunked = not environ.get("CONTENT_LENGTH") and \
            "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked:
            body = environ["wsgi.input"].read(limit + 1 if limit else -1)
            length = len(body)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(length)
        if not (limit and length > limit):
            return None
        message = (f"The body is too large (more than {limit} bytes)." if chunked else
                   f"The body is too large ({length} bytes; at most {limit}).")
        if is_api or wants_json(environ):
            return errors.json_error(413, "tooLarge", message, [("Connection", "close")])
        return 413, [("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")], \
            f"{message}\n".encode()

    # -- authentication -----------------------------------------------------------------
    def authenticate(self, environ):
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
                user, password = decoded.split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise Unauthorized("The Basic credentials are malformed.") from None
            if not self.accounts.check_password(user, password):
                raise Unauthorized("Wrong user name or password.")
            return self.accounts.identity(user)
        if scheme == "bearer":
            identity = self.accounts.check_token(credentials.strip())
            if identity is None:
                raise Unauthorized("This token is not valid (unknown or revoked).")
            return identity
        raise Unauthorized(f"Unsupported authorization scheme {scheme!r}; use Basic or Bearer.")

    # -- CalDAV -----------------------------------------------------------------------
    def caldav(self, environ, start_response, identity):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if identity is not None and identity.read_only and method not in SAFE_METHODS:
            return _respond(start_response, *errors.dav_forbidden(
                "This token is read-only: it cannot change anything.", "read-only-token"))
        if identity is not None:
            hand_over(environ, identity)
        refused = _refuse_xml(self.configuration, environ) if method in XML_METHODS else None
        if refused:
            return _respond(start_response, *errors.dav_answer(400, refused, "valid-xml"))
        path = pathutils.sanitize_path(environ.get("PATH_INFO", "/"))
        room_id = self.storage.absent_room(path) if identity is not None else None
        if room_id is not None and method != "OPTIONS" and not (
                method in ("MKCALENDAR", "MKCOL") and path.strip("/").count("/") == 1):  # a new room
            return _respond(start_response, *errors.dav_error(NotFound(f"There is no room {room_id!r}.")))
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
        with context.request(identity.actor() if identity else None) as state:
            body = b"".join(self.radicale(environ, capture))
        status = int(captured["status"].split()[0])
        if state.refusal is not None and status >= 400:
            prefix = environ.get("SCRIPT_NAME", "").rstrip("/")
            return _respond(start_response, *errors.dav_error(state.refusal, prefix))
        if status == 401:  # Radicale's anonymous 401 says "forbidden": ours says log in
            return _respond(start_response, *errors.dav_unauthorized())
        start_response(captured["status"], captured["headers"])
        return [body]

    def run_as(self, identity):
        """A request scope for JSON and /api writes through the same storage."""
        return context.request(identity.actor() if identity else None)


def _refuse_xml(configuration, environ):
    """A sentence why an XML body is refused, or None.  Decided on the document Radicale
    will parse — the body decoded as Radicale decodes it (charset, else UTF-8), whatever
    its encoding (UTF-16 with a BOM, a DOCTYPE after a comment) — with defusedxml set to
    forbid DTDs and entities: Radicale's parser raises on entities, and it answers that
    with a 500.  The body (at most max_content_length) is read here and handed on."""
    import xml.etree.ElementTree as ET

    import defusedxml
    import defusedxml.ElementTree
    from radicale import httputils
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    try:
        root = defusedxml.ElementTree.fromstring(httputils.decode_request(configuration, environ, body),
                                                 forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        return "This XML body is refused: it declares a DOCTYPE or entities, which this server does not read."
    except (ET.ParseError, ValueError):
        return None  # Radicale answers 400 and says why
    if environ.get("REQUEST_METHOD", "").upper() == "PROPFIND" and len(root) == 0:
        # Radicale's PROPFIND indexes the first child of the root (IndexError, 500, when empty)
        return "This PROPFIND body is refused: its root element is empty (name a prop, allprop or propname)."
    return None


def _refuse_unknown_charset(environ, is_api):
    """415 for a Content-Type whose charset Python does not know (Radicale decodes the body
    with it and would answer 500 with a LookupError)."""
    import codecs
    from email.message import Message
    content_type = environ.get("CONTENT_TYPE") or ""
    if "charset" not in content_type.lower():
        return None
    message = Message()
    message["Content-Type"] = content_type
    charset = message.get_content_charset()
    try:
        codecs.lookup(charset or "")
        return None
    except (LookupError, ValueError):
        pass
    text = f"Unknown charset {charset!r} in Content-Type; send UTF-8."
    if is_api or wants_json(environ):
        return errors.json_error(415, "unsupportedMediaType", text)
    return 415, [("Content-Type", "text/plain; charset=utf-8")], f"{text}\n".encode()


def _respond(start_response, status, headers, body):
    from http import HTTPStatus
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    headers = [(name, _header_value(value)) for name, value in headers if name.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {phrase}", headers)
    return [body]


def _header_value(value: str) -> str:
    """A header value gunicorn accepts: a Location with a UID of any characters is
    percent-encoded (UTF-8) instead of failing the whole response with a 500."""
    value = str(value)
    if value.isascii() and value.isprintable():
        return value
    from urllib.parse import quote
    return quote(value, safe="".join(chr(c) for c in range(0x21, 0x7f)) + " ")
