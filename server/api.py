"""/api/ routes (JSON).  Every write goes through the storage's booking core."""

import json

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from server import errors
from server.simple_event import to_ical
from storage.errors import NotFound, Refusal

MAX_BODY = 1_000_000


class Api:
    def __init__(self, front):
        self.front = front
        self.storage = front.storage
        self.url_map = Map([
            Rule("/api/rooms", endpoint="rooms", methods=["GET"]),
            Rule("/api/rooms/<room_id>", endpoint="room", methods=["GET"]),
            Rule("/api/rooms/<room_id>/check", endpoint="check", methods=["POST"]),
            Rule("/api/rooms/<room_id>/bookings", endpoint="book", methods=["POST"]),
        ], strict_slashes=False)

    def handle(self, environ, identity):
        if identity is None:
            return errors.json_error(401, "unauthorized", "Log in with Basic auth or a Bearer token.",
                                     [("WWW-Authenticate", 'Basic realm="roomcal"'),
                                      ("WWW-Authenticate", 'Bearer realm="roomcal"')])
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
        except MethodNotAllowed as e:
            return errors.json_error(405, "methodNotAllowed", f"{request.method} is not allowed here.",
                                     [("Allow", ", ".join(e.valid_methods or []))])
        except NoRoute:
            return errors.json_error(404, "notFound", f"There is no route {request.path}.")
        except HTTPException as e:
            return errors.json_error(e.code or 400, "badRequest", e.description or "Bad request.")
        try:
            return getattr(self, f"do_{endpoint}")(request, identity, **args)
        except Refusal as refusal:
            return errors.json_refusal(refusal)

    # -- rooms -------------------------------------------------------------------
    def _room_json(self, room, identity) -> dict:
        core = self.storage.core
        actor = identity.actor()
        manager = core.is_manager(room, actor)
        body = room.to_json()
        body["may"] = {"read": True, "book": core.may_book(room, actor) and not identity.read_only,
                       "manage": manager and not identity.read_only,
                       "administer": identity.admin and not identity.read_only}
        return body

    def _room(self, room_id):
        room = self.storage.registry.get(room_id)
        if room is None:
            raise NotFound(f"There is no room {room_id!r}.")
        return room

    def do_rooms(self, request, identity):
        rooms = [self._room_json(room, identity) for room in self.storage.registry.all()]
        return errors.json_response(200, {"rooms": rooms})

    def do_room(self, request, identity, room_id):
        return errors.json_response(200, self._room_json(self._room(room_id), identity))

    def do_check(self, request, identity, room_id):
        room = self._room(room_id)
        text = self._booking_text(request, room)
        decision = self.storage.check_booking(room_id, text, identity.actor())
        return errors.json_response(200, {"ok": decision.ok, "message": decision.message(),
                                          **decision.details()})

    def do_book(self, request, identity, room_id):
        """Create a booking: the same storage upload (and booking core) as a CalDAV PUT."""
        room = self._room(room_id)
        if identity.read_only:
            return errors.json_error(403, "forbidden", "This token is read-only: it cannot book.")
        if not self.storage.core.may_book(room, identity.actor()):
            return errors.json_error(403, "forbidden", f"You may not book {room.name}.")
        text = self._booking_text(request, room)
        with self.front.run_as(identity):
            href, uid, etag, _ = self.storage.put_booking(room_id, text, identity.actor())
        location = room.path + href
        return errors.json_response(201, {"href": location, "uid": uid, "etag": etag},
                                    [("Location", location), ("ETag", etag)])

    def _booking_text(self, request, room) -> str:
        """The request body as iCalendar: text/calendar as is, JSON converted."""
        if (request.content_length or 0) > MAX_BODY:
            raise BadRequest("The body is too large.", 413)
        data = request.get_data(cache=False)
        mimetype = request.mimetype
        if mimetype in ("text/calendar", "application/ics", "text/plain", ""):
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("The body is not UTF-8 text.") from None
        if mimetype.endswith("json"):
            try:
                event = json.loads(data)
            except (ValueError, UnicodeDecodeError) as e:
                raise BadRequest(f"The body is not valid JSON: {e}.") from None
            return to_ical(event, room)
        raise BadRequest(f"Send text/calendar or application/json, not {mimetype}.", 415)


class BadRequest(Refusal):
    json_type = precondition = "badRequest"

    def __init__(self, message, status=400):
        super().__init__(message)
        self.json_status = self.caldav_status = status
