"""A booking sent as JSON: the one definition every /api route that takes one uses.

``POST /api/rooms/<id>/bookings``, ``POST /api/rooms/<id>/check``, the seed's
``POST /api/<calendar>/events/`` and each entry of ``POST …/bookings/replace`` take
the same body, one of:

- the short form ``{"title", "start", "end"[, "description", "uid", "recurrenceRules",
  "excludedRecurrenceDates"]}``: ``title`` non-blank text (``name``, the Django Room
  Booking app's spelling, is the same member); ``start`` and ``end`` ISO 8601 dates or
  date-times (without an offset, in the room's time zone), ``end`` after ``start``;
  ``description`` text; ``uid`` non-blank text (left out, the server picks one);
  ``recurrenceRules`` JSCalendar's (RFC 8984 §4.3.3, ``until`` in the room's time zone),
  converted by ``server/jscalendar/``; ``excludedRecurrenceDates`` the starts of
  occurrences to leave out (EXDATE).  No other members.
- a JSCalendar Event: an object with ``"@type": "Event"``, read as on the CalDAV URLs
  (``server/jscalendar/``), with the server's fields filled in.

``read`` finds every problem of a body at once, each a ``Problem`` (JSON pointer, code,
sentence); ``to_ical`` raises them as ``InvalidBody``: 422 ``invalidProperties`` with
the pointers in ``properties``.  The replace route shows the same problems in the seed's
(Django REST framework's) 400 shape; the codes are DRF's: ``required``, ``blank``,
``invalid``, ``unknown``.
"""

import copy
import dataclasses
import datetime
import uuid
import zoneinfo
from typing import Callable, List, Optional, Tuple

import icalendar

from roomcal.server import jscalendar
from roomcal.server.rest import _server_fields
from roomcal.storage import series
from roomcal.storage.errors import BadRequest, InvalidBooking, UnsupportedComponent
from roomcal.storage.instances import Booking
from roomcal.storage.rooms import parse_local
from roomcal.storage.text import free_text, one_line

MEMBERS = ("title", "start", "end", "description", "uid",   # the short form
           "recurrenceRules", "excludedRecurrenceDates")
TITLE_ALIAS = "name"                                        # the seed's spelling of title
SHAPE = ("a booking is {title, start, end[, description, uid, recurrenceRules, "
         'excludedRecurrenceDates]} or a JSCalendar Event ("@type": "Event")')
MAX_EXCLUDED = 1000   # excludedRecurrenceDates: a series is decided one occurrence at a time up to 1000
# Flags of a request that takes a booking body (POST …/bookings, …/check): a member of a JSON
# body (taken out before conversion: no member of the event) or a query parameter.
SKIP_CONFLICTS = "skipConflicts"


@dataclasses.dataclass(frozen=True)
class Problem:
    pointer: str   # JSON pointer into the body ("" for the body itself)
    code: str      # required, blank, invalid, unknown
    message: str   # a sentence that names the member

    @property
    def member(self) -> str:
        """The top-level member the problem is in ("" for the body itself)."""
        return self.pointer.lstrip("/").split("/")[0].replace("~1", "/").replace("~0", "~")


class InvalidBody(InvalidBooking):
    """A booking body that is not one (422 invalidProperties, naming every bad member)."""

    def __init__(self, problems: List[Problem]):
        super().__init__("This booking is not valid: " + "; ".join(p.message for p in problems) + ".")
        self.problems = problems

    def to_json(self) -> dict:
        return {**super().to_json(),
                "properties": list(dict.fromkeys(p.pointer for p in self.problems))}


def to_ical(body, room, new_uid: Callable[[], str] = lambda: str(uuid.uuid4())) -> str:
    """The booking as iCalendar for the booking core; InvalidBody unless it is one."""
    text, problems = read(body, room, new_uid)
    if problems:
        raise InvalidBody(problems)
    return text


def read(body, room, new_uid: Callable[[], str] = lambda: str(uuid.uuid4())
         ) -> Tuple[Optional[str], List[Problem]]:
    """(iCalendar text, []) for a valid booking body, else (None, every problem)."""
    if not isinstance(body, dict):
        return None, [Problem("", "invalid", f"the body must be a JSON object: {SHAPE}")]
    if "@type" in body:
        return _event(body, room, new_uid)
    return _short(body, room, new_uid)


# -- the short form ------------------------------------------------------------------------------
def _short(body: dict, room, new_uid) -> Tuple[Optional[str], List[Problem]]:
    problems = []
    body = dict(body)
    if TITLE_ALIAS in body:
        alias = body.pop(TITLE_ALIAS)
        if "title" in body and body["title"] != alias:
            problems.append(Problem(f"/{TITLE_ALIAS}", "invalid", f"{TITLE_ALIAS} and title are the same "
                                    "member with different values; send one of them"))
        body.setdefault("title", alias)
    title = body.get("title")
    if title is None:
        problems.append(Problem("/title", "required", "title is required"))
    elif not isinstance(title, str):
        problems.append(Problem("/title", "invalid", f"title must be text, not {title!r}"))
    elif not title.strip():
        problems.append(Problem("/title", "blank", "title may not be blank"))
    moments = {}
    for name in ("start", "end"):
        moment, problem = _moment(body, name, room)
        if problem:
            problems.append(problem)
        else:
            moments[name] = moment
    if len(moments) == 2 and moments["end"] <= moments["start"]:
        problems.append(Problem("/end", "invalid", "end must occur after start"))
    for name in ("description", "uid"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(Problem(f"/{name}", "invalid", f"{name} must be text, not {body[name]!r}"))
    for name in ("title", "description"):
        if isinstance(body.get(name), str) and not free_text(body[name]):
            problems.append(Problem(f"/{name}", "invalid", f"{name} must not contain control "
                                    "characters (line breaks and tabs are fine)"))
    if isinstance(body.get("uid"), str) and not body["uid"].strip():
        problems.append(Problem("/uid", "blank", "uid may not be blank (leave it out for a new one)"))
    elif isinstance(body.get("uid"), str) and not one_line(body["uid"]):   # it names a file too
        problems.append(Problem("/uid", "invalid", "uid must be one line, without control characters"))
    rules, problem_list = _rules(body, room, moments.get("start"))
    problems.extend(problem_list)
    excluded, problem_list = _excluded(body, room, body.get("recurrenceRules") is not None)
    problems.extend(problem_list)
    for key in body:
        if key not in MEMBERS:
            problems.append(Problem("/" + key.replace("~", "~0").replace("/", "~1"), "unknown",
                                    f"{key} is not a member of a booking: {SHAPE}"))
    if problems:
        return None, problems
    vevent = icalendar.Event()
    vevent.add("UID", body.get("uid") or new_uid())
    vevent.add("DTSTAMP", datetime.datetime.now(datetime.timezone.utc))
    vevent.add("SUMMARY", title)
    if body.get("description"):
        vevent.add("DESCRIPTION", body["description"])
    vevent.add("DTSTART", moments["start"])
    vevent.add("DTEND", moments["end"])
    for rule in rules:
        vevent.add("RRULE", rule)
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//roomcal//EN")
    calendar.add("VERSION", "2.0")
    calendar.add_component(vevent)
    calendar.add_missing_timezones()
    text = calendar.to_ical().decode()
    if excluded:   # EXDATEs written as every writer writes them (storage/series.py)
        text = series.without_occurrences(Booking(text, room.tz), excluded)
    return text, []


def _rules(body: dict, room, start) -> Tuple[list, List[Problem]]:
    """(the RRULE values of ``recurrenceRules``, problems): JSCalendar's conversion."""
    if body.get("recurrenceRules") is None:
        return [], []
    try:
        rules = jscalendar.recurrence_rules(body["recurrenceRules"], room.timezone, room.tz)
    except jscalendar.InvalidEvent as e:
        return [], _event_problems(e)
    problems = [Problem(f"/recurrenceRules/{i}/until", "invalid", f"recurrenceRules/{i}/until must "
                        "not be before start: the series would end before it begins")
                for i, rule in enumerate(rules)
                if start is not None and "UNTIL" in rule and rule["UNTIL"] < start]
    return rules, problems


def _excluded(body: dict, room, recurring: bool) -> Tuple[List[int], List[Problem]]:
    """(the starts, UTC seconds, of the occurrences ``excludedRecurrenceDates`` leaves out,
    problems)."""
    values = body.get("excludedRecurrenceDates")
    pointer = "/excludedRecurrenceDates"
    if values is None:
        return [], []
    if not isinstance(values, list) or len(values) > MAX_EXCLUDED:
        return [], [Problem(pointer, "invalid", f"excludedRecurrenceDates must be a list of at most "
                            f"{MAX_EXCLUDED} date-times, the starts of the occurrences to leave out")]
    if values and not recurring:
        return [], [Problem(pointer, "invalid", "excludedRecurrenceDates leaves occurrences out of a "
                            "series: it needs recurrenceRules")]
    starts, problems = [], []
    for i, value in enumerate(values):
        example = "e.g. 2027-12-13T10:00:00"
        if not isinstance(value, str) or len(value.strip()) <= len("2027-12-13"):
            problems.append(Problem(f"{pointer}/{i}", "invalid", f"excludedRecurrenceDates/{i} must be "
                                    f"the start of an occurrence as an ISO 8601 date-time, {example}"))
            continue
        try:
            starts.append(int(parse_local(value, room.tz).timestamp()))
        except ValueError as e:
            problems.append(Problem(f"{pointer}/{i}", "invalid", f"excludedRecurrenceDates/{i}: {e}"))
    return starts, problems


def _moment(body: dict, name: str, room) -> Tuple[Optional[datetime.datetime], Optional[Problem]]:
    value = body.get(name)
    if value is None:
        return None, Problem(f"/{name}", "required", f"{name} is required")
    if not isinstance(value, str):
        return None, Problem(f"/{name}", "invalid", f"{name} must be an ISO 8601 date-time string, "
                                                    "e.g. 2027-12-06T10:00:00")
    try:
        moment = parse_local(value, room.tz)
    except ValueError as e:
        return None, Problem(f"/{name}", "invalid", f"{name}: {e}")
    # A fixed offset ("+02:00") names no time zone: store the instant in UTC.
    if not isinstance(moment.tzinfo, zoneinfo.ZoneInfo):
        moment = moment.astimezone(datetime.timezone.utc)
    return moment, None


# -- a JSCalendar Event --------------------------------------------------------------------------
def _event(body: dict, room, new_uid) -> Tuple[Optional[str], List[Problem]]:
    if body["@type"] != "Event":   # the sentence of CalDAV's supported-calendar-component
        refusal = UnsupportedComponent(room.name, str(body["@type"]))
        return None, [Problem("/@type", "invalid", f"@type {body['@type']!r}: {refusal.message.rstrip('.')}")]
    event = copy.deepcopy(body)
    event.setdefault("uid", new_uid())
    _server_fields(event, None)
    try:
        return jscalendar.from_jscalendar(event), []
    except jscalendar.InvalidEvent as e:
        return None, _event_problems(e)


def _event_problems(error: "jscalendar.InvalidEvent") -> List[Problem]:
    """InvalidEvent's pointers, each with its own part of the message."""
    prefix = "Invalid JSCalendar Event: "
    text = error.message[len(prefix):] if error.message.startswith(prefix) else error.message
    messages = {}
    for part in text.split("; /"):
        pointer, _, message = ("/" + part.lstrip("/")).partition(": ")
        messages.setdefault(pointer, message)
    return [Problem(pointer, "invalid", f"{pointer.lstrip('/') or 'the event'}: "
                                        f"{messages.get(pointer or '/') or text}")
            for pointer in error.properties or [""]]


# -- flags beside a booking body -----------------------------------------------------------------
TRUE, FALSE = ("true", "1"), ("false", "0")


def query_flag(args, name: str) -> Optional[bool]:
    """``?name=true|false`` (1 and 0 too), None when left out; BadRequest otherwise."""
    if name not in args:
        return None
    value = args.get(name, "").strip().lower()
    if value not in TRUE + FALSE:
        raise BadRequest(f"{name}={value!r} is not understood: use {name}=true or {name}=false.")
    return value in TRUE


def take_flag(body, name: str, query: Optional[bool]) -> Optional[bool]:
    """The boolean member ``name`` of a JSON body, taken out of it (it is no member of the
    event), else ``query``; BadRequest when it is no boolean or says otherwise than the query."""
    if not isinstance(body, dict) or name not in body:
        return query
    value = body.pop(name)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, not {value!r}.")
    if query is not None and query != value:
        raise BadRequest(f"{name} is {str(value).lower()} in the body and {str(query).lower()} in "
                         "the query; send it once.")
    return value
