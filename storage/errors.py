"""Refusals of the storage, each carrying what HTTP answers need.

They subclass ValueError because that is what Radicale turns into a 4xx
without a traceback; the front then rewrites the answer from the refusal.
"""


class Refusal(ValueError):
    caldav_status = 403
    json_status = 403
    precondition = "forbidden"
    json_type = "forbidden"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict:
        return {"error": self.json_status, "type": self.json_type, "message": self.message}


class BadRequest(Refusal):
    """A request the server cannot read (bad JSON, bad parameter, bad form field)."""
    json_type = precondition = "badRequest"

    def __init__(self, message, status=400):
        super().__init__(message)
        self.json_status = self.caldav_status = status


class Forbidden(Refusal):
    json_status = caldav_status = 403
    json_type = precondition = "forbidden"


class AccessDenied(Refusal):
    precondition = "not-allowed"


class InvalidBooking(Refusal):
    caldav_status = 400
    json_status = 422
    precondition = "valid-booking"
    json_type = "invalidProperties"


class UnsafeCalendarData(Refusal):
    """iCalendar text refused before any parser read it (storage/screen.py): nested too
    deep, or recurrence rules that would take too much work to expand."""
    caldav_status = 403   # RFC 4791 5.3.2.1: PUT's precondition, valid calendar data
    json_status = 422
    precondition = "valid-calendar-data"
    json_type = "invalidProperties"


class InvalidRoom(Refusal):
    """Room properties that do not make a valid room (MKCALENDAR, PROPPATCH)."""
    caldav_status = 400
    json_status = 422
    precondition = "valid-room"
    json_type = "invalidProperties"


class BookingRefused(Refusal):
    """Conflicts (409) and/or broken rules (403 CalDAV, 422 JSON)."""

    def __init__(self, decision):
        self.decision = decision
        super().__init__(decision.message())
        if decision.violations:
            self.caldav_status, self.json_status = 403, 422
            self.precondition, self.json_type = "booking-rule-violated", "ruleViolation"
        else:
            self.caldav_status, self.json_status = 409, 409
            self.precondition, self.json_type = "no-booking-conflict", "conflict"

    def to_json(self) -> dict:
        body = super().to_json()
        body.update(self.decision.details())
        return body


class UnsupportedComponent(Refusal):
    """Anything but an event for a calendar of events only (a room): RFC 4791 §5.3.2.1 asks
    for 403 with CalDAV's own precondition."""
    caldav_status = 403
    json_status = 422
    namespace = "urn:ietf:params:xml:ns:caldav"
    precondition = "supported-calendar-component"
    json_type = "unsupportedComponent"
    KINDS = {"VTODO": "a task (VTODO)", "VJOURNAL": "a journal entry (VJOURNAL)",
             "VFREEBUSY": "free/busy information (VFREEBUSY)", "Task": "a task (VTODO)",
             "Group": "a group of entries"}

    def __init__(self, calendar_name: str, component: str):
        what = self.KINDS.get(component, repr(component))
        super().__init__(f"{calendar_name} takes events (VEVENT) only, not {what}: "
                         "a room is booked with an event.")

    def to_json(self) -> dict:
        return {**super().to_json(), "properties": ["/@type"]}   # as every refused member

    @classmethod
    def unless_event(cls, calendar_name: str, event: dict) -> None:
        """For a JSCalendar object: refuse a Task or a Group."""
        kind = event.get("@type", "Event") if isinstance(event, dict) else "Event"
        if kind != "Event":
            raise cls(calendar_name, str(kind))


class NotFound(Refusal):
    caldav_status = json_status = 404
    precondition = json_type = "notFound"


class RoomInUse(Refusal):
    caldav_status = json_status = 409
    precondition = json_type = "roomInUse"


class PreconditionFailed(Refusal):
    caldav_status = json_status = 412
    precondition = json_type = "preconditionFailed"


class UidConflict(Refusal):
    caldav_status = 409
    json_status = 422
    precondition = "no-uid-conflict"
    json_type = "invalidProperties"


class StoreUnavailable(Refusal):
    """The database cannot be reached (PostgreSQL restarting, a failover, a lost
    connection): nothing was written; the client tries again (Retry-After)."""
    caldav_status = json_status = 503
    precondition = json_type = "unavailable"
    retry_after = 5

    def __init__(self, message: str = "The booking database cannot be reached right now; "
                                      "nothing was changed. Try again in a few seconds."):
        super().__init__(message)


class DoubleBooking(Refusal):
    """What the database refused although the booking core let it through (two hosts
    deciding at once, or a bug): the constraint that no two bookings of a room of
    quantity 1 overlap (storage/postgres/index.py)."""
    caldav_status = json_status = 409
    precondition = "no-booking-conflict"
    json_type = "conflict"

