"""What the storage knows about the request it serves.

Radicale never tells storage who is writing, except through the arguments of
``acquire_lock`` (user, actor, path, request).  The WSGI front opens a
``RequestState`` per request; the storage records the actor there and leaves
its refusal, so the front can turn Radicale's generic 400/403/500 into our
409/403 with a ``DAV:error`` body.
"""

import contextlib
import contextvars
import dataclasses
import logging
from typing import Optional


@dataclasses.dataclass
class Actor:
    user: str                 # "" for the command line
    groups: frozenset = frozenset()
    admin: bool = False

    @classmethod
    def command_line(cls) -> "Actor":
        return cls(user="", admin=True)


@dataclasses.dataclass
class RequestState:
    actor: Optional[Actor] = None
    refusal: Optional[Exception] = None   # a storage.errors.Refusal
    reason: Optional[str] = None          # why (decline, cancel, clear): told to the booker
    rewritten: bool = False               # the booking core changed what the client sent
    time_zones: set = dataclasses.field(default_factory=set)  # unknown TZIDs, logged once
    unreadable: Optional[str] = None      # why Radicale could not read the body (its bare 400)
    if_schedule_tag_match: Optional[str] = None   # the request's If-Schedule-Tag-Match (RFC 6638)
    schedule_tag: Optional[str] = None    # the Schedule-Tag of what a PUT stored
    memo: dict = dataclasses.field(default_factory=dict)   # answers that hold for one request
    # Radicale reads the items' texts after releasing its lock (a PROPFIND of their
    # getcontentlength): items read lazily must be read while they are listed.
    texts_after_lock: bool = False
    # A PUT with If-None-Match: * (how calendar apps create an event), and (UID, Radicale's
    # time range) of the one new item its body holds, known before the lock: a store may
    # send the reads of a new booking with the lock's statements.
    creating: bool = False
    new_item: Optional[tuple] = None


_state: contextvars.ContextVar = contextvars.ContextVar("roomcal_request", default=None)
# "PUT /rooms/r1/x.ics": set by the front at the start of every request, for the log.
_where: contextvars.ContextVar = contextvars.ContextVar("roomcal_where", default="")


# Radicale's storage lock as this thread holds it: Radicale's own record of it is the
# process's, whichever thread took it.  One LockPeriod per acquisition: what was read
# under it holds until it ends.
@dataclasses.dataclass(eq=False)
class LockPeriod:
    mode: str   # "r" or "w"
    # What to let go of when it ends: a listing kept for the period holds its items, and
    # they hold their collection (a cycle, left to the garbage collector's next full pass:
    # a room of 100 000 listed twice held two listings).
    at_end: list = dataclasses.field(default_factory=list)


_lock_period: contextvars.ContextVar = contextvars.ContextVar("roomcal_lock_period", default=None)


@contextlib.contextmanager
def holding_lock(mode: str):
    period = LockPeriod(mode)
    token = _lock_period.set(period)
    try:
        yield
    finally:
        _lock_period.reset(token)
        for let_go in period.at_end:
            let_go()


def lock_period() -> Optional[LockPeriod]:
    return _lock_period.get()


def lock_held() -> str:
    """The mode of the lock this thread holds, "" for none."""
    period = _lock_period.get()
    return period.mode if period is not None else ""


def note_texts_after_lock() -> None:
    state = _state.get()
    if state is not None:
        state.texts_after_lock = True


def texts_after_lock() -> bool:
    state = _state.get()
    return state is not None and state.texts_after_lock


def note_new_item(uid: str, time_range: tuple) -> None:
    state = _state.get()
    if state is not None and state.creating:
        state.new_item = (uid, time_range)


def new_item() -> Optional[tuple]:
    state = _state.get()
    return state.new_item if state is not None else None


# A listing of nothing but ETags (server/etag_listing.py): a store may leave the items'
# texts unread then (PostgreSQL read 100 000 texts, 80 MB, for a room's first sync), and
# their UIDs and time ranges (Radicale's item parses its text for them if asked).
_etags_only: contextvars.ContextVar = contextvars.ContextVar("roomcal_etags_only", default=False)


@contextlib.contextmanager
def listing_etags_only():
    token = _etags_only.set(True)
    try:
        yield
    finally:
        _etags_only.reset(token)


def etags_only() -> bool:
    return _etags_only.get()


def set_where(where: str) -> None:
    _where.set(where)


@contextlib.contextmanager
def request(actor: Optional[Actor] = None):
    """Open a request scope (front, CLI, tests)."""
    state = RequestState(actor=actor)
    token = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(token)


def current() -> Optional[RequestState]:
    return _state.get()


def current_actor() -> Optional[Actor]:
    state = _state.get()
    return state.actor if state else None


def signed_in(user: str) -> Optional[Actor]:
    """The request's actor when it is ``user`` (not anonymous): who the front signed in,
    with admin flag and groups, so that Radicale's plugins need not look them up again."""
    actor = current_actor()
    return actor if actor is not None and user and actor.user == user else None


def record_refusal(refusal: Exception) -> None:
    state = _state.get()
    if state is not None:
        state.refusal = refusal


def note_unreadable(reason: str) -> None:
    state = _state.get()
    if state is not None and state.unreadable is None:   # the first reason is the cause
        state.unreadable = reason


def note_rewritten() -> None:
    """What is stored is not what the client sent (owner stamps, approval status): the
    client's copy is stale, so its write is answered without an ETag (RFC 4791 §5.3.4)."""
    state = _state.get()
    if state is not None:
        state.rewritten = True


def note_schedule_tag(tag: Optional[str]) -> None:
    state = _state.get()
    if state is not None:
        state.schedule_tag = tag


def wanted_schedule_tag() -> Optional[str]:
    state = _state.get()
    return state.if_schedule_tag_match if state else None


def set_reason(reason: Optional[str]) -> None:
    """Why the current request changes a booking (for the mail to its organizer)."""
    state = _state.get()
    if state is not None:
        state.reason = reason


def current_reason() -> Optional[str]:
    state = _state.get()
    return state.reason if state else None


def unknown_time_zones(record: logging.LogRecord) -> bool:
    """A logging filter (root and radicale loggers): an unknown TZID is a client's mistake.

    vobject logs each lookup of one as a bare ERROR (``'Mars/Olympus'``) on the root
    logger, several times per body; Radicale then reads the time as UTC, and a room
    refuses the booking (Radicale logs that "Bad PUT request", the client gets why).
    Kept: one WARNING per request and TZID, saying where, who and which."""
    state = _state.get()
    if type(record.msg).__name__ != "UnknownTimeZoneError":  # pytz's, raised inside vobject
        # Radicale's line about the refusal of the same TZID says nothing more
        return not (state and state.time_zones and isinstance(record.msg, str)
                    and record.msg.startswith("Bad ")
                    and any(repr(tzid) in record.getMessage() for tzid in state.time_zones))
    tzid = record.msg.args[0] if record.msg.args else str(record.msg)
    if state is not None:
        if tzid in state.time_zones:
            return False
        state.time_zones.add(tzid)
    who = (state.actor.user or "the command line") if state and state.actor else "anonymous"
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    record.msg = ("Unknown TZID %r in %s by %s: a client's mistake (a room refuses the booking, "
                  "another calendar reads the time as UTC)")
    record.args = (tzid, _where.get() or "a request", who)
    return True
