"""/api/rooms/<ID>/bookings: create, list, read, and the verbs of a booking's life.

- ``POST /api/rooms/<ID>/bookings``: a booking body (``server/booking_body.py``: ``{title,
  start, end[, description, uid, recurrenceRules, excludedRecurrenceDates]}`` or a JSCalendar
  Event) or text/calendar -> 201 ``{href, uid, etag}``; with ``skipConflicts`` a series leaves
  out its taken occurrences, listed in ``skipped`` (storage/series.py).
- ``GET /api/rooms/<ID>/bookings?status=&from=&to=&mine=1`` -> ``{"bookings": [...]}``.
- ``GET /api/rooms/<ID>/bookings/<UID>`` -> the JSCalendar Event plus ``roomcal``.
- ``POST .../bookings/<UID>/cancel {reason}``, ``.../reschedule {start[, end]}``,
  ``.../approve``, ``.../decline {reason}`` and ``.../check-in {recurrenceId}``.

The verbs themselves (one atomic write each, decided by the booking core) are
``storage/verbs.py``'s, shared with the web pages; this module holds HTTP only.
"""

import json

from werkzeug.routing import Rule

from roomcal.server import errors, jscalendar
from roomcal.server.openapi import (BOOKING_REQUEST, SKIP_CONFLICTS, WRITE_ERRORS, answer, body, describe, error,
                                    query)
from roomcal.server.rest import EVENT_TYPE
from roomcal.server.routes.availability import moment as _moment
from roomcal.storage import checkin, verbs
from roomcal.storage.booking import EARLIEST
from roomcal.storage.errors import BadRequest, Forbidden, InvalidBooking
from roomcal.storage.instances import INFINITY, BadBooking, Booking, iso
from roomcal.storage.outline import Outline
from roomcal.storage.roles import may_see_details_of
from roomcal.storage.verbs import STATUSES

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


# -- create ------------------------------------------------------------------------------------
@describe(
    "Book the room", "The same booking core as a CalDAV PUT.", BOOKING_REQUEST,
    {"201": answer("Booked.", "Created", {"Location": "the booking's CalDAV URL"})},
    parameters=[SKIP_CONFLICTS], errors=WRITE_ERRORS)
def book(api, request, identity, room_id):
    """Create a booking: the same storage upload (and booking core) as a CalDAV PUT."""
    room = api.room(room_id)
    if identity.read_only:
        return errors.json_error(403, "forbidden", "This token is read-only: it cannot book.")
    text, skip_conflicts = api.booking_request(request, room)
    written = verbs.book(api.storage, identity.actor(), room, text, skip_conflicts=skip_conflicts)
    location = room.url(written.href)
    # "etag" is the stored booking's (for If-Match); no ETag header: this body is not the booking.
    answer = {"href": location, "uid": written.uid, "etag": written.etag}
    if skip_conflicts:
        answer["skipped"] = [skipped.to_json(room) for skipped in written.skipped]
    return errors.json_response(201, answer, [("Location", location)])


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
    window = (EARLIEST if lo is None else lo, INFINITY if hi is None else hi)
    found = verbs.bookings_in(api.storage, identity.actor(), room_id, window, statuses=statuses, mine=mine)
    viewer = api.storage.core.may_view(room, identity.actor())
    body = [listed(room, identity, f.href, f.outline, viewer, f.first) for f in found]
    return errors.json_response(200, {"bookings": body})


def summary(api, room, identity, href, booking: Booking, viewer: bool, first=None) -> dict:
    """A booking in verb answers (``first``: the occurrence to show, else its first)."""
    if first is None:
        first = verbs.first_occurrence(booking, limit=api.storage.core.max_occurrences) or (None, None)
    return listed(room, identity, href, Outline.of(booking), viewer, first)


def listed(room, identity, href, outline: Outline, viewer: bool, first) -> dict:
    """A booking in lists and verb answers.  Free/busy-only callers see times only."""
    entry = {"start": iso(room, first[0]), "end": iso(room, first[1]),
             "status": outline.status, "recurring": outline.recurring}
    if not viewer:
        return entry
    # of this (the first listed) occurrence; null: it needs no check-in
    entry["checkedIn"] = None if not checkin.applies(room, outline) or first[0] is None else \
        outline.checked_in(first[0]) is not None
    if not may_see_details_of(room, identity.actor(), outline.private, outline.owner):  # private: when only
        return {"uid": outline.uid, "href": room.url(href), "title": None, **entry,
                "organizer": None, "bookedBy": None}
    organizer = outline.organizer
    if organizer and organizer.lower().startswith("mailto:"):
        organizer = organizer[7:]
    return {"uid": outline.uid, "href": room.url(href), "title": outline.title, **entry,
            "organizer": organizer or None, "bookedBy": outline.owner or None}


@describe(
    "One booking", "By UID: the JSCalendar Event plus `roomcal` (room, status, etag...).",
    responses={"200": answer("The booking.", "BookingEvent", {"ETag": "its ETag"},
                             "application/jscalendar+json;type=event")})
def get_booking(api, request, identity, room_id, uid):
    room = api.room(room_id)
    actor = identity.actor()
    if not api.storage.core.may_view(room, actor):
        raise Forbidden(f"You see only free/busy times of {room.name}, not its bookings.")
    href, text, etag = verbs.read(api.storage, actor, room, uid)
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
def _verb(api, request, identity, room_id, uid, verb, **arguments):
    """``verbs.<verb>`` on the booking; answers what was stored (the booking core may have
    changed the status: approval rooms)."""
    room = api.room(room_id)
    if identity.read_only:
        raise Forbidden(f"This token is read-only: it cannot {verb} bookings.")
    written = getattr(verbs, verb)(api.storage, identity.actor(), room, uid,
                                   reason=_body(api, request).get("reason"),
                                   if_match=request.headers.get("If-Match"), **arguments)
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
    return _verb(api, request, identity, room_id, uid, "cancel")


@describe(
    "Approve a pending booking", "Room managers and admins: TENTATIVE -> CONFIRMED.",
    body("Reason", required=False), {"200": answer("Approved.", "BookingSummary")},
    errors=error("409", "Conflict"))
def approve(api, request, identity, room_id, uid):
    return _verb(api, request, identity, room_id, uid, "approve")


@describe(
    "Decline a pending booking", "Room managers and admins: TENTATIVE -> CANCELLED; the reason "
    "is mailed to the organizer.", body("Reason", required=False),
    {"200": answer("Declined.", "BookingSummary")}, errors=error("409", "Conflict"))
def decline(api, request, identity, room_id, uid):
    return _verb(api, request, identity, room_id, uid, "decline")


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
    return _verb(api, request, identity, room_id, uid, "reschedule", start=body["start"],
                 end=body.get("end"))


@describe(
    "Check in", "Say that the booking is in use, from [rooms] check_in_opens before its start "
    "until the room's check-in rule after it; an occurrence nobody checked in is released by the "
    "server. The booker, a manager of the room or an admin. For a series, the occurrence under "
    "way (or about to start), or the one recurrenceId names.", body("CheckIn", required=False),
    {"200": answer("Checked in: the occurrence.", "BookingSummary")},
    errors=error("409", "Conflict"))
def check_in(api, request, identity, room_id, uid):
    room = api.room(room_id)
    if identity.read_only:
        raise Forbidden("This token is read-only: it cannot check in bookings.")
    done = verbs.check_in(api.storage, identity.actor(), room, uid, _body(api, request).get("recurrenceId"))
    written = done.written
    entry = summary(api, room, identity, written.href, Booking(written.text, room.tz), True,
                    (done.start, done.end))
    return errors.json_response(200, {**entry, "checkedInAt": iso(room, done.at), "etag": written.etag})


ROUTES = [
    Rule("/api/rooms/<room_id>/bookings", endpoint=book, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings", endpoint=list_bookings, methods=["GET"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>", endpoint=get_booking, methods=["GET"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/cancel", endpoint=cancel, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/reschedule", endpoint=reschedule, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/approve", endpoint=approve, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/decline", endpoint=decline, methods=["POST"]),
    Rule("/api/rooms/<room_id>/bookings/<uid>/check-in", endpoint=check_in, methods=["POST"]),
]
