"""Screening of iCalendar text before any library parses it.

What the parsers do with an object is proportional to its size (bounded by
``max_content_length``) except in two places: nesting, which they follow by
recursion, and recurrence, which they expand with dateutil for as long as it
takes.  ``screen`` runs on every body that enters — a CalDAV PUT before Radicale
sees it, JSON and /api writes, imports — reads only the lines, and refuses:

- components nested deeper than any calendar needs (MAX_DEPTH), a VTIMEZONE with more
  observances or transitions (RDATE values, and the years its yearly rules run) than any
  zone has (MAX_OBSERVANCES, MAX_ZONE_DATES), a
  component with more RDATE/EXDATE values than the server checks occurrences (MAX_DATES);
- a VTIMEZONE observance (STANDARD/DAYLIGHT) whose rule repeats more often than
  yearly: no time zone changes its offset more often, and the libraries expand
  such a rule into every transition since its DTSTART (1601, in the attack);
- any recurrence rule (RRULE/EXRULE, of any component) whose occurrences cannot be
  found within the work allowance of storage/rrule_budget.py: the first ones of an
  open rule, all of a finite one (up to PROBE_OCCURRENCES) — a rule whose filters
  never match ("30 February") or that repeats every second for years.

A refusal is ``UnsafeCalendar`` (a ValueError) whose message is a sentence for the
client.  The screen costs a pass over the lines and, for rules only, a bounded
probe; what passes it can still be invalid in other ways (the parsers say so).
"""

import datetime
import re
from typing import List, Optional

from dateutil import rrule as dateutil_rrule

from roomcal.storage import rrule_budget

MAX_DEPTH = 8                  # VCALENDAR > VEVENT > VALARM is 3; VTIMEZONE > DAYLIGHT is 3
MAX_OBSERVANCES = 200          # STANDARD/DAYLIGHT blocks of one VTIMEZONE (IANA's busiest: ~100)
MAX_ZONE_DATES = 2000          # transitions of one VTIMEZONE: RDATE values and yearly rules' years
ZONE_YEARS_END = 2038          # icalendar computes a zone's transitions up to here
MAX_DATES = 10000              # RDATE or EXDATE values of one component
PROBE_OCCURRENCES = 5001       # a finite rule is expanded whole (up to this), as Radicale does
PROBE_OPEN = 2                 # an open rule: its first occurrences (the rest is bounded per use)
ALLOWANCE_PER_BODY = 10_000_000          # work units (~0.1 µs) for the probes of one body…
ALLOWANCE_PER_RULE = 20_000              # …plus this much per rule it holds
SUB_YEARLY_OBSERVANCE = re.compile(r"(?:^|;)FREQ=(?!YEARLY(?:;|$))", re.IGNORECASE)
_DATE_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")


class UnsafeCalendar(ValueError):
    """The text is refused before parsing; the message says why, for the client."""


class _Component:
    __slots__ = ("name", "parent", "dtstart", "rules", "dates", "children")

    def __init__(self, name: str, parent: Optional["_Component"]):
        self.name = name
        self.parent = parent
        self.dtstart: Optional[str] = None
        self.rules: List[str] = []
        self.dates = 0      # RDATE and EXDATE values, its observances' included for a VTIMEZONE
        self.children = 0


def screen(text: str) -> None:
    """Refuse (``UnsafeCalendar``) what no parser should be given; return None."""
    stack: List[_Component] = []
    observed: List[_Component] = []   # components with rules, probed once all lines are read
    for line in _content_lines(text):
        name, value = _name_and_value(line)
        if name == "BEGIN":
            parent = stack[-1] if stack else None
            stack.append(_Component(value.upper(), parent))
            if len(stack) > MAX_DEPTH:
                raise UnsafeCalendar(f"Components are nested {len(stack)} deep; "
                                     f"at most {MAX_DEPTH} are accepted.")
            if parent is not None:
                parent.children += 1
                if parent.name == "VTIMEZONE" and parent.children > MAX_OBSERVANCES:
                    raise UnsafeCalendar(f"A VTIMEZONE has more than {MAX_OBSERVANCES} "
                                         "observances; no time zone has that many.")
        elif name == "END":
            if stack:
                component = stack.pop()
                if component.rules:
                    observed.append(component)
        elif stack and name == "DTSTART":
            stack[-1].dtstart = value
        elif stack and name in ("RRULE", "EXRULE"):
            stack[-1].rules.append(value)
        elif stack and name in ("RDATE", "EXDATE"):
            _count_dates(stack[-1], value.count(",") + 1)
    rules = sum(len(c.rules) for c in observed)
    with rrule_budget.allowance(ALLOWANCE_PER_BODY + ALLOWANCE_PER_RULE * rules):
        for component in observed:
            for rule in component.rules:
                _probe(component, rule)


def _count_dates(component: _Component, values: int, from_rule: bool = False) -> None:
    component.dates += values
    zone = component.parent if component.name in ("STANDARD", "DAYLIGHT") else None
    if zone is not None and zone.name == "VTIMEZONE":
        zone.dates += values
        if zone.dates > MAX_ZONE_DATES:
            how = "makes" if from_rule else "lists"
            raise UnsafeCalendar(f"A VTIMEZONE {how} more than {MAX_ZONE_DATES} transitions (its RDATEs "
                                 "and the years its yearly rules run); no time zone has that many.")
    elif component.dates > MAX_DATES:
        raise UnsafeCalendar(f"A {component.name} lists more than {MAX_DATES} RDATE or EXDATE "
                             "values; the server checks fewer occurrences than that.")


def _probe(component: _Component, rule: str) -> None:
    observance = component.name in ("STANDARD", "DAYLIGHT")
    where = _where(component)
    if observance and SUB_YEARLY_OBSERVANCE.search(rule.replace(" ", "")):
        raise UnsafeCalendar(f"The time zone rule RRULE:{_short(rule)} of {where} repeats more often "
                             "than yearly; time zones change their offset at most a few times "
                             "a year, and their rules are yearly.")
    interval = _part(rule, "INTERVAL")
    if interval is not None and not (interval.isdigit() and int(interval) >= 1):
        # dateutil takes 0 and steps on the spot until its work allowance runs out
        raise UnsafeCalendar(f"The recurrence rule {_short(rule)} of {where} has INTERVAL="
                             f"{_short(interval, 20)}; an interval is a whole number of at least 1.")
    start = _start(component.dtstart, aware="Z" in (_part(rule, "UNTIL") or "").upper())
    if start is None:
        return  # no usable DTSTART: the parsers refuse the object, or ignore the rule
    if observance:   # its transitions count with the zone's dates: every one is computed
        _count_dates(component, _yearly_transitions(start, rule), from_rule=True)
    try:
        expansion = dateutil_rrule.rrulestr(rule, dtstart=start, cache=False)
    except Exception as e:   # dateutil's errors on a rule it cannot read are of every kind
        raise UnsafeCalendar(f"The recurrence rule {_short(rule)} of {where} cannot be "
                             f"read: {_reason(e)}.") from None
    finite = _part(rule, "COUNT") is not None or _part(rule, "UNTIL") is not None
    wanted = PROBE_OCCURRENCES if finite else PROBE_OPEN
    found = 0
    try:
        for _ in expansion:
            found += 1
            if found >= wanted:
                break
    except rrule_budget.TooMuchWork:
        raise UnsafeCalendar(f"The recurrence rule {_short(rule)} of {where} takes too much work "
                             "to expand: it repeats too often, or its parts (BY…) rarely or "
                             "never match a date.") from None
    except Exception as e:   # IndexError, TypeError, ZeroDivisionError… on impossible parts
        raise UnsafeCalendar(f"The recurrence rule {_short(rule)} of {where} cannot be "
                             f"expanded: {_reason(e)}.") from None
    if found == 0 and not finite:
        raise UnsafeCalendar(f"The recurrence rule {_short(rule)} of {where} never matches a date.")


def _part(rule: str, name: str) -> Optional[str]:
    """The value of one part (``INTERVAL``…) of a rule's text, or None."""
    for part in rule.replace(" ", "").split(";"):
        key, _, value = part.partition("=")
        if key.upper() == name:
            return value
    return None


def _yearly_transitions(start: datetime.datetime, rule: str) -> int:
    """How many transitions a (yearly) observance rule makes from its DTSTART to ZONE_YEARS_END:
    what icalendar computes for every observance, and dateutil walks for every offset it
    looks up.  An observance from 1601 (Outlook's) makes 437; a hundred from year 1 make
    200 000, and every read of the object paid for them."""
    last = ZONE_YEARS_END
    until = _DATE_TIME.match(_part(rule, "UNTIL") or "")
    if until:
        last = min(last, int(until.group(1)))
    try:
        interval = max(1, int(_part(rule, "INTERVAL") or "1"))
        count = int(_part(rule, "COUNT")) if _part(rule, "COUNT") is not None else None
    except ValueError:
        return 0   # the parsers refuse the rule
    years = max(0, last - start.year) // interval + 1
    return min(years, count) if count is not None else years


def _content_lines(text: str):
    """Unfolded content lines (RFC 5545 3.1), without building a second copy of the text."""
    current = None
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and current is not None:
            current += raw[1:]
            continue
        if current is not None:
            yield current
        current = raw
    if current is not None:
        yield current


def _name_and_value(line: str) -> tuple:
    """(upper-case name, value) of a content line; the value starts after the first colon
    outside a quoted parameter value."""
    head_end = len(line)
    for index, char in enumerate(line):
        if char in ":;":
            head_end = index
            break
    name = line[:head_end].strip().upper()
    if name not in ("BEGIN", "END", "DTSTART", "RRULE", "EXRULE", "RDATE", "EXDATE"):
        return name, ""
    quoted = False
    for index in range(head_end, len(line)):
        char = line[index]
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return name, line[index + 1:].strip()
    return name, ""


def _start(value: Optional[str], aware: bool) -> Optional[datetime.datetime]:
    """A DTSTART value as dateutil needs it for counting work: local wall time (its time
    zone does not change how many periods a rule scans)."""
    match = _DATE_TIME.match(value or "")
    if not match:
        return None
    year, month, day, hour, minute, second, _ = match.groups()
    try:
        start = datetime.datetime(int(year), int(month), int(day), int(hour or 0),
                                  int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return start.replace(tzinfo=datetime.timezone.utc) if aware else start


def _where(component: _Component) -> str:
    if component.parent is not None and component.parent.name == "VTIMEZONE":
        return f"a {component.name} observance of a VTIMEZONE"
    return f"a {component.name}"


def _reason(error: Exception) -> str:
    return str(error) or f"its parts cannot be combined ({type(error).__name__})"


def _short(rule: str, limit: int = 80) -> str:
    return rule if len(rule) <= limit else rule[:limit] + "…"
