"""/api/rooms: the directory (with the room finder), one room, the dry run.

Bookings are in ``bookings.py``, availability and the finder in ``availability.py``.
"""

from werkzeug.routing import Rule

from roomcal.server import errors
from roomcal.server.routes import availability


def rooms(api, request, identity):
    """The directory; the finder filters (free-from/free-until, capacity, feature) narrow it."""
    listed = [room for room in api.storage.registry.all() if room.status != "hidden" or identity.admin]
    listed = availability.find(api, identity, request.args, listed)
    return errors.json_response(200, {"rooms": [api.room_json(room, identity) for room in listed]})


def room(api, request, identity, room_id):
    return errors.json_response(200, api.room_json(api.room(room_id), identity))


def check(api, request, identity, room_id):
    """Dry run: every violation and conflict, nothing stored."""
    text = api.booking_text(request, api.room(room_id))
    decision = api.storage.check_booking(room_id, text, identity.actor())
    if not api.storage.core.may_view(decision.room, identity.actor()):  # free/busy only: times
        decision.conflicts = [c.busy_only() for c in decision.conflicts]
    return errors.json_response(200, {"ok": decision.ok, "message": decision.message(),
                                      **decision.details()})


ROUTES = [
    Rule("/api/rooms", endpoint=rooms, methods=["GET"]),
    Rule("/api/rooms/<room_id>", endpoint=room, methods=["GET"]),
    Rule("/api/rooms/<room_id>/check", endpoint=check, methods=["POST"]),
]
