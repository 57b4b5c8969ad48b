"""/api/rooms/<ID>/bookings: create, list, read, and the verbs of a booking's life.

- ``POST /api/rooms/<ID>/bookings``: a booking body (``server/booking_body.py``: ``{title,
  start, end[, description, uid]}`` or a JSCalendar Event) or text/calendar -> 201
  ``{href, uid, etag}``.
- ``GET /api/rooms/<ID>/bookings?status=&from=&to=&mine=1`` -> ``{"bookings": [...]}``.
- ``GET /api/rooms/<ID>/bookings/<UID>`` -> the JSCalendar Event plus ``roomcal``.
- ``POST .../bookings/<UID>/cancel {reason}``, ``.../reschedule {start[, end]}``,
  ``.../approve`` and ``.../decline {reason}``.

Every verb is one ``storage.write_item`` of the changed booking whose ``build``
callback runs inside the write lock, so the booking core decides as for any other
write (who may change it, rules and conflicts of the moved occurrences only, the
booking never conflicting with itself): a refused reschedule leaves the booking as
it was.  The reason goes into the request context (``storage.context.set_reason``)
for the mail to the organizer.
"""

import json

from werkzeug.routing import Rule

from roomcal.server import errors, jscalendar
from roomcal.server.errors import BadRequest, Forbidden
from roomcal.server.openapi import BOOKING_BODY, WRITE_ERRORS, answer, body, describe, error, query
from roomcal.server.rest import EVENT_TYPE
from roomcal.server.routes.availability import moment as _moment
from roomcal.storage import context
from roomcal.storage.booking import EARLIEST, OWNER
from roomcal.storage.errors import InvalidBooking, NotFound, PreconditionFailed, Refusal
from roomcal.storage.instances import INFINITY, BadBooking, Booking, TooManyOccurrences, instant, iso
from roomcal.storage.reschedule import BadTime, move

STATUSES = ("confirmed", "pending", "cancelled")
MAX_REASON = 2000
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


class StateConflict(Refusal):
    """The verb does not apply to the booking as it is (e.g. approving a confirmed one)."""
    caldav_status = json_status = 409
    precondition = json_type = "invalidState"


class UidTaken(Refusal):
    caldav_status = json_status = 409
    precondition = json_type = "uidTaken"


# -- create ------------------------------------------------------------------------------------
@describe(
    "Book the room", "The same booking core as a CalDAV PUT.", BOOKING_BODY,
    {"201": answer("Booked.", "Created", {"Location": "the booking's CalDAV URL"})},
    errors=WRITE_ERRORS)
def book(api, request, identity, room_id):
    """Create a booking: the same storage upload (and booking core) as a CalDAV PUT."""
    room = api.room(room_id)
    if identity.read_only:
        return errors.json_error(403, "forbidden", "This token is read-only: it cannot book.")
    if not api.storage.core.may_book(room, identity.actor()):
        return errors.json_error(403, "forbidden", f"You may not book {room.name}.")
    written = create(api, identity, room, api.booking_text(request, room))
    location = room.url(written.href)
    # "etag" is the stored booking's (for If-Match); no ETag header: this body is not the booking.
    return errors.json_response(201, {"href": location, "uid": written.uid, "etag": written.etag},
                                [("Location", location)])


def create(api, identity, room, text: str):
    """Store a new booking (``Written``); a UID the room has already is 409 ``uidTaken``."""
    with api.front.run_as(identity):
        try:
            return api.storage.put_booking(room.id, text, identity.actor(), if_none_match=True)
        except PreconditionFailed:
            raise UidTaken(f"{room.name} already has a booking with this UID; change it with "
                           "PUT or PATCH on its href, or leave the uid out.") from None


# -- read --------------------------------------------------------------------------------------
@describe(
    "List a room's bookings",
    parameters=[query("status", "confirmed, pending, cancelled (repeatable or comma-separated)"),
                query("from", "ISO 8601: bookings with an occurrence from then"),
                query("to", "ISO 8601 (a date: through that day)"),
                query("mine", "1: only the caller's bookings")],
    responses={"200": answer("The bookings, by start.", "BookingList")},
    errors=error("400", "BadRequest"))
def list_bookings(api, request, identity, room_id):
    room = api.room(room_id)
    args = request.args
    statuses = set()
    for value in args.getlist("status"):
        for status in value.split(","):
            status = status.strip().lower()
            if status not in STATUSES:
                raise BadRequest(f"status={status!r} is not one of {', '.join(STATUSES)}.")
            statuses.add(status)
    lo = _moment(args.get("from"), room, "from", clamp=True) if args.get("from") else None
    hi = _moment(args.get("to"), room, "to", end_of_day=True, clamp=True) if args.get("to") else None
    if lo is not None and hi is not None and hi <= lo:
        raise BadRequest("'to' must be after 'from'.")
    mine = (args.get("mine") or "").strip().lower()
    if mine not in TRUE | FALSE:
        raise BadRequest(f"mine={mine!r} is not understood: use mine=1 or leave it out.")
    mine = mine in TRUE
    storage, actor = api.storage, identity.actor()
    window = (EARLIEST if lo is None else lo, INFINITY if hi is None else hi)
    with storage.acquire_lock("r", identity.user):
        collection = storage.room_collection(room_id)
        room = collection.room()
        view = collection.view()
        rows = storage.index.overlapping(view.room_key, *window, blocking_only=False)
        texts = [(href, item.serialize()) for href, item in
                 collection.get_multi(sorted({row.href for row in rows})) if item is not None]
    found = []
    for href, text in texts:
        try:
            booking = Booking(text, room.tz)
        except BadBooking:
            continue
        if mine and booking.get(OWNER) != identity.user:
            continue
        if statuses and status_of(booking) not in statuses:
            continue
        first = _first(booking, window, api.storage.core.max_occurrences)
        if first is None:  # a series with no occurrence in the window
            continue
        found.append((first, href, booking))
    found.sort(key=lambda f: (f[0][0], f[2].uid))
    viewer = api.storage.core.may_view(room, actor)
    body = [summary(api, room, identity, href, booking, viewer, first)
            for first, href, booking in found]
    return errors.json_response(200, {"bookings": body})


def status_of(booking: Booking) -> str:
    status = (booking.get("STATUS") or "").upper()
    return {"CANCELLED": "cancelled", "TENTATIVE": "pending"}.get(status, "confirmed")


def _first(booking: Booking, window, limit: int):
    """(start, end) of the booking's first occurrence meeting the window (the booking's
    own times for a single one); None when a series has none there.  A series is
    expanded in growing steps from the window's start, so an open-ended one costs a
    few occurrences, not the whole horizon."""
    lo, hi = window
    try:
        if not booking.recurring:
            occurrence = booking.occurrences(EARLIEST, INFINITY, 1)[0]
            return occurrence.start, occurrence.end
        begin = max(lo, min(instant(e["DTSTART"].dt, booking.tz) for e in booking.events) - 86400)
        for days in (8, 93, 733, None):
            end = hi if days is None else min(hi, begin + days * 86400)
            found = booking.occurrences(begin, end, limit)
            if found:
                first = min(found, key=lambda o: (o.start, o.end))
                return first.start, first.end
            if end >= hi:
                return None
        return None
    except TooManyOccurrences:  # thousands in a few days: say when it starts
        return max(lo, booking.envelope(1)[0]), None
    except (BadBooking, IndexError, KeyError):
        return None


def summary(api, room, identity, href, booking: Booking, viewer: bool, first=None) -> dict:
    """A booking in lists and verb answers.  Free/busy-only callers see times only."""
    if first is None:
        first = _first(booking, (EARLIEST, INFINITY), api.storage.core.max_occurrences) or (None, None)
    entry = {"start": iso(room, first[0]), "end": iso(room, first[1]),
             "status": status_of(booking), "recurring": booking.recurring}
    if not viewer:
        return entry
    if not api.storage.core.may_see_details(room, identity.actor(), booking):  # private: when only
        return {"uid": booking.uid, "href": room.url(href), "title": None, **entry,
                "organizer": None, "bookedBy": None}
    organizer = booking.get("ORGANIZER")
    if organizer and organizer.lower().startswith("mailto:"):
        organizer = organizer[7:]
    return {"uid": booking.uid, "href": room.url(href), "title": booking.summary, **entry,
            "organizer": organizer or None, "bookedBy": booking.get(OWNER) or None}


@describe(
    "One booking", "By UID: the JSCalendar Event plus `roomcal` (room, status, etag...).",
    responses={"200": answer("The booking.", "BookingEvent", {"ETag": "its ETag"},
                             "application/jscalendar+json;type=event")})
def get_booking(api, request, identity, room_id, uid):
    room = api.room(room_id)
    actor = identity.actor()
    if not api.storage.core.may_view(room, actor):
        raise Forbidden(f"You see only free/busy times of {room.name}, not its bookings.")
    with api.storage.acquire_lock("r", identity.user):
        collection = api.storage.room_collection(room_id)
        href = api.storage.index.href_of_uid(collection.view().room_key, uid)
        item = collection._get(href) if href else None
        if item is None:
            raise NotFound(f"There is no booking {uid!r} in {room.name}.")
        text, etag = item.serialize(), item.etag
    try:
        event = jscalendar.to_jscalendar(text)
        booking = Booking(text, room.tz)
    except (ValueError, BadBooking) as e:
        raise InvalidBooking(f"The booking {uid!r} cannot be read: {e}.") from None
    event = dict(event) if api.storage.core.may_see_details(room, actor, booking) else _when_only(event)
    event["roomcal"] = {k: v for k, v in summary(api, room, identity, href, booking, True).items()
                        if k not in ("uid", "title")}
    event["roomcal"].update({"room": room.id, "etag": etag})
    return 200, [("Content-Type", EVENT_TYPE + "; charset=utf-8"), ("ETag", etag)], \
        json.dumps(event, ensure_ascii=False).encode()


# What a private booking shows to those who may not see its details: when, not what or who.
WHEN_MEMBERS = frozenset({"@type", "uid", "start", "duration", "timeZone", "showWithoutTime",
                          "recurrenceRules", "excludedRecurrenceRules", "recurrenceOverrides",
                          "status", "freeBusyStatus", "privacy", "created", "updated", "sequence"})


def _when_only(event: dict) -> dict:
    kept = {key: value for key, value in event.items() if key in WHEN_MEMBERS}
    overrides = kept.get("recurrenceOverrides")
    if isinstance(overrides, dict):  # patches: "title", "locations/…/name" and the like go too
        kept["recurrenceOverrides"] = {
            rid: {path: value for path, value in patch.items() if path.split("/")[0] in WHEN_MEMBERS}
            if isinstance(patch, dict) else patch for rid, patch in overrides.items()}
    return kept


# -- the verbs ---------------------------------------------------------------------------------
def _verb(api, request, identity, room_id, uid, verb: str, change, *, managers_only=False):
    """One atomic write of ``change(booking, body)`` applied to the stored booking."""
    room = api.room(room_id)
    core, actor = api.storage.core, identity.actor()
    if identity.read_only:
        raise Forbidden(f"This token is read-only: it cannot {verb} bookings.")
    if managers_only and not core.is_manager(room, actor):
        raise Forbidden(f"Only managers of {room.name} and admins may {verb} its bookings.")
    body = _body(api, request)
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise BadRequest(f"'reason' must be text of at most {MAX_REASON} characters.")
    with api.storage.acquire_lock("r", identity.user):
        collection = api.storage.room_collection(room_id)
        href = api.storage.index.href_of_uid(collection.view().room_key, uid)
    if href is None:
        raise NotFound(f"There is no booking {uid!r} in {room.name}.")

    def build(current):
        if current is None or current.uid != uid:  # gone (or replaced) since the lookup
            raise NotFound(f"There is no booking {uid!r} in {room.name}.")
        stored = api.storage.registry.get(room_id) or room
        try:
            booking = Booking(current.serialize(), stored.tz)
        except BadBooking as e:
            raise InvalidBooking(f"The booking {uid!r} cannot be read: {e}.") from None
        core.check_change(stored, actor, booking, verb)  # yours, or you manage the room
        change(booking, body, stored)
        booking.touch()
        return booking.to_ical()

    with api.front.run_as(identity):
        context.set_reason(reason.strip() if isinstance(reason, str) and reason.strip() else None)
        written = api.storage.write_item(room.path, None, actor, href=href, build=build,
                                         if_match=request.headers.get("If-Match"))
    # What was stored: the booking core may have changed the status (approval rooms).
    entry = summary(api, room, identity, written.href, Booking(written.text, room.tz), True)
    return errors.json_response(200, {**entry, "etag": written.etag})


def _body(api, request) -> dict:
    if not request.get_data(cache=True).strip():
        return {}
    body = api.json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


@describe(
    "Cancel a booking", "STATUS:CANCELLED, kept as history; the slot is free again. Yours, or "
    "any if you manage the room.", body("Reason", required=False),
    {"200": answer("Cancelled.", "BookingSummary")}, errors=error("409", "Conflict"))
def cancel(api, request, identity, room_id, uid):
    def change(booking, body, room):
        if status_of(booking) == "cancelled":
            raise StateConflict(f"The booking {uid!r} is already cancelled.")
        booking.set_status("CANCELLED")
    return _verb(api, request, identity, room_id, uid, "cancel", change)


@describe(
    "Approve a pending booking", "Room managers and admins: TENTATIVE -> CONFIRMED.",
    body("Reason", required=False), {"200": answer("Approved.", "BookingSummary")},
    errors=error("409", "Conflict"))
def approve(api, request, identity, room_id, uid):
    def change(booking, body, room):
        _pending(booking, uid, "approved")
        booking.set_status("CONFIRMED")
    return _verb(api, request, identity, room_id, uid, "approve", change, managers_only=True)


@describe(
    "Decline a pending booking", "Room managers and admins: TENTATIVE -> CANCELLED; the reason "
    "is mailed to the organizer.", body("Reason", required=False),
    {"200": answer("Declined.", "BookingSummary")}, errors=error("409", "Conflict"))
def decline(api, request, identity, room_id, uid):
    def change(booking, body, room):
        _pending(booking, uid, "declined")
        booking.set_status("CANCELLED")
    return _verb(api, request, identity, room_id, uid, "decline", change, managers_only=True)


def _pending(booking: Booking, uid: str, done: str) -> None:
    status = status_of(booking)
    if status != "pending":
        raise StateConflict(f"Only a pending booking can be {done}; {uid!r} is {status}.")


@describe(
    "Move a booking", "Atomic: the old slot is released only if the new one is granted.",
    body("Reschedule"), {"200": answer("Moved.", "BookingSummary")}, errors=WRITE_ERRORS)
def reschedule(api, request, identity, room_id, uid):
    body = _body(api, request)
    for name in ("start", "end"):
        if name in body and not isinstance(body[name], str):
            raise BadRequest(f"'{name}' must be an ISO 8601 date or date-time string.")
    if not body.get("start"):
        raise BadRequest("'start' is required: the new start (ISO 8601).")

    def change(booking, body, room):
        if status_of(booking) == "cancelled":
            raise StateConflict(f"The booking {uid!r} is cancelled; book the new time instead.")
        try:
            move(booking, body["start"], body.get("end"))
        except BadTime as e:
            raise BadRequest(str(e)) from None
    return _verb(api, request, identity, room_id, uid, "reschedule", change)


ROUTES = [
    Rule("/api/rooms/<room_id>/bookings", endpoint=book, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings", endpoint=list_bookings, methods=["GET"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>", endpoint=get_booking, methods=["GET"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/cancel", endpoint=cancel, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/reschedule", endpoint=reschedule, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/approve", endpoint=approve, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/decline", endpoint=decline, methods=["POST"]),
]
