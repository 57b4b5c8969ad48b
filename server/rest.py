"""JSCalendar JSON on the CalDAV URLs (EGroupware-compatible REST).

A request is JSON when ``Accept`` (GET/HEAD/DELETE) or ``Content-Type``
(POST/PUT/PATCH) names a JSON type; everything else goes to Radicale
untouched.  An item has one href, the one CalDAV sees; JSON is another
representation of the iCalendar stored there.  Rights are Radicale's
(the rights plugin, through ``Access``); writes are the storage's
``write_item``/``delete_item``, so rooms go through the booking core.
"""

import collections
import contextlib
import datetime
import json
import posixpath
import threading
import uuid
from urllib.parse import quote

from radicale import pathutils
from radicale.app.base import Access
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Request

from roomcal.server import errors, jscalendar
from roomcal.storage import context, rooms
from roomcal.storage.errors import BadRequest, Forbidden, NotFound, Refusal, UnsupportedComponent
from roomcal.storage.instances import BadBooking, Booking, TooManyOccurrences
from roomcal.storage.journal import InvalidToken, continues_listing

JSON_TYPES = ("application/json", "application/jscalendar+json", "application/pretty+json")
EVENT_TYPE = "application/jscalendar+json;type=event"
PRODID = "-//roomcal//JSCalendar//EN"
MAX_BODY = 1_000_000
MAX_LISTED_OCCURRENCES = 1000


class EventCache:
    """iCalendar -> JSCalendar is a pure function of the item's text, and the ETag is a
    hash of that text: keep recent conversions (bounded, per process).  The events
    handed out are shared: read them, never change them."""

    def __init__(self, size: int = 20000):
        self.size = size
        self._events = collections.OrderedDict()
        self._lock = threading.Lock()

    def event(self, etag: str, ical: str):
        """The Event of an item, or None when it has no VEVENT."""
        with self._lock:
            cached = self._events.get(etag)
            if cached is not None:
                self._events.move_to_end(etag)
        if cached is None:
            try:
                cached = jscalendar.to_jscalendar(ical)
            except ValueError:  # no VEVENT (VTODO, VJOURNAL): not an Event
                return None
            with self._lock:
                self._events[etag] = cached
                while len(self._events) > self.size:
                    self._events.popitem(last=False)
        return cached


def wants_json(environ) -> bool:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method in ("GET", "HEAD", "DELETE"):
        accept = parse_accept_header(environ.get("HTTP_ACCEPT", ""), MIMEAccept)
        # text/calendar first: "*/*" and calendar clients stay with Radicale.
        return accept.best_match(("text/calendar", "text/xml", "application/xml") + JSON_TYPES) in JSON_TYPES
    if method in ("POST", "PUT", "PATCH"):
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        return content_type in JSON_TYPES
    return False


class Rest:
    def __init__(self, front):
        self.front = front
        self.storage = front.storage
        self.rights = front.radicale._rights
        self.events = EventCache()

    def handle(self, environ, identity, raw):
        """``raw``: the request path, decoded once by the front."""
        if identity is None:
            return errors.unauthorized("Log in with Basic auth or a Bearer token.")
        request = Request(environ)
        segments = raw.split("/")
        if ("\x00" in raw or any(seg in (".", "..") for seg in segments)
                or any(len(seg.encode("utf-8", "surrogatepass")) > 255 for seg in segments)):
            # what Radicale's storage cannot take (an assertion, a null byte, ENAMETOOLONG)
            return errors.json_error(404, "notFound", "There is nothing at this path.")
        path = pathutils.sanitize_path(raw)
        pretty = "application/pretty+json" in environ.get("HTTP_ACCEPT", "")
        try:
            with self.front.run_as(identity):
                status, headers, body = self._dispatch(request, identity, path)
        except jscalendar.InvalidEvent as e:
            return errors.json_error(422, getattr(e, "type", "invalidProperties"), str(e),
                                     properties=list(getattr(e, "properties", []) or []))
        except InvalidToken as e:
            return errors.json_error(403, "cannotCalculateChanges", str(e))
        except Refusal as refusal:
            return errors.json_refusal(refusal)
        if isinstance(body, (dict, list)):
            text = json.dumps(body, ensure_ascii=False, indent=2 if pretty else None)
            body = text.encode()
            if not any(h[0].lower() == "content-type" for h in headers):
                headers = [("Content-Type", "application/json; charset=utf-8"), *headers]
        if request.method == "HEAD":
            body = b""
        return status, headers, body

    # -- routing -------------------------------------------------------------------
    def _dispatch(self, request, identity, path):
        method = request.method
        is_collection = path.endswith("/")
        if is_collection:
            collection_path, href = path, None
        else:
            collection_path, href = posixpath.dirname(path) + "/", posixpath.basename(path)
        room_id = self.storage.absent_room(path)
        if room_id is not None:
            raise NotFound(f"There is no room {room_id!r}.")
        self._check(identity, collection_path if is_collection else path,
                    "r" if method in ("GET", "HEAD") else "w")
        if is_collection:
            if method in ("GET", "HEAD"):
                return self.list(request, identity, collection_path)
            if method == "POST":
                return self.create(request, identity, collection_path)
        else:
            if method in ("GET", "HEAD"):
                return self.get(request, identity, collection_path, href)
            if method == "PUT":
                return self.put(request, identity, collection_path, href)
            if method == "PATCH":
                return self.patch(request, identity, collection_path, href)
            if method == "DELETE":
                self.storage.delete_item(collection_path, href, identity.actor(),
                                         if_match=request.headers.get("If-Match"))
                return 204, [], b""
        return errors.json_error(405, "methodNotAllowed",
                                 f"{method} is not allowed on {'a collection' if is_collection else 'an event'}.")

    def _check(self, identity, path, permission):
        access = Access(self.rights, identity.user, set(identity.groups), path)
        if not access.check(permission):
            raise Forbidden("You may not " + ("read" if permission == "r" else "change") + f" {path}.")
        if permission == "w" and identity.read_only:
            raise Forbidden("This token is read-only: it cannot change anything.")

    # -- reads -------------------------------------------------------------------------
    def read(self, identity, collection_path, href):
        """(etag, iCalendar text) of one item."""
        with self.storage.acquire_lock("r", identity.user):
            item = self.storage.calendar(collection_path)._get(href)
            if item is None:
                raise NotFound(f"There is no event at {collection_path}{href}.")
            return item.etag, item.serialize()

    def get(self, request, identity, collection_path, href):
        etag, text = self.read(identity, collection_path, href)
        if request.headers.get("If-None-Match") in (etag, "*"):
            return 304, [("ETag", etag)], b""
        event = self.events.event(etag, text)
        if event is None:
            return errors.json_error(406, "notAcceptable",
                                     f"{collection_path}{href} is not an event; ask for text/calendar.")
        return 200, [("Content-Type", EVENT_TYPE + "; charset=utf-8"), ("ETag", etag)], event

    def list(self, request, identity, collection_path):
        args = request.args
        props = args.getlist("props[]") or args.getlist("props")
        window = _window(args, self._zone(collection_path))
        text = (args.get("text") or "").strip().lower()
        # The events' ETags alone (what a syncing script asks: props[]=getetag): no item's
        # text read, no JSCalendar made (a page of 1 000 of a room took 0.3-0.4 s for them).
        etags_alone = props == ["getetag"] and not window and not text
        body = {}
        with self.storage.acquire_lock("r", identity.user), \
                (context.listing_etags_only() if etags_alone else contextlib.nullcontext()):
            collection = self.storage.calendar(collection_path)
            if "sync-token" in args:
                limit = _positive(args.get("nresults"))
                token = args.get("sync-token") or ""
                journal = self.storage.journal
                if continues_listing(token):  # initial sync: the items themselves, in pages
                    hrefs, next_token, more = journal.listing(collection.path, token, collection.names_after, limit)
                    pairs = [(href, item) for href, item in collection.get_multi(hrefs) if item is not None]
                else:
                    hrefs, next_token, more = journal.changes(collection.path, token, limit)
                    pairs = list(collection.get_multi(hrefs))
                body["sync-token"] = next_token
                if more:
                    body["more-results"] = True
            else:
                pairs = [(item.href, item) for item in collection.get_all()]
            prefix = "/" + collection.path.strip("/") + "/"
            if etags_alone:   # (an item gone is None; an event's is its ETag; others are no Events)
                responses = {quote(prefix + href): item.etag if item else None for href, item in pairs
                             if item is None or item.component_name == "VEVENT"}
                return 200, [], {"responses": responses, **body}
            snapshot = [(href, item.etag if item else None, item.serialize() if item else None)
                        for href, item in pairs]
        responses = {}  # keyed by URL path, percent-encoded as CalDAV lists it
        for href, etag, ical in snapshot:
            if ical is None:
                responses[quote(prefix + href)] = None
                continue
            if window and not _overlaps(ical, window, self._zone(collection_path)):
                continue
            event = self.events.event(etag, ical)
            if event is None:  # a task or journal entry: no JSCalendar Event
                continue
            if text and not _matches(event, text):
                continue
            responses[quote(prefix + href)] = _props(event, etag, props)
        body = {"responses": responses, **body}
        return 200, [], body

    def _room(self, collection_path):
        parts = collection_path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == rooms.ROOMS:
            return self.storage.registry.get(parts[1])
        return None

    def _zone(self, collection_path):
        room = self._room(collection_path)
        return room.tz if room is not None else datetime.timezone.utc

    def _to_ical(self, collection_path, event, previous=None):
        """The iCalendar of a JSCalendar object; a room takes Events only, as over CalDAV."""
        room = self._room(collection_path)
        if room is not None:
            UnsupportedComponent.unless_event(room.name, event)
        return jscalendar.from_jscalendar(event, previous)

    # -- writes ------------------------------------------------------------------------
    def _event_body(self, request):
        if (request.content_length or 0) > MAX_BODY:
            raise BadRequest("The body is too large.", 413)
        try:
            event = errors.check_json_depth(json.loads(request.get_data(cache=False) or b"null"))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise BadRequest(f"The body is not valid JSON: {e}.") from None
        if not isinstance(event, dict):
            raise jscalendar.InvalidEvent("The body must be a JSON object (a JSCalendar Event).", [""])
        return event

    def create(self, request, identity, collection_path):
        event = self._event_body(request)
        event.setdefault("uid", str(uuid.uuid4()))
        _server_fields(event, None)
        ical = self._to_ical(collection_path, event)
        written = self.storage.write_item(collection_path, ical, identity.actor(), if_none_match=True)
        return self._written(request, collection_path, written, 201)

    def put(self, request, identity, collection_path, href):
        event = self._event_body(request)

        def build(current):
            previous = current.serialize() if current is not None else None
            if current is not None:
                if event.get("uid", current.uid) != current.uid:
                    raise jscalendar.InvalidEvent("The uid of an event cannot change.", ["/uid"])
                event["uid"] = current.uid
            else:
                event.setdefault("uid", href[:-4] if href.endswith(".ics") else str(uuid.uuid4()))
            _server_fields(event, jscalendar.to_jscalendar(previous) if previous else None)
            return self._to_ical(collection_path, event, previous)
        written = self.storage.write_item(
            collection_path, None, identity.actor(), href=href, build=build,
            if_match=request.headers.get("If-Match"),
            if_none_match=request.headers.get("If-None-Match") == "*")
        return self._written(request, collection_path, written, 201 if written.created else 204)

    def patch(self, request, identity, collection_path, href):
        patch = self._event_body(request)

        def build(current):
            if current is None:
                raise NotFound(f"There is no event at {collection_path}{href}.")
            previous = current.serialize()
            before = jscalendar.to_jscalendar(previous)
            after = jscalendar.apply_patch(before, patch)
            if after.get("uid", current.uid) != current.uid:
                raise jscalendar.InvalidEvent("The uid of an event cannot change.", ["/uid"])
            _server_fields(after, before)
            return self._to_ical(collection_path, after, previous)
        written = self.storage.write_item(
            collection_path, None, identity.actor(), href=href, build=build,
            if_match=request.headers.get("If-Match"))
        return self._written(request, collection_path, written, 204)

    def _written(self, request, collection_path, written, status):
        """The answer to a write.  What is stored is never what the client sent (the server
        fills in updated, prodId, the booking core its stamps), so the ETag goes only with
        the stored representation: ``Prefer: return=representation`` (RFC 4791 §5.3.4)."""
        headers = []
        if status == 201:
            headers.append(("Location", quote("/" + collection_path.strip("/") + "/" + written.href)))
        if "return=representation" in request.headers.get("Prefer", ""):
            return (201 if status == 201 else 200), headers + [
                ("ETag", written.etag), ("Content-Type", EVENT_TYPE + "; charset=utf-8")], \
                self.events.event(written.etag, written.text)
        return status, headers, b""


def _server_fields(event: dict, previous: dict | None) -> None:
    """What the server fills in: created (kept), updated, prodId."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    event.setdefault("@type", "Event")
    if previous and previous.get("created"):
        event["created"] = previous["created"]
    event.setdefault("created", now)
    event["updated"] = now
    event["prodId"] = PRODID


def _props(event: dict, etag: str, props: list):
    if not props:
        return event
    values = {}
    for name in props:
        if name == "getetag":
            values[name] = etag
        elif name in ("calendar-data", "data"):
            values[name] = event
    if len(props) == 1:
        return values.get(props[0])
    return values


def _window(args, tz):
    if not args.get("start") and not args.get("end"):
        return None
    try:
        start = rooms.parse_local(args["start"], tz, clamp=True) if args.get("start") else None
        end = rooms.parse_local(args["end"], tz, end_of_day=True, clamp=True) if args.get("end") else None
    except ValueError as e:
        raise BadRequest(f"start/end: {e}.") from None
    return (int(start.timestamp()) if start else -2208988800,
            int(end.timestamp()) if end else 2 ** 62)


def _overlaps(ical: str, window, tz) -> bool:
    try:
        return bool(Booking(ical, tz).occurrences(window[0], window[1], MAX_LISTED_OCCURRENCES))
    except TooManyOccurrences:
        return True
    except BadBooking:
        return False


def _matches(event: dict, text: str) -> bool:
    fields = [event.get("title", ""), event.get("description", "")]
    fields += [loc.get("name", "") for loc in (event.get("locations") or {}).values() if isinstance(loc, dict)]
    return any(text in str(f).lower() for f in fields)


def _positive(value):
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest("nresults must be a whole number.") from None
    if number < 1:
        raise BadRequest("nresults must be 1 or more.")
    return number
