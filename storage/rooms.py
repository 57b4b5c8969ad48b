"""A room: its metadata and rules, as kept in the room collection's properties.

The properties are the only store (``.Radicale.props`` of ``/rooms/<id>/``), so
CalDAV clients read them with PROPFIND and the CLI, the rights plugin and the
booking core all parse them with ``Room.from_props``.
"""

import dataclasses
import datetime
import json
import re
import urllib.parse
import zoneinfo
from typing import Optional

from roomcal.storage import durations, openinghours
from roomcal.storage.durations import human
from roomcal.storage.text import is_email

NS = "urn:roomcal:caldav"
ROOMS = "rooms"  # the collection that holds every room
COMPONENTS = "C:supported-calendar-component-set"  # a room takes VEVENTs only
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # the whole id: fullmatch
# Ids a room may not take: they are, or will be, fixed routes under /api/.
RESERVED_IDS = frozenset({"api", "admin", "rooms", "clear-bookings", "docs",
                          "openapi.json", "feeds", "me", "users", "tokens"})
# A room's status: bookable; refusing new bookings (existing ones stay); or left out of
# listings for everyone but admins.
STATUSES = ("available", "unavailable", "hidden")
# The periods of a time quota, in the room's time zone: a day, a week (Monday to Sunday),
# a calendar month.  The second is the default.
QUOTA_PERIODS = ("P1D", "P1W", "P1M")


def prop(name: str) -> str:
    return "{%s}%s" % (NS, name)


@dataclasses.dataclass(frozen=True)
class Blackout:
    text: str
    start: datetime.datetime  # aware
    end: datetime.datetime


@dataclasses.dataclass
class Rules:
    """Every rule is optional; unset means "no limit"."""
    opening_hours: Optional[str] = None
    min_duration: Optional[str] = None
    max_duration: Optional[str] = None
    min_notice: Optional[str] = None
    max_advance: Optional[str] = None
    buffer: Optional[str] = None
    quantity: int = 1
    no_recurring: bool = False
    max_instances: Optional[int] = None
    no_multiday: bool = False
    blackouts: list = dataclasses.field(default_factory=list)
    approval: bool = False
    # Quotas per booker (storage/quotas.py): upcoming bookings; booked time per period.
    quota_bookings: Optional[int] = None
    quota_time: Optional[str] = None
    quota_period: Optional[str] = None   # P1D, P1W or P1M; unset: P1W
    # A booking must be checked in from [rooms] check_in_opens before its start until
    # this long after it, else the server releases it (storage/checkin.py).
    check_in: Optional[str] = None

    # The public name of each rule (CLI option, JSON key, violation name).
    NAMES = {"opening_hours": "opening-hours", "min_duration": "min-duration",
             "max_duration": "max-duration", "min_notice": "min-notice",
             "max_advance": "max-advance", "buffer": "buffer",
             "quantity": "quantity", "no_recurring": "no-recurring",
             "max_instances": "max-instances", "no_multiday": "no-multiday",
             "blackouts": "blackout", "approval": "approval", "check_in": "check-in"}

    def to_json(self) -> dict:
        return {public: getattr(self, field) for field, public in self.NAMES.items()}

    @classmethod
    def from_json(cls, data: dict) -> "Rules":
        by_public = {public: field for field, public in cls.NAMES.items()}
        unknown = set(data) - set(by_public)
        if unknown:
            raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        return cls(**{by_public[k]: v for k, v in data.items()})


# Quotas per booker (storage/quotas.py).
Rules.NAMES.update({"quota_bookings": "quota-bookings", "quota_time": "quota-time",
                    "quota_period": "quota-period"})


@dataclasses.dataclass
class Room:
    id: str
    name: str
    capacity: Optional[int] = None
    location: str = ""
    timezone: str = "UTC"
    features: list = dataclasses.field(default_factory=list)
    bookers: list = dataclasses.field(default_factory=list)   # empty: every user
    managers: list = dataclasses.field(default_factory=list)
    rules: Rules = dataclasses.field(default_factory=Rules)
    # Issue 6: when set, only these (and bookers, managers, admins) see bookings; others free/busy.
    viewers: list = dataclasses.field(default_factory=list)
    busy_title: str = ""  # SUMMARY of busy-only feeds; empty: "Busy"
    status: str = "available"  # one of STATUSES
    status_reason: str = ""    # why it is unavailable or hidden; shown to bookers
    email: str = ""  # its calendar-user address (scheduling); empty: <id>@[scheduling] room_domain

    # Parsed forms, filled by validate().
    def validate(self) -> "Room":
        """Check every field; ValueError with a sentence that names the field."""
        check_id(self.id)
        if not self.name or not self.name.strip():
            raise ValueError("a room needs a name")
        if self.capacity is not None and (not isinstance(self.capacity, int) or self.capacity < 0):
            raise ValueError(f"capacity must be a whole number >= 0, not {self.capacity!r}")
        self.tz = zone(self.timezone)
        for entry in self.bookers + self.managers + self.viewers:
            if not isinstance(entry, str) or not re.fullmatch(r"@?[A-Za-z0-9][A-Za-z0-9_.@-]*", entry):
                raise ValueError(f"{entry!r} is not a user name or @group")
        r = self.rules
        for name in ("opening_hours", "min_duration", "max_duration", "min_notice", "max_advance", "buffer",
                     "check_in"):
            if getattr(r, name) is not None and not isinstance(getattr(r, name), str):
                raise ValueError(f"{Rules.NAMES[name]} must be text, not {getattr(r, name)!r}")
        for name in ("no_recurring", "no_multiday", "approval"):
            if not isinstance(getattr(r, name), bool):
                raise ValueError(f"{Rules.NAMES[name]} must be true or false, not {getattr(r, name)!r}")
        if not isinstance(r.blackouts, list):
            raise ValueError(f"blackout must be a list of START/END texts, not {r.blackouts!r}")
        self.opening = openinghours.parse(r.opening_hours) if r.opening_hours else None
        self.min_duration = _duration("min-duration", r.min_duration)
        self.max_duration = _duration("max-duration", r.max_duration)
        self.min_notice = _duration("min-notice", r.min_notice)
        self.max_advance = _duration("max-advance", r.max_advance, calendar_ok=True)
        self.buffer = _duration("buffer", r.buffer)
        if r.check_in is not None and r.check_in.strip().lower() in ("", "none"):
            r.check_in = None   # "none" (or nothing) turns check-in off
        self.check_in = _duration("check-in", r.check_in)
        if self.check_in is not None and not self.check_in.seconds:
            raise ValueError("check-in must be longer than 0 (or none to turn it off)")
        if not isinstance(r.quantity, int) or isinstance(r.quantity, bool) or r.quantity < 1:
            raise ValueError(f"quantity must be a whole number >= 1, not {r.quantity!r}")
        if r.max_instances is not None and (not isinstance(r.max_instances, int) or r.max_instances < 1):
            raise ValueError(f"max-instances must be a whole number >= 1, not {r.max_instances!r}")
        if (self.min_duration and self.max_duration
                and self.min_duration.seconds > self.max_duration.seconds):
            raise ValueError("min-duration is longer than max-duration")
        self.blackout_spans = [parse_blackout(text, self.tz) for text in r.blackouts]
        self._validate_quotas()
        if not isinstance(self.busy_title, str) or len(self.busy_title) > 200 or \
                any(c in self.busy_title for c in "\r\n"):
            raise ValueError("busy-title must be one line of at most 200 characters")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if not isinstance(self.status_reason, str) or any(c in self.status_reason for c in "\r\n"):
            raise ValueError("status-reason must be one line of text")
        if self.email and not is_email(self.email):
            raise ValueError(f"email {self.email!r} is not an e-mail address")
        return self

    def _validate_quotas(self) -> None:
        r = self.rules
        if r.quota_bookings is not None and (not isinstance(r.quota_bookings, int)
                                             or isinstance(r.quota_bookings, bool) or r.quota_bookings < 1):
            raise ValueError(f"quota-bookings must be a whole number >= 1, not {r.quota_bookings!r}")
        for name in ("quota_time", "quota_period"):
            if getattr(r, name) is not None and not isinstance(getattr(r, name), str):
                raise ValueError(f"{Rules.NAMES[name]} must be text, not {getattr(r, name)!r}")
        self.quota_time = _duration("quota-time", r.quota_time)
        if self.quota_time is not None and self.quota_time.seconds <= 0:
            raise ValueError("quota-time must be longer than zero")
        self.quota_period = QUOTA_PERIODS[1] if r.quota_period is None else r.quota_period
        if self.quota_period not in QUOTA_PERIODS:
            raise ValueError(f"quota-period must be P1D (a day), P1W (a week, Monday to Sunday) or "
                             f"P1M (a calendar month), not {r.quota_period!r}")

    @property
    def path(self) -> str:
        return f"/{ROOMS}/{self.id}/"

    def url(self, href: str) -> str:
        """A booking's URL path, percent-encoded as CalDAV lists it (and as clients send it)."""
        return self.path + urllib.parse.quote(href)

    def buffer_seconds(self) -> int:
        return self.buffer.seconds if self.buffer else 0

    # -- properties of the collection ------------------------------------
    def to_props(self) -> dict:
        props = {
            "tag": "VCALENDAR",
            "D:displayname": self.name,
            COMPONENTS: "VEVENT",
            "C:calendar-description": self.description(),
            prop("capacity"): "" if self.capacity is None else str(self.capacity),
            prop("location"): self.location,
            prop("timezone"): self.timezone,
            prop("features"): ",".join(self.features),
            prop("bookers"): ",".join(self.bookers),
            prop("managers"): ",".join(self.managers),
            prop("rules"): json.dumps(self.rules.to_json(), sort_keys=True),
        }
        props[prop("viewers")] = ",".join(self.viewers)
        props[prop("busy-title")] = self.busy_title
        props[prop("status")] = self.status
        props[prop("status-reason")] = self.status_reason
        props[prop("email")] = self.email
        return props

    def description(self) -> str:
        parts = [self.name]
        if self.location:
            parts.append(self.location)
        if self.capacity is not None:
            parts.append(f"{self.capacity} seats")
        if self.rules.check_in:
            window = human(durations.parse(self.rules.check_in).seconds)
            parts.append(f"check in by {window} after the start, or the booking is released")
        return " — ".join(parts)

    @classmethod
    def from_props(cls, room_id: str, props: dict) -> "Room":
        def text(name):
            return props.get(prop(name), "") or ""

        def split(name):
            return [v.strip() for v in text(name).split(",") if v.strip()]
        # Properties are text (PROPPATCH): read them with sentences, not Python's errors.
        capacity = text("capacity").strip()
        try:
            capacity = int(capacity) if capacity else None
        except ValueError:
            raise ValueError(f"capacity must be a whole number, not {capacity!r}") from None
        try:
            rules = json.loads(text("rules") or "{}")
        except ValueError:
            rules = None
        if not isinstance(rules, dict):
            raise ValueError('rules must be a JSON object such as {"buffer": "PT15M"}, '
                             f"not {text('rules')!r}")
        room = cls(
            id=room_id,
            name=props.get("D:displayname") or room_id,
            capacity=capacity,
            location=text("location"),
            timezone=text("timezone") or "UTC",
            features=split("features"),
            bookers=split("bookers"),
            managers=split("managers"),
            rules=Rules.from_json(rules),
        )
        room.viewers = split("viewers")
        room.busy_title = text("busy-title").strip()
        room.status = text("status") or "available"
        room.status_reason = text("status-reason")
        room.email = text("email").strip()
        return room.validate()

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "capacity": self.capacity,
                "location": self.location, "timezone": self.timezone,
                "features": list(self.features), "bookers": list(self.bookers),
                "managers": list(self.managers), "rules": self.rules.to_json(),
                "href": self.path,
                "status": self.status, "statusReason": self.status_reason,
                "viewers": list(self.viewers), "busyTitle": self.busy_title}


def check_id(room_id: str) -> None:
    if not isinstance(room_id, str) or not ID_PATTERN.fullmatch(room_id):
        raise ValueError(f"room id {room_id!r} must be letters, digits, '.', '_' or '-' "
                         "(starting with a letter or digit, at most 64 characters)")
    if room_id.lower() in RESERVED_IDS:
        raise ValueError(f"room id {room_id!r} is reserved for the server's own routes")


def zone(name: str) -> datetime.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


def _duration(name, text, calendar_ok=False):
    if text is None or text == "":
        return None
    try:
        return durations.parse(text, calendar_ok=calendar_ok)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


# The years a date given by a person may name.  Python's dates end with the years 1 and
# 9999, and the arithmetic on a moment (whole local days, buffers, time zones, slots)
# must not run off either end; nothing real is booked outside these years.
FIRST_YEAR, LAST_YEAR = 1900, 8999
FIRST = datetime.datetime(FIRST_YEAR, 1, 1, tzinfo=datetime.timezone.utc)
LAST = datetime.datetime(LAST_YEAR + 1, 1, 1, tzinfo=datetime.timezone.utc)


def parse_local(text: str, tz: datetime.tzinfo, *, end_of_day: bool = False,
                clamp: bool = False) -> datetime.datetime:
    """An ISO date or date-time; naive values are read in ``tz``.

    A year outside FIRST_YEAR..LAST_YEAR is a ValueError, or with ``clamp`` the nearer
    end, FIRST or LAST (a listing "from year 1" lists from the beginning)."""
    text = text.strip()
    try:
        if len(text) == 10:
            moment = datetime.date.fromisoformat(text)
        else:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:  # before any arithmetic can overflow
        if clamp:
            return FIRST if moment.year < FIRST_YEAR else LAST
        raise ValueError(f"{text!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    if not isinstance(moment, datetime.datetime):
        if end_of_day:
            moment += datetime.timedelta(days=1)
        return datetime.datetime.combine(moment, datetime.time(), tz)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def parse_blackout(text: str, tz: datetime.tzinfo) -> Blackout:
    """"START/END"; a date-only END includes that whole day."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise ValueError(f"blackout {text!r} must be START/END, e.g. 2026-12-24/2026-12-26")
    start_text, end_text = text.split("/")
    try:
        start = parse_local(start_text, tz)
        end = parse_local(end_text, tz, end_of_day=True)
    except ValueError as e:
        raise ValueError(f"blackout {text!r}: {e}") from None
    if end <= start:
        raise ValueError(f"blackout {text!r} ends before it starts")
    return Blackout(text, start, end)
