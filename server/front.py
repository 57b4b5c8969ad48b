"""The WSGI application: authentication, then /api or Radicale.

Every request is authenticated here once — Basic (bcrypt htpasswd) or
``Authorization: Bearer <token>`` — and the identity is handed to Radicale's
auth plugin.  Refusals of the storage come back through the request context
and replace Radicale's generic status with ours and a ``DAV:error`` body.
"""

import base64
import binascii
import logging

import radicale.app

from plugins.auth import hand_over
from server import errors
from server.errors import CHALLENGE
from server.rest import wants_json
from storage import context

logger = logging.getLogger("roomcal")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})


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

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/.feeds" or path.startswith("/.feeds/"):  # secret feed links: no login, no Radicale
            from server.routes.feeds import serve_public
            return serve_public(self, environ, start_response)
        is_api = path == "/api" or path.startswith("/api/")
        try:
            identity = self.authenticate(environ)
        except Unauthorized as e:
            if is_api:
                status, headers, body = errors.unauthorized(str(e))
            else:
                status, headers, body = 401, [("Content-Type", "text/plain; charset=utf-8"),
                                              *CHALLENGE], f"{e}\n".encode()
            return _respond(start_response, status, headers, body)
        if is_api:
            status, headers, body = self.api.handle(environ, identity)
            return _respond(start_response, status, headers, body)
        if wants_json(environ):  # JSCalendar on the CalDAV URLs
            return _respond(start_response, *self.rest.handle(environ, identity))
        return self.caldav(environ, start_response, identity)

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
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
        with context.request(identity.actor() if identity else None) as state:
            body = b"".join(self.radicale(environ, capture))
        status = int(captured["status"].split()[0])
        if state.refusal is not None and status >= 400:
            prefix = environ.get("SCRIPT_NAME", "").rstrip("/")
            return _respond(start_response, *errors.dav_error(state.refusal, prefix))
        headers = captured["headers"]
        if status == 401:  # one challenge for every 401: ours offers Bearer too
            headers = [h for h in headers if h[0].lower() != "www-authenticate"] + CHALLENGE
        start_response(captured["status"], headers)
        return [body]

    def run_as(self, identity):
        """A request scope for JSON and /api writes through the same storage."""
        return context.request(identity.actor() if identity else None)


def _respond(start_response, status, headers, body):
    from http import HTTPStatus
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    headers = [h for h in headers if h[0].lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {phrase}", headers)
    return [body]
