"""Bookings as ``/my`` and ``/manage`` list them, and the POST forms of the verbs there.

Reading goes through ``verbs.bookings_in`` (one windowed index query per room), writing
through the verbs themselves: a refusal comes back as its sentence, shown next to the
form of the booking it was about, with what was typed.
"""

import dataclasses
import hashlib
from typing import Callable, List, Optional

from roomcal.server.web import when
from roomcal.storage import verbs
from roomcal.storage.booking import OWNER
from roomcal.storage.errors import BadRequest, NotFound, Refusal
from roomcal.storage.rooms import Room

DAY = 86400
HORIZON_DAYS = 400   # how far ahead the pages look
MAX_SHOWN = 200      # bookings per list; the page says when there were more
STATUS_LABELS = {"confirmed": "Confirmed", "pending": "Waiting for approval", "cancelled": "Cancelled"}
MAX_UID = 1024


def key_of(room_id: str, uid: str) -> str:
    """A short id for a booking's element and form ids (a UID may hold any character)."""
    return "b" + hashlib.sha256(f"{room_id}\0{uid}".encode()).hexdigest()[:16]


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


def visible_rooms(storage, actor) -> List[Room]:
    """The rooms the directory lists to the reader (hidden ones: admins only)."""
    return [room for room in storage.registry.all() if room.status != "hidden" or actor.admin]


def collect(storage, actor, rooms: List[Room], window, *, statuses=(), mine=False) -> List[Shown]:
    """The rooms' bookings with an occurrence in ``window``, by start; a room removed
    meanwhile is left out."""
    found = []
    for room in rooms:
        try:
            listed = verbs.bookings_in(storage, actor, room.id, window, statuses=statuses, mine=mine)
        except NotFound:
            continue
        for entry in listed:
            booking = entry.booking
            found.append(Shown(room=room, uid=booking.uid, title=booking.summary or "(no title)",
                               start=entry.first[0], end=entry.first[1],
                               status=verbs.status_of(booking), recurring=booking.recurring,
                               all_day=booking.all_day, owner=booking.get(OWNER) or ""))
    found.sort(key=lambda shown: (shown.start, shown.room.name, shown.uid))
    return found


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
