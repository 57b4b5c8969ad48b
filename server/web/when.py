"""Times on the pages: always in the room's own zone, as people read them."""

import datetime
import re
from typing import Optional

from roomcal.storage.errors import BadRequest

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LOCAL_INPUT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")   # <input type=datetime-local>


def local(room, seconds: int) -> datetime.datetime:
    """UTC seconds as a wall-clock time in the room's zone."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).astimezone(room.tz)


def today(room, now: Optional[float] = None) -> datetime.date:
    now = datetime.datetime.now(datetime.timezone.utc).timestamp() if now is None else now
    return local(room, int(now)).date()


def day_bounds(room, day: datetime.date) -> tuple:
    """[start, end) of a calendar day in the room's zone, in UTC seconds (23 or 25 h on DST days)."""
    def midnight(d):
        return int(datetime.datetime.combine(d, datetime.time(), room.tz).timestamp())
    return midnight(day), midnight(day + datetime.timedelta(days=1))


def parse_day(text: Optional[str], name: str, default: datetime.date) -> datetime.date:
    """A ``YYYY-MM-DD`` query parameter (``?date=``, ``?week=``); BadRequest with a sentence."""
    if not text:
        return default
    text = text.strip()
    try:
        if not DATE.fullmatch(text):
            raise ValueError
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}={text[:40]!r} is not a date; use YYYY-MM-DD.") from None
    if not 1900 <= day.year <= 9000:
        raise BadRequest(f"{name}={text} is too far away; use a year between 1900 and 9000.")
    return day


def input_value(room, seconds: int) -> str:
    """The value of a datetime-local input for this moment in the room's zone."""
    return local(room, seconds).strftime("%Y-%m-%dT%H:%M")


def from_input(text: Optional[str], label: str) -> str:
    """A datetime-local input's value, checked, as the booking body's local ISO time (the
    room's zone); BadRequest naming the field otherwise."""
    text = (text or "").strip()
    if not text:
        raise BadRequest(f"{label} is required.")
    if not LOCAL_INPUT.fullmatch(text):
        raise BadRequest(f"{label} {text[:40]!r} is not a date and time (YYYY-MM-DDTHH:MM).")
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{label} {text!r} is not a date and time that exists.") from None
    return text


def time_label(moment: datetime.datetime) -> str:
    return moment.strftime("%H:%M")


def day_label(day: datetime.date) -> str:
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B %Y')}"


def span_label(room, start: int, end: Optional[int]) -> str:
    """"Monday 7 December 2026, 10:00–11:00" (the end's day too when it differs)."""
    first = local(room, start)
    text = f"{day_label(first.date())}, {time_label(first)}"
    if end is None:
        return text
    last = local(room, end)
    if last.date() == first.date():
        return f"{text}–{time_label(last)}"
    return f"{text} – {day_label(last.date())}, {time_label(last)}"
