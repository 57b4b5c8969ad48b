"""The Django Room Booking app's routes, so its users' scripts keep working.

- ``POST /api/<calendar>/events/`` (also ``/events``, ``/event``, ``/event/``) with
  ``{"name", "start", "end"}`` (a booking body as on every route, ``server/booking_body.py``)
  -> 201 ``{"id": ...}``;
- ``DELETE /api/<calendar>/events/<id>`` (also ``/event/<id>``) -> 204;
- ``DELETE /api/clear-bookings?calendar=<ID>&test=1|ok|on``.

``<calendar>`` is a room id.  An event's ``id`` is its UID, and a booking made here
is stored at ``/rooms/<calendar>/<id>.ics``, so the same booking is reachable by
CalDAV and JSON.  Every write goes through the booking core.  Fixed /api routes win
over ``<calendar>`` (werkzeug prefers static segments, and ``room add`` refuses
room ids that are fixed first segments: ``storage.rooms.RESERVED_IDS``).
"""

import logging
import uuid

from werkzeug.routing import Rule

from roomcal.server import booking_body, errors
from roomcal.server.openapi import BOOKING_JSON, NO_CONTENT, WRITE_ERRORS, answer, describe, error, query
from roomcal.storage import clearing, verbs
from roomcal.storage.errors import BadRequest, Forbidden, NotFound
from roomcal.storage.instances import iso

logger = logging.getLogger("roomcal.admin")
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # as the seed's ids
TEST_ON = frozenset({"1", "ok", "on", "true", "yes"})
TEST_OFF = frozenset({"", "0", "off", "false", "no"})


def new_id() -> str:
    """22 characters of base 57, like the seed's ids (4zx3QAFzoxV3vaZSKGaH2S)."""
    number, digits = uuid.uuid4().int, []
    while number:
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits)).rjust(22, ALPHABET[0])


@describe(
    "Create an event (Django Room Booking scripts)", "`calendar` is a room id; stored at "
    "/rooms/<calendar>/<id>.ics. The body is a booking's short form, `{name, start, end}` "
    "(or any booking body).", BOOKING_JSON,
    {"201": answer("Created.", "SeedCreated", {"Location": "the CalDAV URL"})},
    errors=WRITE_ERRORS)
def create_event(api, request, identity, calendar, kind):
    room = api.room(calendar)
    if identity.read_only:
        raise Forbidden("This token is read-only: it cannot book.")
    # The body of every booking route ({name, start, end} is its short form); ids as the seed's.
    text = booking_body.to_ical(api.json_body(request), room, new_id)
    written = verbs.book(api.storage, identity.actor(), room, text)
    # no ETag header: this body is not the booking (RFC 4791 5.3.4; README "Protocol details")
    return errors.json_response(201, {"id": written.uid}, [("Location", room.url(written.href))])


@describe(
    "Delete an event (Django Room Booking scripts)", "By UID; yours, or any if you manage the "
    "room.", responses=NO_CONTENT)
def delete_event(api, request, identity, calendar, kind, event_id):
    room = api.room(calendar)
    if identity.read_only:
        raise Forbidden("This token is read-only: it cannot delete bookings.")
    storage = api.storage
    with api.front.run_as(identity):
        with storage.acquire_lock("w", identity.user, path=room.path, request="DELETE",
                                  actor=identity.user):
            collection = storage.room_collection(room.id)
            href = storage.index.href_of_uid(collection.view().room_key, event_id)
            if href is None or collection._get(href) is None:
                raise NotFound(f"There is no event {event_id!r} in {room.name}.")
            collection.delete(href)  # the booking core: yours, or you manage the room
    return 204, [], b""


@describe(
    "Clear overlapping and cancelled bookings",
    "Admins and room managers. The earlier-created booking wins; a later single booking is "
    "deleted, a later series loses only its overlapping occurrences; cancelled bookings are "
    "deleted. Test mode changes nothing.",
    parameters=[query("calendar", "a room id; left out: every room the caller manages"),
                query("test", "1, ok or on: a dry run", {"type": "string",
                                                        "enum": ["1", "ok", "on", "true", "yes",
                                                                 "0", "off", "false", "no"]})],
    responses={"200": answer("What was (test mode: would be) cleared.", "ClearBookingsResult")},
    errors=error("400", "BadRequest"))
def clear_bookings(api, request, identity):
    test = _test_mode(request.args.get("test"))
    core, actor = api.storage.core, identity.actor()
    calendar = (request.args.get("calendar") or "").strip()
    if calendar:
        room = api.room(calendar)
        if not core.is_manager(room, actor):
            raise Forbidden(f"Only admins and managers of {room.name} may clear its bookings.")
        room_ids = [room.id]
    else:
        room_ids = [r.id for r in api.storage.registry.all() if core.is_manager(r, actor)]
        if not room_ids:
            raise Forbidden("Only admins and room managers may clear bookings, and you manage no room.")
    if identity.read_only and not test:
        raise Forbidden("This token is read-only: it can only look (add test=1).")
    with api.front.run_as(identity):
        results = clearing.clear(api.storage, room_ids, actor, test=test)
    body = {"deleted_cancelled_events": [], "deleted_overlapping_events": [],
            "cancelled_overlapping_recurring_events": [], "ignored_overlapping_events": [],
            "test_mode": test}
    emails = {}

    def organizer(event):
        if event.organizer:
            return event.organizer
        if not event.booked_by:
            return None
        if event.booked_by not in emails:
            user = api.storage.accounts.get_user(event.booked_by)
            emails[event.booked_by] = (user.email if user else "") or event.booked_by
        return emails[event.booked_by]

    def event_json(room, event):
        return {"uid": event.uid, "name": event.name, "start": iso(room, event.start),
                "end": iso(room, event.end),
                "created": iso(room, event.created),
                "organizer": organizer(event)}

    def overlap_json(room, overlap):
        entry = {"event": event_json(room, overlap.event),
                 "overlaps_with": event_json(room, overlap.overlaps_with), "calendar": room.id}
        if overlap.reason:
            entry["reason"] = overlap.reason
        return entry
    for result in results:
        room, plan = result.room, result.plan
        body["deleted_cancelled_events"] += [{"event": event_json(room, e), "calendar": room.id}
                                             for e in plan.cancelled]
        body["deleted_overlapping_events"] += [overlap_json(room, o) for o in plan.deleted]
        body["cancelled_overlapping_recurring_events"] += [overlap_json(room, o) for o in plan.excluded]
        body["ignored_overlapping_events"] += [overlap_json(room, o) for o in plan.ignored]
        if not test and (plan.deletes or plan.rewrites):
            logger.info("%s cleared room %s: deleted %d cancelled and %d overlapping booking(s), "
                        "excluded %d occurrence(s) from %d series", identity.user, room.id,
                        len(plan.cancelled), len(plan.deleted), len(plan.excluded), len(plan.rewrites))
    return errors.json_response(200, body)


def _test_mode(value) -> bool:
    if value is None:
        return False
    value = value.strip().lower()
    if value in TEST_ON:
        return True
    if value in TEST_OFF:
        return False
    raise BadRequest(f"test={value!r} is not understood: use test=1, ok or on for a dry run, "
                     "or leave it out.")


ROUTES = [
    Rule("/api/<calendar>/<any(event, events):kind>/", endpoint=create_event, methods=["POST"]),
    Rule("/api/<calendar>/<any(event, events):kind>/<event_id>", endpoint=delete_event, methods=["DELETE"]),
    Rule("/api/clear-bookings", endpoint=clear_bookings, methods=["DELETE"]),
]
