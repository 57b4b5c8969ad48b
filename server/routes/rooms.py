"""/api/rooms: the directory (with the room finder), one room, the dry run.

Bookings are in ``bookings.py``, availability and the finder in ``availability.py``.
"""

from werkzeug.routing import Rule

from roomcal.server import errors
from roomcal.server.openapi import (BOOKING_REQUEST, SKIP_CONFLICTS, STRING, WRITE_ERRORS, answer, describe,
                                    error, query)
from roomcal.server.routes import availability
from roomcal.storage import roles, series


@describe(
    "List and find rooms", "Every room the caller can see (hidden rooms: admins only), with what "
    "the caller may do there; the finder parameters narrow the list.",
    parameters=[query("free-from", "with free-until: rooms with no blocking booking then and whose "
                                   "rules allow that span (naive: each room's time zone)"),
                query("free-until", "see free-from"),
                query("capacity", "at least this many people", {"type": "integer", "minimum": 0}),
                query("feature", "has this feature (repeatable: all of them)",
                      {"type": "array", "items": STRING})],
    responses={"200": answer("The rooms.", "RoomList")}, errors=error("400", "BadRequest"))
def rooms(api, request, identity):
    """The directory; the finder filters (free-from/free-until, capacity, feature) narrow it."""
    listed = [room for room in api.storage.registry.all() if roles.is_listed(room, identity.actor())]
    listed = availability.find(api, identity, request.args, listed)
    return errors.json_response(200, {"rooms": [api.room_json(room, identity) for room in listed]})


@describe("One room", responses={"200": answer("The room.", "Room")})
def room(api, request, identity, room_id):
    return errors.json_response(200, api.room_json(api.room(room_id), identity))


@describe(
    "Dry run of a booking", "Every violation and conflict the booking would meet; nothing is "
    "stored. Titles of conflicts are left out for callers with free/busy access only.",
    BOOKING_REQUEST, {"200": answer("The verdict.", "CheckResult")}, parameters=[SKIP_CONFLICTS],
    errors=WRITE_ERRORS)
def check(api, request, identity, room_id):
    """Dry run: every violation and conflict, nothing stored."""
    text, skip_conflicts = api.booking_request(request, api.room(room_id))
    decision = api.storage.check_booking(room_id, text, identity.actor(), skip_conflicts=skip_conflicts)
    if not api.storage.core.may_view(decision.room, identity.actor()):  # free/busy only: times
        decision.conflicts = [c.busy_only() for c in decision.conflicts]
    verdict = {"ok": decision.ok, "message": decision.message(), **decision.details()}
    if skip_conflicts:   # (already as the caller may see them)
        verdict["skipped"] = [skipped.to_json(decision.room) for skipped in decision.skipped]
        verdict["message"] = " ".join(filter(None, [verdict["message"],
                                                    series.left_out(decision.room, decision.skipped)]))
    return errors.json_response(200, verdict)


ROUTES = [
    Rule("/api/rooms", endpoint=rooms, methods=["GET"]),
    Rule("/api/rooms/<room_id>", endpoint=room, methods=["GET"]),
    Rule("/api/rooms/<room_id>/check", endpoint=check, methods=["POST"]),
]
