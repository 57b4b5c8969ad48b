"""Opening hours such as "Mo-Fr 08:00-18:00; Sa 09:00-12:00", in room-local time.

A booking fits when each of its occurrences lies inside one opening window of
the local day it starts on.  "24:00" closes at midnight.
"""

import dataclasses
import datetime
import re

DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
_SPAN = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


@dataclasses.dataclass(frozen=True)
class OpeningHours:
    text: str
    # weekday (0 = Monday) -> list of (start minute, end minute) of the day
    windows: tuple

    def fits(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        """``start``/``end`` are aware datetimes in the room's zone."""
        day_start = start.replace(hour=0, minute=0, second=0, microsecond=0)
        begin = _minutes(start - day_start)
        finish = _minutes(end - day_start)
        return any(lo <= begin and finish <= hi
                   for lo, hi in self.windows[start.weekday()])

    def open_spans(self, day: datetime.date):
        """(start minute, end minute) spans the room is open on ``day``."""
        return self.windows[day.weekday()]


def _minutes(delta: datetime.timedelta) -> float:
    return delta.total_seconds() / 60


def _day_set(spec: str) -> set:
    days = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            lo, hi = _day_index(first), _day_index(last)
            index = lo
            while True:
                days.add(index)
                if index == hi:
                    break
                index = (index + 1) % 7
        else:
            days.add(_day_index(part))
    return days


def _day_index(name: str) -> int:
    for index, day in enumerate(DAYS):
        if name.lower() == day.lower():
            return index
    raise ValueError(f"unknown day {name!r} in opening hours (use {', '.join(DAYS)})")


def parse(text: str) -> OpeningHours:
    windows = [[] for _ in DAYS]
    rules = [r.strip() for r in text.split(";") if r.strip()]
    if not rules:
        raise ValueError("opening hours are empty")
    for rule in rules:
        try:
            day_spec, spans = rule.split(None, 1)
        except ValueError:
            raise ValueError(f"opening hours rule {rule!r} needs days and times, "
                             "e.g. 'Mo-Fr 08:00-18:00'") from None
        days = _day_set(day_spec)
        if spans.strip().lower() == "off":
            for day in days:
                windows[day] = []
            continue
        for span in spans.split(","):
            match = _SPAN.fullmatch(span.strip())
            if not match:
                raise ValueError(f"time span {span.strip()!r} in opening hours is not HH:MM-HH:MM")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            lo, hi = h1 * 60 + m1, h2 * 60 + m2
            if h1 > 23 or m1 > 59 or m2 > 59 or hi > 24 * 60 or hi <= lo:
                raise ValueError(f"time span {span.strip()!r} in opening hours is not a valid range")
            for day in days:
                windows[day].append((lo, hi))
    return OpeningHours(text.strip(), tuple(tuple(sorted(w)) for w in windows))
