"""Bookings as ``/my`` and ``/manage`` list them, and the POST forms of the verbs there.

Reading goes through ``verbs.bookings_in`` (one windowed index query per room), writing
through the verbs themselves: a refusal comes back as its sentence, shown next to the
form of the booking it was about, with what was typed.
"""

import dataclasses
import hashlib
import time
from typing import Callable, List, Optional

from roomcal.server.web import when
from roomcal.storage import checkin, roles, verbs
from roomcal.storage.errors import BadRequest, NotFound, Refusal
from roomcal.storage.instances import iso
from roomcal.storage.outline import Outline
from roomcal.storage.rooms import Room

DAY = 86400
HORIZON_DAYS = 400   # how far ahead the pages look
MAX_SHOWN = 200      # bookings per list; the page says when there were more
STATUS_LABELS = {"confirmed": "Confirmed", "pending": "Waiting for approval", "cancelled": "Cancelled"}
MAX_UID = 1024


def key_of(room_id: str, uid: str) -> str:
    """A short id for a booking's element and form ids (a UID may hold any character)."""
    return "b" + hashlib.sha256(f"{room_id}\0{uid}".encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class CheckIn:
    """The check-in of a listed occurrence (a room with the rule): its window
    (storage/checkin.py) and when it was checked in, as of ``now``."""
    room: Room
    span: checkin.Window
    done: Optional[int]   # when it was checked in
    now: int

    @property
    def occurrence(self) -> str:
        """The form's name of the occurrence (the verb's recurrenceId): its start."""
        return iso(self.room, self.span.start)

    @property
    def open(self) -> bool:
        return self.done is None and self.span.holds(self.now)

    def _clock(self, seconds: int) -> str:
        return checkin.clock(self.room, seconds, self.now)

    @property
    def done_label(self) -> str:
        return f"Checked in at {self._clock(self.done)}."

    @property
    def deadline(self) -> str:
        return (f"Check in by {self._clock(self.span.closes)} ({self.room.timezone}), "
                "or the booking is released.")

    @property
    def line(self) -> str:
        """Why there is no button (the core's sentence), and by when it must be done."""
        why = checkin.outside(self.room, self.span, self.now) or ""
        return why if self.now >= self.span.closes else f"{why} {self.deadline}".strip()

    @property
    def short(self) -> str:
        """A day's table: checked in or not."""
        if self.done is not None:
            return f"Checked in at {self._clock(self.done)}"
        if self.now >= self.span.closes:
            return "Not checked in"
        return f"Not checked in yet (by {self._clock(self.span.closes)})"


@dataclasses.dataclass
class Shown:
    """One booking as a page shows it: its first occurrence in the window, in its room's zone."""
    room: Room
    uid: str
    title: str
    start: int
    end: Optional[int]
    status: str
    recurring: bool
    all_day: bool
    owner: str
    check_in: Optional[CheckIn] = None   # rooms with the check-in rule

    @property
    def key(self) -> str:
        return key_of(self.room.id, self.uid)

    @property
    def when(self) -> str:
        if not self.all_day:
            return when.span_label(self.room, self.start, self.end)
        first = when.local(self.room, self.start).date()
        last = when.local(self.room, self.end - 1).date() if self.end else first  # DTEND: the day after
        label = when.day_label(first)
        return label if last == first else f"{label} – {when.day_label(last)}"

    @property
    def clock(self) -> str:
        """The times alone when the booking starts and ends on one day (a day's table)."""
        if self.all_day:
            return "All day"
        first = when.local(self.room, self.start)
        last = when.local(self.room, self.end) if self.end is not None else first
        if last.date() != first.date():
            return self.when
        return f"{when.time_label(first)}–{when.time_label(last)}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def movable(self) -> bool:
        """The reschedule form moves one timed booking; a series or an all-day booking is
        moved in a calendar app or with the API (the form's times would not fit them)."""
        return self.status != "cancelled" and not self.recurring and not self.all_day

    def input_value(self, seconds: Optional[int]) -> str:
        return when.input_value(self.room, seconds) if seconds is not None else ""

    def offers(self, action: str) -> bool:
        """Whether the page shows this booking's form of ``action`` (its refusal goes there)."""
        if self.status == "cancelled":
            return False
        if action == "reschedule":
            return self.movable
        if action == "check-in":
            return self.check_in is not None
        return True


def visible_rooms(storage, actor) -> List[Room]:
    """The rooms the directory lists to the reader (hidden ones: admins only)."""
    return [room for room in storage.registry.all() if roles.is_listed(room, actor)]


def collect(storage, actor, rooms: List[Room], window, *, statuses=(), mine=False) -> List[Shown]:
    """The rooms' bookings with an occurrence in ``window``, by start; a room removed
    meanwhile is left out."""
    found, now = [], int(time.time())
    for room in rooms:
        try:
            listed = verbs.bookings_in(storage, actor, room.id, window, statuses=statuses, mine=mine)
        except NotFound:
            continue
        for entry in listed:
            outline = entry.outline
            found.append(Shown(room=room, uid=outline.uid, title=outline.title or "(no title)",
                               start=entry.first[0], end=entry.first[1],
                               status=outline.status, recurring=outline.recurring,
                               all_day=outline.all_day, owner=outline.owner or "",
                               check_in=_check_in(storage, room, outline, entry.first[0], now)))
    found.sort(key=lambda shown: (shown.start, shown.room.name, shown.uid))
    return found


def _check_in(storage, room, outline: Outline, start: int, now: int) -> Optional[CheckIn]:
    """The listed occurrence's check-in, for bookings that need one."""
    if not checkin.applies(room, outline) or outline.status == "cancelled":
        return None
    span = checkin.window(start, room.check_in.seconds, storage.check_in.opens)
    return CheckIn(room, span, outline.checked_in(start), now)


@dataclasses.dataclass
class Failure:
    """A refused form: which booking and action, the core's sentence, what was typed."""
    key: str
    action: str
    message: str
    values: dict

    def about(self, shown: Shown, action: str) -> bool:
        return self.key == shown.key and self.action == action

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


def act(web, request, page, action: str, run: Callable, show: Callable, done: Callable):
    """A POST form's verb on the booking named by its ``room`` and ``uid`` fields:
    ``run(room, uid)``; then 303 to ``done(written)``, or the page again (``show``) with
    the refusal's sentence and status next to that booking's form."""
    redirect = page.sign_in_first()
    if redirect is not None:
        return redirect
    form = request.form
    room_id, uid = form.get("room", ""), form.get("uid", "")
    try:
        if not uid or len(uid) > MAX_UID:
            raise BadRequest("The form names no booking; reload the page and try again.")
        room = web.storage.registry.get(room_id)
        if room is None:
            raise NotFound(f"There is no room {room_id[:80]!r}.")
        written = run(room, uid)
    except Refusal as refusal:
        failure = Failure(key_of(room_id, uid), action, refusal.message,
                          {name: form.get(name, "") for name in ("start", "end", "reason")})
        return show(web, request, page, failed=failure, status=refusal.json_status)
    return page.redirect(done(written))
