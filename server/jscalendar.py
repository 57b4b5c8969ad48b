"""JSCalendar (RFC 8984) <-> iCalendar (RFC 5545) for one stored calendar object.

Pure conversion: no HTTP, no Radicale.  The iCalendar text stays the source of truth;
JSCalendar is a second representation of it.

to_jscalendar(ical)                 -> Event (all VEVENTs of one UID)
from_jscalendar(event, previous)    -> iCalendar text (previous: the stored item on PUT/PATCH)
validate(event)                     -> raises InvalidEvent with JSON pointers
apply_patch(event, patch)           -> new Event (RFC 8984 §1.4.9 PatchObject)

How nothing gets lost
---------------------
*iCalendar -> JSON -> iCalendar.*  A write starts from the previous VEVENT (when there is
one) and changes only what the JSON says differently: for every mapped property, parameter
and alarm member the value the previous item *reads as* is compared with the JSON, and only
a difference rewrites it.  So X- properties, unknown properties and parameters, VALARM extras
(DESCRIPTION, X-MOZ-*, REPEAT, ...), unknown subcomponents, VTIMEZONEs, calendar properties and
even the exact spelling of mapped values (``TZID=/mozilla.org/.../Europe/Berlin``, ``ROLE``
left out, DTEND versus DURATION) survive a GET + PUT of the unchanged Event.

*JSON -> iCalendar -> JSON.*  Whatever the mapping cannot express (vendor ``example.com:x``
members, ``links``, ``virtualLocations``, ``locale``, a second location, a participant's
``locationId``, role combinations iCalendar has no ROLE for, ...) is stored as
``X-JSCALENDAR-PROP`` properties on the VEVENT: a JSON pointer, the value, and a fingerprint
of the value the iCalendar part gave at that pointer when it was written.  On reading, an
entry is applied only while the iCalendar still gives that same value, so a later CalDAV edit
of the same thing wins over a stale JSON-only remainder instead of being overwritten.

Stable ids
----------
Participant, location and alert ids are derived, not stored, whenever possible:
participants ``uuid5(NS, <calendar address>)`` (NS and results as in
draft-ietf-calext-jscalendar-icalendar, so ``mailto:hcabot@example.com`` ->
``0b235cc4-f04d-5fc4-98a3-c066650b3fbf``), locations ``uuid5(NS, <name>)``, alerts the VALARM's
UID (or X-WR-ALARMUID) if it is a valid Id, else ``uuid5`` of the alert's content.  Only when a
client chose another id (or two items would collide) is it written down: an
``X-JSCALENDAR-ID`` parameter on ATTENDEE/ORGANIZER/LOCATION, an ``X-JSCALENDAR-ID`` property
in the VALARM (``JSID`` is read too).  Ids therefore stay the same on every read, and a PATCH
of ``participants/<id>/participationStatus`` keeps its path across writes.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import hashlib
import json
import re
import urllib.parse
import uuid
import warnings
import zoneinfo

import icalendar
from dateutil import rrule as dateutil_rrule
from icalendar import Alarm, Calendar, Event, vCalAddress
from icalendar.prop import vUnknown
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from roomcal.storage.booking import is_stamped
from roomcal.storage.rooms import FIRST_YEAR, LAST_YEAR
from roomcal.storage.text import free_text, one_line

__all__ = ["InvalidEvent", "to_jscalendar", "from_jscalendar", "validate", "apply_patch"]

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


# --------------------------------------------------------------------------- primitives

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


# --------------------------------------------------------------------------- time zones

@functools.lru_cache(maxsize=512)
def _zoneinfo(name: str):
    if not name or name.startswith("/") or ".." in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError, ...
        return None


def _known_zone(name) -> bool:
    return isinstance(name, str) and (name in _UTC_ALIASES or _zoneinfo(name) is not None)


@functools.lru_cache(maxsize=512)
def _zone_name(tzid: str) -> str:
    """A TZID parameter -> JSCalendar timeZone (IANA name, or "/<tzid>" if unknown)."""
    tzid = str(tzid)
    cleaned = tzid.strip("/")
    candidates = [tzid, cleaned]
    if cleaned in WINDOWS_TO_OLSON:
        candidates.append(WINDOWS_TO_OLSON[cleaned])
    parts = cleaned.split("/")
    candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for name in candidates:
        if name in _UTC_ALIASES:
            return "Etc/UTC"
        if _zoneinfo(name) is not None:
            return name
    return "/" + tzid


def _tzid_param(zone: str) -> str:
    return zone[1:] if zone.startswith("/") else zone


class _Zones:
    """tzinfo for JSCalendar time zone names, including VTIMEZONE-only ones ("/<TZID>")."""

    def __init__(self, *calendars):
        self._vtimezones = {}
        for cal in calendars:
            if cal is None:
                continue
            for tz in cal.walk("VTIMEZONE"):
                self._vtimezones.setdefault(str(tz.get("TZID", "")), tz)
        self._custom = {}

    def knows(self, zone: str) -> bool:
        return zone[1:] in self._vtimezones

    def tzinfo(self, zone, value=None):
        if zone is None:
            return None
        if zone == "Etc/UTC":
            return UTC
        if not zone.startswith("/"):
            return _zoneinfo(zone)
        raw = zone[1:]
        if raw not in self._custom:
            tz = None
            if raw in self._vtimezones:
                try:
                    tz = self._vtimezones[raw].to_tz()
                except Exception:
                    tz = None
            self._custom[raw] = tz
        tz = self._custom[raw]
        if tz is None and isinstance(value, datetime.datetime) and value.tzinfo is not None:
            tz = value.tzinfo
        return tz


@dataclasses.dataclass
class _Ctx:
    """Where an event's times live: its start, time zone and all-day flag."""
    start: datetime.datetime | None = None  # naive wall clock
    zone: str | None = None
    tz: object = None
    all_day: bool = False
    zones: _Zones | None = None
    tzid: str | None = None  # the TZID spelling to write (default: the zone's name)

    def aware(self, naive):
        return naive.replace(tzinfo=self.tz) if self.tz is not None else naive

    def tz_of(self, value, tzid):
        if tzid:
            return self.zones.tzinfo(_zone_name(tzid), value)
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            return UTC  # "Z" (no TZID): icalendar gives UTC
        return None

    def key(self, value, tzid=None) -> str:
        """An iCalendar DATE/DATE-TIME as LocalDateTime in this event's zone."""
        if not isinstance(value, datetime.datetime):
            return _fmt_local(datetime.datetime.combine(value, datetime.time()))
        wall = value.replace(tzinfo=None)
        if self.all_day:
            return _fmt_local(datetime.datetime.combine(wall.date(), datetime.time()))
        tz = self.tz_of(value, tzid)
        if tz is None or self.tz is None:
            return _fmt_local(wall)
        return _fmt_local(wall.replace(tzinfo=tz).astimezone(self.tz).replace(tzinfo=None))

    def ical(self, naive: datetime.datetime, params=None):
        """(value, parameters) to write naive (wall clock here) the way DTSTART is written."""
        params = dict(params or {})
        if self.all_day:
            return naive.date(), params
        if self.zone is None:
            return naive, params
        if self.zone == "Etc/UTC":
            return naive.replace(tzinfo=UTC), params
        params["TZID"] = self.tzid or _tzid_param(self.zone)
        return naive, params

    def until(self, naive: datetime.datetime):
        """RRULE UNTIL: DATE for all-day, UTC for zoned, local for floating."""
        if self.all_day:
            return naive.date()
        if self.zone is None or self.tz is None:
            return naive
        return naive.replace(tzinfo=self.tz).astimezone(UTC)


# --------------------------------------------------------------------------- reading iCalendar

def _parse_ical(text) -> Calendar:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Calendar.from_ical(text)


def _all(comp, name) -> list:
    value = comp.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _first(comp, name):
    values = _all(comp, name)
    return values[0] if values else None


def _dt(prop):
    try:
        return prop.dt
    except Exception:
        return None


def _text(prop):
    if prop is None:
        return None
    try:
        return str(prop)
    except Exception:
        return None


def _param(prop, name):
    if prop is None:
        return None
    value = prop.params.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return str(value)


def _explicit_id(prop):
    for name in _ID_NAMES:
        value = _param(prop, name)
        if value and _ID_RE.fullmatch(value):
            return value
    return None


def _uuid5(text: str) -> str:
    return str(uuid.uuid5(NAMESPACE, text))


def _assign_ids(items):
    """items: (explicit id or None, derived id) -> ids, unique, explicit ones first."""
    ids, used = [None] * len(items), set()
    for i, (explicit, _) in enumerate(items):
        if explicit and explicit not in used:
            ids[i] = explicit
            used.add(explicit)
    for i, (_, base) in enumerate(items):
        if ids[i] is None:
            candidate, n = base, 2
            while candidate in used:
                candidate, n = f"{base}-{n}", n + 1
            ids[i] = candidate
            used.add(candidate)
    return ids


def _read_time(comp, zones) -> _Ctx:
    prop = _first(comp, "DTSTART")
    value = _dt(prop) if prop is not None else None
    if value is None:
        return _Ctx(zones=zones)
    if not isinstance(value, datetime.datetime):
        return _Ctx(datetime.datetime.combine(value, datetime.time()), None, None, True, zones)
    wall = value.replace(tzinfo=None)
    tzid = _param(prop, "TZID")
    if tzid:
        zone = _zone_name(tzid)
        return _Ctx(wall, zone, zones.tzinfo(zone, value), False, zones)
    if value.tzinfo is not None:
        return _Ctx(wall, "Etc/UTC", UTC, False, zones)
    return _Ctx(wall, None, None, False, zones)


def _moment(prop, ctx: _Ctx):
    """A DTEND-like property as an aware (or floating) datetime, or a date."""
    value = _dt(prop)
    if value is None or not isinstance(value, datetime.datetime):
        return value
    tz = ctx.tz_of(value, _param(prop, "TZID"))
    wall = value.replace(tzinfo=None)
    return wall.replace(tzinfo=tz) if tz is not None else wall


def _read_duration(comp, ctx: _Ctx) -> str | None:
    if ctx.start is None:
        return None
    dur = _first(comp, "DURATION")
    end = _first(comp, "DTEND")
    if dur is not None and isinstance(_dt(dur), datetime.timedelta):
        td = _dt(dur)
        if td < datetime.timedelta(0):
            return "P1D" if ctx.all_day else "PT0S"
        if ctx.all_day:
            return f"P{max(td.days + (1 if td.seconds else 0), 1)}D"
        return _between(ctx.aware(ctx.start), _add(ctx.start, ctx.tz, td.days, td.seconds))
    if end is not None and _dt(end) is not None:
        moment = _moment(end, ctx)
        if ctx.all_day:
            return _between(ctx.start.date(), moment)
        return _between(ctx.aware(ctx.start), moment)
    return "P1D" if ctx.all_day else "PT0S"


def _utc_of(prop):
    value = _dt(prop) if prop is not None else None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return _fmt_utc(value)
    return None


def _int_of(prop, low, high):
    if prop is None:
        return None
    try:
        value = int(prop)
    except Exception:
        return None
    return value if low <= value <= high else None


def _read_simple(comp) -> dict:
    out = {}
    uid = _text(_first(comp, "UID"))
    if uid is not None:
        out["uid"] = uid
    for key, name in (("created", "CREATED"), ("updated", "DTSTAMP")):
        value = _utc_of(_first(comp, name))
        if value is not None:
            out[key] = value
    seq = _int_of(_first(comp, "SEQUENCE"), 0, _MAX_INT)
    if seq is not None:
        out["sequence"] = seq
    for key, name in (("title", "SUMMARY"), ("description", "DESCRIPTION")):
        value = _text(_first(comp, name))
        if value is not None:
            out[key] = value
    status = (_text(_first(comp, "STATUS")) or "").lower()
    if status in STATUS:
        out["status"] = status
    transp = (_text(_first(comp, "TRANSP")) or "").upper()
    if transp in ("OPAQUE", "TRANSPARENT"):
        out["freeBusyStatus"] = "busy" if transp == "OPAQUE" else "free"
    klass = (_text(_first(comp, "CLASS")) or "").upper()
    for key, value in PRIVACY.items():
        if klass == value:
            out["privacy"] = key
    prio = _int_of(_first(comp, "PRIORITY"), 0, 9)
    if prio is not None:
        out["priority"] = prio
    return out


def _read_rule(prop, ctx: _Ctx):
    try:
        parts = {str(k).upper(): v for k, v in dict(prop).items()}
        freq = str(parts["FREQ"][0]).lower()
    except Exception:
        return None
    if freq not in FREQUENCIES:
        return None
    rule = {"@type": "RecurrenceRule", "frequency": freq}
    try:
        if "INTERVAL" in parts:
            rule["interval"] = int(parts["INTERVAL"][0])
        for key, name in (("rscale", "RSCALE"), ("skip", "SKIP"), ("firstDayOfWeek", "WKST")):
            if name in parts:
                rule[key] = str(parts[name][0]).lower()
        if "BYDAY" in parts:
            days = []
            for item in parts["BYDAY"]:
                m = _NDAY_RE.fullmatch(str(item))
                if not m:
                    return None
                nday = {"@type": "NDay", "day": m.group(2).lower()}
                if m.group(1):
                    nday["nthOfPeriod"] = int(m.group(1))
                days.append(nday)
            rule["byDay"] = days
        if "BYMONTHDAY" in parts:
            rule["byMonthDay"] = [int(v) for v in parts["BYMONTHDAY"]]
        if "BYMONTH" in parts:
            rule["byMonth"] = [str(v) for v in parts["BYMONTH"]]
        for key, name in (("byYearDay", "BYYEARDAY"), ("byWeekNo", "BYWEEKNO"), ("byHour", "BYHOUR"),
                          ("byMinute", "BYMINUTE"), ("bySecond", "BYSECOND"),
                          ("bySetPosition", "BYSETPOS")):
            if name in parts:
                rule[key] = [int(v) for v in parts[name]]
        if "COUNT" in parts:
            rule["count"] = int(parts["COUNT"][0])
        if "UNTIL" in parts:
            rule["until"] = ctx.key(parts["UNTIL"][0])
    except Exception:
        return None
    return rule


def _read_rules(comp, name, ctx):
    rules = []
    for prop in _all(comp, name):
        rule = _read_rule(prop, ctx)
        if rule is not None:
            rules.append(rule)
    return rules


def _read_dates(comp, name, ctx: _Ctx):
    """EXDATE/RDATE -> [(key, duration or None)] in the event's zone."""
    out = []
    for prop in _all(comp, name):
        tzid = _param(prop, "TZID")
        for item in getattr(prop, "dts", []):
            value = _dt(item)
            duration = None
            if isinstance(value, tuple):  # PERIOD
                begin, end = value
                if isinstance(end, datetime.timedelta):
                    end = begin + end
                duration = _between(begin, end)
                value = begin
            if isinstance(value, (datetime.date, datetime.datetime)):
                out.append((ctx.key(value, tzid), duration))
    return out


def _read_keywords(comp):
    words = {}
    for prop in _all(comp, "CATEGORIES"):
        for word in getattr(prop, "cats", []):
            word = str(word)
            if word:
                words[word] = True
    return words


def _read_locations(comp):
    entries = []
    for prop in _all(comp, "LOCATION"):
        name = _text(prop)
        if name:
            entries.append((_explicit_id(prop), _uuid5(name), name, prop))
    ids = _assign_ids([(e[0], e[1]) for e in entries])
    return [(lid, name, prop) for lid, (_, _, name, prop) in zip(ids, entries)]


def _email_of(prop):
    email = _param(prop, "EMAIL")
    if email:
        return email
    value = _text(prop) or ""
    if value[:7].lower() == "mailto:" and value[7:]:
        return value[7:]
    return None


def _send_to_of(prop):
    value = _text(prop) or ""
    return {"imip": value} if value[:7].lower() == "mailto:" else {"other": value}


def _kind_of(prop):
    cutype = (_param(prop, "CUTYPE") or "").upper()
    for kind, value in KINDS.items():
        if cutype == value:
            return kind
    return None


def _attendee_roles(prop) -> set:
    role = (_param(prop, "ROLE") or "REQ-PARTICIPANT").upper()
    return {"OPT-PARTICIPANT": {"optional"}, "NON-PARTICIPANT": {"informational"},
            "CHAIR": {"chair", "attendee"}}.get(role, {"attendee"})


def _role_param(roles) -> str:
    if "chair" in roles:
        return "CHAIR"
    if "attendee" in roles:
        return "REQ-PARTICIPANT"
    if "optional" in roles:
        return "OPT-PARTICIPANT"
    return "NON-PARTICIPANT"


def _partstat_of(prop):
    value = (_param(prop, "PARTSTAT") or "").lower()
    return value if value in PARTSTATS else None


def _rsvp_of(prop):
    value = (_param(prop, "RSVP") or "").upper()
    return {"TRUE": True, "FALSE": False}.get(value)


def _agent_of(prop):
    value = (_param(prop, "SCHEDULE-AGENT") or "").lower()
    return value if value in SCHEDULE_AGENTS else None


def _participant_js(att, org) -> dict:
    main = att if att is not None else org
    p = {"@type": "Participant"}
    name = _param(att, "CN") if att is not None and _param(att, "CN") is not None else _param(org, "CN")
    if name is not None:
        p["name"] = name
    email = _email_of(main)
    if email is not None:
        p["email"] = email
    p["sendTo"] = _send_to_of(main)
    kind = _kind_of(main)
    if kind:
        p["kind"] = kind
    roles = (_attendee_roles(att) if att is not None else set()) | ({"owner"} if org is not None else set())
    p["roles"] = {r: True for r in ROLE_ORDER if r in roles}
    partstat = _partstat_of(main)
    if partstat:
        p["participationStatus"] = partstat
    if att is not None and _rsvp_of(att) is not None:
        p["expectReply"] = _rsvp_of(att)
    agent = _agent_of(main)
    if agent:
        p["scheduleAgent"] = agent
    return p


def _read_participants(comp):
    """-> (participants, replyTo, {id: (ATTENDEE prop, ORGANIZER prop)})"""
    org = _first(comp, "ORGANIZER")
    atts = _all(comp, "ATTENDEE")
    org_addr = _text(org) if org is not None else None
    merged = None
    if org_addr:
        for i, att in enumerate(atts):
            if (_text(att) or "").casefold() == org_addr.casefold():
                merged = i
                break
    entries = []
    if org is not None and merged is None:
        entries.append((_explicit_id(org), _uuid5(org_addr or ""), None, org))
    for i, att in enumerate(atts):
        o = org if i == merged else None
        explicit = _explicit_id(att) or (_explicit_id(o) if o is not None else None)
        entries.append((explicit, _uuid5(_text(att) or ""), att, o))
    ids = _assign_ids([(e[0], e[1]) for e in entries])
    participants, sources = {}, {}
    for pid, (_, _, att, o) in zip(ids, entries):
        participants[pid] = _participant_js(att, o)
        sources[pid] = (att, o)
    reply = None
    if org_addr is not None:
        reply = {"imip": org_addr} if org_addr[:7].lower() == "mailto:" else {"other": org_addr}
    return participants, reply, sources


def _alarm_js(alarm):
    trigger = _first(alarm, "TRIGGER")
    value = _dt(trigger) if trigger is not None else None
    if isinstance(value, datetime.timedelta):
        related = (_param(trigger, "RELATED") or "START").upper()
        trig = {"@type": "OffsetTrigger", "offset": _fmt_signed(value),
                "relativeTo": "end" if related == "END" else "start"}
    elif isinstance(value, datetime.datetime):
        trig = {"@type": "AbsoluteTrigger", "when": _fmt_utc(value)}
    else:
        return None
    out = {"@type": "Alert", "trigger": trig}
    if (_text(_first(alarm, "ACTION")) or "").upper() == "EMAIL":
        out["action"] = "email"
    acknowledged = _utc_of(_first(alarm, "ACKNOWLEDGED"))
    if acknowledged:
        out["acknowledged"] = acknowledged
    return out


def _alarm_explicit_id(alarm):
    for name in _ID_NAMES:
        value = _text(_first(alarm, name))
        if value and _ID_RE.fullmatch(value):
            return value
    return None


def _alarm_base_id(alarm, js):
    for name in ("UID", "X-WR-ALARMUID"):
        value = _text(_first(alarm, name))
        if value:
            return value if _ID_RE.fullmatch(value) else _uuid5(value)
    return _uuid5("alert:" + json.dumps(js, sort_keys=True))


def _read_alerts(comp):
    """-> [(id, alert, VALARM)]; VALARMs without a usable TRIGGER are not alerts."""
    entries = []
    for sub in comp.subcomponents:
        if sub.name != "VALARM":
            continue
        js = _alarm_js(sub)
        if js is not None:
            entries.append((_alarm_explicit_id(sub), _alarm_base_id(sub, js), js, sub))
    ids = _assign_ids([(e[0], e[1]) for e in entries])
    return [(aid, js, sub) for aid, (_, _, js, sub) in zip(ids, entries)]


def _vevent_to_js(comp, zones) -> tuple[dict, _Ctx]:
    """One VEVENT, without recurrence rules and overrides."""
    ctx = _read_time(comp, zones)
    js = {"@type": "Event"}
    js.update(_read_simple(comp))
    if ctx.start is not None:
        js["start"] = _fmt_local(ctx.start)
        if ctx.zone is not None:
            js["timeZone"] = ctx.zone
        js["duration"] = _read_duration(comp, ctx)
        if ctx.all_day:
            js["showWithoutTime"] = True
    keywords = _read_keywords(comp)
    if keywords:
        js["keywords"] = keywords
    locations = _read_locations(comp)
    if locations:
        js["locations"] = {lid: {"@type": "Location", "name": name} for lid, name, _ in locations}
    participants, reply, _ = _read_participants(comp)
    if reply is not None:
        js["replyTo"] = reply
    if participants:
        js["participants"] = participants
    alerts = _read_alerts(comp)
    if alerts:
        js["alerts"] = {aid: alert for aid, alert, _ in alerts}
    return js, ctx


def _override_patch(master: dict, instance: dict, key: str) -> dict:
    """The PatchObject that turns the master (started at key) into the instance."""
    base = {k: v for k, v in master.items() if k not in OVERRIDE_IGNORED}
    base["start"] = key
    inst = {k: v for k, v in instance.items() if k not in OVERRIDE_IGNORED}
    patch = {}
    for name in list(inst) + [k for k in base if k not in inst]:
        if name not in inst:
            patch[_esc(name)] = None
        elif name not in base:
            patch[_esc(name)] = inst[name]
        elif _same(base[name], inst[name]):
            continue
        elif (name in ("participants", "locations", "alerts", "keywords")
              and isinstance(base[name], dict) and isinstance(inst[name], dict)):
            old, new = base[name], inst[name]
            for item in list(new) + [i for i in old if i not in new]:
                path = f"{_esc(name)}/{_esc(item)}"
                if item not in new:
                    patch[path] = None
                elif item not in old:
                    patch[path] = new[item]
                elif _same(old[item], new[item]):
                    continue
                elif isinstance(old[item], dict) and isinstance(new[item], dict):
                    a, b = old[item], new[item]
                    for member in list(b) + [m for m in a if m not in b]:
                        if member not in b:
                            patch[f"{path}/{_esc(member)}"] = None
                        elif member not in a or not _same(a[member], b[member]):
                            patch[f"{path}/{_esc(member)}"] = b[member]
                else:
                    patch[path] = new[item]
        else:
            patch[_esc(name)] = inst[name]
    return patch


def _ordered(js: dict) -> dict:
    out = {k: js[k] for k in _EVENT_ORDER if k in js}
    out.update((k, v) for k, v in js.items() if k not in out)
    return out


def _group(cal):
    """-> (uid, master or None, instances, other VEVENTs) of the calendar's first UID."""
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    if not events:
        return None, None, [], []
    masters = [e for e in events if "RECURRENCE-ID" not in e]
    uid = _text((masters or events)[0].get("UID"))
    group = [e for e in events if _text(e.get("UID")) == uid]
    master = next((e for e in group if "RECURRENCE-ID" not in e), None)
    instances = [e for e in group if "RECURRENCE-ID" in e]
    others = [e for e in events if e not in group]
    return uid, master, instances, others


def _rid_of(comp, zones):
    """A stand-alone instance's (recurrenceId, recurrenceIdTimeZone)."""
    prop = _first(comp, "RECURRENCE-ID")
    value = _dt(prop)
    if value is None:
        return None, None
    if not isinstance(value, datetime.datetime):
        return _fmt_local(datetime.datetime.combine(value, datetime.time())), None
    tzid = _param(prop, "TZID")
    if tzid:
        return _fmt_local(value.replace(tzinfo=None)), _zone_name(tzid)
    if value.tzinfo is not None:
        return _fmt_local(value.replace(tzinfo=None)), "Etc/UTC"
    return _fmt_local(value), None


def _calendar_to_js(cal, residue=True) -> dict:
    zones = _Zones(cal)
    uid, master, instances, _ = _group(cal)
    if uid is None:
        raise ValueError("the calendar object has no VEVENT")
    standalone = master is None
    if standalone:
        master = min(instances, key=lambda e: _rid_of(e, zones)[0] or "")
        instances = []
    js, ctx = _vevent_to_js(master, zones)
    prodid = _text(cal.get("PRODID"))
    if prodid is not None:
        js["prodId"] = prodid
    if standalone:
        rid, rid_zone = _rid_of(master, zones)
        if rid is not None:
            js["recurrenceId"] = rid
            if rid_zone is not None:
                js["recurrenceIdTimeZone"] = rid_zone
    else:
        rules = _read_rules(master, "RRULE", ctx)
        if rules:
            js["recurrenceRules"] = rules
        exrules = _read_rules(master, "EXRULE", ctx)
        if exrules:
            js["excludedRecurrenceRules"] = exrules
        overrides = {}
        for key, duration in _read_dates(master, "RDATE", ctx):
            patch = {}
            if duration is not None and duration != js.get("duration"):
                patch["duration"] = duration
            overrides[key] = patch
        for inst in instances:
            prop = _first(inst, "RECURRENCE-ID")
            value = _dt(prop)
            if value is None:
                continue
            key = ctx.key(value, _param(prop, "TZID"))
            inst_js, _ = _vevent_to_js(inst, zones)
            overrides[key] = _override_patch(js, inst_js, key)
        for key, _ in _read_dates(master, "EXDATE", ctx):
            overrides[key] = {"excluded": True}
        if overrides:
            js["recurrenceOverrides"] = {k: overrides[k] for k in sorted(overrides)}
    if residue:
        _apply_residue(js, _residue_entries(master))
    return _ordered(js)


def to_jscalendar(ical_text: str) -> dict:
    """The JSCalendar Event (RFC 8984) for one stored iCalendar object (all VEVENTs of one UID).

    Raises ValueError if the text is not iCalendar or holds no VEVENT.
    """
    return _calendar_to_js(_parse_ical(ical_text))


# --------------------------------------------------------------------------- residue

_RESIDUE_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) not in ",;\\%")


def _residue_entries(comp) -> list:
    entries = []
    for prop in _all(comp, RESIDUE_PROP):
        try:
            entry = json.loads(urllib.parse.unquote(str(prop)))
        except Exception:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("p"), str):
            entries.append(entry)
    return entries


def _encode_residue(entry) -> str:
    text = json.dumps(entry, ensure_ascii=True, separators=(",", ":"))
    return urllib.parse.quote(text, safe=_RESIDUE_SAFE)


def _apply_residue(js, entries):
    for entry in entries:
        tokens = [_unesc(t) for t in entry["p"].split("/")[1:]]
        if not tokens or is_stamped(tokens[-1]):  # only the booking core says who booked
            continue
        parent = js
        for token in tokens[:-1]:
            if isinstance(parent, dict) and token in parent:
                parent = parent[token]
            elif isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
                parent = parent[int(token)]
            else:
                parent = None
                break
        last = tokens[-1]
        if isinstance(parent, dict):
            present, current = last in parent, parent.get(last)
        elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            last = int(last)
            present, current = True, parent[last]
        else:
            continue
        if (_fingerprint(current) if present else None) != entry.get("b"):
            continue  # the iCalendar side changed since: it wins
        value = entry.get("v")
        if value is None:
            if isinstance(parent, dict):
                parent.pop(last, None)
        else:
            parent[last] = copy.deepcopy(value)


def _diff(target, actual, pointer, out):
    if isinstance(target, dict) and isinstance(actual, dict):
        for k, v in target.items():
            if k not in actual:
                out.append({"p": pointer + "/" + _esc(k), "b": None, "v": v})
            else:
                _diff(v, actual[k], pointer + "/" + _esc(k), out)
        for k, v in actual.items():
            if k not in target:
                out.append({"p": pointer + "/" + _esc(k), "b": _fingerprint(v), "v": None})
    elif isinstance(target, list) and isinstance(actual, list) and len(target) == len(actual):
        for i, (t, a) in enumerate(zip(target, actual)):
            _diff(t, a, f"{pointer}/{i}", out)
    elif not _same(target, actual):
        out.append({"p": pointer, "b": _fingerprint(actual), "v": target})


# --------------------------------------------------------------------------- input: normalise

def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _nday(item):
    if isinstance(item, str):
        m = _NDAY_RE.fullmatch(item.strip())
        if not m:
            return item
        out = {"@type": "NDay", "day": m.group(2).lower()}
        if m.group(1):
            out["nthOfPeriod"] = int(m.group(1))
        return out
    if isinstance(item, dict) and isinstance(item.get("day"), str):
        item = dict(item)
        item["day"] = item["day"].lower()
    return item


def _normalize_rule(rule):
    if not isinstance(rule, dict):
        return rule
    rule = dict(rule)
    for key in ("frequency", "rscale", "skip", "firstDayOfWeek"):
        if isinstance(rule.get(key), str):
            rule[key] = rule[key].lower()
    by_day = rule.get("byDay")
    if isinstance(by_day, dict) and isinstance(by_day.get("day"), str) and "," in by_day["day"]:
        by_day = [d.strip() for d in by_day["day"].split(",")]  # EGroupware: one NDay, "mo,we"
    elif isinstance(by_day, (dict, str)):
        by_day = by_day.split(",") if isinstance(by_day, str) else [by_day]
    if isinstance(by_day, list):
        rule["byDay"] = [_nday(d) for d in by_day]
    if isinstance(rule.get("byMonth"), list):
        rule["byMonth"] = [str(m) if _is_int(m) else m for m in rule["byMonth"]]
    return rule


def _normalize_participant(p):
    if isinstance(p, str):  # EGroupware (non-strict): a bare email address
        address = p[7:] if p[:7].lower() == "mailto:" else p
        return {"@type": "Participant", "email": address, "sendTo": {"imip": "mailto:" + address},
                "roles": {"attendee": True}}
    if not isinstance(p, dict):
        return p
    p = dict(p)
    if "calendarAddress" in p and "sendTo" not in p:  # JSCalendar-bis
        address = p.pop("calendarAddress")
        if isinstance(address, str):
            p["sendTo"] = {"imip" if address[:7].lower() == "mailto:" else "other": address}
    send_to = p.get("sendTo")
    if isinstance(send_to, dict) and isinstance(send_to.get("imip"), str):
        imip = send_to["imip"]
        if ":" not in imip:
            p["sendTo"] = dict(send_to, imip="mailto:" + imip)
    roles = p.get("roles")
    if isinstance(roles, dict):
        roles = {("attendee" if r == "required" else r): v for r, v in roles.items() if v is not False}
        p["roles"] = roles
    if isinstance(p.get("kind"), str):
        p["kind"] = p["kind"].lower()
    if isinstance(p.get("participationStatus"), str):
        p["participationStatus"] = p["participationStatus"].lower()
    return p


def _normalize_alert(alert):
    if not isinstance(alert, dict):
        return alert
    alert = dict(alert)
    trigger = alert.get("trigger")
    if isinstance(trigger, dict):
        trigger = dict(trigger)
        if "@type" not in trigger:
            if "offset" in trigger:
                trigger["@type"] = "OffsetTrigger"
            elif "when" in trigger:
                trigger["@type"] = "AbsoluteTrigger"
        if _is_int(trigger.get("offset")):  # EGroupware: integer seconds *before*
            trigger["offset"] = _fmt_signed(datetime.timedelta(seconds=-trigger["offset"]))
        alert["trigger"] = trigger
    if isinstance(alert.get("action"), str):
        alert["action"] = alert["action"].lower()
    return alert


def _normalize_body(ev: dict) -> dict:
    """Accept JSCalendar-bis and EGroupware spellings; output RFC 8984 spellings."""
    for key in ("sequence", "priority"):
        if isinstance(ev.get(key), str) and ev[key].strip().isdigit():
            ev[key] = int(ev[key])
    for bis, rfc in (("recurrenceRule", "recurrenceRules"),
                     ("excludedRecurrenceRule", "excludedRecurrenceRules")):
        if bis in ev and rfc not in ev:
            value = ev.pop(bis)
            ev[rfc] = [value] if isinstance(value, dict) else value
    if "organizerCalendarAddress" in ev and "replyTo" not in ev:
        address = ev.pop("organizerCalendarAddress")
        if isinstance(address, str):
            ev["replyTo"] = {"imip" if address[:7].lower() == "mailto:" else "other": address}
    if isinstance(ev.get("timeZone"), str) and ev["timeZone"] in _UTC_ALIASES:
        ev["timeZone"] = "Etc/UTC"
    if isinstance(ev.get("recurrenceIdTimeZone"), str) and ev["recurrenceIdTimeZone"] in _UTC_ALIASES:
        ev["recurrenceIdTimeZone"] = "Etc/UTC"
    if isinstance(ev.get("keywords"), list):
        ev["keywords"] = {w: True for w in ev["keywords"] if isinstance(w, str)}
    if isinstance(ev.get("keywords"), dict):
        ev["keywords"] = {w: v for w, v in ev["keywords"].items() if v is not False}
    for key in ("status", "freeBusyStatus", "privacy"):
        if isinstance(ev.get(key), str):
            ev[key] = ev[key].lower()
    if isinstance(ev.get("participants"), dict):
        ev["participants"] = {k: _normalize_participant(v) for k, v in ev["participants"].items()}
    for key in ("recurrenceRules", "excludedRecurrenceRules"):
        if isinstance(ev.get(key), list):
            ev[key] = [_normalize_rule(r) for r in ev[key]]
    if isinstance(ev.get("alerts"), dict):
        ev["alerts"] = {k: _normalize_alert(v) for k, v in ev["alerts"].items()}
    return ev


def _normalize(event) -> dict:
    if not isinstance(event, dict):
        raise InvalidEvent("A JSCalendar Event must be a JSON object.", [""])
    ev = copy.deepcopy(event)
    overrides = ev.pop("recurrenceOverrides", None)
    ev = _normalize_body(_drop_nulls(ev))
    if isinstance(overrides, dict):
        ev["recurrenceOverrides"] = {
            k: ({pk: (_drop_nulls(pv) if pv is not None else None) for pk, pv in v.items()}
                if isinstance(v, dict) else v)
            for k, v in overrides.items()}
    elif overrides is not None:
        ev["recurrenceOverrides"] = overrides
    return ev


# --------------------------------------------------------------------------- input: validate

class _Errors:
    def __init__(self):
        self.items = []  # (pointer, message)

    def add(self, pointer, message):
        self.items.append((pointer, message))

    def raise_if_any(self):
        if self.items:
            pointers = list(dict.fromkeys(p for p, _ in self.items))
            shown = "; ".join(f"{p or '/'}: {m}" for p, m in self.items[:5])
            more = f" (and {len(self.items) - 5} more)" if len(self.items) > 5 else ""
            raise InvalidEvent(f"Invalid JSCalendar Event: {shown}{more}", pointers)


def _check_type(errors, parent, key, pointer, expected):
    value = parent.get(key)
    if value is not None and value != expected:
        errors.add(pointer, f"@type must be {expected!r}")


def _check_id_map(errors, value, pointer, what):
    if not isinstance(value, dict):
        errors.add(pointer, f"must be an object of {what} keyed by Id")
        return {}
    out = {}
    for key, item in value.items():
        if not _ID_RE.fullmatch(key):
            errors.add(pointer + "/" + _esc(key), "is not a valid Id (1-255 of A-Za-z0-9-_)")
        elif not isinstance(item, dict):
            errors.add(pointer + "/" + _esc(key), f"must be a {what} object")
        else:
            out[key] = item
    return out


ICAL_INT_MAX = 2 ** 31 - 1


def _check_int_list(errors, rule, key, pointer, low, high, nonzero=False):
    if key not in rule:
        return
    values = rule[key]
    if not isinstance(values, list) or not values:
        errors.add(pointer + "/" + key, "must be a non-empty array of integers")
        return
    for i, v in enumerate(values):
        if not _is_int(v) or not low <= v <= high or (nonzero and v == 0):
            errors.add(f"{pointer}/{key}/{i}", f"must be an integer from {low} to {high}"
                       + (" other than 0" if nonzero else ""))


def _check_rule(errors, rule, pointer):
    if not isinstance(rule, dict):
        errors.add(pointer, "must be a RecurrenceRule object")
        return
    _check_type(errors, rule, "@type", pointer + "/@type", "RecurrenceRule")
    if rule.get("frequency") not in FREQUENCIES:
        errors.add(pointer + "/frequency", "must be one of " + ", ".join(FREQUENCIES))
    for key in ("interval", "count"):   # iCalendar INTEGERs: at most 2^31 - 1
        if key in rule and (not _is_int(rule[key]) or not 1 <= rule[key] <= ICAL_INT_MAX):
            errors.add(f"{pointer}/{key}", f"must be an integer from 1 to {ICAL_INT_MAX}")
    if "until" in rule and _parse_local(rule["until"]) is None:
        errors.add(pointer + "/until", "must be " + _LOCAL_TEXT)
    if "count" in rule and "until" in rule:
        errors.add(pointer + "/until", "count and until must not both be set")
    if "rscale" in rule and not isinstance(rule["rscale"], str):
        errors.add(pointer + "/rscale", "must be a string")
    if "skip" in rule and rule["skip"] not in SKIPS:
        errors.add(pointer + "/skip", "must be one of " + ", ".join(SKIPS))
    if "firstDayOfWeek" in rule and rule["firstDayOfWeek"] not in DAYS:
        errors.add(pointer + "/firstDayOfWeek", "must be one of " + ", ".join(DAYS))
    if "byDay" in rule:
        by_day = rule["byDay"]
        if not isinstance(by_day, list) or not by_day:
            errors.add(pointer + "/byDay", "must be a non-empty array of NDay")
        else:
            for i, nday in enumerate(by_day):
                p = f"{pointer}/byDay/{i}"
                if not isinstance(nday, dict):
                    errors.add(p, "must be an NDay object")
                    continue
                _check_type(errors, nday, "@type", p + "/@type", "NDay")
                if nday.get("day") not in DAYS:
                    errors.add(p + "/day", "must be one of " + ", ".join(DAYS))
                if "nthOfPeriod" in nday:
                    n = nday["nthOfPeriod"]
                    if not _is_int(n) or n == 0 or not -366 <= n <= 366:
                        errors.add(p + "/nthOfPeriod", "must be a non-zero integer")
    if "byMonth" in rule:
        months = rule["byMonth"]
        if not isinstance(months, list) or not months:
            errors.add(pointer + "/byMonth", "must be a non-empty array of strings")
        else:
            for i, month in enumerate(months):
                m = _BYMONTH_RE.fullmatch(month) if isinstance(month, str) else None
                if not m or not 1 <= int(m.group(1)) <= 13:
                    errors.add(f"{pointer}/byMonth/{i}", 'must be a month number as a string ("1"-"12", "3L")')
    _check_int_list(errors, rule, "byMonthDay", pointer, -31, 31, nonzero=True)
    _check_int_list(errors, rule, "byYearDay", pointer, -366, 366, nonzero=True)
    _check_int_list(errors, rule, "byWeekNo", pointer, -53, 53, nonzero=True)
    _check_int_list(errors, rule, "byHour", pointer, 0, 23)
    _check_int_list(errors, rule, "byMinute", pointer, 0, 59)
    _check_int_list(errors, rule, "bySecond", pointer, 0, 60)
    _check_int_list(errors, rule, "bySetPosition", pointer, -366, 366, nonzero=True)


def _check_participant(errors, p, pointer):
    _check_type(errors, p, "@type", pointer + "/@type", "Participant")
    for key in ("name", "email", "description"):
        if key in p and not isinstance(p[key], str):
            errors.add(f"{pointer}/{key}", "must be a string")
    if "sendTo" in p:
        send_to = p["sendTo"]
        if not isinstance(send_to, dict) or not all(isinstance(v, str) and v for v in send_to.values()):
            errors.add(pointer + "/sendTo", 'must be an object of URIs, e.g. {"imip": "mailto:..."}')
    kind = p.get("kind")
    if kind is not None and kind not in KINDS and not (isinstance(kind, str) and ":" in kind):
        errors.add(pointer + "/kind", "must be one of " + ", ".join(KINDS))
    if "roles" in p:
        roles = p["roles"]
        if not isinstance(roles, dict) or not roles or not all(v is True for v in roles.values()):
            errors.add(pointer + "/roles", 'must be a non-empty object of roles set to true, e.g. {"attendee": true}')
    if "participationStatus" in p:
        status = p["participationStatus"]
        if status not in PARTSTATS and not (isinstance(status, str) and ":" in status):
            errors.add(pointer + "/participationStatus", "must be one of " + ", ".join(PARTSTATS))
    if "expectReply" in p and not isinstance(p["expectReply"], bool):
        errors.add(pointer + "/expectReply", "must be true or false")
    if "scheduleAgent" in p and p["scheduleAgent"] not in SCHEDULE_AGENTS:
        errors.add(pointer + "/scheduleAgent", "must be one of " + ", ".join(SCHEDULE_AGENTS))


def _check_alert(errors, alert, pointer):
    _check_type(errors, alert, "@type", pointer + "/@type", "Alert")
    trigger = alert.get("trigger")
    tp = pointer + "/trigger"
    if not isinstance(trigger, dict):
        errors.add(tp, "is required: an OffsetTrigger or AbsoluteTrigger object")
    elif trigger.get("@type") == "OffsetTrigger":
        if _parse_signed(trigger.get("offset")) is None:
            errors.add(tp + "/offset", 'must be a SignedDuration, e.g. "-PT15M" (15 minutes before)')
        if trigger.get("relativeTo", "start") not in ("start", "end"):
            errors.add(tp + "/relativeTo", 'must be "start" or "end"')
    elif trigger.get("@type") == "AbsoluteTrigger":
        if _parse_utc(trigger.get("when")) is None:
            errors.add(tp + "/when", "must be " + _UTC_TEXT)
    else:
        errors.add(tp + "/@type", 'must be "OffsetTrigger" or "AbsoluteTrigger"')
    if "action" in alert and alert["action"] not in ("display", "email"):
        errors.add(pointer + "/action", 'must be "display" or "email"')
    if "acknowledged" in alert and _parse_utc(alert["acknowledged"]) is None:
        errors.add(pointer + "/acknowledged", "must be a UTCDateTime")


def _check_zone(errors, value, pointer):
    if value is None:
        return
    if not isinstance(value, str) or not (value.startswith("/") and len(value) > 1 or _known_zone(value)):
        errors.add(pointer, "must be an IANA time zone name (e.g. Europe/Berlin) or null")


# Members whose strings are free text: SUMMARY and DESCRIPTION escape line breaks, a CN
# parameter encodes them (RFC 6868), and vendor members ("example.com:x", RFC 8984 §3.3)
# live only in the percent-encoded remainder.  Every other string — addresses, URIs,
# ids, tokens — is one line; so are the values of the address maps, whatever their keys.
_TEXT_MEMBERS = frozenset({"title", "description", "name"})
_ADDRESS_MAPS = frozenset({"sendTo", "replyTo"})
_VENDOR_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+:.+")


def _check_members(value, pointer: str, errors: _Errors) -> None:
    """Every member name and string of the input, wherever it sits (patches included):
    one line (free text: no control characters but line breaks and tabs), and no member
    the server stamps (who booked, when)."""
    stack = [(value, pointer, False, "")]
    while stack:
        item, at, free, member = stack.pop()
        if isinstance(item, str):
            if free and not free_text(item):
                errors.add(at, "must not contain control characters (line breaks and tabs are fine)")
            elif not free and not one_line(item):
                errors.add(at, "must be one line, without control characters")
        elif isinstance(item, dict):
            for key, sub in item.items():
                where = at + "/" + _esc(key)
                name = _unesc(str(key).rpartition("/")[2])  # PatchObject keys are paths
                if not one_line(str(key)):
                    errors.add(where, "a member name must be one line, without control characters")
                elif is_stamped(name):
                    errors.add(where, "is set by the server (who booked, and when): leave it out")
                else:
                    stack.append((sub, where, member not in _ADDRESS_MAPS and (
                        free or name in _TEXT_MEMBERS or bool(_VENDOR_RE.fullmatch(name))), name))
        elif isinstance(item, list):
            stack.extend((sub, f"{at}/{i}", free, member) for i, sub in enumerate(item))


def _check_event(ev, errors: _Errors, prefix="", instance=False):
    def p(*tokens):
        return prefix + _ptr(*tokens)

    if not instance:  # an instance is built from the master and patches checked here
        _check_members(ev, prefix, errors)
    if ev.get("@type", "Event") != "Event":
        errors.add(p("@type"), 'must be "Event"')
    if "uid" in ev and (not isinstance(ev["uid"], str) or not ev["uid"]):
        errors.add(p("uid"), "must be a non-empty string")
    for key in ("title", "description", "prodId", "descriptionContentType", "color", "locale"):
        if key in ev and not isinstance(ev[key], str):
            errors.add(p(key), "must be a string")
    start = _parse_local(ev.get("start"))
    if start is None:
        errors.add(p("start"), "is required: " + _LOCAL_TEXT)
    _check_zone(errors, ev.get("timeZone"), p("timeZone"))
    duration = None
    if "duration" in ev:
        duration = _parse_duration(ev["duration"])
        if duration is None:
            errors.add(p("duration"), 'must be a Duration, e.g. "PT1H30M" or "P1D"')
    if "showWithoutTime" in ev:
        if not isinstance(ev["showWithoutTime"], bool):
            errors.add(p("showWithoutTime"), "must be true or false")
        elif ev["showWithoutTime"]:
            if start is not None and start.time() != datetime.time():
                errors.add(p("start"), "an all-day event (showWithoutTime) starts at T00:00:00")
            if duration is not None and duration[1] % 86400:
                errors.add(p("duration"), "an all-day event (showWithoutTime) lasts whole days (P1D, P2D, ...)")
    for key in ("created", "updated"):
        if key in ev and _parse_utc(ev[key]) is None:
            errors.add(p(key), "must be " + _UTC_TEXT)
    if "sequence" in ev and (not _is_int(ev["sequence"]) or ev["sequence"] < 0):
        errors.add(p("sequence"), "must be an unsigned integer")
    if "priority" in ev and (not _is_int(ev["priority"]) or not 0 <= ev["priority"] <= 9):
        errors.add(p("priority"), "must be an integer from 0 to 9")
    for key, allowed in (("status", STATUS), ("freeBusyStatus", FREE_BUSY), ("privacy", tuple(PRIVACY))):
        if key in ev and ev[key] not in allowed:
            errors.add(p(key), "must be one of " + ", ".join(allowed))
    if "keywords" in ev:
        kw = ev["keywords"]
        if not isinstance(kw, dict) or not all(v is True for v in kw.values()):
            errors.add(p("keywords"), 'must be an object of words set to true, e.g. {"urgent": true}')
    if "locations" in ev:
        for lid, loc in _check_id_map(errors, ev["locations"], p("locations"), "Location").items():
            _check_type(errors, loc, "@type", p("locations", lid, "@type"), "Location")
            if "name" in loc and not isinstance(loc["name"], str):
                errors.add(p("locations", lid, "name"), "must be a string")
    if "participants" in ev:
        for pid, part in _check_id_map(errors, ev["participants"], p("participants"), "Participant").items():
            _check_participant(errors, part, p("participants", pid))
    if "replyTo" in ev:
        reply = ev["replyTo"]
        if not isinstance(reply, dict) or not all(isinstance(v, str) and v for v in reply.values()):
            errors.add(p("replyTo"), 'must be an object of URIs, e.g. {"imip": "mailto:..."}')
    if "alerts" in ev:
        for aid, alert in _check_id_map(errors, ev["alerts"], p("alerts"), "Alert").items():
            _check_alert(errors, alert, p("alerts", aid))
    if "recurrenceId" in ev and _parse_local(ev["recurrenceId"]) is None:
        errors.add(p("recurrenceId"), "must be a LocalDateTime")
    _check_zone(errors, ev.get("recurrenceIdTimeZone"), p("recurrenceIdTimeZone"))
    if instance:
        return
    for key in ("recurrenceRules", "excludedRecurrenceRules"):
        if key in ev:
            if not isinstance(ev[key], list):
                errors.add(p(key), "must be an array of RecurrenceRule")
            else:
                for i, rule in enumerate(ev[key]):
                    _check_rule(errors, rule, p(key, i))
    if "recurrenceOverrides" in ev:
        overrides = ev["recurrenceOverrides"]
        if not isinstance(overrides, dict):
            errors.add(p("recurrenceOverrides"), "must be an object of PatchObjects keyed by LocalDateTime")
            return
        base = {k: v for k, v in ev.items() if k != "recurrenceOverrides"}
        for key, patch in overrides.items():
            op = p("recurrenceOverrides", key)
            if _parse_local(key) is None:
                errors.add(op, "the key must be a LocalDateTime (the recurrence id)")
                continue
            if not isinstance(patch, dict):
                errors.add(op, "must be a PatchObject")
                continue
            if patch.get("excluded") is True:
                continue
            try:
                inst = _apply_override(base, key, patch)
            except InvalidEvent as e:
                for pointer in e.properties:
                    errors.add(op + "/" + _esc(pointer[1:]), e.message)
                continue
            inst_errors = _Errors()
            _check_event(inst, inst_errors, instance=True)
            for pointer, message in inst_errors.items:
                errors.add(op + _override_pointer(patch, pointer), message)


def _override_pointer(patch, pointer):
    """Map an error in an instance to the override patch key that caused it."""
    for key in patch:
        norm = key[1:] if key.startswith("/") else key
        if pointer == "/" + norm or pointer.startswith("/" + norm + "/"):
            return "/" + _esc(norm)
    return ""


def _apply_override(base: dict, key: str, patch: dict) -> dict:
    """The instance an override describes: the master without recurrence, started at key."""
    inst = {k: copy.deepcopy(v) for k, v in base.items() if k not in OVERRIDE_IGNORED}
    inst["start"] = key
    relevant = {}
    for pk, value in patch.items():
        norm = pk[1:] if isinstance(pk, str) and pk.startswith("/") else pk
        if not isinstance(norm, str) or norm == "excluded":
            continue
        if _unesc(norm.split("/")[0]) in OVERRIDE_IGNORED:
            continue  # RFC 8984 §4.3.5: ignored in overrides
        relevant[norm] = value
    inst = apply_patch(inst, relevant)
    return _normalize_body(_drop_nulls(inst))


def validate(event: dict) -> None:
    """Raise InvalidEvent (with JSON pointers to every invalid property) unless event is a
    valid JSCalendar Event for this server.  JSCalendar-bis and EGroupware spellings that
    from_jscalendar accepts are accepted here too."""
    ev = _normalize(event)
    errors = _Errors()
    _check_event(ev, errors)
    errors.raise_if_any()


# --------------------------------------------------------------------------- canonical form

def _canon_local(text):
    dt = _parse_local(text)
    return _fmt_local(dt) if dt is not None else text


def _canon_utc(text):
    dt = _parse_utc(text)
    return _fmt_utc(dt) if dt is not None else text


def _address(p: dict, pid: str, uid: str) -> str:
    """The calendar address (ATTENDEE/ORGANIZER value) for a participant."""
    send_to = p.get("sendTo")
    if isinstance(send_to, dict):
        for method in ("imip", "other"):
            if send_to.get(method):
                return send_to[method]
        for value in send_to.values():
            if value:
                return value
    if p.get("email"):
        return "mailto:" + p["email"]
    return "urn:uuid:" + _uuid5(f"{uid}/participants/{pid}")


def _reply_address(reply):
    if not isinstance(reply, dict):
        return None
    for method in ("imip", "other"):
        if reply.get(method):
            return reply[method]
    return next((v for v in reply.values() if v), None)


def _canon_participant(p):
    q = dict(p)
    q["@type"] = "Participant"
    roles = {r: True for r, v in (p.get("roles") or {}).items() if v is True}
    q["roles"] = roles or {"attendee": True}
    if not p.get("sendTo") and p.get("email"):
        q["sendTo"] = {"imip": "mailto:" + p["email"]}
    imip = (q.get("sendTo") or {}).get("imip") or ""
    if "email" not in q and imip[:7].lower() == "mailto:" and imip[7:]:
        q["email"] = imip[7:]
    return q


def _canon_alert(a):
    a = dict(a)
    a["@type"] = "Alert"
    trigger = dict(a["trigger"])
    if trigger.get("@type") == "OffsetTrigger":
        trigger["offset"] = _fmt_signed(_parse_signed(trigger["offset"]))
        trigger.setdefault("relativeTo", "start")
    else:
        trigger["when"] = _canon_utc(trigger["when"])
    a["trigger"] = trigger
    if a.get("action") == "display":
        del a["action"]
    if "acknowledged" in a:
        a["acknowledged"] = _canon_utc(a["acknowledged"])
    return a


def _canon_rule(rule, all_day):
    r = {"@type": "RecurrenceRule"}
    r.update((k, v) for k, v in rule.items() if k != "@type")
    if "byDay" in r:
        r["byDay"] = [dict({"@type": "NDay"}, **{k: v for k, v in d.items() if k != "@type"})
                      for d in r["byDay"]]
    if "until" in r:
        until = _parse_local(r["until"])
        if all_day:
            until = datetime.datetime.combine(until.date(), datetime.time())
        r["until"] = _fmt_local(until)
    return r


def _canonical(ev: dict, zones: _Zones, uid: str, instance=False) -> dict:
    """What reading back this (valid, normalised) Event gives if everything maps."""
    c = {}
    for key, value in ev.items():
        if key in ("showWithoutTime", "timeZone", "recurrenceOverrides") or value is None:
            continue
        c[key] = value
    c["@type"] = "Event"
    all_day = ev.get("showWithoutTime") is True
    start = _parse_local(ev["start"])
    zone = None if all_day else ev.get("timeZone")
    c["start"] = _fmt_local(start)
    if zone is not None:
        c["timeZone"] = zone
    days, seconds = _parse_duration(ev.get("duration", "PT0S"))
    if all_day:
        c["duration"] = f"P{max(days + seconds // 86400, 1)}D"
        c["showWithoutTime"] = True
    else:
        tz = zones.tzinfo(zone)
        aware = start.replace(tzinfo=tz) if tz is not None else start
        c["duration"] = _between(aware, _add(start, tz, days, seconds))
    for key in ("created", "updated"):
        if key in c:
            c[key] = _canon_utc(c[key])
    if "recurrenceId" in c:
        c["recurrenceId"] = _canon_local(c["recurrenceId"])
    for key in ("keywords", "locations", "participants", "alerts"):
        if key in c and not c[key]:
            del c[key]
    if "locations" in c:
        c["locations"] = {k: dict({"@type": "Location"}, **{m: v for m, v in loc.items() if m != "@type"})
                          for k, loc in c["locations"].items()}
    if "participants" in c:
        c["participants"] = {k: _canon_participant(v) for k, v in c["participants"].items()}
        if "replyTo" not in c:
            owner = next((k for k, v in c["participants"].items() if v["roles"].get("owner")), None)
            if owner is not None:
                address = _address(c["participants"][owner], owner, uid)
                c["replyTo"] = {"imip" if address[:7].lower() == "mailto:" else "other": address}
    if "alerts" in c:
        c["alerts"] = {k: _canon_alert(v) for k, v in c["alerts"].items()}
    if instance:
        return c
    for key in ("recurrenceRules", "excludedRecurrenceRules"):
        if key in c:
            if c[key]:
                c[key] = [_canon_rule(r, all_day) for r in c[key]]
            else:
                del c[key]
    overrides = ev.get("recurrenceOverrides")
    if overrides:
        base = {k: v for k, v in ev.items() if k != "recurrenceOverrides"}
        master = {k: v for k, v in c.items() if k not in OVERRIDE_IGNORED}
        out = {}
        for key, patch in overrides.items():
            ckey = _canon_local(key)
            if all_day:
                ckey = _fmt_local(datetime.datetime.combine(_parse_local(key).date(), datetime.time()))
            if patch.get("excluded") is True:
                out[ckey] = {"excluded": True}
                continue
            inst = _canonical(_apply_override(base, key, patch), zones, uid, instance=True)
            out[ckey] = _override_patch(master, inst, ckey)
        c["recurrenceOverrides"] = {k: out[k] for k in sorted(out)}
    return c


# --------------------------------------------------------------------------- writing iCalendar

def _carry_params(prop, drop=("VALUE", "TZID")):
    if prop is None:
        return {}
    return {k: v for k, v in prop.params.items() if k.upper() not in drop}


def _set_single(comp, name, want, current, make, params_from=None):
    """Rewrite property name only if what it reads as differs from want."""
    if _same(current, want):
        return
    prop = _first(comp, name) if params_from is None else params_from
    params = _carry_params(prop)
    comp.pop(name, None)
    if want is not None:
        comp.add(name, make(want), parameters=params or None)


def _sync_simple(comp, js, instance_existing=False):
    cur = _read_simple(comp)
    uid = js.get("uid")
    if uid is not None and cur.get("uid") != uid:
        comp.pop("UID", None)
        comp.add("UID", uid)
    if js.get("updated") is not None:
        _set_single(comp, "DTSTAMP", js["updated"], cur.get("updated"), _parse_utc)
    else:
        comp.pop("DTSTAMP", None)
        comp.add("DTSTAMP", datetime.datetime.now(UTC).replace(microsecond=0))
    _set_single(comp, "CREATED", js.get("created"), cur.get("created"), _parse_utc)
    _set_single(comp, "SEQUENCE", js.get("sequence"), cur.get("sequence"), int)
    _set_single(comp, "SUMMARY", js.get("title"), cur.get("title"), str)
    _set_single(comp, "DESCRIPTION", js.get("description"), cur.get("description"), str)
    _set_single(comp, "STATUS", js.get("status"), cur.get("status"), str.upper)
    _set_single(comp, "TRANSP", js.get("freeBusyStatus"), cur.get("freeBusyStatus"),
                lambda v: "OPAQUE" if v == "busy" else "TRANSPARENT")
    if not instance_existing:  # privacy is not per instance (RFC 8984 §4.3.5)
        _set_single(comp, "CLASS", js.get("privacy"), cur.get("privacy"), PRIVACY.get)
    _set_single(comp, "PRIORITY", js.get("priority"), cur.get("priority"), int)


def _want_ctx(js, zones) -> _Ctx:
    all_day = js.get("showWithoutTime") is True
    zone = None if all_day else js.get("timeZone")
    return _Ctx(_parse_local(js["start"]), zone, zones.tzinfo(zone), all_day, zones)


def _sync_time(comp, js, want: _Ctx, zones):
    cur = _read_time(comp, zones)
    fresh = "DTSTART" not in comp
    old_tzid = _param(_first(comp, "DTSTART"), "TZID")
    if old_tzid and cur.zone == want.zone and not want.all_day:
        want.tzid = old_tzid  # keep the client's spelling (/mozilla.org/..., Windows names)
    if (cur.start, cur.zone, cur.all_day) != (want.start, want.zone, want.all_day):
        params = _carry_params(_first(comp, "DTSTART"))
        comp.pop("DTSTART", None)
        value, params = want.ical(want.start, params)
        comp.add("DTSTART", value, parameters=params or None)
    if _read_duration(comp, want) == js["duration"] and not (
            fresh and "DTEND" not in comp and "DURATION" not in comp):
        return
    days, seconds = _parse_duration(js["duration"])
    if "DURATION" in comp:
        params = _carry_params(_first(comp, "DURATION"))
        comp.pop("DURATION", None)
        comp.pop("DTEND", None)
        comp.add("DURATION", vUnknown(js["duration"]), parameters=params or None, encode=False)
        return
    old_end = _first(comp, "DTEND")
    params = _carry_params(old_end)
    comp.pop("DTEND", None)
    if want.all_day:
        end = want.start + datetime.timedelta(days=max(days + seconds // 86400, 1))
        comp.add("DTEND", end.date(), parameters=params or None)
        return
    end = _add(want.start, want.tz, days, seconds)
    end_tzid = _param(old_end, "TZID") if old_end is not None else None
    if end_tzid and _zone_name(end_tzid) == want.zone and want.tzid is None:
        want.tzid = end_tzid
    if (end_tzid and want.zone not in (None, "Etc/UTC") and end.tzinfo is not None
            and _zone_name(end_tzid) != want.zone):
        other = zones.tzinfo(_zone_name(end_tzid))
        if other is not None:  # keep a separate end time zone (a flight to Tokyo)
            params["TZID"] = end_tzid
            comp.add("DTEND", end.astimezone(other).replace(tzinfo=None), parameters=params)
            return
    value, params = want.ical(end.replace(tzinfo=None) if end.tzinfo is not None else end, params)
    comp.add("DTEND", value, parameters=params or None)


def _rule_parts(rule: dict, ctx: _Ctx, extra=None) -> dict:
    parts = {"FREQ": rule["frequency"].upper()}
    if "interval" in rule:
        parts["INTERVAL"] = rule["interval"]
    for key, name in (("rscale", "RSCALE"), ("skip", "SKIP")):
        if key in rule:
            parts[name] = rule[key].upper()
    if "count" in rule:
        parts["COUNT"] = rule["count"]
    if "until" in rule:
        parts["UNTIL"] = ctx.until(_parse_local(rule["until"]))
    if "byDay" in rule:
        parts["BYDAY"] = [f"{d.get('nthOfPeriod', '')}{d['day'].upper()}" for d in rule["byDay"]]
    for key, name in (("byMonthDay", "BYMONTHDAY"), ("byMonth", "BYMONTH"), ("byYearDay", "BYYEARDAY"),
                      ("byWeekNo", "BYWEEKNO"), ("byHour", "BYHOUR"), ("byMinute", "BYMINUTE"),
                      ("bySecond", "BYSECOND"), ("bySetPosition", "BYSETPOS")):
        if key in rule:
            parts[name] = list(rule[key])
    if "firstDayOfWeek" in rule:
        parts["WKST"] = rule["firstDayOfWeek"].upper()
    for name, value in (extra or {}).items():
        if name.upper().startswith("X-") and name.upper() not in parts:
            parts[name] = value
    return parts


def _sync_rules(comp, name, want_rules, ctx):
    if _same(_read_rules(comp, name, ctx), want_rules):
        return
    old = _all(comp, name)
    comp.pop(name, None)
    for i, rule in enumerate(want_rules):
        extra = dict(old[i]) if i < len(old) and hasattr(old[i], "items") else None
        comp.add(name, _rule_parts(rule, ctx, extra))


def _is_occurrence(js, key: str) -> bool:
    """Is key (LocalDateTime) an instance the recurrence rules generate?"""
    if key == js["start"]:
        return True
    rules = js.get("recurrenceRules") or []
    if not rules:
        return False
    try:
        start = _parse_local(js["start"])
        target = _parse_local(key)
        floating = _Ctx(start, None, None, False)
        for rule in rules:
            if rule.get("rscale", "gregorian") != "gregorian" or "skip" in rule:
                return True  # dateutil cannot tell: assume it is
            parts = _rule_parts(rule, floating)
            text = ";".join(f"{k}={','.join(str(x) for x in v) if isinstance(v, list) else _rrule_value(v)}"
                            for k, v in parts.items())
            found = dateutil_rrule.rrulestr("RRULE:" + text, dtstart=start).before(target, inc=True)
            if found == target:
                return True
    except Exception:
        return True
    return False


def _rrule_value(v):
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y%m%dT%H%M%S")
    if isinstance(v, datetime.date):
        return v.strftime("%Y%m%d")
    return str(v)


def _sync_dates(comp, name, want_keys, ctx: _Ctx):
    current = [k for k, _ in _read_dates(comp, name, ctx)]
    if set(current) == set(want_keys):
        return
    old = _first(comp, name)
    params = _carry_params(old)
    comp.pop(name, None)
    if want_keys:
        values = [ctx.ical(_parse_local(k))[0] for k in want_keys]
        _, params = ctx.ical(_parse_local(want_keys[0]), params)
        comp.add(name, values, parameters=params or None)


def _sync_keywords(comp, js):
    want = [w for w, v in (js.get("keywords") or {}).items() if v is True and w]
    if _same(sorted(_read_keywords(comp)), sorted(want)):
        return
    params = _carry_params(_first(comp, "CATEGORIES"), drop=("VALUE",))
    comp.pop("CATEGORIES", None)
    if want:
        comp.add("CATEGORIES", want, parameters=params or None)


def _set_param(prop, name, value):
    if value is None:
        prop.params.pop(name, None)
    else:
        prop.params[name] = value


def _fix_ids(read, desired, set_explicit):
    """Write explicit ids wherever the derived ones differ from the client's."""
    for _ in range(len(desired) + 2):
        current = read()
        wrong = [(obj, want) for obj, want in desired if current.get(id(obj)) != want]
        if not wrong:
            return
        for obj, want in wrong:
            set_explicit(obj, want)


def _sync_locations(comp, js):
    want = [(lid, loc["name"]) for lid, loc in (js.get("locations") or {}).items()
            if isinstance(loc.get("name"), str) and loc["name"]]
    current = _read_locations(comp)
    if [(lid, name) for lid, name, _ in current] == want:
        return
    # One LOCATION (RFC 5545); further locations live in the JSON remainder.
    by_id = {lid: prop for lid, _, prop in current}
    comp.pop("LOCATION", None)
    if not want:
        return
    lid, name = next(((lid, name) for lid, name in want if lid in by_id), want[0])
    old = by_id.get(lid)
    prop = icalendar.vText(name)
    if old is not None:
        for k, v in old.params.items():
            prop.params[k] = v
    comp.add("LOCATION", prop, encode=False)

    def read():
        return {id(p): i for i, _, p in _read_locations(comp)}

    def explicit(p, value):
        p.params[ID_PARAM] = value
        p.params.pop("JSID", None)

    _fix_ids(read, [(prop, lid)], explicit)


def _fix_attendee(prop, p, *, attendee=True, fallback=None):
    """Make prop read as participant p; touch only what reads differently.

    fallback: the ORGANIZER merged with this ATTENDEE (its CN counts when the ATTENDEE has none).
    """
    name = p.get("name")
    current = _param(prop, "CN")
    if current is None and fallback is not None:
        current = _param(fallback, "CN")
    if current != name:
        _set_param(prop, "CN", name)
        if fallback is not None:
            _set_param(fallback, "CN", name)
    email = p.get("email")
    if _email_of(prop) != email:
        value = _text(prop) or ""
        mailto = value[7:] if value[:7].lower() == "mailto:" else None
        _set_param(prop, "EMAIL", None if email is None or email == mailto else email)
    kind = p.get("kind")
    if _kind_of(prop) != kind and (kind is None or kind in KINDS):
        _set_param(prop, "CUTYPE", KINDS.get(kind))
    if attendee:
        roles = {r for r in p.get("roles", {}) if r != "owner"}
        if _attendee_roles(prop) != roles:
            _set_param(prop, "ROLE", _role_param(roles))
        if _rsvp_of(prop) != p.get("expectReply"):
            value = p.get("expectReply")
            _set_param(prop, "RSVP", None if value is None else ("TRUE" if value else "FALSE"))
    status = p.get("participationStatus")
    if _partstat_of(prop) != status and (status is None or status in PARTSTATS):
        _set_param(prop, "PARTSTAT", status.upper() if status else None)
    agent = p.get("scheduleAgent")
    if _agent_of(prop) != agent:
        _set_param(prop, "SCHEDULE-AGENT", agent.upper() if agent else None)


def _with_value(prop, value):
    if prop is not None and _text(prop) == value:
        return prop
    new = vCalAddress(value)
    if prop is not None:
        for k, v in prop.params.items():
            new.params[k] = v
    return new


def _sync_participants(comp, js, uid):
    want = js.get("participants") or {}
    reply = js.get("replyTo")
    current, cur_reply, sources = _read_participants(comp)
    if _same(current, want) and _same(cur_reply, reply):
        return
    org_addr = _reply_address(reply)
    owners = [pid for pid, p in want.items() if p.get("roles", {}).get("owner")]
    owner = None
    for pid in owners:
        if org_addr is None or _address(want[pid], pid, uid).casefold() == org_addr.casefold():
            owner = pid
            break
    if org_addr is None and owner is not None:
        org_addr = _address(want[owner], owner, uid)

    old_org = _first(comp, "ORGANIZER")
    comp.pop("ORGANIZER", None)
    comp.pop("ATTENDEE", None)
    organizer = None
    desired = []
    if org_addr is not None:
        if owner is not None and sources.get(owner, (None, None))[1] is not None:
            old_org = sources[owner][1]
        organizer = _with_value(old_org, org_addr)
    attendees = []
    for pid, p in want.items():
        roles = p.get("roles", {})
        if pid == owner and not set(roles) - {"owner"}:
            continue  # the organizer only
        old = sources.get(pid, (None, None))[0]
        att = _with_value(old, _address(p, pid, uid))
        _fix_attendee(att, p, fallback=organizer if pid == owner else None)
        attendees.append(att)
        desired.append((att, pid))
    if organizer is not None:
        if owner is not None:
            if not any(pid == owner for _, pid in desired):  # else the ATTENDEE carries it all
                _fix_attendee(organizer, want[owner], attendee=False)
            desired.append((organizer, owner))
        comp.add("ORGANIZER", organizer, encode=False)
    for att in attendees:
        comp.add("ATTENDEE", att, encode=False)

    def read():
        _, _, srcs = _read_participants(comp)
        out = {}
        for pid, (a, o) in srcs.items():
            for obj in (a, o):
                if obj is not None:
                    out[id(obj)] = pid
        return out

    def explicit(prop, value):
        prop.params[ID_PARAM] = value
        prop.params.pop("JSID", None)

    _fix_ids(read, desired, explicit)


def _sync_alerts(comp, js, raw_alerts):
    want = js.get("alerts") or {}
    current = _read_alerts(comp)
    by_id = {aid: sub for aid, _, sub in current}
    explicit_display = {aid for aid, a in raw_alerts.items() if isinstance(a, dict) and a.get("action") == "display"}
    if (len(current) == len(want) and _same({aid: a for aid, a, _ in current}, want)
            and all((_text(_first(sub, "ACTION")) or "").upper() == "DISPLAY"
                    for aid, _, sub in current if aid in explicit_display)):
        return
    readable = {id(sub) for _, _, sub in current}
    keep = [sub for sub in comp.subcomponents if sub.name != "VALARM" or id(sub) not in readable]
    title = js.get("title") or "Reminder"
    built, desired = [], []
    for aid, alert in want.items():
        sub = by_id.get(aid)
        if sub is None:
            sub = Alarm()
        trigger = alert["trigger"]
        old_trigger = _first(sub, "TRIGGER")
        cur = _alarm_js(sub) if old_trigger is not None else None
        if cur is None or not _same(cur["trigger"], trigger):
            params = _carry_params(old_trigger, drop=("VALUE", "RELATED", "TZID"))
            sub.pop("TRIGGER", None)
            if trigger["@type"] == "OffsetTrigger":
                if trigger.get("relativeTo") == "end":
                    params["RELATED"] = "END"
                sub.add("TRIGGER", _parse_signed(trigger["offset"]), parameters=params or None)
            else:
                params["VALUE"] = "DATE-TIME"
                sub.add("TRIGGER", _parse_utc(trigger["when"]), parameters=params)
        action = (_text(_first(sub, "ACTION")) or "").upper()
        raw_action = (raw_alerts.get(aid) or {}).get("action")
        if alert.get("action") == "email":
            wanted = "EMAIL"
        elif raw_action == "display" or action in ("", "EMAIL"):
            wanted = "DISPLAY"
        else:
            wanted = action  # AUDIO, PROCEDURE, X-...: not JSCalendar's to change
        if action != wanted:
            sub.pop("ACTION", None)
            sub.add("ACTION", wanted)
        if wanted in ("DISPLAY", "EMAIL") and "DESCRIPTION" not in sub:
            sub.add("DESCRIPTION", js.get("description") or title if wanted == "EMAIL" else title)
        if wanted == "EMAIL" and "SUMMARY" not in sub:
            sub.add("SUMMARY", title)
        _set_single(sub, "ACKNOWLEDGED", alert.get("acknowledged"),
                    _utc_of(_first(sub, "ACKNOWLEDGED")), _parse_utc)
        built.append(sub)
        desired.append((sub, aid))
    comp.subcomponents[:] = built + keep

    def read():
        return {id(sub): aid for aid, _, sub in _read_alerts(comp)}

    def explicit(sub, value):
        sub.pop(ID_PARAM, None)
        sub.pop("JSID", None)
        sub.add(ID_PARAM, value)

    _fix_ids(read, desired, explicit)


def _sync_vevent(comp, js, zones, *, raw, uid, master_ctx=None, key=None, recurrence=True,
                 instance_existing=False):
    comp.pop(RESIDUE_PROP, None)
    js = dict(js, uid=uid)
    _sync_simple(comp, js, instance_existing=instance_existing)
    want = _want_ctx(js, zones)
    if master_ctx is not None and master_ctx.zone == want.zone and not want.all_day:
        want.tzid = master_ctx.tzid
    _sync_time(comp, js, want, zones)
    if key is not None:  # an instance of a recurring master
        rid = _first(comp, "RECURRENCE-ID")
        if rid is None or _dt(rid) is None or master_ctx.key(_dt(rid), _param(rid, "TZID")) != key:
            params = _carry_params(rid)
            comp.pop("RECURRENCE-ID", None)
            value, params = master_ctx.ical(_parse_local(key), params)
            comp.add("RECURRENCE-ID", value, parameters=params or None)
    elif "recurrenceId" in js:  # a stand-alone instance
        rid_ctx = _Ctx(None, js.get("recurrenceIdTimeZone"), None, js.get("showWithoutTime") is True, zones)
        if _rid_of(comp, zones) != (js["recurrenceId"], js.get("recurrenceIdTimeZone")):
            params = _carry_params(_first(comp, "RECURRENCE-ID"))
            comp.pop("RECURRENCE-ID", None)
            value, params = rid_ctx.ical(_parse_local(js["recurrenceId"]), params)
            comp.add("RECURRENCE-ID", value, parameters=params or None)
    if recurrence:
        _sync_rules(comp, "RRULE", js.get("recurrenceRules") or [], want)
        _sync_rules(comp, "EXRULE", js.get("excludedRecurrenceRules") or [], want)
        overrides = js.get("recurrenceOverrides") or {}
        _sync_dates(comp, "EXDATE", [k for k, v in overrides.items() if v.get("excluded") is True], want)
        rdates = [k for k, v in overrides.items()
                  if v.get("excluded") is not True and (not v or not _is_occurrence(js, k))]
        _sync_dates(comp, "RDATE", rdates, want)
    _sync_locations(comp, js)
    _sync_keywords(comp, js)
    _sync_participants(comp, js, uid)
    _sync_alerts(comp, js, (raw or {}).get("alerts") or {})


def from_jscalendar(event: dict, previous_ical: str | None = None) -> str:
    """iCalendar text for a JSCalendar Event.

    With previous_ical (PUT/PATCH of an existing item), everything JSCalendar does not
    represent (X- properties, parameters, VALARM extras, unknown components/properties,
    VTIMEZONEs) is carried over from previous_ical.  A missing uid is taken from
    previous_ical or generated; a missing updated becomes now.  Raises InvalidEvent with
    pointers for invalid input.
    """
    ev = _normalize(event)
    errors = _Errors()
    _check_event(ev, errors)
    prev = _parse_ical(previous_ical) if previous_ical else None
    zones = _Zones(prev)
    prev_uid, prev_master, prev_instances, _ = _group(prev) if prev is not None else (None, None, [], [])
    prev_ctx = _read_time(prev_master, zones) if prev_master is not None else None
    for key in ("timeZone", "recurrenceIdTimeZone"):
        zone = ev.get(key)
        if (isinstance(zone, str) and zone.startswith("/") and not zones.knows(zone)
                and not (prev_ctx is not None and prev_ctx.zone == zone)):
            errors.add("/" + key, f"unknown time zone {zone!r}: no such VTIMEZONE")
    errors.raise_if_any()
    prev_main = prev_master if prev_master is not None else (prev_instances[0] if prev_instances else None)
    if prev_main is not None and "showWithoutTime" not in ev and _read_time(prev_main, zones).all_day:
        # All-day stays all-day: a write that leaves the flag out (rather than false) keeps it
        # when the times still describe whole days.
        start = _parse_local(ev["start"])
        duration = _parse_duration(ev.get("duration", "P1D"))
        if start.time() == datetime.time() and duration[1] % 86400 == 0:
            ev["showWithoutTime"] = True
            ev.setdefault("duration", "P1D")
    uid = ev.get("uid") or prev_uid or str(uuid.uuid4())
    ev["uid"] = uid
    canon = _canonical(ev, zones, uid)

    cal = Calendar()
    prodid = canon.get("prodId") or (_text(prev.get("PRODID")) if prev is not None else None) or DEFAULT_PRODID
    cal.add("PRODID", prodid)
    cal.add("VERSION", "2.0")
    others = []
    if prev is not None:
        for name, value in prev.items():
            if name.upper() in ("PRODID", "VERSION"):
                continue
            for v in value if isinstance(value, list) else [value]:
                cal.add(name, v, encode=False)
        for sub in prev.subcomponents:
            if sub.name == "VTIMEZONE":
                cal.add_component(sub)
            elif not (sub.name == "VEVENT" and _text(sub.get("UID")) == prev_uid):
                others.append(sub)

    group = [prev_master] if prev_master is not None else []
    group += prev_instances
    components = []
    if "recurrenceId" in canon:
        rid = (canon["recurrenceId"], canon.get("recurrenceIdTimeZone"))
        target = next((e for e in prev_instances if _rid_of(e, zones) == rid), None)
        if target is None and prev_master is None and len(prev_instances) == 1:
            target = prev_instances[0]
        main = target if target is not None else Event()
        components = [e for e in group if e is not main and "RECURRENCE-ID" in e]
        _sync_vevent(main, canon, zones, raw=ev, uid=uid, recurrence=False)
        components.append(main)
    else:
        prev_by_key = {}
        if prev_master is not None:
            for inst in prev_instances:
                prop = _first(inst, "RECURRENCE-ID")
                if _dt(prop) is not None:
                    prev_by_key[prev_ctx.key(_dt(prop), _param(prop, "TZID"))] = inst
        main = prev_master if prev_master is not None else Event()
        _sync_vevent(main, canon, zones, raw=ev, uid=uid)
        components.append(main)
        master_ctx = _want_ctx(canon, zones)
        tzid = _param(_first(main, "DTSTART"), "TZID")
        if tzid and _zone_name(tzid) == master_ctx.zone and not master_ctx.all_day:
            master_ctx.tzid = tzid
        base = {k: v for k, v in canon.items() if k != "recurrenceOverrides"}
        for key, patch in (canon.get("recurrenceOverrides") or {}).items():
            if patch.get("excluded") is True or (not patch and key not in prev_by_key):
                continue
            inst_js = _apply_override(base, key, patch)
            comp = prev_by_key.get(key)
            existing = comp is not None
            comp = comp if existing else Event()
            # replyTo is not per instance (RFC 8984 §4.3.5): a new instance gets the master's
            # ORGANIZER, an existing one keeps what it had.
            reply = _read_participants(comp)[1] if existing else canon.get("replyTo")
            inst_js.pop("replyTo", None)
            if reply is not None:
                inst_js["replyTo"] = reply
            if "privacy" in canon:
                inst_js["privacy"] = canon["privacy"]
            _sync_vevent(comp, inst_js, zones, raw=ev, uid=uid, master_ctx=master_ctx, key=key,
                         recurrence=False, instance_existing=existing)
            components.append(comp)
    for comp in components:
        cal.add_component(comp)
    for sub in others:
        cal.add_component(sub)
    # Generated VTIMEZONEs list every transition from first_date on: start a year before the event.
    earliest = min([_parse_local(canon["start"])] + [_parse_local(k) for k in canon.get("recurrenceOverrides") or {}])
    first_date = max(datetime.date(1970, 1, 1), earliest.date() - datetime.timedelta(days=366))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal.add_missing_timezones(first_date=min(first_date, datetime.date(2037, 1, 1)))

    # What the mapping could not express: keep it as X-JSCALENDAR-PROP entries.
    actual = _calendar_to_js(_parse_ical(cal.to_ical()), residue=False)
    target = dict(canon)
    for key in ("updated", "prodId"):
        if key not in ev:
            target[key] = actual.get(key)
            if target[key] is None:
                target.pop(key, None)
    entries = []
    _diff(target, actual, "", entries)
    for entry in entries:
        main.add(RESIDUE_PROP, vUnknown(_encode_residue(entry)), encode=False)
    return cal.to_ical().decode("utf-8")


# --------------------------------------------------------------------------- PatchObject

def apply_patch(event: dict, patch: dict) -> dict:
    """Apply an RFC 8984 §1.4.9 PatchObject; returns a new dict, event is left untouched.

    Keys are JSON pointers with an implicit leading "/" (one explicit leading "/" is
    tolerated).  null removes (a no-op when absent), any other value sets or replaces.
    Raises InvalidEvent(type="invalidPatch") listing the offending pointers for an invalid
    pointer, a missing parent, a pointer into an array, or one key being a prefix of another;
    nothing is applied then.  The result is not validated: call validate() on it.
    """
    if not isinstance(event, dict):
        raise InvalidEvent("Only an object can be patched.", [""], type="invalidPatch")
    if not isinstance(patch, dict):
        raise InvalidEvent("A PatchObject must be a JSON object.", [""], type="invalidPatch")
    problems = []  # (pointer, message)
    keys = {}
    for raw in patch:
        if not isinstance(raw, str):
            problems.append(("", f"patch key {raw!r} is not a string"))
            continue
        key = raw[1:] if raw.startswith("/") else raw
        if key == "" or re.search(r"~(?![01])", key):
            problems.append(("/" + key, f"{raw!r} is not a valid JSON pointer"))
            continue
        if key in keys:
            problems.append(("/" + key, f"{raw!r} is given twice"))
            continue
        keys[key] = (raw, [_unesc(t) for t in key.split("/")])
    for a in keys:
        for b in keys:
            if a != b and b.startswith(a + "/"):
                problems.append(("/" + b, f"{a!r} is a prefix of {b!r}"))
    for key, (raw, tokens) in keys.items():
        parent = event
        for i, token in enumerate(tokens):
            if isinstance(parent, list):
                problems.append(("/" + key, f"{raw!r} points into an array"))
                break
            if i == len(tokens) - 1:
                if not isinstance(parent, dict):
                    problems.append(("/" + key, f"{raw!r}: the parent is not an object"))
                break
            if not isinstance(parent, dict) or token not in parent:
                where = "/".join(_esc(t) for t in tokens[:i + 1])
                problems.append(("/" + key, f"{raw!r}: {where!r} does not exist"))
                break
            parent = parent[token]
    if problems:
        pointers = list(dict.fromkeys(p for p, _ in problems))
        raise InvalidEvent("Invalid patch: " + "; ".join(m for _, m in problems[:5]), pointers,
                           type="invalidPatch")
    new = copy.deepcopy(event)
    for key, (raw, tokens) in keys.items():
        parent = new
        for token in tokens[:-1]:
            parent = parent[token]
        value = patch[raw]
        if value is None:
            parent.pop(tokens[-1], None)
        else:
            parent[tokens[-1]] = copy.deepcopy(value)
    return new
