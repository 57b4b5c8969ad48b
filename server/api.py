"""/api/ (JSON): dispatch, authentication check and the helpers routes share.

Routes live in ``server/routes/<area>.py``, each a ``ROUTES`` list of werkzeug
``Rule``s whose endpoint is a function ``(api, request, identity, **args)``;
a new area is one line in ``ROUTE_MODULES``.  Every write goes through the
storage's booking core.
"""

import importlib
import json
from typing import Tuple

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map
from werkzeug.wrappers import Request

from roomcal.server import booking_body, errors
from roomcal.storage.errors import BadRequest, NotFound, Refusal

MAX_BODY = 1_000_000
ROUTE_MODULES = (
    "roomcal.server.routes.rooms",
    "roomcal.server.routes.bookings",
    "roomcal.server.routes.availability",
    "roomcal.server.routes.seed",
    "roomcal.server.routes.admin",
    "roomcal.server.routes.mail",
    "roomcal.server.routes.feeds",
    "roomcal.server.routes.replace",
    "roomcal.server.routes.docs",
)


class Api:
    def __init__(self, front):
        self.front = front
        self.storage = front.storage
        rules = []
        for name in ROUTE_MODULES:
            rules.extend(importlib.import_module(name).ROUTES)
        self.url_map = Map(rules, strict_slashes=False)

    def handle(self, environ, identity):
        if identity is None:
            return errors.unauthorized("Log in with Basic auth or a Bearer token.")
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
            return endpoint(self, request, identity, **args)
        except Refusal as refusal:
            return errors.json_refusal(refusal)

    # -- shared by the routes --------------------------------------------------------
    def room_json(self, room, identity) -> dict:
        core = self.storage.core
        actor = identity.actor()
        manager = core.is_manager(room, actor)
        body = room.to_json()
        body["email"] = self.storage.directory.room_email(room)   # its address as an attendee
        body["may"] = {"read": core.may_view(room, actor), "book": core.may_book(room, actor) and not identity.read_only
                       and room.status != "unavailable",
                       "manage": manager and not identity.read_only,
                       "administer": identity.admin and not identity.read_only}
        return body

    def room(self, room_id):
        room = self.storage.registry.get(room_id)
        if room is None:
            raise NotFound(f"There is no room {room_id!r}.")
        return room

    def json_body(self, request):
        """The request body as JSON; BadRequest with a sentence otherwise."""
        if (request.content_length or 0) > MAX_BODY:
            raise BadRequest("The body is too large.", 413)
        try:
            return errors.check_json_depth(json.loads(request.get_data(cache=False)))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise BadRequest(f"The body is not valid JSON: {e}.") from None

    def booking_request(self, request, room) -> Tuple[str, bool]:
        """(the body as iCalendar: text/calendar as is, JSON converted; skipConflicts): the flag
        is a JSON body's member (a boolean, taken out before the body is converted: it is no
        member of the event) or the query's ``?skipConflicts=true|false`` (for an iCalendar body)."""
        skip = booking_body.query_flag(request.args, booking_body.SKIP_CONFLICTS)
        mimetype = request.mimetype
        if mimetype in ("text/calendar", "application/ics", "text/plain", ""):
            if (request.content_length or 0) > MAX_BODY:
                raise BadRequest("The body is too large.", 413)
            try:
                return request.get_data(cache=False).decode("utf-8"), bool(skip)
            except UnicodeDecodeError:
                raise BadRequest("The body is not UTF-8 text.") from None
        if mimetype.endswith("json"):  # the one definition of a booking body
            body = self.json_body(request)
            skip = booking_body.take_flag(body, booking_body.SKIP_CONFLICTS, skip)
            return booking_body.to_ical(body, room), bool(skip)
        raise BadRequest(f"Send text/calendar or application/json, not {mimetype}.", 415)
