"""OpenAPI 3.1 for roomcal: every /api route and the JSON verbs on the CalDAV tree.

``build(url_map)`` walks the werkzeug rules the running ``Api`` dispatches on, so a
route added to any ``ROUTE_MODULES`` module is in the document the moment it exists:
at least its path, method, path parameters (``any(...)`` converters as enums), the
endpoint's docstring and the common error answers.  What a route takes and answers in
detail it says itself, next to its code: an ``openapi`` attribute on the endpoint (a
partial Operation Object merged last), set by the ``describe`` decorator::

    @describe("Cancel a booking", request=body("Reason"), responses={"200": ...})
    def cancel(api, request, identity, room_id, uid): ...

This module holds what the routes share: the components (``SCHEMAS``, ``RESPONSES``),
the helpers that build Operation Objects, and the JSON verbs of the CalDAV tree, which
are no /api route.  ``/api/docs`` renders the document as HTML (``server/routes/docs.py``).
"""

import copy
import importlib.metadata
import re

from roomcal.server.admin import camel_case, words

OPENAPI_VERSION = "3.1.0"
HIDDEN_METHODS = {"HEAD", "OPTIONS"}
JSON = "application/json"
DATE_TIME = {"type": "string", "description": "ISO 8601; without an offset, in the room's time zone",
             "examples": ["2027-12-06T10:00:00+01:00"]}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def content(schema: dict, *types: str) -> dict:
    return {t: {"schema": schema} for t in (types or (JSON,))}


def body(schema_name: str, description: str = "", required: bool = True) -> dict:
    spec = {"required": required, "content": content(ref(schema_name))}
    if description:
        spec["description"] = description
    return spec


def answer(description: str, schema_name=None, headers=None, *types) -> dict:
    spec = {"description": description}
    if schema_name:
        spec["content"] = content(ref(schema_name), *types)
    if headers:
        spec["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                           for name, text in headers.items()}
    return spec


def query(name: str, description: str, schema=None, required=False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def header(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string"}}


def error(status: str, description: str) -> dict:
    return {status: {"$ref": f"#/components/responses/{description}"}}


def obj(properties: dict, required=(), description: str = "", additional=None) -> dict:
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


def array(items: dict, description: str = "") -> dict:
    schema = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return schema


def both_spellings(schema: dict, note: str) -> dict:
    """A request schema whose multi-word members are listed in camelCase and kebab-case
    (as ``server.admin.spelled`` reads them), the other spelling pointing at the first."""
    properties = {}
    for name, prop in schema["properties"].items():
        properties[name] = prop
        for other in (camel_case(name), "-".join(words(name))):
            if other not in schema["properties"] and other not in properties:
                properties[other] = {**prop, "description": f"the same as {name}"}
    return {**schema, "properties": properties, "description": note}


SPELLINGS = ("Members of more than one word may come in camelCase (maxDuration, statusReason) "
             "or kebab-case (max-duration, status-reason; also snake_case); answers use the "
             "spelling of Room. Two spellings of one member with different values: 422 naming "
             "both.")
STRING = {"type": "string"}
STRINGS = array(STRING)
BOOL = {"type": "boolean"}
INT = {"type": "integer"}
NULLABLE_DATE_TIME = {"type": ["string", "null"], "description": "ISO 8601 with the room's offset; "
                                                                  "null: open-ended"}

RECURRENCE_RULE = obj({"@type": {"const": "RecurrenceRule"}, "frequency": STRING,
                       "interval": INT, "count": INT, "until": STRING,
                       "byDay": array(obj({"day": STRING, "nthOfPeriod": INT}))},
                      description="RFC 8984 §4.3.3", additional=True)

# -- components --------------------------------------------------------------------------------
SCHEMAS = {
    "Error": obj({
        "error": {**INT, "description": "the HTTP status"},
        "type": {**STRING, "description": "unauthorized, forbidden, notFound, badRequest, conflict, "
                                          "ruleViolation, invalidProperties, preconditionFailed, "
                                          "cannotCalculateChanges, methodNotAllowed, ..."},
        "message": {**STRING, "description": "what went wrong and what to do, for people"},
        "properties": array(STRING, "JSON pointers (or field names) of what is invalid"),
        "conflicts": array(ref("Conflict"), "type conflict: the bookings in the way"),
        "violations": array(ref("Violation"), "type ruleViolation: each broken rule"),
    }, ["error", "type", "message"], "Every JSON error of roomcal (except the seed's 400s of "
                                     "the replace route, see ReplaceErrors)."),
    "Conflict": obj({"href": {**STRING, "description": "left out for callers with free/busy "
                                                       "access only (as uid)"},
                     "uid": STRING, "start": DATE_TIME, "end": DATE_TIME,
                     "title": {**STRING, "description": "left out where the caller may not see it"}},
                    ["start", "end"]),
    "Violation": obj({"rule": {**STRING, "description": "max-duration, opening-hours, min-notice, "
                                                        "blackout, unavailable, quota-bookings, "
                                                        "quota-time, ..."},
                      "message": STRING}, ["rule", "message"]),
    "Rules": obj({
        "opening-hours": {"type": ["string", "null"], "examples": ["Mo-Fr 08:00-18:00"]},
        "min-duration": {"type": ["string", "null"], "description": "ISO 8601 duration"},
        "max-duration": {"type": ["string", "null"], "description": "ISO 8601 duration"},
        "min-notice": {"type": ["string", "null"], "description": "ISO 8601 duration"},
        "max-advance": {"type": ["string", "null"], "description": "ISO 8601 duration"},
        "buffer": {"type": ["string", "null"], "description": "ISO 8601 duration: the gap "
                   "consecutive bookings need at least (cleaning, set-up)"},
        "quantity": {**INT, "minimum": 1},
        "no-recurring": BOOL, "max-instances": {"type": ["integer", "null"]}, "no-multiday": BOOL,
        "blackout": array(STRING, "START/END periods; a date-only END includes that day"),
        "approval": BOOL,
        "check-in": {"type": ["string", "null"], "description": "ISO 8601 duration: bookings must be "
                     "checked in by this long after their start (from [rooms] check_in_opens before "
                     "it), or the server releases them; null: no check-in"},
        "quota-bookings": {"type": ["integer", "null"], "minimum": 1,
                           "description": "at most this many upcoming bookings per booker"},
        "quota-time": {"type": ["string", "null"], "description": "ISO 8601 duration: booked "
                       "time per booker per quota-period"},
        "quota-period": {"type": ["string", "null"], "enum": ["P1D", "P1W", "P1M", None],
                         "description": "the period of quota-time in the room's time zone: a day, "
                                        "a week (Monday to Sunday; the default) or a calendar month"},
    }, description="A room's booking rules; unset means no limit. Managers and admins are "
                   "exempt from the quotas."),
    "Room": obj({
        "id": STRING, "name": STRING, "capacity": {"type": ["integer", "null"]},
        "location": STRING, "timezone": {**STRING, "examples": ["Europe/Berlin"]},
        "features": STRINGS, "bookers": STRINGS, "managers": STRINGS, "viewers": STRINGS,
        "rules": ref("Rules"), "href": {**STRING, "description": "the CalDAV collection, /rooms/<id>/"},
        "status": {"type": "string", "enum": ["available", "unavailable", "hidden"]},
        "statusReason": STRING, "busyTitle": STRING,
        "email": {**STRING, "description": "its calendar-user address, to invite it to meetings: "
                                           "the one set, else <id>@ the [scheduling] room_domain"},
        "may": obj({"read": BOOL, "book": BOOL, "manage": BOOL, "administer": BOOL},
                   description="what the caller may do here"),
    }, ["id", "name"]),
    "RoomList": obj({"rooms": array(ref("Room"))}, ["rooms"]),
    "SimpleBooking": {**obj({
        "title": {**STRING, "pattern": r"\S", "description": "not blank"},
        "name": {**STRING, "pattern": r"\S", "description": "the same as title (the Django Room "
                                                            "Booking app's spelling); both only with one value"},
        "start": DATE_TIME, "end": {**DATE_TIME, "description": "after start; ISO 8601, without "
                                                                "an offset in the room's time zone"},
        "description": {"type": ["string", "null"]},
        "uid": {"type": ["string", "null"], "pattern": r"\S",
                "description": "chosen by the server when left out"},
        "recurrenceRules": {"type": ["array", "null"], "items": RECURRENCE_RULE, "minItems": 1,
                            "description": "a series: JSCalendar's rules (until: a LocalDateTime "
                                           "in the room's time zone)"},
        "excludedRecurrenceDates": {"type": ["array", "null"], "maxItems": 1000,
                                    "items": {**DATE_TIME, "description": "the start of an "
                                              "occurrence to leave out (a date-time)"},
                                    "description": "with recurrenceRules: EXDATE"},
    }, ["start", "end"], "The short form of a booking, on every route that takes one (bookings, "
        "check, the seed's events, each entry of replace). Any other member, a missing or blank "
        "title, a start or end that is not ISO 8601, an end not after start or a bad recurrence "
        "rule: 422 invalidProperties naming each bad member as a JSON pointer (replace: its 400 "
        "shape).",
        additional=False), "anyOf": [{"required": ["title"]}, {"required": ["name"]}]},
    "Event": obj({
        "@type": {"const": "Event"},
        "uid": STRING, "title": STRING, "description": STRING,
        "start": {**STRING, "description": "LocalDateTime (no offset), read in timeZone",
                  "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$",
                  "examples": ["2027-12-06T10:00:00"]},
        "timeZone": {"type": ["string", "null"], "description": "IANA name; null: floating"},
        "duration": {**STRING, "examples": ["PT1H"]},
        "showWithoutTime": {**BOOL, "description": "an all-day event"},
        "status": {"type": "string", "enum": ["confirmed", "tentative", "cancelled"]},
        "freeBusyStatus": {"type": "string", "enum": ["free", "busy"]},
        "privacy": {"type": "string", "enum": ["public", "private", "secret"]},
        "recurrenceRules": array(RECURRENCE_RULE),
        "excludedRecurrenceRules": array({"type": "object"}),
        "recurrenceOverrides": obj({}, additional={"type": "object"},
                                   description="PatchObjects keyed by the occurrence's LocalDateTime"),
        "recurrenceId": STRING,
        "locations": obj({}, additional=obj({"@type": {"const": "Location"}, "name": STRING},
                                            additional=True)),
        "participants": obj({}, additional=obj({
            "@type": {"const": "Participant"}, "name": STRING, "email": STRING,
            "sendTo": obj({}, additional=STRING),
            "roles": obj({}, additional=BOOL),
            "participationStatus": STRING}, additional=True)),
        "alerts": obj({}, additional={"type": "object"}),
        "keywords": obj({}, additional=BOOL),
        "categories": obj({}, additional=BOOL),
        "color": STRING, "priority": {**INT, "minimum": 0, "maximum": 9}, "sequence": INT,
        "created": STRING, "updated": STRING, "prodId": STRING,
    }, ["@type"], "A JSCalendar Event (RFC 8984), its common members; others are kept too.",
        additional=True),
    "PatchObject": obj({}, description="RFC 8984 PatchObject: JSON pointers (without the leading "
                                       "/) to new values; null removes.", additional=True),
    "EventList": obj({
        "responses": obj({}, additional={"anyOf": [ref("Event"), {"type": "null"}, STRING]},
                         description="by href; null: deleted (sync); a string: an ETag "
                                     "(props[]=getetag)"),
        "sync-token": STRING,
        "more-results": BOOL,
    }, ["responses"]),
    "Created": obj({"href": STRING, "uid": STRING, "etag": STRING,
                    "skipped": array(ref("Skipped"), "with skipConflicts: the occurrences left out")},
                   ["href", "uid", "etag"]),
    "CheckResult": obj({"ok": BOOL, "message": STRING, "violations": array(ref("Violation")),
                        "conflicts": array(ref("Conflict")),
                        "skipped": array(ref("Skipped"), "with skipConflicts: the occurrences that "
                                                         "would be left out")}, ["ok", "message"]),
    "Skipped": obj({"start": DATE_TIME, "end": DATE_TIME,
                    "conflict": {**ref("Conflict"), "description": "the (first) booking in the way, as "
                                 "a 409 names it; only its times where you may not see its details"}},
                   ["start", "end", "conflict"], "An occurrence of a series left out (EXDATE) "
                   "because the room is taken then."),
    "Period": obj({"start": DATE_TIME, "end": DATE_TIME}, ["start", "end"]),
    "ReplaceRequest": obj({
        "period": ref("Period"),
        "bookings": array({"anyOf": [ref("SimpleBooking"), ref("Event")]},
                          "the new bookings, each inside the period; may be empty"),
    }, ["period", "bookings"]),
    "ReplacedBooking": obj({"uid": STRING, "href": STRING, "title": STRING, "start": DATE_TIME,
                            "end": NULLABLE_DATE_TIME, "status": {"type": ["string", "null"]}},
                           ["uid", "href", "start", "end"]),
    "ReplaceResult": obj({"room": STRING, "period": ref("Period"),
                          "bookings": array(ref("ReplacedBooking"), "stored now"),
                          "removed": array(ref("ReplacedBooking"), "replaced (gone)")},
                         ["room", "period", "bookings", "removed"]),
    "FieldError": obj({"message": STRING, "code": {**STRING, "description":
                      "required, blank, invalid, unique, unknown, conflict or a rule's name"}},
                      ["message", "code"]),
    "ReplaceErrors": obj({
        "non_field_errors": array(ref("FieldError"), "bookings outside the period, bookings "
                                                     "of the list that overlap each other"),
        "period": {"anyOf": [array(ref("FieldError")),
                             obj({}, additional=array(ref("FieldError")))],
                   "description": "{non_field_errors|start|end: [FieldError]}"},
        "bookings": {"anyOf": [array(ref("FieldError")),
                               obj({}, additional=obj({}, additional=array(ref("FieldError"))))],
                     "description": "by index: {field|non_field_errors: [FieldError]}"},
    }, description="Django REST framework's 400 bodies, as the seed's table-booking API."),
    "SeedCreated": obj({"id": {**STRING, "description": "the booking's UID (22 characters)"}},
                       ["id"]),
    "ClearedEvent": obj({"uid": STRING, "name": STRING, "start": NULLABLE_DATE_TIME,
                         "end": NULLABLE_DATE_TIME, "created": NULLABLE_DATE_TIME,
                         "organizer": {"type": ["string", "null"]}}),
    "ClearedEntry": obj({"event": ref("ClearedEvent"), "calendar": STRING}),
    "Overlap": obj({"event": ref("ClearedEvent"), "overlaps_with": ref("ClearedEvent"),
                    "calendar": STRING, "reason": STRING}),
    "ClearBookingsResult": obj({
        "deleted_cancelled_events": array(ref("ClearedEntry")),
        "deleted_overlapping_events": array(ref("Overlap")),
        "cancelled_overlapping_recurring_events": array(ref("Overlap")),
        "ignored_overlapping_events": array(ref("Overlap")),
        "test_mode": BOOL,
    }, ["deleted_cancelled_events", "deleted_overlapping_events",
        "cancelled_overlapping_recurring_events", "ignored_overlapping_events", "test_mode"]),
    "RoomChange": both_spellings(obj({
        "id": STRING, "name": STRING, "capacity": {"type": ["integer", "null"]},
        "location": STRING, "timezone": STRING, "features": STRINGS,
        "bookers": STRINGS, "managers": STRINGS, "viewers": STRINGS,
        "rules": ref("RulesChange"), "status": STRING, "statusReason": STRING,
        "busyTitle": STRING,
        "email": {"type": ["string", "null"], "description": "an e-mail address; \"\" or null: "
                  "<id>@ the [scheduling] room_domain"}}), "POST needs id and name; PATCH takes any of them (null resets). "
        + SPELLINGS),
    "User": obj({"name": STRING, "admin": BOOL, "email": STRING, "groups": STRINGS}),
    "UserChange": obj({"name": STRING, "password": STRING, "admin": BOOL, "email": STRING}),
    "UserList": obj({"users": array(ref("User"))}),
    "Group": obj({"name": STRING, "members": STRINGS}),
    "GroupList": obj({"groups": array(ref("Group"))}),
    "Members": obj({"members": STRINGS}, ["members"]),
    "Token": obj({"id": STRING, "user": STRING, "label": STRING, "readOnly": BOOL,
                  "created": STRING}),
    "TokenCreated": {"allOf": [ref("Token"), obj({"token": {**STRING, "description":
                                                            "the secret, shown only now"}})]},
    "TokenChange": obj({"user": STRING, "label": STRING, "readOnly": BOOL}, ["user"]),
    "TokenList": obj({"tokens": array(ref("Token"))}),
    "Mail": obj({"id": {"type": "integer"}, "state": {"type": "string", "enum": ["pending", "sent", "failed"]},
                 "kind": STRING, "room": STRING, "uid": STRING, "recipient": STRING, "subject": STRING,
                 "attempts": {"type": "integer"}, "lastError": STRING,
                 "created": STRING, "sent": {"type": ["string", "null"]},
                 "nextTry": {"type": ["string", "null"], "description": "pending mails: when it is tried"}}),
    "MailList": obj({"mails": array(ref("Mail"))}),
    "MailRetried": obj({"retried": array({"type": "integer"}), "mails": array(ref("Mail"))}),
    "Template": obj({"room": {"type": ["string", "null"]},
                     "whose": {"type": "string", "enum": ["room", "default", "built-in"]},
                     "subject": STRING, "body": STRING,
                     "text": {**STRING, "description": "the file of `roomcal template set`"}}),
    "TemplateChange": obj({"subject": STRING, "body": STRING,
                           "text": {**STRING, "description": "instead of subject and body"}}),
    "Feed": obj({"id": STRING, "room": STRING, "label": STRING, "busyOnly": BOOL,
                 "created": STRING, "createdBy": STRING, "href": STRING}),
    "FeedCreated": {"allOf": [ref("Feed"), obj({"url": {**STRING, "description": "the secret link, "
                                                                                "shown only now"},
                                                "webcal": STRING})]},
    "FeedChange": obj({"busyOnly": BOOL, "label": STRING}),
    "FeedList": obj({"feeds": array(ref("Feed"))}),
    "BookingSummary": obj({
        "uid": STRING, "href": STRING,
        "title": {"type": ["string", "null"], "description": "null for private bookings of others"},
        "start": NULLABLE_DATE_TIME, "end": NULLABLE_DATE_TIME,
        "status": {"type": "string", "enum": ["confirmed", "pending", "cancelled"]},
        "recurring": BOOL, "organizer": {"type": ["string", "null"]},
        "bookedBy": {"type": ["string", "null"]}, "etag": STRING,
        "checkedIn": {"type": ["boolean", "null"], "description": "this occurrence was checked in; "
                      "null: it needs none (the room has no check-in rule, or an all-day booking)"},
        "checkedInAt": {**DATE_TIME, "description": "answers of check-in: when"},
    }, ["start", "end", "status"], "A booking in lists and verb answers (callers with free/busy "
                                   "access only see times, status and recurring).",
        additional=True),
    "BookingList": obj({"bookings": array(ref("BookingSummary"))}, ["bookings"]),
    "BookingEvent": {"allOf": [ref("Event"), obj({"roomcal": obj({
        "room": STRING, "etag": STRING, "href": STRING, "status": STRING, "start": NULLABLE_DATE_TIME,
        "end": NULLABLE_DATE_TIME, "recurring": BOOL, "organizer": {"type": ["string", "null"]},
        "bookedBy": {"type": ["string", "null"]}}, additional=True)})],
        "description": "The stored Event plus roomcal's view of it."},
    "CheckIn": obj({"recurrenceId": {**DATE_TIME, "description": "the start of the occurrence of a "
                                                                "series to check in; left out: the "
                                                                "one under way or about to start"}}),
    "Reason": obj({"reason": {**STRING, "maxLength": 2000,
                              "description": "told to the organizer by mail"}}),
    "Reschedule": obj({"start": DATE_TIME, "end": {**DATE_TIME, "description":
                                                   "left out: the same length as before"},
                       "reason": STRING}, ["start"]),
    "Busy": obj({"start": DATE_TIME, "end": DATE_TIME,
                 "kind": {"type": "string", "enum": ["booked", "pending", "closed", "buffer",
                                                     "blackout"],
                          "description": "buffer: the room's buffer before and after a booking, "
                                         "where a new booking cannot lie"},
                 "uid": STRING, "href": STRING, "title": STRING}, ["start", "end", "kind"]),
    "Span": obj({"start": DATE_TIME, "end": DATE_TIME}, ["start", "end"]),
    "Availability": obj({
        "room": STRING, "timeZone": STRING, "start": DATE_TIME, "end": DATE_TIME,
        "quantity": INT, "status": STRING, "busy": array(ref("Busy")), "free": array(ref("Span")),
        "duration": STRING, "step": STRING,
        "slots": array(ref("Span"), "with duration: the start times every rule allows"),
    }, ["room", "start", "end", "busy", "free"]),
    "OpenAPI": {"type": "object", "description": "this document"},
}
SCHEMAS["RulesChange"] = both_spellings(SCHEMAS["Rules"], "A room's booking rules to change (null "
                                        "resets one to no limit). " + SPELLINGS)

RESPONSES = {
    "Unauthorized": answer("No or wrong credentials (Basic or Bearer).", "Error"),
    "Forbidden": answer("Not allowed for this user or token (read-only tokens never write).", "Error"),
    "NotFound": answer("No such room, booking or route.", "Error"),
    "BadRequest": answer("The request cannot be read (bad JSON, bad parameter).", "Error"),
    "Conflict": answer("The room is already booked then (type conflict, with conflicts).", "Error"),
    "Unprocessable": answer("A broken rule (type ruleViolation, with violations) or invalid "
                            "properties (type invalidProperties, with properties).", "Error"),
    "PreconditionFailed": answer("If-Match / If-None-Match did not hold.", "Error"),
}

COMMON_ERRORS = {**error("401", "Unauthorized"), **error("403", "Forbidden"), **error("404", "NotFound")}
WRITE_ERRORS = {**error("400", "BadRequest"), **error("409", "Conflict"),
                **error("422", "Unprocessable")}
NO_CONTENT = {"204": {"description": "Done; no body."}}


def operation(summary, description="", request=None, responses=None, parameters=None,
              errors=None) -> dict:
    """A partial Operation Object: what a route takes and answers beyond what ``build``
    finds on its own (path, method, path parameters, docstring, common errors)."""
    spec = {"summary": summary}
    if description:
        spec["description"] = description
    if parameters:
        spec["parameters"] = parameters
    if request:
        spec["requestBody"] = request
    spec["responses"] = {**(responses or {}), **(errors or {})}
    return spec


def describe(summary, description="", request=None, responses=None, parameters=None,
             errors=None):
    """Decorator of a route: its ``operation(...)``, kept next to the code it describes."""
    return describe_by_path(operation(summary, description, request, responses, parameters, errors))


def describe_by_path(spec):
    """Decorator of a route: an Operation Object, or a function of the OpenAPI path giving
    one (for an endpoint that serves more than one path)."""
    def mark(endpoint):
        endpoint.openapi = spec
        return endpoint
    return mark


# The one definition of a booking body (server/booking_body.py), on every route that takes one.
BOOKING_JSON = {"required": True, "content": {
    JSON: {"schema": {"anyOf": [ref("SimpleBooking"), ref("Event")]}}}}
BOOKING_BODY = {"required": True, "content": {
    **BOOKING_JSON["content"],
    "text/calendar": {"schema": {"type": "string", "description": "one VEVENT in a VCALENDAR"}}}}
# POST …/bookings and …/check: a booking body with skipConflicts beside it (server/api.py).
SKIPPING = ("skipConflicts true: a series is stored (checked) without its occurrences that "
            "conflict (EXDATE), listed in `skipped`; rules still refuse the whole booking (422), and a "
            "series whose every occurrence conflicts is 409. A JSON body's boolean member, or "
            "`?skipConflicts=true` (any body). Otherwise 400.")
SCHEMAS["SimpleBookingRequest"] = {
    **SCHEMAS["SimpleBooking"], "description": "SimpleBooking, and skipConflicts.",
    "properties": {**SCHEMAS["SimpleBooking"]["properties"],
                   "skipConflicts": {**BOOL, "description": SKIPPING}}}
BOOKING_REQUEST = {"required": True, "content": {
    JSON: {"schema": {"anyOf": [ref("SimpleBookingRequest"), ref("Event")],
                      "description": "a booking body; an Event may carry skipConflicts too"}},
    "text/calendar": BOOKING_BODY["content"]["text/calendar"]}}
SKIP_CONFLICTS = query("skipConflicts", SKIPPING, {"type": "string", "enum": ["true", "false", "1", "0"]})

TAGS = {
    "rooms": "The room directory, dry runs and bookings.",
    "bookings": "Bookings of a room: list, read, cancel, reschedule, approve, decline.",
    "availability": "Busy intervals and free windows.",
    "replace": "Replacing a period's bookings at once (seed 002).",
    "seed": "The Django Room Booking app's routes, for its users' scripts.",
    "admin": "Rooms, users, groups and tokens, for admins.",
    "feeds": "Subscription feed links of a room.",
    "mail": "The outbox: mails sent, waiting and failed, and sending failed ones again (admins).",
    "docs": "This document.",
    "calendar-json": "JSCalendar JSON on the CalDAV URLs (send Accept or Content-Type "
                     "application/json; anything else is CalDAV).",
}

DESCRIPTION = """\
roomcal is a CalDAV server for booking rooms. Everything here is also reachable by CalDAV;
every write, whichever path it takes, goes through the same booking core (no double booking,
no broken rule).

Authentication: every route takes HTTP Basic (user and password) or `Authorization: Bearer
<token>` (`roomcal token create`); read-only tokens can only read. Times without an offset are
in the room's time zone.

Errors are JSON `{error, type, message}` plus `properties` (invalid fields), `conflicts`
(409, the bookings in the way) or `violations` (422, the broken rules). The seed routes keep
their own shapes.

The JSON verbs on the CalDAV tree work on every calendar URL: rooms (`/rooms/<id>/`) and
personal calendars (`/<user>/<calendar>/`). A request is JSON when `Accept` (GET, HEAD,
DELETE) or `Content-Type` (POST, PUT, PATCH) is `application/json`,
`application/jscalendar+json` or `application/pretty+json`."""


# -- the JSON verbs on the CalDAV tree -------------------------------------------------------
def _caldav_paths() -> dict:
    sync = [query("sync-token", "empty: everything with a token (in href order); a token: what "
                                "changed since (deleted events as null), in change order; a token "
                                "with more-results: the next page"),
            query("nresults", "page size of a sync, initial or delta: more-results and a token that "
                              "continues; the initial listing's last page answers a token from "
                              "its first page, so changes made between pages come in the next "
                              "delta", {"type": "integer", "minimum": 1}),
            query("start", "keep events with an occurrence at or after this (ISO 8601)"),
            query("end", "keep events with an occurrence before this (a date: through that day)"),
            query("text", "search title, description and locations"),
            query("props[]", "getetag: ETags only", {"type": "array", "items": STRING})]
    event_types = (JSON, "application/jscalendar+json")
    write_errors = {**error("409", "Conflict"), **error("412", "PreconditionFailed"),
                    **error("422", "Unprocessable")}
    prefer = header("Prefer", "return=representation: answer with the stored event")
    paths = {}
    for prefix, params, suffix in (
            ("/rooms/{room_id}", [("room_id", "a room id")], "Room"),
            ("/{user}/{calendar}", [("user", "the owner"), ("calendar", "a calendar of theirs")],
             "Personal")):
        path_params = [{"name": n, "in": "path", "required": True, "description": d,
                        "schema": STRING} for n, d in params]
        item = [{"name": "item", "in": "path", "required": True,
                 "description": "the event's file name, e.g. standup.ics", "schema": STRING}]
        tag = ["calendar-json"]
        paths[prefix + "/"] = {
            "parameters": path_params,
            "get": {"tags": tag, "operationId": f"listEvents{suffix}", "summary": "List events (or sync)",
                    "description": "Send `Accept: application/json`.", "parameters": sync,
                    "responses": {"200": answer("Events by href.", "EventList"),
                                  **error("403", "Forbidden"), **error("401", "Unauthorized"),
                                  **error("404", "NotFound")}},
            "post": {"tags": tag, "operationId": f"createEvent{suffix}", "summary": "Create an event",
                     "description": "The server fills uid, created, updated, prodId.",
                     "parameters": [prefer],
                     "requestBody": {"required": True, "content": content(ref("Event"), *event_types)},
                     "responses": {"201": answer("Created; with Prefer: return=representation the "
                                                 "stored event and its ETag.", "Event",
                                                 {"Location": "the event's URL",
                                                  "ETag": "with the stored event only"}, *event_types),
                                   **COMMON_ERRORS, **write_errors}},
        }
        paths[prefix + "/{item}"] = {
            "parameters": path_params + item,
            "get": {"tags": tag, "operationId": f"getEvent{suffix}", "summary": "Read an event",
                    "parameters": [header("If-None-Match", "an ETag: 304 when unchanged")],
                    "responses": {"200": answer("The event.", "Event", {"ETag": "its ETag"},
                                                "application/jscalendar+json;type=event"),
                                  "304": {"description": "Not modified."}, **COMMON_ERRORS}},
            "put": {"tags": tag, "operationId": f"putEvent{suffix}", "summary": "Replace an event",
                    "description": "Full replacement; what JSON cannot say (X- properties, "
                                   "parameters, alarm extras) is kept.",
                    "parameters": [header("If-Match", "an ETag, or *"),
                                   header("If-None-Match", "*: only when new"), prefer],
                    "requestBody": {"required": True, "content": content(ref("Event"), *event_types)},
                    "responses": {"201": answer("Created.", None, {"Location": "the event's URL"}),
                                  "204": answer("Replaced."),
                                  "200": answer("Replaced (Prefer: return=representation).", "Event",
                                                {"ETag": "the stored event's"}),
                                  **COMMON_ERRORS, **write_errors}},
            "patch": {"tags": tag, "operationId": f"patchEvent{suffix}", "summary": "Patch an event",
                      "description": "RFC 8984 PatchObject, atomic: any bad pointer and nothing changes.",
                      "parameters": [header("If-Match", "an ETag"), prefer],
                      "requestBody": {"required": True, "content": content(ref("PatchObject"),
                                                                           *event_types)},
                      "responses": {"204": answer("Patched."),
                                    "200": answer("Patched (Prefer: return=representation).", "Event",
                                                  {"ETag": "the stored event's"}),
                                    **COMMON_ERRORS, **write_errors}},
            "delete": {"tags": tag, "operationId": f"deleteEvent{suffix}", "summary": "Delete an event",
                       "description": "Send `Accept: application/json` for JSON errors.",
                       "parameters": [header("If-Match", "an ETag")],
                       "responses": {**NO_CONTENT, **COMMON_ERRORS,
                                     **error("412", "PreconditionFailed")}},
        }
    return paths


# -- the document ----------------------------------------------------------------------------
PARAMETER = re.compile(r"<(?:[^<>:]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def path_of(rule) -> str:
    """The OpenAPI path of a werkzeug rule: /api/rooms/<room_id> -> /api/rooms/{room_id}."""
    return PARAMETER.sub(r"{\1}", rule.rule)


def _parameters(rule) -> list:
    converters = getattr(rule, "_converters", {}) or {}
    found = []
    for name in PARAMETER.findall(rule.rule):
        schema = {"type": "string"}
        items = getattr(converters.get(name), "items", None)
        if items:
            schema["enum"] = sorted(items)
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


def _merge(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "schema":
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _summary(endpoint) -> tuple:
    doc = (getattr(endpoint, "__doc__", None) or "").strip()
    if not doc:
        return getattr(endpoint, "__name__", "route").replace("_", " ").capitalize(), ""
    first, _, rest = doc.partition("\n")
    return first.strip().rstrip("."), " ".join(rest.split())


def build(url_map, server_url: str = "") -> dict:
    """The OpenAPI 3.1 document of every rule in ``url_map`` plus the CalDAV JSON verbs."""
    paths, operation_ids = {}, set()
    for rule in sorted(url_map.iter_rules(), key=lambda r: (path_of(r), sorted(r.methods or ()))):
        path = path_of(rule)
        item = paths.setdefault(path, {})
        if _parameters(rule):
            item["parameters"] = _parameters(rule)
        endpoint = rule.endpoint
        for method in sorted(set(rule.methods or ()) - HIDDEN_METHODS):
            summary, description = _summary(endpoint)
            module = getattr(endpoint, "__module__", "") or ""
            name = getattr(endpoint, "__name__", "route")
            operation_id = _camel(name)
            while operation_id in operation_ids:
                operation_id += method.capitalize()
            operation_ids.add(operation_id)
            generated = {"tags": [module.rsplit(".", 1)[-1] or "api"], "operationId": operation_id,
                         "summary": summary}
            if description:
                generated["description"] = description
            generated["responses"] = {"default": answer("An error.", "Error"), **COMMON_ERRORS}
            own = getattr(endpoint, "openapi", None)
            if callable(own):
                own = own(path)
            if isinstance(own, dict):
                _merge(generated, own)
            else:
                generated["responses"]["200"] = {"description": "OK (JSON)."}
            item[method.lower()] = generated
    paths.update(_caldav_paths())
    used_tags = {t for item in paths.values() for op in item.values() if isinstance(op, dict)
                 for t in op.get("tags", ())}
    spec = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "roomcal", "version": _version(), "description": DESCRIPTION,
                 "license": {"name": "GPL-3.0-or-later", "identifier": "GPL-3.0-or-later"}},
        "tags": [{"name": name, "description": TAGS.get(name, "")} for name in
                 sorted(used_tags, key=lambda t: (list(TAGS).index(t) if t in TAGS else len(TAGS), t))],
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": copy.deepcopy(RESPONSES),
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic",
                              "description": "user name and password"},
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "an API token (roomcal token create)"},
            },
        },
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
    }
    if server_url:
        spec["servers"] = [{"url": server_url}]
    return spec


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _version() -> str:
    try:
        return importlib.metadata.version("roomcal")
    except importlib.metadata.PackageNotFoundError:
        return "0"
