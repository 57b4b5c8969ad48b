"""Secret subscription feeds: one .ics link per feed, full or busy-only (issue 6).

A feed belongs to one room.  Its link ``/.feeds/<secret>.ics`` is the only
credential: the secret is ``rcf_<id>_<43 random characters>`` (256 random
bits), shown once; the database keeps its SHA-256 (a long random secret needs
no slow hash), compared in constant time.  The id is public (lists, revoke,
masked log lines); it grants nothing.  Feeds live in the accounts database
(``[auth] roomcal_accounts``, or the shared PostgreSQL database), table ``feeds``.

Rendering is pure: ``render`` turns the stored bookings of a room into one
VCALENDAR.  A booking is in the feed when one of its occurrences touches the
window, and then whole: a series keeps its RRULE, RDATEs, EXDATEs and
overrides; a cancelled occurrence becomes an EXDATE; a cancelled booking
(cancelled master) is left out.  Busy-only feeds rebuild every VEVENT from
its times alone (see ``_busy``); their UIDs are an HMAC of the real UID under
a per-feed random key, because UIDs chosen by people or scripts ("standup",
"ceo-1on1-2027") say what a booking is, and the key keeps feed holders from
testing guesses.
"""

import copy
import dataclasses
import datetime
import hashlib
import hmac
import re
import secrets
import time
from typing import Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

import icalendar

from roomcal.storage.instances import BadBooking, Booking, TooManyOccurrences, floating, rrules, values_of
from roomcal.storage.database import open_database

PREFIX = "/.feeds/"            # public URLs: /.feeds/<secret>.ics (never a Radicale path)
SECRET_PREFIX = "rcf_"
SECRET = re.compile(r"rcf_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
DEFAULT_BUSY_TITLE = "Busy"
# What a busy-only VEVENT keeps (plus SUMMARY, the room's busy title, and STATUS:TENTATIVE).
BUSY_TIMES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
REFRESH = "PT1H"
MAX_LABEL = 200
UTC = datetime.timezone.utc


class FeedError(ValueError):
    pass


@dataclasses.dataclass
class Feed:
    id: str
    room: str
    label: str
    busy_only: bool
    created: float
    created_by: str = ""
    salt: str = dataclasses.field(default="", repr=False)

    def to_json(self) -> dict:
        return {"id": self.id, "room": self.room, "label": self.label, "busyOnly": self.busy_only,
                "created": datetime.datetime.fromtimestamp(self.created, UTC)
                .isoformat(timespec="seconds").replace("+00:00", "Z"),
                "createdBy": self.created_by,
                "href": f"/api/rooms/{self.room}/feeds/{self.id}"}


def _setup(conn) -> None:
    """SQLite's table (PostgreSQL's: storage/postgres/migrations/0002_accounts.sql)."""
    conn.execute("""CREATE TABLE IF NOT EXISTS feeds(id TEXT PRIMARY KEY, room TEXT NOT NULL,
        label TEXT NOT NULL DEFAULT '', busy_only INTEGER NOT NULL, hash TEXT NOT NULL,
        salt TEXT NOT NULL, created REAL NOT NULL, created_by TEXT NOT NULL DEFAULT '')""")
    conn.execute("CREATE INDEX IF NOT EXISTS feeds_by_room ON feeds(room)")


class Feeds:
    """The feed table, the window and the public base URL ([storage] roomcal_feed_*)."""

    def __init__(self, configuration, db_path: str, past_days: int = 30, future_days: int = 365,
                 public_url: str = ""):
        """In ``db_path`` (SQLite: the accounts' file) unless the configuration names the
        shared PostgreSQL database."""
        self.past_days = past_days
        self.future_days = future_days
        self.public_url = public_url
        self._db = open_database(configuration, db_path, _setup)

    # -- the table ------------------------------------------------------------------
    def create(self, room_id: str, *, busy_only: bool, label: str = "", created_by: str = "") -> tuple:
        """Return (Feed, secret).  The secret is not kept."""
        label = (label or "").strip()
        if len(label) > MAX_LABEL or any(c in label for c in "\r\n"):
            raise FeedError(f"a feed label is one line of at most {MAX_LABEL} characters")
        feed_id = secrets.token_hex(6)
        secret = f"{SECRET_PREFIX}{feed_id}_{secrets.token_urlsafe(32)}"
        feed = Feed(feed_id, room_id, label, bool(busy_only), time.time(), created_by or "",
                    secrets.token_hex(16))
        self._db.execute(
            "INSERT INTO feeds(id, room, label, busy_only, hash, salt, created, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (feed.id, room_id, feed.label, int(feed.busy_only), _hash(secret), feed.salt,
             feed.created, feed.created_by))
        return feed, secret

    def list(self, room_id: Optional[str] = None) -> List[Feed]:
        query = "SELECT id, room, label, busy_only, created, created_by, salt FROM feeds"
        rows = (self._db.execute(query + " WHERE room = ? ORDER BY created", (room_id,))
                if room_id is not None else self._db.execute(query + " ORDER BY room, created"))
        return [_feed(r) for r in rows]

    def get(self, feed_id: str) -> Optional[Feed]:
        row = self._db.execute("SELECT id, room, label, busy_only, created, created_by, salt "
                               "FROM feeds WHERE id = ?", (feed_id,)).fetchone()
        return _feed(row) if row else None

    def revoke(self, feed_id: str, room_id: Optional[str] = None) -> None:
        query, args = "DELETE FROM feeds WHERE id = ?", [feed_id]
        if room_id is not None:
            query, args = query + " AND room = ?", args + [room_id]
        if not self._db.execute(query, args).rowcount:
            where = f" in room {room_id!r}" if room_id is not None else ""
            raise FeedError(f"no feed {feed_id!r}{where}")

    def drop_room(self, room_id: str) -> None:
        """A removed room takes its feeds along (a new room of the same id starts without)."""
        self._db.execute("DELETE FROM feeds WHERE room = ?", (room_id,))

    def export(self) -> List[tuple]:
        """Every feed with its secret's hash and salt (storage/migrate.py): the links keep working."""
        return [tuple(r) for r in self._db.execute(
            "SELECT id, room, label, busy_only, hash, salt, created, created_by FROM feeds ORDER BY id")]

    def restore(self, rows: List[tuple]) -> None:
        self._db.executemany("INSERT INTO feeds(id, room, label, busy_only, hash, salt, created, created_by) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING", rows)

    def check(self, secret: str) -> Optional[Feed]:
        match = SECRET.fullmatch(secret or "")
        if not match:
            return None
        row = self._db.execute("SELECT id, room, label, busy_only, created, created_by, salt, hash "
                               "FROM feeds WHERE id = ?", (match.group(1),)).fetchone()
        if row is None or not hmac.compare_digest(row[7], _hash(secret)):
            return None
        return _feed(row[:7])

    # -- URLs and the window ------------------------------------------------------------
    def url(self, secret: str, base: str) -> str:
        return f"{(self.public_url or base).rstrip('/')}{PREFIX}{secret}.ics"

    def window(self, now: Optional[float] = None) -> Tuple[int, int]:
        """[start, end) in UTC seconds, on day boundaries so a feed is stable within a day."""
        today = int(time.time() if now is None else now) // 86400 * 86400
        return today - self.past_days * 86400, today + (self.future_days + 1) * 86400


def webcal(url: str) -> str:
    return "webcal" + url[url.index("://"):] if "://" in url else url


def mask(text: str) -> str:
    """A log line without feed secrets: /.feeds/rcf_<id>_… (the id is not secret).

    Whatever follows /.feeds/ is masked, and so is a secret anywhere else (pasted
    into another URL by mistake)."""
    def replace(match):
        found = re.match(r"rcf_([0-9a-f]{12})_", match.group(2))
        return match.group(1) + (f"rcf_{found.group(1)}_…" if found else "…") + \
            (".ics" if match.group(2).endswith(".ics") else "")
    text = re.sub(r"(/(?:\.|%2[eE])feeds/)([^\s\"'?#]*)", replace, text)
    return re.sub(r"(rcf_[0-9a-f]{12}_)[A-Za-z0-9_-]{20,}", r"\1…", text)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _feed(row) -> Feed:
    return Feed(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6])


def feeds_from(configuration, db_path: str) -> Feeds:
    """The feed store with its options; ValueError with a sentence for a bad value."""
    def option(name, default):
        try:
            value = configuration.get("storage", name)
        except KeyError:
            return default
        return default if value in (None, "") else str(value).strip()

    def days(name, default):
        text = option(name, default)
        if not re.fullmatch(r"\d{1,5}", text):
            raise ValueError(f"[storage] {name} must be a whole number of days, not {text!r}")
        return int(text)
    public_url = option("roomcal_public_url", "")
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"[storage] roomcal_public_url must be an http(s) URL such as "
                             f"https://rooms.example.org, not {public_url!r}")
    return Feeds(configuration, db_path, days("roomcal_feed_past_days", "30"),
                 days("roomcal_feed_future_days", "365"), public_url.rstrip("/"))


# -- rendering ----------------------------------------------------------------------------
@dataclasses.dataclass
class Source:
    """One stored booking: its href, text and file modification time (UTC seconds)."""
    href: str
    text: str
    mtime: float


def render(room, sources: Iterable[Source], *, busy_only: bool, key: str, window: Tuple[int, int],
           max_occurrences: int = 5000) -> bytes:
    """The feed body: one VCALENDAR of the bookings that touch ``window``."""
    start, end = window
    events, zones = [], {}
    for source in sorted(sources, key=lambda s: s.href):
        try:
            booking = Booking(source.text, room.tz)
        except BadBooking:
            continue  # an unreadable stored item; the index logs it
        if not _touches(booking, start, end, busy_only, max_occurrences):
            continue
        made = _busy_events(booking, room, key, source) if busy_only or booking.private \
            else _full_events(booking, room, source)
        events.extend(made)
        for timezone in booking.calendar.walk("VTIMEZONE"):
            zones.setdefault(str(timezone.get("TZID", "")), timezone)

    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//roomcal//feeds//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("X-WR-CALNAME", room.name)
    # No X-WR-TIMEZONE: floating times are given the room's zone instead (_localize), and
    # some readers (recurring_ical_events among them) move every event into that zone.
    calendar.add("REFRESH-INTERVAL", datetime.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", REFRESH)
    for event in events:
        calendar.add_component(event)
    first = min([_first_day(e) for e in events] + [_day(start)])
    try:  # icalendar >= 6.1
        for tzid in sorted(calendar.get_used_tzids()):
            if tzid in zones:  # the booking's own definition first
                calendar.subcomponents.insert(0, zones[tzid])
        calendar.add_missing_timezones(first_date=max(first, datetime.date(1970, 1, 1)),
                                       last_date=_day(end) + datetime.timedelta(days=366))
    except Exception:  # an unknown TZID without its VTIMEZONE: clients fall back to floating
        pass
    # VTIMEZONEs first, as clients expect, then events in href order.
    calendar.subcomponents.sort(key=lambda c: 0 if c.name == "VTIMEZONE" else 1)
    return calendar.to_ical()


def _touches(booking: Booking, start: int, end: int, busy_only: bool, limit: int) -> bool:
    if _status(booking.master) == "CANCELLED" and "RECURRENCE-ID" not in booking.master:
        return False
    try:
        occurrences = booking.occurrences(start, end, limit)
    except TooManyOccurrences:
        return True
    except BadBooking:
        return False
    wanted = (lambda o: o.blocking) if busy_only else (lambda o: o.status != "CANCELLED")
    return any(wanted(o) for o in occurrences)


def _status(event) -> str:
    return str(event.get("STATUS", "")).upper()


def _transparent(event) -> bool:
    return str(event.get("TRANSP", "")).upper() == "TRANSPARENT"


def _masters_and_overrides(booking: Booking):
    masters = [e for e in booking.events if "RECURRENCE-ID" not in e]
    overrides = [e for e in booking.events if "RECURRENCE-ID" in e]
    return (masters[0] if masters else None), overrides


def _full_events(booking: Booking, room, source: Source) -> list:
    """The booking as stored, minus alarms (subscribers' devices must not ring), with
    cancelled occurrences as EXDATEs of their series."""
    master, overrides = _masters_and_overrides(booking)
    result = []
    if master is not None:
        event = _copy(master)
        for override in overrides:
            if _status(override) == "CANCELLED":
                _exclude(event, override)
        result.append(event)
    result.extend(_copy(o) for o in overrides if _status(o) != "CANCELLED")
    for event in result:
        _localize(event, room.tz)
        if "DTSTAMP" not in event:  # required in a VEVENT; Radicale does not insist
            event.add("DTSTAMP", _stamp(source))
    return result


def _busy_events(booking: Booking, room, key: str, source: Source) -> list:
    """Times and recurrence only: SUMMARY is the room's busy title."""
    master, overrides = _masters_and_overrides(booking)
    uid = _hidden_uid(key, booking.uid)
    result = []
    blocking_master = master is not None and not _transparent(master)
    if blocking_master:
        event = _busy(master, room, uid, source)
        for override in overrides:
            if _status(override) == "CANCELLED" or _transparent(override):
                _exclude(event, override)
        result.append(event)
    for override in overrides:
        if _status(override) == "CANCELLED" or _transparent(override):
            continue
        if blocking_master:
            result.append(_busy(override, room, uid, source))
        else:  # no (blocking) series to attach it to: a stand-alone event
            alone = _busy(override, room, _hidden_uid(key, booking.uid + "\0" + str(
                override["RECURRENCE-ID"].to_ical())), source)
            alone.pop("RECURRENCE-ID", None)
            result.append(alone)
    for event in result:
        _localize(event, room.tz)
    return result


def _busy(original, room, uid: str, source: Source):
    event = icalendar.Event()
    event.add("UID", uid)
    if "DTSTAMP" in original:
        event["DTSTAMP"] = copy.deepcopy(original["DTSTAMP"])
    else:
        event.add("DTSTAMP", _stamp(source))
    for name in BUSY_TIMES:
        if name in original:
            event[name] = copy.deepcopy(original[name])
    event.add("SUMMARY", (getattr(room, "busy_title", "") or "").strip() or DEFAULT_BUSY_TITLE)
    if _status(original) == "TENTATIVE":
        event.add("STATUS", "TENTATIVE")
    return event


def _stamp(source: Source) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(source.mtime), UTC)


def _hidden_uid(key: str, uid: str) -> str:
    return hmac.new(key.encode(), uid.encode(), hashlib.sha256).hexdigest()[:32] + "@roomcal"


def _copy(original):
    event = copy.deepcopy(original)
    event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
    return event


def _exclude(master, override) -> None:
    """A cancelled occurrence of a series: an EXDATE on the series instead."""
    if "RRULE" not in master and "RDATE" not in master:
        return
    recurrence_id = override["RECURRENCE-ID"]
    params = {k: v for k, v in recurrence_id.params.items() if k in ("TZID", "VALUE")}
    master.add("EXDATE", recurrence_id.dt, parameters=params or None)


def _localize(event, tz) -> None:
    """Floating date-times are read in the room's time zone: say so, for subscribers elsewhere."""
    def fix(value):
        if isinstance(value, datetime.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=tz)
        return value
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = event.get(name)
        if prop is not None and floating(prop.dt) and "TZID" not in prop.params:
            params = dict(prop.params)
            event.pop(name)
            event.add(name, fix(prop.dt), parameters=params or None)
    for name in ("EXDATE", "RDATE"):
        values = values_of(event, name)
        if not any(floating(d.dt) and "TZID" not in v.params for v in values for d in v.dts):
            continue
        event.pop(name)
        for v in values:
            dts = [fix(d.dt) for d in v.dts]
            if any(isinstance(d, tuple) for d in dts):  # periods: keep as they were
                event.add(name, v, encode=False)
                continue
            event.add(name, dts)
    start = event["DTSTART"].dt if "DTSTART" in event else None
    zone = start.tzinfo if isinstance(start, datetime.datetime) and start.tzinfo else tz
    for rule in rrules(event):
        until = rule.get("UNTIL")
        if until and floating(until[0]):  # with a TZID'd DTSTART, UNTIL must be UTC
            rule["UNTIL"] = [until[0].replace(tzinfo=zone).astimezone(UTC)]


def _first_day(event) -> datetime.date:
    value = event["DTSTART"].dt
    return value.date() if isinstance(value, datetime.datetime) else value


def _day(seconds: int) -> datetime.date:
    return datetime.datetime.fromtimestamp(seconds, UTC).date()


def read_room(storage, room_id: str, window: Tuple[int, int]):
    """(room, [Source], newest change in UTC seconds) of the bookings that may touch ``window``.

    Under Radicale's read lock, like a REPORT; the index narrows the candidates
    (series by their envelope), ``render`` decides exactly.  Raises NotFound.
    """
    start, end = window
    with storage.acquire_lock("r"):
        collection = storage.room_collection(room_id)
        room = collection.room()
        view = collection.view()
        rows = storage.index.overlapping(view.room_key, start, end, blocking_only=False)
        newest = collection.modified() or 0.0
        sources = []
        for href, item in collection.get_multi(sorted({row.href for row in rows})):
            if item is None:
                continue
            mtime = collection.modified(href) or 0.0
            newest = max(newest, mtime)
            sources.append(Source(href, item.serialize(), mtime))
    return room, sources, newest
