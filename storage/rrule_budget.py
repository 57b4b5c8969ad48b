"""A bound on the work of recurrence expansion, whoever expands.

Every iCalendar library here expands recurrences with dateutil's ``rrule``:
vobject (Radicale's parse, time ranges and REPORT filters), icalendar (the
transitions of a VTIMEZONE) and recurring_ical_events (the booking core).
Their cost is the number of periods dateutil scans, not the number of
occurrences it returns: a rule whose filters never match ("every 30 February")
scans period after period up to the year 9999 whatever its UNTIL, and a
VTIMEZONE rule repeating every second since 1601 scans billions of periods and
keeps what it found.  None of the libraries takes a bound, so this module
counts, in dateutil itself, the work of every period it scans (its per-period
"dayset" call: one a year, month, week, day or smaller step), and stops an
iteration that goes over its allowance with `TooMuchWork`.

Two allowances, both in work units of roughly 0.1 µs of dateutil's time:

- every single iteration of one rule, in every thread, always: ``RULE_LIMIT``
  (about 0.2 s), so nothing stored can make a later request slow;
- optionally, everything in a scope (``allowance(units)``), for the screening of
  one request's body (storage/screen.py), so many cheap-looking rules in one
  body cannot add up.

Only a dateutil that still has the internals this relies on is bounded; any
other logs a warning once and the worker's watchdog (server/worker.py) is the
only bound left.  Raising inside dateutil needs one repair of dateutil: see
``_release_cache_lock_on_errors``.
"""

import contextlib
import logging
import threading
from math import gcd

from dateutil import rrule as dateutil_rrule

logger = logging.getLogger("roomcal.storage")

RULE_LIMIT = 2_000_000
PERIOD_COST = 25          # a period scanned: dateutil's loop, mask rebuilds, ~2.5 µs
_state = threading.local()  # .left: the scope's remaining units (None: no scope)


class TooMuchWork(ValueError):
    """An expansion went over its allowance.  A ValueError, as the libraries treat
    other unusable rules: they give up on the object, and so does the request."""

    def __init__(self, message: str = "expanding its recurrence takes too much work: it "
                 "repeats too often, or its rules (BY… parts) rarely or never match"):
        super().__init__(message)


@contextlib.contextmanager
def allowance(units: int):
    """All rule iterations inside share at most ``units`` (nested scopes: the smaller)."""
    outer = getattr(_state, "left", None)
    start = units if outer is None else min(units, outer)
    _state.left = start
    try:
        yield
    finally:
        spent = start - _state.left   # spent inside is spent for the outer scope too
        _state.left = None if outer is None else outer - spent


def _charge(iteration, units: int) -> None:
    iteration.roomcal_spent += units
    if iteration.roomcal_spent > RULE_LIMIT:
        raise TooMuchWork()
    left = getattr(_state, "left", None)
    if left is not None:
        _state.left = left - units
        if _state.left < 0:
            raise TooMuchWork()


def _costs(rule) -> tuple:
    """(units per period besides its days, units per day of a period) of one rule."""
    extra = 0
    freq, interval = rule._freq, rule._interval
    # Sub-daily rules whose time parts filter loop up to a day of steps inside one period.
    if freq == dateutil_rrule.SECONDLY and (rule._byhour or rule._byminute or rule._bysecond):
        extra = 86400 // gcd(interval, 86400)
    elif freq == dateutil_rrule.MINUTELY and (rule._byhour or rule._byminute):
        extra = 1440 // gcd(interval, 1440)
    elif freq == dateutil_rrule.HOURLY and rule._byhour:
        extra = 24
    # Every day of a period meets every time of its list, returned or, with BYSETPOS, gathered
    # and sorted first: for daily and longer rules the day's (BYHOUR × BYMINUTE × BYSECOND),
    # for hourly ones each hour's (BYMINUTE × BYSECOND, built again every hour), for minutely
    # ones each minute's (BYSECOND).  An hourly rule with 3 600 times an hour was charged as
    # one, and ran for minutes.
    if freq < dateutil_rrule.HOURLY:
        times = len(rule._timeset or ()) or 1
    elif freq == dateutil_rrule.HOURLY:
        times = len(rule._byminute or ()) * len(rule._bysecond or ()) or 1
    elif freq == dateutil_rrule.MINUTELY:
        times = len(rule._bysecond or ()) or 1
    else:
        times = 1
    per_day = times * (1 + len(rule._bysetpos or ()))
    return PERIOD_COST + extra, per_day


def _install() -> bool:
    base = getattr(dateutil_rrule, "_iterinfo", None)
    needed = ("ydayset", "mdayset", "wdayset", "ddayset", "rebuild")
    if base is None or not all(hasattr(base, name) for name in needed):
        logger.warning("This dateutil has no _iterinfo: recurrence expansion is not bounded "
                       "by roomcal (only the request watchdog bounds it)")
        return False
    if getattr(base, "roomcal_bounded", False):
        return True

    class BoundedIterinfo(base):
        """dateutil's per-iteration helper, charging each period it hands out.
        (No __slots__: the base sets its own slots by iterating ``self.__slots__``.)"""
        roomcal_bounded = True

        def __init__(self, rule):
            super().__init__(rule)
            self.roomcal_spent = 0
            self.roomcal_costs = _costs(rule)

        def _period(self, found):
            dayset, start, end = found
            per_period, per_day = self.roomcal_costs
            _charge(self, per_period + (end - start) * per_day)
            return found

        def ydayset(self, year, month, day):
            return self._period(super().ydayset(year, month, day))

        def mdayset(self, year, month, day):
            return self._period(super().mdayset(year, month, day))

        def wdayset(self, year, month, day):
            return self._period(super().wdayset(year, month, day))

        def ddayset(self, year, month, day):
            return self._period(super().ddayset(year, month, day))

    dateutil_rrule._iterinfo = BoundedIterinfo
    _release_cache_lock_on_errors(dateutil_rrule.rrulebase)
    return True


def _release_cache_lock_on_errors(rrulebase) -> None:
    """A cached rule (``cache=True``: the rules of every VTIMEZONE vobject keeps for the whole
    process) holds a lock while it computes its next occurrences, and dateutil releases it
    only when that step returns or ends: a step that raises (TooMuchWork, or dateutil's own
    errors) left it held, and the next use of the rule, by any thread, waited for ever.
    The error is raised while this thread holds the lock, so it is released here, and the
    rule starts over at its next use (which fails the same way, as fast)."""
    iterate = rrulebase._iter_cached
    if getattr(iterate, "roomcal_releases", False):
        return

    def iterate_releasing(self):
        try:
            yield from iterate(self)
        except Exception:   # not GeneratorExit: a consumer that stops early holds no lock
            self._invalidate_cache()   # releases the lock, and the half-made cache
            raise
    iterate_releasing.roomcal_releases = True
    rrulebase._iter_cached = iterate_releasing


INSTALLED = _install()
