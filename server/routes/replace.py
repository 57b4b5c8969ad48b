"""``POST /api/rooms/<id>/bookings/replace``: a period's bookings replaced, all or nothing.

The Personalkollen table-booking API's shape (seed 002): ``{"period": {"start", "end"},
"bookings": [...]}``; each booking is ``{"title", "start", "end"[, "description", "uid"]}``
(ISO 8601; without an offset in the room's time zone) or a JSCalendar Event (has
``"@type"``).  Admins and the room's managers only.  The storage does the work under one
write lock (``Storage.replace_period``); this module only reads the request and shapes
the answers.

400 bodies are Django REST framework's, as the seed's:

- ``{"period": {"non_field_errors": [{"message", "code"}]}}`` — the period ends before it starts
  (``{"period": {"start": [...]}}`` for a missing or unreadable start or end);
- ``{"bookings": {"<index>": {"<field>": [{"message", "code"}]}}}`` — a booking with a missing
  or invalid field (``start``, ``end``, ``title``, ``uid``, a JSCalendar member);
- ``{"non_field_errors": [...]}`` — a booking outside the period, bookings of the list that
  overlap each other (more than the room's quantity);
- ``{"bookings": {"<index>": {"non_field_errors": [...]}}}`` — a broken rule (``code`` is the
  rule's name: ``max-duration``, ``opening-hours``...) or a conflict with a booking the replace
  keeps (``code`` ``conflict``), on the booking that caused it.

Codes: ``required``, ``blank``, ``invalid``, ``unique``, ``unknown``, ``conflict``, rule names.
Nothing is changed by a 400.  200 answers ``{"room", "period", "bookings", "removed"}``.
"""

import copy
import datetime

from werkzeug.routing import Rule

from server import errors, jscalendar
from server.errors import Forbidden
from server.simple_event import to_ical
from storage.errors import InvalidBooking
from storage.instances import INFINITY, utc
from storage.replace import ReplaceRefused
from storage.rooms import parse_local

SIMPLE_FIELDS = ("title", "start", "end", "description", "uid")
REQUIRED = "This field is required."


def _error(message: str, code: str = "invalid") -> dict:
    return {"message": message, "code": code}


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
        "period": {"start": _iso(room, start), "end": _iso(room, end)},
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
        if not isinstance(booking, dict):
            found[str(position)] = {"non_field_errors": [_error(
                "Invalid data. Expected a dictionary: {title, start, end} or a JSCalendar Event.")]}
            continue
        text, fields = _event(booking, room) if "@type" in booking else _simple(booking, room)
        if fields:
            found[str(position)] = fields
        else:
            texts.append(text)
    if found:
        problems["bookings"] = found
    return texts


def _simple(booking: dict, room):
    """(iCalendar text, None) or (None, field errors) for ``{title, start, end, ...}``."""
    fields = {}
    title = booking.get("title")
    if title is None:
        fields["title"] = [_error(REQUIRED, "required")]
    elif not isinstance(title, str):
        fields["title"] = [_error("Not a valid string.")]
    elif not title.strip():
        fields["title"] = [_error("This field may not be blank.", "blank")]
    moments = {}
    for name in ("start", "end"):
        moment, message = _moment(booking, name, room)
        if message:
            fields[name] = [message]
        else:
            moments[name] = moment
    if len(moments) == 2 and moments["end"] <= moments["start"]:
        fields["end"] = [_error("end must occur after start")]
    for name in ("description", "uid"):
        if booking.get(name) is not None and not isinstance(booking[name], str):
            fields[name] = [_error("Not a valid string.")]
    if isinstance(booking.get("uid"), str) and not booking["uid"].strip():
        fields["uid"] = [_error("This field may not be blank.", "blank")]
    for key in booking:
        if key not in SIMPLE_FIELDS:
            fields[key] = [_error(f"Unknown field; a booking takes {', '.join(SIMPLE_FIELDS)} "
                                  "(or send a JSCalendar Event with \"@type\": \"Event\").", "unknown")]
    if fields:
        return None, fields
    try:
        return to_ical({key: booking[key] for key in SIMPLE_FIELDS if booking.get(key) is not None},
                       room), None
    except InvalidBooking as e:  # checked above; kept as a guard
        return None, {"non_field_errors": [_error(e.message)]}


def _event(event: dict, room):
    """(iCalendar text, None) or (None, field errors) for a JSCalendar Event."""
    if event.get("@type") != "Event":
        return None, {"@type": [_error("A JSCalendar booking must have \"@type\": \"Event\".")]}
    event = copy.deepcopy(event)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    event.setdefault("created", now)
    event["updated"] = now
    try:
        return jscalendar.from_jscalendar(event), None
    except jscalendar.InvalidEvent as e:
        return None, _pointer_errors(e)


def _pointer_errors(error) -> dict:
    """InvalidEvent's pointers and messages as DRF field errors (field = first member)."""
    messages = {}
    body = error.message.split(": ", 1)[1] if error.message.startswith("Invalid JSCalendar Event: ") \
        else error.message
    for part in body.split("; /"):
        pointer, _, message = ("/" + part.lstrip("/")).partition(": ")
        messages.setdefault(pointer, message)
    fields = {}
    for pointer in error.properties or [""]:
        member = pointer.lstrip("/").split("/")[0].replace("~1", "/").replace("~0", "~")
        message = messages.get(pointer or "/", "is not valid")
        where = pointer.split("/", 2)[2] if pointer.count("/") > 1 else ""
        text = f"{where}: {message}" if where else message
        fields.setdefault(member or "non_field_errors", []).append(_error(text[0].upper() + text[1:]))
    return fields


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
            "start": _iso(room, entry.start), "end": _iso(room, entry.end),
            "status": entry.status or None}


def _iso(room, seconds):
    if seconds is None or seconds >= INFINITY:
        return None
    return utc(seconds).astimezone(room.tz).isoformat()


ROUTES = [
    Rule("/api/rooms/<room_id>/bookings/replace", endpoint=replace, methods=["POST"]),
]
