"""``POST /api/rooms/<id>/bookings/replace``: a period's bookings replaced, all or nothing.

The Personalkollen table-booking API's shape (seed 002): ``{"period": {"start", "end"},
"bookings": [...]}``; each booking is a booking body as on every booking route
(``server/booking_body.py``: ``{"title", "start", "end"[, "description", "uid"]}``, ISO
8601, without an offset in the room's time zone, or a JSCalendar Event with ``"@type"``).
Admins and the room's managers only.  The storage does the work under one write lock
(``Storage.replace_period``); this module only reads the request and shapes the answers.

400 bodies are Django REST framework's, as the seed's:

- ``{"period": {"non_field_errors": [{"message", "code"}]}}`` — the period ends before it starts
  (``{"period": {"start": [...]}}`` for a missing or unreadable start or end);
- ``{"bookings": {"<index>": {"<field>": [{"message", "code"}]}}}`` — a booking with a missing
  or invalid field (``start``, ``end``, ``title``, ``uid``, a JSCalendar member): the
  problems ``booking_body.read`` finds, which other routes answer as 422;
- ``{"non_field_errors": [...]}`` — a booking outside the period, bookings of the list that
  overlap each other (more than the room's quantity);
- ``{"bookings": {"<index>": {"non_field_errors": [...]}}}`` — a broken rule (``code`` is the
  rule's name: ``max-duration``, ``opening-hours``...) or a conflict with a booking the replace
  keeps (``code`` ``conflict``), on the booking that caused it.

Codes: ``required``, ``blank``, ``invalid``, ``unique``, ``unknown``, ``conflict``, rule names.
Nothing is changed by a 400.  200 answers ``{"room", "period", "bookings", "removed"}``.
"""

from werkzeug.routing import Rule

from roomcal.server import booking_body, errors
from roomcal.storage.errors import Forbidden
from roomcal.server.openapi import answer, body, describe
from roomcal.storage.instances import iso
from roomcal.storage.replace import ReplaceRefused
from roomcal.storage.rooms import parse_local

REQUIRED = "This field is required."


def _error(message: str, code: str = "invalid") -> dict:
    return {"message": message, "code": code}


@describe(
    "Replace a period's bookings (seed 002)",
    "Admins and the room's managers. Atomically replaces every booking starting inside "
    "[period.start, period.end) with the given ones (each inside the period): decided as a "
    "whole against the room without the replaced bookings, under one write lock; all or "
    "nothing. A 400 changes nothing and answers Django REST framework's shapes: "
    "`period.non_field_errors` (end before start), `bookings.<index>.<field>` (missing or "
    "invalid start, end, title...), `non_field_errors` (a booking outside the period, "
    "bookings of the list overlapping each other), `bookings.<index>.non_field_errors` "
    "(a broken rule, code = the rule; a conflict with a kept booking, code conflict).",
    body("ReplaceRequest"),
    {"200": answer("Replaced: the stored bookings and the removed ones.", "ReplaceResult"),
     "400": answer("Nothing changed; why, per field and per booking.", "ReplaceErrors")})
def replace(api, request, identity, room_id):
    """Replace every booking starting in a period with the given ones, all or nothing."""
    room = api.room(room_id)
    if identity.read_only:
        raise Forbidden("This token is read-only: it cannot replace bookings.")
    if not api.storage.core.is_manager(room, identity.actor()):
        raise Forbidden(f"Only managers of {room.name} and admins may replace its bookings.")
    body = api.json_body(request)
    if not isinstance(body, dict):
        return errors.json_response(400, {"non_field_errors": [_error(
            f"Invalid data. Expected a dictionary, but got {type(body).__name__}.")]})
    problems = {}
    for key in body:
        if key not in ("period", "bookings"):
            problems[key] = [_error("Unknown field; send period and bookings.", "unknown")]
    period = _period(body, room, problems)
    texts = _bookings(body, room, problems)
    if problems:
        return errors.json_response(400, problems)
    start, end = period
    try:
        with api.front.run_as(identity):
            result = api.storage.replace_period(room.id, start, end, texts, identity.actor())
    except ReplaceRefused as refused:
        return errors.json_response(400, _refusal_body(refused.problems))
    return errors.json_response(200, {
        "room": room.id,
        "period": {"start": iso(room, start), "end": iso(room, end)},
        "bookings": [_entry(room, e) for e in result.stored],
        "removed": [_entry(room, e) for e in result.removed]})


# -- reading the request -------------------------------------------------------------------------
def _period(body: dict, room, problems: dict):
    if "period" not in body:
        problems["period"] = [_error(REQUIRED, "required")]
        return None
    period = body["period"]
    if not isinstance(period, dict):
        problems["period"] = {"non_field_errors": [_error(
            "Invalid data. Expected a dictionary with start and end.")]}
        return None
    found, moments = {}, {}
    for name in ("start", "end"):
        moment, message = _moment(period, name, room)
        if message:
            found[name] = [message]
        else:
            moments[name] = moment
    for key in period:
        if key not in ("start", "end"):
            found[key] = [_error("Unknown field; a period has start and end.", "unknown")]
    if not found and moments["end"] <= moments["start"]:
        found["non_field_errors"] = [_error("period end must occur after start")]
    if found:
        problems["period"] = found
        return None
    return int(moments["start"].timestamp()), int(moments["end"].timestamp())


def _moment(data: dict, name: str, room):
    """(datetime, None) or (None, error) for an ISO 8601 member of ``data``."""
    if name not in data or data[name] is None:
        return None, _error(REQUIRED, "required")
    value = data[name]
    if not isinstance(value, str):
        return None, _error("Datetime has wrong format: send an ISO 8601 string, "
                            "e.g. 2027-12-06T10:00:00+01:00.")
    try:
        return parse_local(value, room.tz), None
    except ValueError as e:
        return None, _error(f"Datetime has wrong format: {e}.")


def _bookings(body: dict, room, problems: dict):
    if "bookings" not in body:
        problems["bookings"] = [_error(REQUIRED, "required")]
        return None
    bookings = body["bookings"]
    if not isinstance(bookings, list):
        problems["bookings"] = [_error(f"Expected a list of items but got type "
                                       f"\"{type(bookings).__name__}\".", "not_a_list")]
        return None
    texts, found = [], {}
    for position, booking in enumerate(bookings):
        text, wrong = booking_body.read(booking, room)  # the body of every booking route
        if wrong:
            fields = found.setdefault(str(position), {})
            for problem in wrong:
                fields.setdefault(problem.member or "non_field_errors", []).append(
                    _error(problem.message, problem.code))
        else:
            texts.append(text)
    if found:
        problems["bookings"] = found
    return texts


# -- answers ---------------------------------------------------------------------------------------
def _refusal_body(problems) -> dict:
    body = {}
    for problem in problems:
        entry = _error(problem.message, problem.code)
        if problem.general or problem.index is None:
            body.setdefault("non_field_errors", []).append(entry)
        else:
            where = body.setdefault("bookings", {}).setdefault(str(problem.index), {})
            where.setdefault(problem.field or "non_field_errors", []).append(entry)
    return body


def _entry(room, entry) -> dict:
    return {"uid": entry.uid, "href": room.url(entry.href), "title": entry.title,
            "start": iso(room, entry.start), "end": iso(room, entry.end),
            "status": entry.status or None}


ROUTES = [
    Rule("/api/rooms/<room_id>/bookings/replace", endpoint=replace, methods=["POST"]),
]
