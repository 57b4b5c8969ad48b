"""``/board``: the day's grid, rooms × hours; ``/board/rooms/<ID>``: one room's week with
its rules, its feeds (managers) and the booking form.

Each row is a local day of its room (its own zone): the hours as columns, shaded open or
closed, blackouts and buffers marked, bookings as chips with their title where the
reader may see it (``may_see_details``) and "Busy" where not.  What is busy and free is
``storage/availability.py``'s, read from the index for the day's (the week's) window
only, for every room under one read lock; the filters are the /api finder's; a booking
is ``verbs.book``, so the core decides and its sentence is shown next to the form; a
series may skip its taken weeks (``skip_conflicts``), which the notice after it lists, read
from the stored booking's EXDATEs.
"""

import dataclasses
import datetime
from typing import Dict, List, Optional
from urllib.parse import quote, urlencode

from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule

from roomcal.server import booking_body
from roomcal.server.routes.availability import find
from roomcal.server.web import listing, when
from roomcal.storage import availability as avail
from roomcal.storage import roles, series, verbs
from roomcal.storage.errors import BadRequest, Forbidden, NotFound, Refusal
from roomcal.storage.feeds import FeedError, webcal
from roomcal.storage.instances import INFINITY, BadBooking, Booking, TooManyOccurrences, instant
from roomcal.storage.rules import in_words

MAX_ROOMS = 200     # rows of one board page
LANES = 3           # overlapping bookings drawn in a row; the rest are counted
MAX_FIELD = 2000    # characters kept of a form field
MIN_FREE = 15 * 60  # a free stretch shorter than this is no offer to book
FORM_FIELDS = ("title", "start", "end", "notes", "until", "skip")
MAX_LEFT_OUT = 12   # weeks the notice names


# -- the grid --------------------------------------------------------------------------------
@dataclasses.dataclass
class Chip:
    """A booking's occurrence in an hour cell: drawn in the cell it starts in, across the
    hours it lasts (CSS classes from a fixed set: its quarter in the hour, its length in
    quarters, its lane among overlapping ones); the later cells only name it."""
    label: str      # its title, or "Busy"
    when: str       # "10:30–11:15"
    pending: bool
    first: bool     # the cell it starts in
    quarter: int = 0   # 0..3: where in the hour it starts
    quarters: int = 1  # 1..96: how long it is drawn
    lane: int = 0      # 0..LANES-1


@dataclasses.dataclass
class Mark:
    kind: str       # buffer, closed, blackout: a part of the hour
    when: str


@dataclasses.dataclass
class Cell:
    hour: int
    state: str      # open, closed, blackout, gap (an hour the clocks skip)
    chips: List[Chip]
    more: int       # bookings starting here that do not fit the lanes
    marks: List[Mark]
    free: Optional[str]       # "10:00" when a booking could start in this hour
    book_url: Optional[str]   # the room's form, prefilled (who may book)


@dataclasses.dataclass
class Row:
    heading: str
    href: Optional[str]
    notes: List[str]
    cells: List[Cell]
    lanes: int = 1   # lanes of chips the row needs (1..LANES)


def hour_bounds(room, day: datetime.date) -> List[int]:
    """25 UTC instants: the start of each wall-clock hour of ``day`` in the room's zone and
    the day's end (an hour the clocks skip is empty, one they repeat is two hours long)."""
    starts = [instant(datetime.datetime.combine(day, datetime.time(hour)), room.tz) for hour in range(24)]
    return starts + [when.day_bounds(room, day)[1]]


def _span(room, start: int, end: int) -> str:
    return f"{when.time_label(when.local(room, start))}–{when.time_label(when.local(room, end))}"


def _lanes(occurrences) -> Dict[int, int]:
    """The lane of each occurrence (by position): the lowest one free by its start;
    LANES when all are taken (it is counted, not drawn)."""
    ends, lanes = [], {}
    for position, taken in sorted(enumerate(occurrences), key=lambda p: (p[1].start, p[1].end)):
        lane = next((n for n, end in enumerate(ends) if end <= taken.start), len(ends))
        if lane == len(ends) and lane < LANES:
            ends.append(taken.end)
        elif lane < LANES:
            ends[lane] = taken.end
        lanes[position] = min(lane, LANES)
    return lanes


def day_row(room, day: datetime.date, result: avail.Availability, labels: Dict[str, str],
            heading: str, href=None, notes=(), book_url=None) -> Row:
    """The row of the room's ``day``: 24 hour cells, from its availability (which may span more)."""
    bounds = hour_bounds(room, day)
    day_lo, day_hi = bounds[0], bounds[24]
    occurrences = [b.taken for b in result.busy
                   if b.taken is not None and b.start < day_hi and b.end > day_lo]
    lanes = _lanes(occurrences)
    cells = []
    for hour in range(24):
        lo, hi = bounds[hour], bounds[hour + 1]
        if hi <= lo:
            cells.append(Cell(hour, "gap", [], 0, [], None, None))
            continue
        chips, more = [], 0
        for position, taken in enumerate(occurrences):
            if taken.start >= hi or max(taken.end, taken.start + 1) <= lo:
                continue
            first = taken.start >= lo or lo == day_lo
            if lanes[position] >= LANES:
                more += first
                continue
            shown = max(taken.start, day_lo)
            quarter = min(3, (shown - lo) // 900)
            quarters = max(1, min(96 - hour * 4 - quarter, -(-(min(taken.end, day_hi) - shown) // 900)))
            chips.append(Chip(labels.get(taken.href, "Busy"), _span(room, taken.start, taken.end),
                              taken.pending, first, quarter, quarters, lanes[position]))
        state, marks = "open", []
        for busy in result.busy:
            if busy.taken is not None or busy.start >= hi or busy.end <= lo:
                continue
            if busy.kind in ("closed", "blackout") and busy.start <= lo and busy.end >= hi:
                state = "blackout" if busy.kind == "blackout" or state == "blackout" else "closed"
            else:
                marks.append(Mark(busy.kind, _span(room, max(busy.start, lo), min(busy.end, hi))))
        if state != "open":
            marks = [m for m in marks if m.kind == "buffer"]
        free = next(((max(s, lo), min(e, hi)) for s, e in result.free
                     if min(e, hi) - max(s, lo) >= MIN_FREE), None)
        url = None
        if free and book_url:
            end = min(free[0] + 3600, max(e for s, e in result.free if s <= free[0] < e))
            url = book_url(day, free[0], end)
        cells.append(Cell(hour, state, chips, more, marks,
                          when.time_label(when.local(room, free[0])) if free else None, url))
    used = max((lane for lane in lanes.values() if lane < LANES), default=0) + 1
    return Row(heading, href, list(notes), cells, used)


def survey(web, actor, wanted) -> list:
    """(room, availability, labels) of each (room, lo, hi) in ``wanted``, under one read
    lock: the index rows of the window only; ``labels`` maps a booking's href to what the
    reader sees of it (its title, or "Busy")."""
    storage, found = web.storage, []
    limit = storage.core.max_occurrences
    with storage.acquire_lock("r", actor.user):
        for room, lo, hi in wanted:
            try:
                collection = storage.room_collection(room.id)
            except NotFound:  # removed meanwhile
                continue
            view = collection.view()
            room = collection.room()
            result = avail.availability(room, view, lo, hi, limit)
            viewer, labels = storage.core.may_view(room, actor), {}
            for taken in (busy.taken for busy in result.busy if busy.taken is not None):
                if taken.href in labels:
                    continue
                if taken.title is not None:   # its public title: for all who may view the room
                    labels[taken.href] = taken.title if viewer else "Busy"
                else:   # private (or untitled): read it to ask whose it is
                    labels[taken.href] = _label(storage.core, room, actor, view.booking(taken.href))
            found.append((room, result, labels))
    return found


def _label(core, room, actor, booking) -> str:
    if booking is None or not core.may_see_details(room, actor, booking):
        return "Busy"
    return booking.summary.strip() or "(no title)"


def _room_url(room, **query) -> str:
    query = {k: v for k, v in query.items() if v}
    return f"/board/rooms/{quote(room.id, safe='')}" + (f"?{urlencode(query)}" if query else "")


def _booker(web, page, room):
    """The prefilled form's address for a free hour, for those who may book the room."""
    if room.status == "unavailable" or not web.storage.core.may_book(room, page.actor):
        return None

    def url(day, start, end):
        return page.url(_room_url(room, week=day.isoformat(), start=when.input_value(room, start),
                                  end=when.input_value(room, end))) + "#book"
    return url


# -- /board ----------------------------------------------------------------------------------
def board(web, request, page):
    answer = page.sign_in_first()
    if answer:
        return answer
    identity = page.identity
    visible = listing.visible_rooms(web.storage, page.actor)
    features = sorted({f for room in visible for f in room.features}, key=str.lower)
    # "Today" is the first room's (the board's rooms usually share a zone).
    day = when.parse_day(request.args.get("date"), "date",
                         when.today(visible[0]) if visible else datetime.date.today())
    capacity = (request.args.get("capacity") or "").strip()[:20]
    chosen = [f.strip() for f in request.args.getlist("feature") if f.strip()][:20]
    filters = MultiDict([("capacity", capacity)] if capacity else [])
    for feature in chosen:
        filters.add("feature", feature)
    status, message = 200, ""
    try:
        rooms = find(web, identity, filters, visible)   # the /api finder (it needs .storage only)
    except BadRequest as refusal:
        status, message, rooms = refusal.json_status, refusal.message, []
    shown = rooms[:MAX_ROOMS]
    rows = []
    for room, result, labels in survey(web, page.actor, [(room, *when.day_bounds(room, day)) for room in shown]):
        notes = [f"{room.capacity} seats" if room.capacity is not None else "",
                 room.location, room.timezone, "" if room.status == "available" else room.status]
        rows.append(day_row(room, day, result, labels, room.name, page.url(_room_url(room, week=day.isoformat())),
                            [n for n in notes if n], _booker(web, page, room)))
    kept = [("capacity", capacity)] if capacity else []
    kept += [("feature", f) for f in chosen]

    def board_url(target):
        query = ([("date", target.isoformat())] if target else []) + kept
        return page.url("/board" + (f"?{urlencode(query)}" if query else ""))
    return page.render(
        "board.html", status, day=day, day_label=when.day_label(day), rows=rows, message=message,
        capacity=capacity, features=features, chosen=chosen, total=len(rooms), cut=len(rooms) > MAX_ROOMS,
        max_rooms=MAX_ROOMS, previous=board_url(day - datetime.timedelta(days=1)),
        next=board_url(day + datetime.timedelta(days=1)), today=board_url(None),
        zones=sorted({room.timezone for room in shown}))


# -- /board/rooms/<ID> -------------------------------------------------------------------------
def _room(web, page, room_id):
    room = web.storage.registry.get(room_id)
    if room is None or not roles.is_listed(room, page.actor):
        raise NotFound(f"There is no room {room_id!r}.")
    return room


def room_week(web, request, page, room_id, *, status=200, form=None, refusal=None, new_feed=None,
              week=None):
    answer = page.sign_in_first()
    if answer:
        return answer
    room = _room(web, page, room_id)
    args = request.args
    core, actor = web.storage.core, page.actor
    day = when.parse_day(week or args.get("week"), "week", when.today(room))
    monday = day - datetime.timedelta(days=day.weekday())
    days = [monday + datetime.timedelta(days=n) for n in range(7)]
    lo, hi = when.day_bounds(room, days[0])[0], when.day_bounds(room, days[-1])[1]
    found = survey(web, actor, [(room, lo, hi)])
    if not found:
        raise NotFound(f"There is no room {room_id!r}.")
    room, result, labels = found[0]
    booker = _booker(web, page, room)
    rows = [day_row(room, d, result, labels, when.day_label(d), book_url=booker) for d in days]
    if form is None:   # a free cell's link brings its times
        form = {name: "" for name in FORM_FIELDS}
        for name in ("start", "end"):
            if when.LOCAL_INPUT.fullmatch(args.get(name) or ""):
                form[name] = args[name]
    manager = core.is_manager(room, actor)
    return page.render(
        "room.html", status, room=room, rows=rows, rules=in_words(room),
        week_label=f"{when.day_label(days[0])} – {when.day_label(days[-1])}",
        previous=page.url(_room_url(room, week=(monday - datetime.timedelta(days=7)).isoformat())),
        next=page.url(_room_url(room, week=(monday + datetime.timedelta(days=7)).isoformat())),
        this_week=page.url(_room_url(room)), week=monday.isoformat(),
        may_book=booker is not None, form=form, reasons=reasons(refusal) if refusal else [],
        **_booked_notice(web, page, room, None if refusal else args.get("booked")),
        manager=manager, feeds=web.storage.feeds.list(room.id) if manager else [], new_feed=new_feed,
        # the answer to a POST opens where its form was
        action=page.url(_room_url(room) + "/book#book"), feed_action=page.url(_room_url(room) + "/feeds#feeds"))


def booking_text(room, form: dict) -> str:
    """The form as the iCalendar the core takes: the /api short form (its checks and
    sentences), "weekly until" as its JSCalendar recurrence rule (until the end of that day,
    in the room's zone)."""
    body = {"title": form["title"], "start": when.from_input(form["start"], "Start"),
            "end": when.from_input(form["end"], "End")}
    if form["notes"].strip():
        body["description"] = form["notes"]
    if form["until"].strip():
        until = when.parse_day(form["until"], "Weekly until", None)
        if until < datetime.date.fromisoformat(body["start"][:10]):
            raise BadRequest("Weekly until must be on or after the day of the start.")
        body["recurrenceRules"] = [{"@type": "RecurrenceRule", "frequency": "weekly",
                                    "until": f"{until.isoformat()}T23:59:59"}]
    return booking_body.to_ical(body, room)


def book(web, request, page, room_id):
    answer = page.sign_in_first()
    if answer:
        return answer
    room = _room(web, page, room_id)
    form = {name: request.form.get(name, "")[:MAX_FIELD] for name in FORM_FIELDS}
    try:
        written = verbs.book(web.storage, page.actor, room, booking_text(room, form),
                             skip_conflicts=form["skip"] == "1")
    except Refusal as refusal:
        try:   # the week of the typed start, if it has a day
            week = when.parse_day(form["start"][:10], "start", None)
        except BadRequest:
            week = None
        return room_week(web, request, page, room_id, status=refusal.json_status, form=form,
                         refusal=refusal, week=week and week.isoformat())
    return page.redirect(_room_url(room, week=form["start"][:10], booked=written.uid) + "#book")


def reasons(refusal: Refusal) -> List[str]:
    """What to show next to the form: each broken rule, the core's sentence on conflicts,
    each bad field; else the refusal's sentence."""
    decision = getattr(refusal, "decision", None)
    if decision is not None:
        said = [v.message[0].upper() + v.message[1:] + "." for v in decision.violations]
        if decision.conflicts:
            said.append(dataclasses.replace(decision, violations=[]).message())
        return said
    problems = getattr(refusal, "problems", None)
    if problems:
        return [p.message[0].upper() + p.message[1:] + "." for p in problems]
    return [refusal.message]


def _booked_notice(web, page, room, uid) -> dict:
    """The sentence after a booking (``notice``), and the weeks its series left out
    (``left_out``): read from the stored booking, never from the URL."""
    nothing = {"notice": "", "left_out": None}
    if not uid or len(uid) > 500:
        return nothing
    try:
        _, text, _ = verbs.read(web.storage, page.actor, room, uid)
        booking = Booking(text, room.tz)
    except (Refusal, BadBooking):
        return nothing
    first = verbs.first_occurrence(booking, limit=web.storage.core.max_occurrences)
    what = _label(web.storage.core, room, page.actor, booking)
    said = f"“{what}”" + (f", {when.span_label(room, *first)}" if first else "")
    if booking.recurring:
        said += ", every week"
    left_out = _left_out(web, page, room, booking, first) if booking.recurring and first and first[1] else None
    if verbs.status_of(booking) == "pending":
        return {"notice": f"Requested: {said}. It waits for a manager's approval.", "left_out": left_out}
    return {"notice": f"Booked: {said}.", "left_out": left_out}


def _left_out(web, page, room, booking, first) -> Optional[dict]:
    """The weeks the series leaves out (its EXDATEs: what skipping taken weeks wrote), each
    with what holds that time now as the board shows it (a title, or "another booking")."""
    starts = series.left_out_starts(booking)
    if not starts:
        return None
    length, limit = first[1] - first[0], web.storage.core.max_occurrences
    total = None
    if not booking.infinite:
        try:
            total = len(booking.occurrences(first[0], INFINITY, limit)) + len(starts)
        except (TooManyOccurrences, BadBooking):
            pass
    margin = room.buffer_seconds()   # a buffer's neighbour takes the time too
    shown = starts[:MAX_LEFT_OUT]
    found = survey(web, page.actor, [(room, start - margin, start + length + margin) for start in shown])
    weeks = []
    for position, start in enumerate(shown):
        line = when.span_label(room, start, start + length)
        if len(found) == len(shown):
            _, result, labels = found[position]
            holders = list(dict.fromkeys(
                "another booking" if labels.get(busy.taken.href, "Busy") == "Busy"
                else f"“{labels[busy.taken.href]}”"
                for busy in result.busy if busy.taken is not None))
            if holders:
                line += ": taken by " + ", ".join(holders)
        weeks.append(line)
    one = len(starts) == 1
    count = f"{len(starts)} of {total} weeks" if total else ("1 week" if one else f"{len(starts)} weeks")
    return {"heading": f"{count} {'was' if one else 'were'} taken and left out:", "weeks": weeks,
            "more": len(starts) - len(shown)}


def create_feed(web, request, page, room_id):
    """A subscription feed of the room (managers), its link shown this once."""
    answer = page.sign_in_first()
    if answer:
        return answer
    room = _room(web, page, room_id)
    if not web.storage.core.is_manager(room, page.actor):
        raise Forbidden(f"Only managers of {room.name} and admins may create its feeds.")
    try:
        feed, secret = web.storage.feeds.create(
            room.id, busy_only=request.form.get("busy_only") == "1",
            label=request.form.get("label", "")[:MAX_FIELD], created_by=page.identity.user)
    except FeedError as e:
        raise BadRequest(str(e)[0].upper() + str(e)[1:] + ".") from None
    url = web.storage.feeds.url(secret, request.root_url)
    return room_week(web, request, page, room_id,
                     new_feed={"feed": feed, "url": url, "webcal": webcal(url)})


ROUTES = [
    Rule("/board", endpoint=board, methods=["GET"]),
    Rule("/board/rooms/<room_id>", endpoint=room_week, methods=["GET"]),
    Rule("/board/rooms/<room_id>/book", endpoint=book, methods=["POST"]),
    Rule("/board/rooms/<room_id>/feeds", endpoint=create_feed, methods=["POST"]),
]
