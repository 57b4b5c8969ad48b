"""Availability of a room and the room finder of ``GET /api/rooms``.

- ``GET /api/rooms/<ID>/availability?start=&end=[&duration=PT1H][&step=PT30M]``: busy
  intervals (booked, pending, buffer, closed, blackout), free windows and, with
  ``duration``, the start times the booking core would grant.
- ``find``: the ``free-from``/``free-until``, ``capacity`` and ``feature`` filters of
  ``GET /api/rooms``.

Both ask the booking core (``BookingCore.decide`` on a synthetic candidate) under
the storage's read lock; the interval arithmetic is ``storage/availability.py``.
"""

import time

from werkzeug.routing import Rule

from roomcal.server import errors
from roomcal.server.openapi import answer, describe, error, query
from roomcal.storage import availability as avail
from roomcal.storage import durations
from roomcal.storage.errors import BadRequest
from roomcal.storage.instances import iso, utc
from roomcal.storage.rooms import parse_local

MAX_RANGE = 62 * 86400   # seconds an availability query may span
MAX_SLOTS = 3000         # start times one query may ask the core about
MIN_STEP = 60            # seconds
DEFAULT_STEP = 1800      # PT30M, or the duration when it is shorter


def moment(value, room, name: str, *, end_of_day: bool = False, clamp: bool = False) -> int:
    """An ISO date or date-time parameter (naive: the room's time zone) as UTC seconds;
    ``clamp``: a listing's bound, where a year out of range means "from the beginning"
    or "to the end" (storage/rooms.py parse_local)."""
    if value is None or not value.strip():
        raise BadRequest(f"'{name}' is required (an ISO 8601 date or date-time).")
    try:
        return int(parse_local(value, room.tz, end_of_day=end_of_day, clamp=clamp).timestamp())
    except (ValueError, OverflowError) as e:
        raise BadRequest(f"'{name}': {e}.") from None


def duration(value, name: str) -> int:
    try:
        seconds = durations.parse(value).seconds
    except ValueError as e:
        raise BadRequest(f"'{name}': {e}.") from None
    if seconds <= 0:
        raise BadRequest(f"'{name}' must be longer than zero.")
    return seconds


# -- GET /api/rooms/<ID>/availability ------------------------------------------------------
@describe(
    "Busy and free times of a room",
    "Busy intervals with their kind (titles only for callers who may read them), free windows "
    "and, with duration, the start times every rule allows. At most 62 days at once.",
    parameters=[query("start", "ISO 8601 date or date-time", required=True),
                query("end", "ISO 8601 (a date: through that day)", required=True),
                query("duration", "ISO 8601 duration of the wanted booking, e.g. PT1H"),
                query("step", "between candidate starts (needs duration; default PT30M, or the "
                              "duration when shorter)")],
    responses={"200": answer("The availability.", "Availability")}, errors=error("400", "BadRequest"))
def availability(api, request, identity, room_id):
    room = api.room(room_id)
    args = request.args
    lo = moment(args.get("start"), room, "start")
    hi = moment(args.get("end"), room, "end", end_of_day=True)
    if hi <= lo:
        raise BadRequest("'end' must be after 'start'.")
    if hi - lo > MAX_RANGE:
        raise BadRequest(f"The range may span at most {MAX_RANGE // 86400} days; ask in parts.")
    length = step = None
    if args.get("duration"):
        length = duration(args["duration"], "duration")
        step = duration(args["step"], "step") if args.get("step") else min(length, DEFAULT_STEP)
        if step < MIN_STEP:
            raise BadRequest("'step' must be at least one minute (PT1M).")
        count = avail.count_slots(room, lo, hi, length, step)
        if count > MAX_SLOTS:
            raise BadRequest(f"This asks about {count} start times; at most {MAX_SLOTS} at once: "
                             "use a shorter range or a longer step.")
    elif args.get("step"):
        raise BadRequest("'step' needs 'duration'.")

    storage, actor = api.storage, identity.actor()
    now = int(time.time())
    with storage.acquire_lock("r", identity.user):
        collection = storage.room_collection(room_id)
        room = collection.room()
        reach = room.buffer_seconds() + 1  # bookings that clash with slots at the edges
        snapshot = avail.Snapshot(collection.view(), lo - reach, hi + reach,
                                  storage.core.max_occurrences)
        result = avail.availability(room, snapshot, lo, hi, storage.core.max_occurrences)
        slots = None
        if length is not None:
            starts = avail.slot_starts(room, lo, hi, length, step)
            slots = avail.bookable(storage.core, room, snapshot, starts, length, now=now, actor=actor)

    viewer = storage.core.may_view(room, actor)
    body = {"room": room.id, "timeZone": room.timezone, "start": iso(room, lo), "end": iso(room, hi),
            "quantity": room.rules.quantity, "status": room.status,
            "busy": [_busy(room, b, viewer) for b in result.busy],
            "free": [{"start": iso(room, s), "end": iso(room, e)} for s, e in result.free]}
    if slots is not None:
        body.update({"duration": durations.parse(args["duration"]).text,
                     "step": durations.parse(args["step"]).text if args.get("step") else _text(step),
                     "slots": [{"start": iso(room, s), "end": iso(room, s + length)} for s in slots]})
    return errors.json_response(200, body)


def _busy(room, busy, viewer: bool) -> dict:
    entry = {"start": iso(room, busy.start), "end": iso(room, busy.end), "kind": busy.kind}
    taken = busy.taken
    if taken is not None and viewer:  # free/busy-only callers see times and kinds only
        entry.update({"uid": taken.uid, "href": room.url(taken.href)})
        if taken.title is not None:
            entry["title"] = taken.title
    return entry


def _text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + \
        (f"{secs}S" if secs else "")


# -- the finder of GET /api/rooms -------------------------------------------------------------
def find(api, identity, args, rooms: list) -> list:
    """``rooms`` narrowed by the finder parameters; BadRequest for bad ones."""
    capacity = args.get("capacity")
    if capacity is not None:
        try:
            capacity = int(capacity)
        except ValueError:
            raise BadRequest(f"'capacity' must be a whole number, not {capacity!r}.") from None
        if capacity < 0:
            raise BadRequest("'capacity' must be 0 or more.")
        rooms = [r for r in rooms if r.capacity is not None and r.capacity >= capacity]
    features = [f.strip().lower() for f in args.getlist("feature")]
    if any(not f for f in features):
        raise BadRequest("'feature' must name a feature.")
    if features:
        rooms = [r for r in rooms if set(features) <= {f.lower() for f in r.features}]
    free_from, free_until = args.get("free-from"), args.get("free-until")
    if free_from is None and free_until is None:
        return rooms
    if not free_from or not free_until:
        raise BadRequest("'free-from' and 'free-until' go together.")
    for value, name in ((free_from, "free-from"), (free_until, "free-until")):  # 400 before any room
        try:
            parse_local(value, utc(0).tzinfo)
        except ValueError as e:
            raise BadRequest(f"'{name}': {e}.") from None
    spans = {}
    for room in rooms:  # naive times are each room's local time
        start = moment(free_from, room, "free-from")
        end = moment(free_until, room, "free-until", end_of_day=True)
        if end <= start:
            raise BadRequest("'free-until' must be after 'free-from'.")
        spans[room.id] = (start, end)
    free = set(api.storage.free_rooms(spans, identity.actor(), int(time.time())))
    return [room for room in rooms if room.id in free]


ROUTES = [
    Rule("/api/rooms/<room_id>/availability", endpoint=availability, methods=["GET"]),
]
