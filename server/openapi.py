"""OpenAPI 3.1 for roomcal: every /api route and the JSON verbs on the CalDAV tree.

``build(url_map)`` walks the werkzeug rules the running ``Api`` dispatches on, so a
route added to any ``ROUTE_MODULES`` module is in the document the moment it exists:
at least its path, method, path parameters (``any(...)`` converters as enums), the
endpoint's docstring and the common error answers.  What a route takes and answers in
detail comes from ``OPERATIONS`` below, keyed by (METHOD, OpenAPI path), or from an
``openapi`` attribute on the endpoint function (a partial Operation Object merged last),
so a route module can describe itself::

    def cancel(api, request, identity, room_id, uid): ...
    cancel.openapi = {"summary": "Cancel a booking", "requestBody": {...}}

``render_html(spec)`` turns the document into one self-contained HTML page (the
stylesheet is package data, ``server/static/docs.css``, inlined): no scripts, no CDN, so
``/api/docs`` works on servers without Internet access.
"""

import copy
import html
import importlib.metadata
import importlib.resources
import json
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
    "Conflict": obj({"href": STRING, "uid": STRING, "start": DATE_TIME, "end": DATE_TIME,
                     "title": {**STRING, "description": "left out where the caller may not see it"}},
                    ["href", "uid", "start", "end"]),
    "Violation": obj({"rule": {**STRING, "description": "max-duration, opening-hours, min-notice, "
                                                        "blackout, unavailable, ..."},
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
    }, description="A room's booking rules; unset means no limit."),
    "Room": obj({
        "id": STRING, "name": STRING, "capacity": {"type": ["integer", "null"]},
        "location": STRING, "timezone": {**STRING, "examples": ["Europe/Berlin"]},
        "features": STRINGS, "bookers": STRINGS, "managers": STRINGS, "viewers": STRINGS,
        "rules": ref("Rules"), "href": {**STRING, "description": "the CalDAV collection, /rooms/<id>/"},
        "status": {"type": "string", "enum": ["available", "unavailable", "hidden"]},
        "statusReason": STRING, "busyTitle": STRING,
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
    }, ["start", "end"], "The short form of a booking, on every route that takes one (bookings, "
        "check, the seed's events, each entry of replace). Any other member, a missing or blank "
        "title, a start or end that is not ISO 8601 or an end not after start: 422 "
        "invalidProperties naming each bad member as a JSON pointer (replace: its 400 shape).",
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
        "recurrenceRules": array(obj({"@type": {"const": "RecurrenceRule"}, "frequency": STRING,
                                      "interval": INT, "count": INT, "until": STRING,
                                      "byDay": array(obj({"day": STRING, "nthOfPeriod": INT}))},
                                     additional=True)),
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
    "Created": obj({"href": STRING, "uid": STRING, "etag": STRING}, ["href", "uid", "etag"]),
    "CheckResult": obj({"ok": BOOL, "message": STRING, "violations": array(ref("Violation")),
                        "conflicts": array(ref("Conflict"))}, ["ok", "message"]),
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
        "busyTitle": STRING}), "POST needs id and name; PATCH takes any of them (null resets). "
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
    }, ["start", "end", "status"], "A booking in lists and verb answers (callers with free/busy "
                                   "access only see times, status and recurring).",
        additional=True),
    "BookingList": obj({"bookings": array(ref("BookingSummary"))}, ["bookings"]),
    "BookingEvent": {"allOf": [ref("Event"), obj({"roomcal": obj({
        "room": STRING, "etag": STRING, "href": STRING, "status": STRING, "start": NULLABLE_DATE_TIME,
        "end": NULLABLE_DATE_TIME, "recurring": BOOL, "organizer": {"type": ["string", "null"]},
        "bookedBy": {"type": ["string", "null"]}}, additional=True)})],
        "description": "The stored Event plus roomcal's view of it."},
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
ROOM = "/api/rooms/{room_id}"


def _op(summary, description="", request=None, responses=None, parameters=None, errors=None):
    spec = {"summary": summary}
    if description:
        spec["description"] = description
    if parameters:
        spec["parameters"] = parameters
    if request:
        spec["requestBody"] = request
    spec["responses"] = {**(responses or {}), **(errors or {})}
    return spec


# The one definition of a booking body (server/booking_body.py), on every route that takes one.
BOOKING_JSON = {"required": True, "content": {
    JSON: {"schema": {"anyOf": [ref("SimpleBooking"), ref("Event")]}}}}
BOOKING_BODY = {"required": True, "content": {
    **BOOKING_JSON["content"],
    "text/calendar": {"schema": {"type": "string", "description": "one VEVENT in a VCALENDAR"}}}}

OPERATIONS = {
    ("GET", "/api/rooms"): _op(
        "List and find rooms", "Every room the caller can see (hidden rooms: admins only), with what "
        "the caller may do there; the finder parameters narrow the list.",
        parameters=[query("free-from", "with free-until: rooms with no blocking booking then and whose "
                                       "rules allow that span (naive: each room's time zone)"),
                    query("free-until", "see free-from"),
                    query("capacity", "at least this many people", {"type": "integer", "minimum": 0}),
                    query("feature", "has this feature (repeatable: all of them)",
                          {"type": "array", "items": STRING})],
        responses={"200": answer("The rooms.", "RoomList")}, errors=error("400", "BadRequest")),
    ("GET", ROOM + "/availability"): _op(
        "Busy and free times of a room",
        "Busy intervals with their kind (titles only for callers who may read them), free windows "
        "and, with duration, the start times every rule allows. At most 62 days at once.",
        parameters=[query("start", "ISO 8601 date or date-time", required=True),
                    query("end", "ISO 8601 (a date: through that day)", required=True),
                    query("duration", "ISO 8601 duration of the wanted booking, e.g. PT1H"),
                    query("step", "between candidate starts (needs duration; default PT30M, or the duration when shorter)")],
        responses={"200": answer("The availability.", "Availability")}, errors=error("400", "BadRequest")),
    ("GET", ROOM + "/bookings"): _op(
        "List a room's bookings",
        parameters=[query("status", "confirmed, pending, cancelled (repeatable or comma-separated)"),
                    query("from", "ISO 8601: bookings with an occurrence from then"),
                    query("to", "ISO 8601 (a date: through that day)"),
                    query("mine", "1: only the caller's bookings")],
        responses={"200": answer("The bookings, by start.", "BookingList")},
        errors=error("400", "BadRequest")),
    ("GET", ROOM + "/bookings/{uid}"): _op(
        "One booking", "By UID: the JSCalendar Event plus `roomcal` (room, status, etag...).",
        responses={"200": answer("The booking.", "BookingEvent", {"ETag": "its ETag"},
                                 "application/jscalendar+json;type=event")}),
    ("POST", ROOM + "/bookings/{uid}/cancel"): _op(
        "Cancel a booking", "STATUS:CANCELLED, kept as history; the slot is free again. Yours, or "
        "any if you manage the room.", body("Reason", required=False),
        {"200": answer("Cancelled.", "BookingSummary")}, errors=error("409", "Conflict")),
    ("POST", ROOM + "/bookings/{uid}/reschedule"): _op(
        "Move a booking", "Atomic: the old slot is released only if the new one is granted.",
        body("Reschedule"), {"200": answer("Moved.", "BookingSummary")}, errors=WRITE_ERRORS),
    ("POST", ROOM + "/bookings/{uid}/approve"): _op(
        "Approve a pending booking", "Room managers and admins: TENTATIVE -> CONFIRMED.",
        body("Reason", required=False), {"200": answer("Approved.", "BookingSummary")},
        errors=error("409", "Conflict")),
    ("POST", ROOM + "/bookings/{uid}/decline"): _op(
        "Decline a pending booking", "Room managers and admins: TENTATIVE -> CANCELLED; the reason "
        "is mailed to the organizer.", body("Reason", required=False),
        {"200": answer("Declined.", "BookingSummary")}, errors=error("409", "Conflict")),
    ("GET", ROOM): _op("One room", responses={"200": answer("The room.", "Room")}),
    ("POST", ROOM + "/check"): _op(
        "Dry run of a booking", "Every violation and conflict the booking would meet; nothing is "
        "stored. Titles of conflicts are left out for callers with free/busy access only.",
        BOOKING_BODY, {"200": answer("The verdict.", "CheckResult")}, errors=WRITE_ERRORS),
    ("POST", ROOM + "/bookings"): _op(
        "Book the room", "The same booking core as a CalDAV PUT.", BOOKING_BODY,
        {"201": answer("Booked.", "Created", {"Location": "the booking's CalDAV URL"})},
        errors=WRITE_ERRORS),
    ("POST", ROOM + "/bookings/replace"): _op(
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
         "400": answer("Nothing changed; why, per field and per booking.", "ReplaceErrors")}),
    ("POST", "/api/{calendar}/{kind}/"): _op(
        "Create an event (Django Room Booking scripts)", "`calendar` is a room id; stored at "
        "/rooms/<calendar>/<id>.ics. The body is a booking's short form, `{name, start, end}` "
        "(or any booking body).", BOOKING_JSON,
        {"201": answer("Created.", "SeedCreated", {"Location": "the CalDAV URL"})},
        errors=WRITE_ERRORS),
    ("DELETE", "/api/{calendar}/{kind}/{event_id}"): _op(
        "Delete an event (Django Room Booking scripts)", "By UID; yours, or any if you manage the "
        "room.", responses=NO_CONTENT),
    ("DELETE", "/api/clear-bookings"): _op(
        "Clear overlapping and cancelled bookings",
        "Admins and room managers. The earlier-created booking wins; a later single booking is "
        "deleted, a later series loses only its overlapping occurrences; cancelled bookings are "
        "deleted. Test mode changes nothing.",
        parameters=[query("calendar", "a room id; left out: every room the caller manages"),
                    query("test", "1, ok or on: a dry run", {"type": "string",
                                                            "enum": ["1", "ok", "on", "true", "yes",
                                                                     "0", "off", "false", "no"]})],
        responses={"200": answer("What was (test mode: would be) cleared.", "ClearBookingsResult")},
        errors=error("400", "BadRequest")),
    ("GET", "/api/admin/rooms"): _op("List every room (admins)",
                                     responses={"200": answer("The rooms.", "RoomList")}),
    ("POST", "/api/admin/rooms"): _op("Add a room", request=body("RoomChange"),
                                      responses={"201": answer("Added.", "Room")},
                                      errors={**error("409", "Conflict"), **error("422", "Unprocessable")}),
    ("GET", "/api/admin/rooms/{room_id}"): _op("One room (admins)",
                                               responses={"200": answer("The room.", "Room")}),
    ("PATCH", "/api/admin/rooms/{room_id}"): _op("Change a room", request=body("RoomChange"),
                                                 responses={"200": answer("Changed.", "Room")},
                                                 errors=error("422", "Unprocessable")),
    ("DELETE", "/api/admin/rooms/{room_id}"): _op(
        "Remove a room", parameters=[query("force", "1: also when it has bookings")],
        responses=NO_CONTENT, errors=error("409", "Conflict")),
    ("GET", "/api/admin/users"): _op("List users", responses={"200": answer("The users.", "UserList")}),
    ("POST", "/api/admin/users"): _op("Add a user", request=body("UserChange"),
                                      responses={"201": answer("Added.", "User")},
                                      errors={**error("409", "Conflict"), **error("422", "Unprocessable")}),
    ("GET", "/api/admin/users/{name}"): _op("One user", responses={"200": answer("The user.", "User")}),
    ("PATCH", "/api/admin/users/{name}"): _op("Change a user", request=body("UserChange"),
                                              responses={"200": answer("Changed.", "User")},
                                              errors=error("422", "Unprocessable")),
    ("DELETE", "/api/admin/users/{name}"): _op("Remove a user", responses=NO_CONTENT),
    ("GET", "/api/admin/groups"): _op("List groups", responses={"200": answer("The groups.", "GroupList")}),
    ("POST", "/api/admin/groups"): _op("Create a group and/or add members", request=body("Group"),
                                       responses={"201": answer("Created.", "Group"),
                                                  "200": answer("Members added.", "Group")}),
    ("GET", "/api/admin/groups/{name}"): _op("One group", responses={"200": answer("The group.", "Group")}),
    ("POST", "/api/admin/groups/{name}/members"): _op("Add members", request=body("Members"),
                                                      responses={"200": answer("The group.", "Group")}),
    ("DELETE", "/api/admin/groups/{name}/members/{user}"): _op("Remove a member", responses=NO_CONTENT),
    ("GET", "/api/admin/tokens"): _op("List tokens", parameters=[query("user", "only this user's")],
                                      responses={"200": answer("The tokens.", "TokenList")}),
    ("POST", "/api/admin/tokens"): _op("Create a token", request=body("TokenChange"),
                                       responses={"201": answer("Created; the secret is shown only "
                                                                "now.", "TokenCreated")}),
    ("DELETE", "/api/admin/tokens/{token_id}"): _op("Revoke a token", responses=NO_CONTENT),
    **{(method, path): operation
       for path, whose in (("/api/admin/templates/default", "rooms without their own"),
                           ("/api/admin/rooms/{room_id}/template", "one room"))
       for method, operation in (
           ("GET", _op(f"The mail template of {whose}", "Its own, else the default, else the "
                       "built-in one (`whose` says which).",
                       responses={"200": answer("The template.", "Template")})),
           ("PUT", _op(f"Set the mail template of {whose}",
                       "Checked first: it must compile and render on sample data (sandboxed "
                       "Jinja2), else 422 and the old one stays. text/plain: the subject on the "
                       "first line, then the body.",
                       {"required": True, "content": {**content(ref("TemplateChange")),
                                                      "text/plain": {"schema": STRING}}},
                       {"200": answer("Set.", "Template")}, errors=error("422", "Unprocessable"))),
           ("DELETE", _op(f"Remove the mail template of {whose}", responses=NO_CONTENT)))},
    ("GET", ROOM + "/feeds"): _op("List a room's feeds (managers)",
                                  responses={"200": answer("The feeds.", "FeedList")}),
    ("POST", ROOM + "/feeds"): _op("Create a subscription feed",
                                   request=body("FeedChange", required=False),
                                   responses={"201": answer("Created; the link is shown only now.",
                                                            "FeedCreated")},
                                   errors=error("400", "BadRequest")),
    ("GET", ROOM + "/feeds/{feed_id}"): _op("One feed", responses={"200": answer("The feed.", "Feed")}),
    ("DELETE", ROOM + "/feeds/{feed_id}"): _op("Revoke a feed", responses=NO_CONTENT),
    ("GET", "/api/openapi.json"): _op("This document (OpenAPI 3.1)",
                                      responses={"200": answer("The document.", "OpenAPI")}),
    ("GET", "/api/docs"): _op("This document as a readable page", responses={"200": {
        "description": "HTML, self-contained (no scripts, no external resources).",
        "content": {"text/html": {"schema": {"type": "string"}}}}}),
}

TAGS = {
    "rooms": "The room directory, dry runs and bookings.",
    "bookings": "Bookings of a room: list, read, cancel, reschedule, approve, decline.",
    "availability": "Busy intervals and free windows.",
    "replace": "Replacing a period's bookings at once (seed 002).",
    "seed": "The Django Room Booking app's routes, for its users' scripts.",
    "admin": "Rooms, users, groups and tokens, for admins.",
    "feeds": "Subscription feed links of a room.",
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
            operation = {"tags": [module.rsplit(".", 1)[-1] or "api"], "operationId": operation_id,
                         "summary": summary}
            if description:
                operation["description"] = description
            operation["responses"] = {"default": answer("An error.", "Error"), **COMMON_ERRORS}
            detail = OPERATIONS.get((method, path))
            if detail is None:
                operation["responses"]["200"] = {"description": "OK (JSON)."}
            else:
                _merge(operation, detail)
            own = getattr(endpoint, "openapi", None)
            if isinstance(own, dict):
                _merge(operation, own)
            item[method.lower()] = operation
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


# -- HTML --------------------------------------------------------------------------------------
def stylesheet() -> str:
    return importlib.resources.files("roomcal.server").joinpath("static/docs.css").read_text("utf-8")


def render_html(spec: dict, json_url: str = "openapi.json") -> str:
    """One self-contained page: the operations by tag, then the schemas."""
    e = html.escape
    schemas = spec.get("components", {}).get("schemas", {})
    responses = spec.get("components", {}).get("responses", {})
    by_tag = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            tag = (operation.get("tags") or ["api"])[0]
            by_tag.setdefault(tag, []).append((path, method, operation, item.get("parameters", [])))
    tag_text = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    order = [t["name"] for t in spec.get("tags", [])] + sorted(set(by_tag) - set(tag_text))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(spec['info']['title'])} API</title>",
           f"<style>{stylesheet()}</style></head><body>",
           f"<header><h1>{e(spec['info']['title'])} API <small>{e(spec['info']['version'])}"
           f" · OpenAPI {e(spec['openapi'])}</small></h1>",
           f'<p class="raw"><a href="{e(json_url)}">openapi.json</a> (the same document, for tools)</p>',
           "</header><main>", _paragraphs(spec["info"].get("description", "")),
           "<h2>Authentication</h2><ul>"]
    for name, scheme in spec["components"].get("securitySchemes", {}).items():
        out.append(f"<li><b>{e(name)}</b>: HTTP {e(scheme.get('scheme', ''))} — "
                   f"{e(scheme.get('description', ''))}</li>")
    out.append("</ul><nav><h2>Contents</h2>")
    for tag in order:
        if tag not in by_tag:
            continue
        out.append(f"<h3>{e(tag)}</h3><ul class='toc'>")
        for path, method, operation, _ in by_tag[tag]:
            out.append(f"<li><a href='#{e(_anchor(operation, method, path))}'>"
                       f"<span class='method {method}'>{method.upper()}</span> "
                       f"<code>{e(path)}</code></a> {e(operation.get('summary', ''))}</li>")
        out.append("</ul>")
    out.append("<p><a href='#schemas'>Schemas</a></p></nav>")
    for tag in order:
        if tag not in by_tag:
            continue
        out.append(f"<section><h2 id='tag-{e(tag)}'>{e(tag)}</h2>")
        if tag_text.get(tag):
            out.append(f"<p>{e(tag_text[tag])}</p>")
        for path, method, operation, shared in by_tag[tag]:
            out.append(_operation(path, method, operation, shared, responses, schemas))
        out.append("</section>")
    out.append("<section><h2 id='schemas'>Schemas</h2>")
    for name, schema in schemas.items():
        out.append(f"<article class='schema' id='schema-{e(name)}'><h3>{e(name)}</h3>")
        if schema.get("description"):
            out.append(f"<p>{e(schema['description'])}</p>")
        out.append(_schema_block(schema))
        out.append("</article>")
    out.append("</section></main></body></html>")
    return "\n".join(out)


def _anchor(operation, method, path) -> str:
    return operation.get("operationId") or f"{method}-{path}"


def _paragraphs(text: str) -> str:
    parts = []
    for block in text.split("\n\n"):
        escaped = html.escape(" ".join(block.split()))
        parts.append("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped) + "</p>")
    return "\n".join(parts)


def _operation(path, method, operation, shared, responses, schemas) -> str:
    e = html.escape
    out = [f"<article class='operation' id='{e(_anchor(operation, method, path))}'>",
           f"<h3><span class='method {method}'>{method.upper()}</span> <code>{e(path)}</code></h3>",
           f"<p class='summary'>{e(operation.get('summary', ''))}</p>"]
    if operation.get("description"):
        out.append(_paragraphs(operation["description"]))
    parameters = list(shared) + list(operation.get("parameters", []))
    if parameters:
        out.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
                   "<th>description</th></tr>")
        for p in parameters:
            required = " <span class='req'>required</span>" if p.get("required") else ""
            out.append(f"<tr><td><code>{e(p['name'])}</code>{required}</td><td>{e(p['in'])}</td>"
                       f"<td>{_type(p.get('schema', {}))}</td><td>{e(p.get('description', ''))}</td></tr>")
        out.append("</table>")
    request = operation.get("requestBody")
    if request:
        out.append("<h4>Request body</h4>")
        if request.get("description"):
            out.append(f"<p>{e(request['description'])}</p>")
        out.append(_content(request.get("content", {}), schemas=schemas))
    out.append("<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>")
    for status, spec in sorted(operation.get("responses", {}).items()):
        if "$ref" in spec:
            spec = responses.get(spec["$ref"].rsplit("/", 1)[-1], {})
        headers = spec.get("headers", {})
        extra = "".join(f"<br><small>{e(h)}: {e(v.get('description', ''))}</small>"
                        for h, v in headers.items())
        out.append(f"<tr><td>{e(status)}</td><td>{e(spec.get('description', ''))}{extra}</td>"
                   f"<td>{_content(spec.get('content', {}), compact=True)}</td></tr>")
    out.append("</table></article>")
    return "\n".join(out)


def _content(media: dict, compact: bool = False, schemas=None) -> str:
    """Media types and their schemas; a request body's members shown in full."""
    e = html.escape
    parts = []
    for media_type, spec in media.items():
        schema = spec.get("schema", {})
        if compact:
            parts.append(f"<code>{e(media_type)}</code> {_type(schema)}")
        else:
            parts.append(f"<p><code>{e(media_type)}</code>: {_type(schema)}</p>")
            if "$ref" in schema and schemas:
                schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
            if schema.get("type") == "object" and schema.get("properties"):
                parts.append(_schema_block(schema))
    return ("<br>" if compact else "\n").join(parts)


def _type(schema: dict, depth: int = 0) -> str:
    """A short HTML description of a schema's type, with links to named schemas."""
    e = html.escape
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"<a href='#schema-{e(name)}'>{e(name)}</a>"
    if "const" in schema:
        return f"<code>{e(json.dumps(schema['const']))}</code>"
    for key, word in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if key in schema:
            return word.join(_type(s, depth + 1) for s in schema[key])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    text = e(kind)
    if kind == "array":
        text = f"array of {_type(schema.get('items', {}), depth + 1)}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict) \
            and not schema.get("properties"):
        text = f"map of {_type(schema['additionalProperties'], depth + 1)}"
    if schema.get("enum"):
        text += " (" + ", ".join(f"<code>{e(str(v))}</code>" for v in schema["enum"]) + ")"
    return text


def _schema_block(schema: dict, depth: int = 0) -> str:
    e = html.escape
    properties = schema.get("properties") or {}
    if not properties:
        return f"<p>{_type(schema)}</p>"
    required = set(schema.get("required", ()))
    out = ["<table class='props'><tr><th>member</th><th>type</th><th>description</th></tr>"]
    for name, prop in properties.items():
        mark = " <span class='req'>required</span>" if name in required else ""
        nested = ""
        if depth < 2 and isinstance(prop, dict) and prop.get("type") == "object" and prop.get("properties"):
            nested = _schema_block(prop, depth + 1)
        examples = prop.get("examples") if isinstance(prop, dict) else None
        example = f" <small>e.g. <code>{e(str(examples[0]))}</code></small>" if examples else ""
        description = e(prop.get("description", "")) if isinstance(prop, dict) else ""
        out.append(f"<tr><td><code>{e(name)}</code>{mark}</td><td>{_type(prop)}{nested}</td>"
                   f"<td>{description}{example}</td></tr>")
    out.append("</table>")
    return "\n".join(out)
