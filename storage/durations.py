"""ISO 8601 durations as room rules use them ("PT4H", "P1D", "P2Y").

Kept as text (rules are shown "as given") with the parsed parts beside it.
Years and months have no fixed length, so they are allowed only where a
duration is added to a calendar date (max-advance, the booking horizon).
"""

import dataclasses
import datetime
import re

from dateutil.relativedelta import relativedelta

_PATTERN = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+)S)?)?")


@dataclasses.dataclass(frozen=True)
class Duration:
    text: str
    years: int = 0
    months: int = 0
    seconds: int = 0  # weeks, days, hours, minutes and seconds together

    @property
    def calendar_based(self) -> bool:
        return bool(self.years or self.months)

    def total_seconds(self) -> int:
        if self.calendar_based:
            raise ValueError(f"{self.text} has no fixed length")
        return self.seconds

    def after(self, moment: datetime.datetime) -> datetime.datetime:
        return moment + relativedelta(years=self.years, months=self.months,
                                      seconds=self.seconds)

    def __str__(self) -> str:
        return self.text


def parse(text: str, *, calendar_ok: bool = False) -> Duration:
    """Parse ``text``; ValueError with a sentence a person understands."""
    match = _PATTERN.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 duration "
                         "(examples: PT30M, PT4H, P1D, P90D)")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    seconds = (parts.get("weeks", 0) * 7 * 86400 + parts.get("days", 0) * 86400
               + parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60
               + parts.get("seconds", 0))
    result = Duration(text.strip().upper(), parts.get("years", 0),
                      parts.get("months", 0), seconds)
    if result.calendar_based and not calendar_ok:
        raise ValueError(f"{text!r}: years and months have no fixed length here; "
                         "use weeks, days, hours or minutes")
    return result


def human(seconds: float) -> str:
    """5 h, 90 min, 2 d 3 h — for messages."""
    seconds = int(seconds)
    if seconds == 0:
        return "0 min"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} d")
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs:
        parts.append(f"{secs} s")
    return " ".join(parts)
