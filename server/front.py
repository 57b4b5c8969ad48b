"""The WSGI application: authentication, then /api or Radicale.

Every request is authenticated here once — Basic (bcrypt htpasswd) or
``Authorization: Bearer <token>`` — and the identity is handed to Radicale's
auth plugin.  Refusals of the storage come back through the request context
and replace Radicale's generic status with ours and a ``DAV:error`` body.
"""

import base64
import binascii
import gzip
import io
import ipaddress
import logging
from http import HTTPStatus
from urllib.parse import unquote

from radicale import pathutils

from roomcal.plugins.auth import hand_over
from roomcal.server import bad_requests
from roomcal.server import config as roomcal_config
from roomcal.server import errors, etag_listing, floating_expand
from roomcal.server.api import Api
from roomcal.server.errors import TooManyFailures, Unauthorized
from roomcal.server.request_body import read_body
from roomcal.server.rest import Rest, wants_json
from roomcal.server.routes.feeds import serve_public
from roomcal.server.scheduling import dav
from roomcal.server.web.app import Web
from roomcal.storage import context
from roomcal.storage.accounts import SignInsBusy
from roomcal.storage.errors import NotFound, Refusal, StoreUnavailable
from roomcal.storage.items import screened
from roomcal.storage.login_failures import ADDRESS_FACTOR, LoginFailures
from roomcal.storage.scheduling import implicit
from roomcal.storage.guarded import room_id_of

logger = logging.getLogger("roomcal")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})
XML_METHODS = frozenset({"PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR", "MKCOL"})


class Front:
    def __init__(self, configuration):
        self.configuration = configuration
        bad_requests.install()
        self.radicale = etag_listing.Application(configuration)
        self.storage = self.radicale._storage  # shares the lock, caches and index
        floating_expand.install(self._zone_of)
        self.accounts = self.storage.accounts
        self.accounts.dummy_hash()   # now, not in the first unknown name's sign-in
        self.failures = LoginFailures(configuration, self.accounts.db_path,
                                      roomcal_config.auth_number(configuration, "max_failures"),
                                      roomcal_config.auth_number(configuration, "failure_window"))
        self.trusted_proxies = trusted_networks(configuration)
        self.login_required = configuration.get("auth", "type") != "none"
        self.api = Api(self)
        self.rest = Rest(self)
        self.web = Web(self)
        self.max_content_length = configuration.get("server", "max_content_length")

    def _zone_of(self, collection_path: str):
        """The zone a collection's floating times are read in: a room's own, else None."""
        room = self.storage.registry.get(room_id_of(collection_path) or "")
        return room.tz if room else None

    def __call__(self, environ, start_response):
        body = environ.get("wsgi.input")
        try:
            return self._answer(environ, start_response)
        except StoreUnavailable as down:   # anywhere: sign-in, a page, /api (Radicale's own: below)
            path = _utf8_path(environ.get("PATH_INFO", "")) or "/"
            wants_json = path.startswith("/api") or "json" in environ.get("HTTP_ACCEPT", "")
            return _respond(start_response, *(errors.json_refusal(down) if wants_json else errors.dav_error(down)))
        finally:
            self.storage.forget_ahead()
            # What was not read of the body (a refusal before reading it) is read now, from
            # the worker's buffer: gunicorn itself drains 64 KiB at most and then closes a
            # connection it has just answered "keep-alive" on.
            _discard(body, self.max_content_length)

    def _answer(self, environ, start_response):
        path = _utf8_path(environ.get("PATH_INFO", "")) or "/"
        context.set_where(f"{environ.get('REQUEST_METHOD', 'GET')} {path}")
        if _public(path):  # secret feed links: no login, no Radicale
            return serve_public(self, environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        is_api = path == "/api" or path.startswith("/api/")
        too_large = self.refuse_large_body(environ, is_api)
        if too_large is not None:
            return _respond(start_response, *too_large)
        unknown_charset = _refuse_unknown_charset(environ, is_api)
        if unknown_charset is not None:
            return _respond(start_response, *unknown_charset)
        if self.web.claims(method, path):   # the pages sign in with their own session cookie
            return self.web(environ, start_response)
        if not is_api and environ.get("HTTP_AUTHORIZATION"):
            self.storage.ask_ahead(path)   # the room's row goes with the sign-in's query
        try:
            identity = self.authenticate(environ)
        except (Unauthorized, TooManyFailures, SignInsBusy) as refused:
            return _respond(start_response, *self.sign_in_refused(environ, refused))
        if is_api:  # werkzeug decodes the PEP 3333 path itself, the same way
            status, headers, body = self.api.handle(environ, identity)
            return _respond(start_response, status, headers, body)
        if wants_json(environ):  # JSCalendar on the CalDAV URLs
            return _respond(start_response, *self.rest.handle(environ, identity, path))
        return self.caldav(environ, start_response, identity, path)

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
        """The request's identity (None: anonymous).  Raises Unauthorized for wrong
        credentials, TooManyFailures while the address (or the name from it) is locked out,
        SignInsBusy when too many passwords wait for bcrypt."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        address = self.client_address(environ)
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
                user, password = decoded.split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                self._failed(address, None)
                raise Unauthorized("The Basic credentials are malformed.") from None
            return self.check_password(address, user, password)
        if scheme == "bearer":
            identity = self.accounts.check_token(credentials.strip())
            if identity is None:
                self._refuse_if_locked(address, None)
                self._failed(address, None)
                raise Unauthorized("This token is not valid (unknown or revoked).")
            return identity
        self._failed(address, None)
        raise Unauthorized(f"Unsupported authorization scheme {scheme!r}; use Basic or Bearer.")

    def check_password(self, address: str, user: str, password: str):
        """The identity of ``user`` when ``password`` is theirs (Basic, and the web pages'
        sign-in form: one throttle for both).  Raises Unauthorized, TooManyFailures or
        SignInsBusy."""
        identity = self.accounts.verified_identity(user, password)   # no bcrypt, no counting
        if identity is not None:
            return identity
        self._refuse_if_locked(address, user)
        if not self.accounts.check_password(user, password):
            self._failed(address, user)
            raise Unauthorized("Wrong user name or password.")
        self.failures.succeeded(address, user)
        return self.accounts.identity(user)

    def _refuse_if_locked(self, address: str, user) -> None:
        locked = self.failures.locked(address, user)
        if locked is not None:
            raise TooManyFailures(locked)

    def _failed(self, address: str, user) -> None:
        started = self.failures.failed(address, user)
        if started is not None:  # one line per lock-out, for fail2ban; never the password
            logger.warning("login lock-out: address=%s user=%s failures=%d window=%ds",
                           _printable(address), _printable(user) if started.user else "*",
                           self.failures.max_failures if started.user else
                           self.failures.max_failures * ADDRESS_FACTOR, self.failures.window)

    def client_address(self, environ) -> str:
        """The client's address: REMOTE_ADDR, or behind a trusted reverse proxy the last
        address of X-Forwarded-For that is not one of those proxies."""
        address = environ.get("REMOTE_ADDR") or "?"
        if not self.trusted_proxies or not _in(address, self.trusted_proxies):
            return address
        forwarded = [a.strip() for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        for candidate in reversed(forwarded):
            if not _in(candidate, self.trusted_proxies):
                return candidate
        return forwarded[0] if forwarded else address

    def behind_tls(self, environ) -> bool:
        """Whether a trusted reverse proxy says the client came over HTTPS."""
        return bool(self.trusted_proxies) and _in(environ.get("REMOTE_ADDR") or "", self.trusted_proxies) \
            and environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower() == "https"

    def sign_in_refused(self, environ, refused: Exception) -> tuple:
        """(status, headers, body) of a refused sign-in: 401, 429 or 503, in the request's language."""
        path = environ.get("PATH_INFO", "") or "/"
        as_json = path == "/api" or path.startswith("/api/") or wants_json(environ)
        if isinstance(refused, Unauthorized):
            return (errors.unauthorized if as_json else errors.dav_unauthorized)(str(refused))
        if isinstance(refused, TooManyFailures):
            status, kind, message, retry = 429, "tooManyFailures", str(refused), refused.retry_after
        else:
            status, kind, retry = 503, "busy", 2
            message = "Too many sign-ins are being checked at once; try again in a moment."
        if as_json:
            return errors.json_error(status, kind, message, [("Retry-After", str(retry))])
        status, headers, body = errors.dav_answer(
            status, message, "too-many-failures" if status == 429 else "busy")
        return status, [*headers, ("Retry-After", str(retry))], body

    def check_head(self, method: str, target: str, headers: list, client: str):
        """For server/worker.py, when a request's head is in and its body still to come:
        the bytes of an HTTP response refusing it (bad credentials, lock-out, or none when
        they are needed), or None to take the body.  A success is remembered by the
        password check, so the request itself does not run bcrypt again."""
        path = unquote(target.split("?", 1)[0], "latin-1")
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": client}
        for name, value in headers:
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
        if "CONTENT_LENGTH" in environ:   # (a chunked body is measured as it arrives)
            too_large = self.refuse_large_body(environ, path == "/api" or path.startswith("/api/"))
            if too_large is not None:   # answered before a byte of the body is taken
                return _raw_response(*too_large)
        if _public(path) or self.web.claims(method.upper(), path):
            return None
        try:
            identity = self.authenticate(environ)
        except (Unauthorized, TooManyFailures, SignInsBusy) as refused:
            return _raw_response(*self.sign_in_refused(environ, refused))
        if identity is None and self.login_required:
            return _raw_response(*self.sign_in_refused(environ, Unauthorized(errors.LOG_IN)))
        return None

    # -- CalDAV -----------------------------------------------------------------------
    def caldav(self, environ, start_response, identity, path):
        environ = {**environ, "PATH_INFO": path}  # as Radicale's own server hands it over
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if identity is not None and identity.read_only and method not in SAFE_METHODS:
            return _respond(start_response, *errors.dav_forbidden(
                "This token is read-only: it cannot change anything.", "read-only-token"))
        if identity is not None:
            hand_over(environ, identity)
        refused = _refuse_xml(self.configuration, environ) if method in XML_METHODS else None
        if refused:
            return _respond(start_response, *errors.dav_answer(400, refused, "valid-xml"))
        put_text = _body_text(environ) if method == "PUT" else ""
        if method == "PUT":  # before Radicale parses it: storage/screen.py
            try:
                screened(put_text)
            except Refusal as refusal:
                return _respond(start_response, *errors.dav_error(refusal))
        path = pathutils.sanitize_path(path)
        if self.storage.scheduling.enabled:   # principals, inbox, outbox, principal searches
            special = dav.answer(self, environ, identity, path, method)
            if special is not None:
                return _respond(start_response, *special)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
        with context.request(identity.actor() if identity else None) as state:
            room_id = self.storage.absent_room(path) if identity is not None else None
            if room_id is not None and method != "OPTIONS" and not (
                    method in ("MKCALENDAR", "MKCOL") and path.strip("/").count("/") == 1):  # a new room
                return _respond(start_response, *errors.dav_error(NotFound(f"There is no room {room_id!r}.")))
            state.if_schedule_tag_match = environ.get("HTTP_IF_SCHEDULE_TAG_MATCH")
            state.creating = method == "PUT" and environ.get("HTTP_IF_NONE_MATCH", "").strip() == "*"
            body = b"".join(self.radicale(environ, capture))
        status = int(captured["status"].split()[0])
        if state.refusal is not None and status >= 400:
            prefix = environ.get("SCRIPT_NAME", "").rstrip("/")
            if identity is not None:  # calendar apps hide our sentence: it goes by mail (issue 13)
                self.storage.notifier.after_refused_request(
                    self.storage, identity.user, method, path, environ.get("HTTP_DESTINATION", ""),
                    prefix, put_text, state.refusal)
            return _respond(start_response, *errors.dav_error(state.refusal, prefix))
        if method == "PUT" and status == 400 and state.unreadable is not None:   # its body's reason
            return _respond(start_response, *errors.dav_error(errors.UnreadableData(
                f"The server cannot take this request: {state.unreadable}")))
        if status == 401:  # Radicale's anonymous 401 says "forbidden": ours says log in
            return _respond(start_response, *errors.dav_unauthorized())
        headers = captured["headers"]
        if state.rewritten:  # RFC 4791 §5.3.4: no ETag for an object the server changed
            headers = [h for h in headers if h[0].lower() != "etag"]
        tag = _schedule_tag(method, path, status, state, body, headers)
        if tag is not None:
            headers = [*headers, ("Schedule-Tag", tag)]
        if self.storage.scheduling.enabled:
            status, headers, body = dav.augment(self, environ, identity, path, method,
                                                status, headers, body)
            return _respond(start_response, status, headers, body)
        start_response(captured["status"], headers)
        return [body]

    def run_as(self, identity):
        """A request scope for JSON and /api writes through the same storage."""
        return context.request(identity.actor() if identity else None)


def _schedule_tag(method: str, path: str, status: int, state, body: bytes, headers):
    """RFC 6638 §3.2.10: the Schedule-Tag of a scheduling object a PUT stored or a GET reads
    (an item: a whole calendar is no scheduling object, and not parsed for one)."""
    if method == "PUT" and status < 300:
        return state.schedule_tag
    if method != "GET" or status != 200 or path.endswith("/") or path.strip("/").count("/") < 2:
        return None   # /<home>/<calendar>/<item> only
    if any(k.lower() == "content-encoding" and v.lower() == "gzip" for k, v in headers):
        body = gzip.decompress(body)   # Radicale compressed it for the client
    if body[:15].upper() != b"BEGIN:VCALENDAR":
        return None
    return implicit.schedule_tag(body.decode("utf-8", "replace"))


def _discard(body, limit: int) -> None:
    if body is None:
        return
    try:
        left = limit if limit > 0 else 1 << 30
        while left > 0:
            chunk = body.read(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)
    except (OSError, ValueError):   # the client went away, or a server that closed it
        return


def _public(path: str) -> bool:
    return path == "/.feeds" or path.startswith("/.feeds/")


def trusted_networks(configuration) -> tuple:
    """``[server] trusted_proxies``: the reverse proxies whose forwarded headers are believed."""
    networks = []
    for entry in (configuration.get("server", "trusted_proxies") or "").split(","):
        if entry.strip():
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
    return tuple(networks)


def _in(address: str, networks: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _printable(text) -> str:
    """A client-chosen name, safe on one log line."""
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in str(text))
    return text[:64] or "?"


def _raw_response(status: int, headers, body: bytes) -> bytes:
    """A whole HTTP/1.1 response that closes the connection (sent by the worker itself)."""
    phrase = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {phrase}", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {_header_value(value)}" for name, value in headers
              if name.lower() not in ("content-length", "connection")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _utf8_path(path_info: str) -> str:
    """The request path as Radicale's own server passes it to its app (radicale/server.py:
    the URL's path unquoted as UTF-8, errors replaced).  PEP 3333 servers such as gunicorn
    pass the unquoted bytes as Latin-1 instead; this is the one place they are decoded.
    A path with characters beyond Latin-1 comes from a server that decoded it already."""
    try:
        return path_info.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return path_info


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
    body = read_body(environ)
    if not body:
        return None
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
    return _refuse_time_ranges(root)


CALDAV = "{urn:ietf:params:xml:ns:caldav}"
RANGED = tuple(CALDAV + name for name in ("time-range", "expand", "limit-recurrence-set",
                                          "limit-freebusy-set"))


def _refuse_time_ranges(root):
    """What Radicale's REPORT code cannot take and answers with a 500: a free-busy-query
    without its time-range (RFC 4791 7.10), or a range reaching the ends of Python's dates
    (it widens ranges by an event's duration)."""
    if root.tag == CALDAV + "free-busy-query" and root.find(CALDAV + "time-range") is None:
        return "This free-busy-query is refused: it needs a CALDAV:time-range (RFC 4791, 7.10)."
    for element in root.iter():
        if element.tag not in RANGED:
            continue
        for name in ("start", "end"):
            value = element.get(name) or ""
            if value[:4].isdigit() and not "0002" <= value[:4] <= "9998":
                return (f"This {element.tag.split('}')[1]} is refused: {name} {value!r} lies at the end "
                        "of the calendar; use dates between the years 2 and 9998.")
    return None


def _declared_charset(environ):
    """The charset parameter of Content-Type, or None."""
    from email.message import Message
    message = Message()
    message["Content-Type"] = environ.get("CONTENT_TYPE") or ""
    return message.get_content_charset()


def _body_text(environ) -> str:
    """The request body as text in its declared charset (else UTF-8); "" when it is not
    text (Radicale answers that)."""
    try:
        return read_body(environ).decode(_declared_charset(environ) or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return ""


def _refuse_unknown_charset(environ, is_api):
    """415 for a body its declared charset cannot decode: a charset Python does not know, a
    codec that is not a text encoding (base64, rot13), or bytes that are not in it
    (Radicale and the JSON layer decode with it, and answered 500).  The body (at most
    max_content_length) is read here and handed on unchanged."""
    if "charset" not in (environ.get("CONTENT_TYPE") or "").lower():
        return None
    charset = _declared_charset(environ) or ""
    try:
        read_body(environ).decode(charset)
        return None
    except (LookupError, UnicodeError, ValueError):   # UnicodeDecodeError is a UnicodeError
        pass
    text = f"The body cannot be read as charset {charset!r}; send UTF-8."
    if is_api or wants_json(environ):
        return errors.json_error(415, "unsupportedMediaType", text)
    return 415, [("Content-Type", "text/plain; charset=utf-8")], f"{text}\n".encode()


def _respond(start_response, status, headers, body):
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
