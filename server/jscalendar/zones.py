"""Time zones: JSCalendar ``timeZone`` names <-> TZIDs and tzinfo, and ``_Ctx``, where an
event's times live (its start, zone and all-day flag) while it is read or written.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import zoneinfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from roomcal.server.jscalendar.values import UTC, _UTC_ALIASES, _fmt_local


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
