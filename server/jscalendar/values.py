"""The JSCalendar value types of one event, with no iCalendar in them.

The vocabulary (status, privacy, participant kinds, ...), the JSON pointer escapes, the
LocalDateTime/UTCDateTime/Duration formats (parse and print) and InvalidEvent, the one
error every part of the package raises.  Underscore names are shared inside the package
only; callers use the names ``roomcal.server.jscalendar`` exports.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import uuid

from roomcal.storage.rooms import FIRST_YEAR, LAST_YEAR


UTC = datetime.timezone.utc
NAMESPACE = uuid.UUID("7f1e1965-ae73-4454-b088-232c90730ce2")
DEFAULT_PRODID = "-//roomcal//JSCalendar//EN"
RESIDUE_PROP = "X-JSCALENDAR-PROP"
ID_PARAM = "X-JSCALENDAR-ID"
_ID_NAMES = (ID_PARAM, "JSID")
_UTC_ALIASES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "Z"}

STATUS = ("confirmed", "cancelled", "tentative")
FREE_BUSY = ("free", "busy")
PRIVACY = {"public": "PUBLIC", "private": "PRIVATE", "secret": "CONFIDENTIAL"}
KINDS = {"individual": "INDIVIDUAL", "group": "GROUP", "location": "ROOM", "resource": "RESOURCE"}
PARTSTATS = ("needs-action", "accepted", "declined", "tentative", "delegated")
SCHEDULE_AGENTS = ("server", "client", "none")
FREQUENCIES = ("yearly", "monthly", "weekly", "daily", "hourly", "minutely", "secondly")
DAYS = ("mo", "tu", "we", "th", "fr", "sa", "su")
SKIPS = ("omit", "backward", "forward")
ROLE_ORDER = ("owner", "attendee", "optional", "informational", "chair", "contact")
# RFC 8984 §4.3.5: pointers an override patch must not touch (ignored).
OVERRIDE_IGNORED = frozenset({
    "@type", "excludedRecurrenceRules", "method", "privacy", "prodId", "recurrenceId",
    "recurrenceIdTimeZone", "recurrenceOverrides", "recurrenceRules", "relatedTo", "replyTo",
    "sentBy", "timeZones", "uid"})
_EVENT_ORDER = (
    "@type", "uid", "prodId", "created", "updated", "sequence", "title", "description", "start",
    "timeZone", "duration", "showWithoutTime", "recurrenceId", "recurrenceIdTimeZone", "status",
    "freeBusyStatus", "privacy", "priority", "keywords", "locations", "replyTo", "participants",
    "recurrenceRules", "excludedRecurrenceRules", "recurrenceOverrides", "alerts")
_MAX_INT = 2 ** 53 - 1

# Patterns are matched whole (fullmatch): "$" would let a trailing newline through.
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
_LOCAL_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d*[1-9])?")
_UTC_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d*[1-9])?Z")
# Liberal: weeks, days and time parts in any combination (EGroupware writes P1DT2H).
_DURATION_RE = re.compile(
    r"P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?)?")
_NDAY_RE = re.compile(r"([+-]?\d{1,3})?(MO|TU|WE|TH|FR|SA|SU)", re.IGNORECASE)
_BYMONTH_RE = re.compile(r"(\d{1,2})(L?)")


class InvalidEvent(ValueError):
    """Invalid JSCalendar input; ``properties`` are JSON pointers to what is wrong.

    ``type`` is the JMAP-style error type: ``invalidProperties`` (default) or
    ``invalidPatch`` (from :func:`apply_patch`).
    """

    def __init__(self, message: str, properties: list[str], type: str = "invalidProperties"):
        super().__init__(message)
        self.message = message
        self.properties = list(properties)
        self.type = type

    def __repr__(self):
        return f"InvalidEvent({self.message!r}, {self.properties!r}, type={self.type!r})"



def _esc(token) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _unesc(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _ptr(*tokens) -> str:
    return "".join("/" + _esc(t) for t in tokens)


def _same(a, b) -> bool:
    """Equality that tells 1, 1.0 and True apart (JSON values)."""
    if a is b:
        return True
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _fingerprint(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_MAX_INT <= value <= _MAX_INT


_LOCAL_TEXT = f"a LocalDateTime (YYYY-MM-DDTHH:MM:SS, years {FIRST_YEAR} to {LAST_YEAR})"
_UTC_TEXT = f"a UTCDateTime (YYYY-MM-DDTHH:MM:SSZ, years {FIRST_YEAR} to {LAST_YEAR})"


def _parse_local(text) -> datetime.datetime | None:
    """LocalDateTime -> naive datetime (fractions dropped: iCalendar has none); None also
    outside the years a booking may name (storage/rooms.py: no date arithmetic overflows)."""
    if not isinstance(text, str):
        return None
    m = _LOCAL_RE.fullmatch(text)
    if not m or not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        return None
    try:
        return datetime.datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:
        return None


def _parse_utc(text) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    m = _UTC_RE.fullmatch(text)
    if not m or not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        return None
    try:
        return datetime.datetime(*(int(g) for g in m.groups()[:6]), tzinfo=UTC)
    except ValueError:
        return None


def _fmt_local(dt: datetime.datetime) -> str:
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
            f"T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}")


def _fmt_utc(dt) -> str:
    if not isinstance(dt, datetime.datetime):
        dt = datetime.datetime.combine(dt, datetime.time())
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return _fmt_local(dt) + "Z"


def _parse_duration(text) -> tuple[int, int] | None:
    """Duration -> (nominal days, exact seconds); fractions of seconds are dropped."""
    if not isinstance(text, str):
        return None
    m = _DURATION_RE.fullmatch(text)
    if not m:
        return None
    w, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return w * 7 + d, h * 3600 + mi * 60 + s


def _parse_signed(text) -> datetime.timedelta | None:
    if not isinstance(text, str) or not text:
        return None
    sign = -1 if text[0] == "-" else 1
    parsed = _parse_duration(text[1:] if text[0] in "+-" else text)
    if parsed is None:
        return None
    return sign * datetime.timedelta(days=parsed[0], seconds=parsed[1])


def _fmt_exact(seconds) -> str:
    seconds = int(seconds)
    if seconds <= 0:
        return "PT0S"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")


def _fmt_signed(td: datetime.timedelta) -> str:
    """SignedDuration the way iCalendar writes a TRIGGER: days, then the time part."""
    sign = "-" if td < datetime.timedelta(0) else ""
    td = abs(td)
    days, secs = td.days, td.seconds
    if not days and not secs:
        return "PT0S"
    out = f"P{days}D" if days else "P"
    if secs:
        out += _fmt_exact(secs)[1:]
    return sign + out


def _between(start, end) -> str:
    """The Duration from start to end: whole wall-clock days as PnD, else exact time."""
    if not isinstance(start, datetime.datetime):
        end_date = end.date() if isinstance(end, datetime.datetime) else end
        return f"P{max((end_date - start).days, 1)}D"
    if not isinstance(end, datetime.datetime):
        end = datetime.datetime.combine(end, datetime.time(), start.tzinfo)
    if start.tzinfo is None or end.tzinfo is None:
        exact = wall = end.replace(tzinfo=None) - start.replace(tzinfo=None)
    else:
        exact = end.astimezone(UTC) - start.astimezone(UTC)
        wall = end.astimezone(start.tzinfo).replace(tzinfo=None) - start.replace(tzinfo=None)
    if exact <= datetime.timedelta(0):
        return "PT0S"
    if wall.days > 0 and not wall.seconds and not wall.microseconds:
        return f"P{wall.days}D"
    return _fmt_exact(exact.total_seconds())


def _add(start: datetime.datetime, tz, days: int, seconds: int) -> datetime.datetime:
    """start (naive wall clock in tz) + nominal days + exact seconds."""
    wall = start + datetime.timedelta(days=days)
    if tz is None:
        return wall + datetime.timedelta(seconds=seconds)
    aware = wall.replace(tzinfo=tz)
    return (aware.astimezone(UTC) + datetime.timedelta(seconds=seconds)).astimezone(tz)
