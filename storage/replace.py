"""Replacing a room's bookings in a period, all or nothing (seed 002, Personalkollen-style).

``replace_period`` runs under ONE storage write lock: it decides the whole new set
against the room *minus* the bookings being replaced (a ``PeriodView`` whose
``overlapping`` leaves them out, and ``commit.admit_batch``, so each new booking
is checked against the kept ones and the new ones before it), and only when every
booking passes does it remove the replaced items and store the new ones in one
``commit`` (storage/commit.py) — the step every write takes — so the journal (JSON
sync), the index, Radicale's sync history and the organizers' mails see every change.
Nothing is written when anything is refused.

"Replaced" means every stored item of the room (confirmed, pending, cancelled, single or
series) whose first occurrence starts in [start, end).  Each new booking must lie
wholly inside [start, end), so replacing the same period twice with the same list gives
the same room.
"""

import dataclasses
from typing import List, Optional

from roomcal.storage import rooms
from roomcal.storage.commit import REPLACE, admit_batch, commit
from roomcal.storage.errors import AccessDenied, BookingRefused, InvalidBooking, Refusal
from roomcal.storage.instances import INFINITY, BadBooking, Booking, TooManyOccurrences, utc
from roomcal.storage.items import free_href, split_calendar


@dataclasses.dataclass
class Problem:
    """Why a replace was refused, about one booking of the request (its position)."""
    index: Optional[int]       # position in the list; None: the request as a whole
    code: str                  # "invalid", "unique", "conflict" or the broken rule's name
    message: str
    field: Optional[str] = None  # the booking's field ("uid"); None: the booking as a whole
    general: bool = False      # about how bookings relate (period, each other), not one alone


class ReplaceRefused(Refusal):
    """Nothing was changed; ``problems`` say why, each tied to a booking where it can be."""
    caldav_status = json_status = 400
    precondition = json_type = "invalidReplace"

    def __init__(self, problems: List[Problem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems[:5]) or "The replace was refused.")


@dataclasses.dataclass
class Entry:
    href: str       # inside the room, e.g. "standup.ics"
    uid: str
    title: str
    start: int      # UTC seconds; INFINITY: open-ended
    end: int
    status: str


@dataclasses.dataclass
class Result:
    room: rooms.Room
    stored: List[Entry]
    removed: List[Entry]


class PeriodView:
    """The room as the booking core sees it (a store.RoomView), without the bookings
    being replaced.

    Rows the batch adds (``extra``) stay visible even when a new booking reuses the
    href of a replaced one (same UID): they are told apart from index rows by identity.
    """

    def __init__(self, view, excluded):
        self.view = view               # a RoomView of its own: the batch adds to its extra
        self.extra = view.extra
        self.excluded = frozenset(excluded)
        self._batch_ids = set()
        self._counted = 0

    def _batch_rows(self) -> set:
        while self._counted < len(self.extra):
            self._batch_ids.add(id(self.extra[self._counted][0]))
            self._counted += 1
        return self._batch_ids

    def overlapping(self, start: int, end: int):
        batch = self._batch_rows()
        return [row for row in self.view.overlapping(start, end)
                if id(row) in batch or row.href not in self.excluded]

    def owned(self, owner: str, start: int, end: int):
        batch = self._batch_rows()
        return [row for row in self.view.owned(owner, start, end)
                if id(row) in batch or row.href not in self.excluded]

    def booking(self, href: str):
        for row, booking in self.extra:
            if row.href == href:
                return booking
        if href in self.excluded:
            return None
        return self.view.booking(href)


def replace_period(storage, room_id: str, start: int, end: int, texts: List[str], actor) -> Result:
    """Replace every booking of ``room_id`` starting in [start, end) with ``texts``
    (one iCalendar object each).  Raises ReplaceRefused (nothing changed) with every
    problem found, AccessDenied for anyone but the room's managers and admins."""
    if end <= start:
        raise InvalidBooking("period end must occur after start")
    path = f"/{rooms.ROOMS}/{room_id}/"
    problems: List[Problem] = []
    items = []  # (position, radicale item)
    for position, text in enumerate(texts):
        try:
            split = split_calendar(storage.configuration, path, text)
        except InvalidBooking as e:
            problems.append(Problem(position, "invalid", e.message))
            continue
        if len(split) != 1:
            problems.append(Problem(position, "invalid", "a booking must be exactly one event (one UID)"))
            continue
        items.append((position, split[0]))
    core = storage.core
    with storage.acquire_lock("w", actor.user, path=path, request="REPLACE", actor=actor.user):
        collection = storage.room_collection(room_id)
        room = collection.room()
        if not core.is_manager(room, actor):
            raise AccessDenied(f"Only managers of {room.name} and admins may replace its bookings.")
        period = f"'{_local(room, start)} - {_local(room, end)}'"
        uids = {}
        for position, item in items:
            try:
                first, last = Booking(item.serialize(), room.tz).envelope(core.max_occurrences)
            except (BadBooking, TooManyOccurrences) as e:
                problems.append(Problem(position, "invalid", f"this booking cannot be read: {e}"))
                continue
            if first < start or last > end:
                problems.append(Problem(position, "invalid", f"booking '{_local(room, first)}' must be "
                                                             f"within given time period {period}",
                                        general=True))
            if item.uid in uids:
                problems.append(Problem(position, "unique", f"uid {item.uid!r} is already used by "
                                                            f"booking {uids[item.uid]}", field="uid"))
            uids.setdefault(item.uid, position)
        if problems:  # the list itself is wrong: the room's verdict would only add noise
            raise ReplaceRefused(problems)

        view = collection.view()
        replaced = [row for row in storage.index.overlapping(view.room_key, start, end, blocking_only=False)
                    if start <= row.start < end]
        replaced_by_uid = {row.uid: row.href for row in replaced}
        excluded = {row.href for row in replaced}
        taken = set()
        batch = []  # (position, href, item)
        for position, item in items:
            href = replaced_by_uid.get(item.uid)
            if href is None:
                kept = storage.index.href_of_uid(view.room_key, item.uid)
                if kept is not None:
                    problems.append(Problem(position, "unique", f"a booking with uid {item.uid!r} is already "
                                                                f"in {room.name} outside this period "
                                                                f"({room.path}{kept})", field="uid"))
                    continue
                href = free_href(item.uid, lambda h: h in taken or h in excluded
                                 or collection._get(h) is not None)
            taken.add(href)
            batch.append((position, href, item))
        position_of = {href: position for position, href, _ in batch}

        period_view = PeriodView(collection.view(), excluded)  # not ``view``: it reads the old bookings
        stored = []  # commit.Put, in the order of the list
        for position, href, item in batch:
            try:
                put, = admit_batch(collection, room, period_view, [(href, item)], actor, check=True)
            except BookingRefused as refusal:
                problems.extend(_problems(room, position, refusal.decision, position_of))
                continue
            except Refusal as refusal:
                problems.append(Problem(position, "invalid", refusal.message))
                continue
            stored.append(put)
        if problems:
            raise ReplaceRefused(problems)

        reused = {put.href for put in stored} & excluded
        removed = [href for href in sorted(excluded) if href not in reused]
        # ``view.booking``: what the replaced bookings were, for their organizers' mails.
        commit(collection, put=stored, remove=removed, reason=REPLACE, actor=actor, before=view.booking)
        return Result(room,
                      [Entry(p.href, p.row.uid, p.booking.summary, p.row.start, p.row.end, p.row.status)
                       for p in stored],
                      [Entry(r.href, r.uid, r.summary, r.start, r.end, r.status)
                       for r in sorted(replaced, key=lambda r: (r.start, r.href))])


def _problems(room, position: int, decision, position_of) -> List[Problem]:
    """The core's verdict on one booking, tied to it; clashes with other new bookings
    of the same list are about the list (general), clashes with kept bookings about it."""
    found = [Problem(position, violation.rule, violation.message) for violation in decision.violations]
    in_list = sorted({position_of[c.href] for c in decision.conflicts if c.href in position_of})
    kept = [c for c in decision.conflicts if c.href not in position_of]
    if in_list:
        quantity = room.rules.quantity
        at_once = "once" if quantity == 1 else f"{quantity} times at once"
        others = ", ".join(str(p) for p in in_list)
        found.append(Problem(position, "invalid", f"booking {position} overlaps booking(s) {others} of "
                                                  f"the list; {room.name} can be booked {at_once}",
                             general=True))
    if kept:
        shown = "; ".join(f"“{c.title}” from {_local(room, c.start)} to {_local(room, c.end)} "
                          f"({room.path}{c.href})" if c.title else
                          f"another booking from {_local(room, c.start)} to {_local(room, c.end)}"
                          for c in kept[:3])
        more = f" and {len(kept) - 3} more" if len(kept) > 3 else ""
        found.append(Problem(position, "conflict", f"{room.name} is already booked by a booking this "
                                                   f"replace keeps (it starts outside the period): "
                                                   f"{shown}{more}"))
    return found


def _local(room, seconds: int) -> str:
    if seconds >= INFINITY:
        return "open end"
    return str(utc(seconds).astimezone(room.tz))
