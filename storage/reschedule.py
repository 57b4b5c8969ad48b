"""Moving a booking in time: the iCalendar editing behind ``POST .../reschedule``.

Pure functions on a ``Booking`` (no HTTP, no storage): the route hands over the
new start (and end) as the caller wrote them and stores what ``move`` leaves.
Naive times are the booking's zone (the room's); every value keeps its stored
form (TZID, UTC or floating; a date for all-day bookings).  A series moves as a
whole: its start, and with it every occurrence, EXDATE, RDATE, RECURRENCE-ID,
override and UNTIL, by the same wall-clock shift, so across a DST change an
occurrence keeps its local time.
"""

import datetime
from typing import Optional

from roomcal.storage.errors import InvalidBooking
from roomcal.storage.instances import Booking, instant, like, rrules, values_of
from roomcal.storage.rooms import parse_local

# RRULE parts that pin a series to days or to times of day: moving the series start
# across them would not move the occurrences, so such a move is refused.
DAY_PARTS = ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS")
TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")


class BadTime(ValueError):
    """The new start or end cannot be read, or does not fit the booking: the caller's
    mistake (the JSON layer answers 400 with this message)."""


def move(booking: Booking, start_text: str, end_text: Optional[str] = None) -> None:
    """Move ``booking`` (in place) to start at ``start_text``, and end at ``end_text``
    or else keep its length.  ``BadTime`` for times that cannot be read or end before
    they start, ``InvalidBooking`` for a series whose RRULE pins what the move changes."""
    tz = booking.tz
    master = booking.master
    old_start = master["DTSTART"].dt
    all_day = not isinstance(old_start, datetime.datetime)
    new_start = _value(start_text, tz, old_start, "start")
    new_end = _value(end_text, tz, old_start, "end") if end_text else None
    if all_day:
        shift = datetime.timedelta(days=(new_start - old_start).days)
    else:
        shift = new_start.replace(tzinfo=None) - old_start.replace(tzinfo=None)
    zone = old_start.tzinfo if not all_day and old_start.tzinfo is not None else tz

    def moved(value):
        if not isinstance(value, datetime.datetime):
            return value + datetime.timedelta(days=shift.days) if all_day else value + shift
        if value.tzinfo is None:
            return value + shift
        # Wall clock in the series' zone: 09:00 stays 09:00 across a DST change.
        local = value.astimezone(zone).replace(tzinfo=None) + shift
        return local.replace(tzinfo=zone).astimezone(value.tzinfo)

    check_rules_allow(booking, old_start, new_start)
    if new_end is not None and instant(new_end, tz) <= instant(new_start, tz):
        raise BadTime("'end' must be after 'start'.")
    for event in booking.events:
        if event is master:
            _move_master(event, tz, old_start, new_start, new_end)
        else:
            _set(event, "DTSTART", moved(event["DTSTART"].dt))
            if "DTEND" in event:
                _set(event, "DTEND", moved(event["DTEND"].dt))
        if "RECURRENCE-ID" in event:
            _set(event, "RECURRENCE-ID", moved(event["RECURRENCE-ID"].dt))
        for name in ("EXDATE", "RDATE"):
            _move_list(event, name, moved)
        for rule in rrules(event):
            if "UNTIL" in rule:
                rule["UNTIL"] = [moved(u) for u in rule["UNTIL"]]


def check_rules_allow(booking: Booking, old_start, new_start) -> None:
    """Refuse to move a series whose RRULE pins the days or times the move changes."""
    if not booking.recurring:
        return
    if not isinstance(old_start, datetime.datetime):  # all-day
        old_day, new_day, same_time = old_start, new_start, True
    else:
        old_day, new_day = old_start.date(), new_start.date()
        same_time = old_start.time() == new_start.time()
    for event in booking.events:
        for rule in rrules(event):
            pinned = [p for p in DAY_PARTS if p in rule and old_day != new_day]
            if "BYDAY" in rule and old_day.weekday() != new_day.weekday():
                pinned.append("BYDAY")
            pinned += [p for p in TIME_PARTS if p in rule and not same_time]
            if pinned:
                raise InvalidBooking(
                    f"This series repeats by {', '.join(pinned)}, which a new start does not "
                    "move; change its recurrence over CalDAV or JSCalendar instead.")


def _move_master(event, tz, old_start, new_start, new_end) -> None:
    old_end = event["DTEND"].dt if "DTEND" in event else None
    _set(event, "DTSTART", new_start)
    if new_end is None:
        if old_end is not None:  # keep the length (exactly: wall clock for all-day, else seconds)
            if isinstance(old_start, datetime.datetime):
                length = instant(old_end, tz) - instant(old_start, tz)
                end = datetime.datetime.fromtimestamp(instant(new_start, tz) + length,
                                                      datetime.timezone.utc)
                _set(event, "DTEND", like(end, old_end, tz))
            else:
                _set(event, "DTEND", new_start + (old_end - old_start))
        return  # DURATION (or none) stays as it is
    if "DURATION" in event and old_end is None:
        event.pop("DURATION")
        if isinstance(new_start, datetime.datetime):
            event.add("DURATION", datetime.timedelta(
                seconds=instant(new_end, tz) - instant(new_start, tz)))
        else:
            event.add("DURATION", new_end - new_start)
        return
    _set(event, "DTEND", like(new_end, old_end, tz) if old_end is not None else new_end)


def _value(text: str, tz, form, name: str):
    """The new value of a time property, in the form of ``form`` (the stored DTSTART)."""
    text = text.strip()
    date_only = len(text) == 10
    if not isinstance(form, datetime.datetime):
        if not date_only:
            raise BadTime(f"This is an all-day booking: '{name}' must be a date (YYYY-MM-DD).")
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise BadTime(f"'{name}': {text!r} is not an ISO 8601 date.") from None
    if date_only:
        raise BadTime(f"This booking has times: '{name}' must be a date-time.")
    try:
        moment = parse_local(text, tz)
    except ValueError as e:
        raise BadTime(f"'{name}': {e}.") from None
    return like(moment, form, tz)


def _set(event, name: str, value) -> None:
    """Replace a property's value, keeping its parameters but TZID and VALUE (icalendar
    writes those from the new value)."""
    params = {k: v for k, v in event[name].params.items() if k.upper() not in ("TZID", "VALUE")} \
        if name in event else {}
    event.pop(name, None)
    event.add(name, value, parameters=params or None)


def _move_list(event, name: str, moved) -> None:
    values = values_of(event, name)
    if not values:
        return
    event.pop(name)
    for prop in values:
        event.add(name, [moved(v.dt) for v in prop.dts])
