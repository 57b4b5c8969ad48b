"""/api/rooms: the directory, one room, the dry run, and creating a booking."""

from werkzeug.routing import Rule

from server import errors


def rooms(api, request, identity):
    return errors.json_response(200, {"rooms": [api.room_json(room, identity)
                                                for room in api.storage.registry.all()
                                                if room.status != "hidden" or identity.admin]})


def room(api, request, identity, room_id):
    return errors.json_response(200, api.room_json(api.room(room_id), identity))


def check(api, request, identity, room_id):
    """Dry run: every violation and conflict, nothing stored."""
    text = api.booking_text(request, api.room(room_id))
    decision = api.storage.check_booking(room_id, text, identity.actor())
    if not api.storage.core.may_view(decision.room, identity.actor()):  # free/busy only: no titles
        from dataclasses import replace
        decision.conflicts = [replace(c, title=None) for c in decision.conflicts]
    return errors.json_response(200, {"ok": decision.ok, "message": decision.message(),
                                      **decision.details()})


def book(api, request, identity, room_id):
    """Create a booking: the same storage upload (and booking core) as a CalDAV PUT."""
    room_ = api.room(room_id)
    if identity.read_only:
        return errors.json_error(403, "forbidden", "This token is read-only: it cannot book.")
    if not api.storage.core.may_book(room_, identity.actor()):
        return errors.json_error(403, "forbidden", f"You may not book {room_.name}.")
    text = api.booking_text(request, room_)
    with api.front.run_as(identity):
        href, uid, etag, _ = api.storage.put_booking(room_id, text, identity.actor())
    location = room_.path + href
    return errors.json_response(201, {"href": location, "uid": uid, "etag": etag},
                                [("Location", location), ("ETag", etag)])


ROUTES = [
    Rule("/api/rooms", endpoint=rooms, methods=["GET"]),
    Rule("/api/rooms/<room_id>", endpoint=room, methods=["GET"]),
    Rule("/api/rooms/<room_id>/check", endpoint=check, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings", endpoint=book, methods=["POST"]),
]
