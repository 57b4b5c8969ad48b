"""``roomcal check``: does the store still hold together (after a crash, a hand edit)?

``check(storage, room_ids)`` returns a list of ``Problem``s; ``repair(storage,
problems)`` fixes what can be fixed without losing anything: it rebuilds the index
of rooms whose index is wrong (``Collection.reindex``), removes stray temporary
files of interrupted writes, and moves unparseable items out of the room into a
quarantine folder beside the collections (``<data>/quarantine/<room>/``), where an
admin can read, fix and re-import them; nothing is deleted.
The caller holds Radicale's storage lock ("r" to check, "w" to repair).

On PostgreSQL (storage/postgres) items are rows: the same checks of their text, of the
index and of the journal, and the occupancy rows against the bookings; an unparseable
item goes to the quarantine folder of the host that runs the repair (its text, as a
file); what is about files (temporary folders, SQLite's ``quick_check``) does not apply.

What is verified, per room:
- every item file parses (the screen of storage/screen.py, Radicale's reader and
  ``storage.instances.Booking``);
- the booking index has the same hrefs as the items, with the rows ``row_for`` gives;
- no ``.Radicale.tmp-*`` folder or file (an interrupted atomic write or collection replace);
- no item stored under a garbled name (see ``garbled``), nor, once, any calendar or item of
  the personal calendars; ``repair`` renames them as Radicale's MOVE does and journals it;
and once: the index/journal database passes SQLite's ``quick_check``, the journal's
changes and floors are not ahead of their collection's counter and no change is dated in the future; no stray
temporary file of ours (htpasswd ``*.<pid>.tmp`` of a dead process, template ``.tmp-*``).
"""

import contextlib
import dataclasses
import os
import shutil
import sqlite3
import time
from typing import Iterable, List, Optional

import radicale.item as radicale_item
from radicale.storage import multifilesystem

from roomcal.storage import rooms
from roomcal.storage.database import SQLITE
from roomcal.storage.errors import Refusal
from roomcal.storage.hand_edits import newest_item
from roomcal.storage.index import COLUMNS, Row, _row
from roomcal.storage.instances import BadBooking, Booking
from roomcal.storage.screen import UnsafeCalendar, screen
from roomcal.storage.stamps import stamp_of

RADICALE_TMP = ".Radicale.tmp-"
FUTURE_SLACK = 300  # seconds of clock skew tolerated for journal entries

# kinds of problems; the repairable ones first
INDEX, TEMP, NAME, UNPARSEABLE, JOURNAL, DATABASE = \
    "index", "temp", "name", "unparseable", "journal", "database"


@dataclasses.dataclass
class Problem:
    kind: str
    room: Optional[str]  # None for store-wide problems
    subject: str  # an href, a path, a table
    message: str
    repaired: bool = False

    def line(self) -> str:
        where = f"{self.room}: " if self.room else ""
        state = " (repaired)" if self.repaired else ""
        return f"{self.kind}: {where}{self.subject}: {self.message}{state}"


# -- checks -----------------------------------------------------------------------------------
def check(storage, room_ids: Optional[Iterable[str]] = None) -> List[Problem]:
    """Every problem found, store-wide checks included when ``room_ids`` is None."""
    problems: List[Problem] = []
    whole_store = room_ids is None
    ids = list(storage.registry.ids() if room_ids is None else room_ids)
    database = check_database(storage)
    if any(p.kind == DATABASE for p in database):
        # a damaged index/journal file: comparing rooms against it would only fail
        return database + (check_stray_files(storage) if whole_store else [])
    for room_id in ids:
        problems += check_room(storage, room_id)
    if whole_store:
        problems += database
        problems += check_stray_files(storage)
        problems += check_personal_names(storage)
    return problems


def on_files(storage) -> bool:
    """Items are files (storage/store.py), not rows of a database (storage/postgres)."""
    return hasattr(storage, "_get_collection_root_folder")


def check_room(storage, room_id: str) -> List[Problem]:
    collection = storage.room_collection(room_id)  # NotFound for an unknown room
    problems: List[Problem] = []
    try:
        tz = collection.room().tz
    except Refusal as e:
        return [Problem(DATABASE, room_id, "room properties", getattr(e, "message", str(e)))]
    max_rrule = getattr(storage, "_max_vevent_rrule_occurrence", 0)
    files = on_files(storage)
    # 1. every item parses (a file read from disk, not from Radicale's item cache; or a row's text)
    if files:
        folder = collection._filesystem_path
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name.startswith(RADICALE_TMP):
                kind = "folder" if os.path.isdir(path) else "file"
                problems.append(Problem(TEMP, room_id, name, f"temporary {kind} of an interrupted write"))
                continue
            if name.startswith(".") or not os.path.isfile(path):
                continue
            problems += _garbled(room_id, name, lambda meant: os.path.lexists(os.path.join(folder, meant)))
            error = parse_error(path, tz, max_rrule)
            if error:
                problems.append(Problem(UNPARSEABLE, room_id, name, error))
    else:
        hrefs = set(collection._list())
        for item in collection.get_all():
            problems += _garbled(room_id, item.href, hrefs.__contains__)
            error = text_error(item.serialize(), tz, max_rrule)
            if error:
                problems.append(Problem(UNPARSEABLE, room_id, item.href, error))
    # 2. the index matches what a rebuild would write (Radicale skips items it cannot read)
    readable = list(readable_items(collection))
    expected = {href: collection._row(href, item) for href, item in readable}
    stored = index_rows(storage.index, collection.path)
    if files:
        state = storage.index.state(collection.path)
        stale = state is None or state[0] != collection._fingerprint()
    else:   # written in the items' transaction: never behind them
        stale = False
    note = " (stale: the server would rebuild it on next use)" if stale else ""
    for href in sorted(set(expected) - set(stored)):
        problems.append(Problem(INDEX, room_id, href, "stored item missing from the booking index" + note))
    for href in sorted(set(stored) - set(expected)):
        problems.append(Problem(INDEX, room_id, href, "booking index row without a stored item" + note))
    for href in sorted(set(stored) & set(expected)):
        if stored[href] != expected[href]:
            fields = [f.name for f in dataclasses.fields(Row)
                      if getattr(stored[href], f.name) != getattr(expected[href], f.name)]
            problems.append(Problem(INDEX, room_id, href,
                                    f"booking index row differs from the item ({', '.join(fields)})" + note))
    if not files:
        wrong = {p.subject for p in problems}   # its index row first
        problems += check_occupancy(storage, collection, [(href, item) for href, item in readable if href not in wrong])
    return problems


def check_occupancy(storage, collection, items) -> List[Problem]:
    """PostgreSQL: each booking's occupancy rows are its blocking occurrences (storage/postgres/
    index.py), each ending after the buffer the room had when it was written (one for all of
    a booking's rows).  (Rows without a booking cannot be: a foreign key.)"""
    from roomcal.storage.postgres.index import occupancy

    room, core = collection.room(), storage.core
    stored, expanded = storage.index.occupied(collection.path)
    # unparseable ones have no booking: reported above, and they block nothing
    puts = [put for put in (collection._put_of(href, item) for href, item in items) if put.booking is not None]
    spans, _ = occupancy(room, core, puts, 0, core.horizon_of(room, int(time.time())), expanded.get)
    derived: dict = {}
    for href, start, end, _ in spans:
        derived.setdefault(href, []).append((start, end))
    problems: List[Problem] = []
    room_id = collection.room_id
    checked = {p.href for p in puts}
    for href in sorted(set(derived) | (set(stored) & checked)):
        mine, held = sorted(derived.get(href, [])), stored.get(href, [])
        buffers = {end - e for (s, e), (start, end) in zip(mine, held)}
        if not held:
            message = "the booking holds none of its time (no occupancy rows)"
        elif not mine:
            message = "occupancy rows of a booking that blocks nothing"
        elif len(mine) != len(held) or any(s != start for (s, _), (start, _) in zip(mine, held)) \
                or len(buffers) != 1 or min(buffers) < 0:
            message = f"occupancy rows differ from the booking ({len(held)} stored, {len(mine)} expected)"
        else:
            continue
        problems.append(Problem(INDEX, room_id, href, message))
    return problems


def garbled(name: str) -> Optional[str]:
    """The name meant, for one stored as the UTF-8 bytes of its URL read as Latin-1 (what
    roomcal under gunicorn did before paths were decoded at the entry: "Ã¤.ics" for "ä.ics");
    None for any other name."""
    if name.isascii():
        return None
    try:
        meant = name.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return meant if meant != name else None


def _garbled(room: Optional[str], subject: str, taken) -> List[Problem]:
    """A NAME problem for the entry ``subject`` (its last segment), if garbled; ``taken(name)``:
    whether its folder holds that name."""
    name = subject.rstrip("/").rsplit("/", 1)[-1]
    meant = garbled(name)
    if meant is None:
        return []
    message = f"stored under a garbled name; it was sent as {meant!r}"
    if taken(meant):
        message += ", a name that is taken: rename one of them by hand"
    return [Problem(NAME, room, subject, message)]


def check_personal_names(storage) -> List[Problem]:
    """Garbled names of personal calendars (``user/calendar/``) and of their items."""
    problems: List[Problem] = []
    if not on_files(storage):
        paths = [path for (path,) in storage.db.execute("SELECT path FROM collections ORDER BY path")]
        existing = set(paths)
        for path in paths:
            user, _, calendar = path.partition("/")
            if user == rooms.ROOMS or not calendar or "/" in calendar:
                continue
            hrefs = [href for (href,) in storage.db.execute(
                "SELECT href FROM items WHERE collection = ? ORDER BY href", (path,))]
            for href in hrefs:
                problems += _garbled(None, f"{path}/{href}", set(hrefs).__contains__)
            problems += _garbled(None, f"{path}/", lambda meant: f"{user}/{meant}" in existing)
        return problems
    root = storage._get_collection_root_folder()
    for user in _listdir(root):
        home = os.path.join(root, user)
        if user.startswith(".") or user == rooms.ROOMS or not os.path.isdir(home):
            continue
        for calendar in _listdir(home):
            folder = os.path.join(home, calendar)
            if calendar.startswith(".") or not os.path.isdir(folder):
                continue
            for href in _listdir(folder):  # items first: repair renames them before their folder
                if not href.startswith(".") and os.path.isfile(os.path.join(folder, href)):
                    problems += _garbled(None, f"{user}/{calendar}/{href}",
                                         lambda meant: os.path.lexists(os.path.join(folder, meant)))
            problems += _garbled(None, f"{user}/{calendar}/",
                                 lambda meant: os.path.lexists(os.path.join(home, meant)))
    return problems


def readable_items(collection):
    """(href, item) of every item Radicale can read; unreadable ones are skipped here
    (they are reported as unparseable), whatever ``skip_broken_item`` says."""
    for href in sorted(collection._list()):
        try:
            item = collection._get(href, verify_href=False)
        except RuntimeError:
            continue
        if item is not None:
            yield href, item


def rebuild_index(collection) -> int:
    """``Collection.reindex``; when Radicale cannot read an item (and ``skip_broken_item`` is
    off, so reindex fails), the same rows without the unreadable items."""
    try:
        return collection.reindex(trust_stamps=False)
    except RuntimeError:   # files only: rows are items Radicale need not read
        fingerprint, newest = collection._fingerprint(), newest_item(collection._filesystem_path)
        rows, stamps = [], []
        for href, item in readable_items(collection):
            rows.append(collection._row(href, item))
            with contextlib.suppress(OSError):
                stamps.append(stamp_of(href, item, os.stat(os.path.join(collection._filesystem_path, href))))
        collection._storage.index.replace_room(collection.path, rows, fingerprint, newest, stamps)
        return len(rows)


def parse_error(path: str, tz, max_rrule: int = 0) -> Optional[str]:
    """Why the item file at ``path`` cannot be read, or None."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    return text_error(text, tz, max_rrule)


def text_error(text: str, tz, max_rrule: int = 0) -> Optional[str]:
    """Why an item's text cannot be read as a booking, or None."""
    try:
        screen(text)
    except UnsafeCalendar as e:
        return f"refused by the screen: {_one_line(e)}"
    try:
        components = radicale_item.read_components(text)
        radicale_item.check_and_sanitize_items(components, tag="VCALENDAR",
                                               max_vevent_rrule_occurrence=max_rrule)
        if len(components) != 1:
            return f"{len(components)} calendars in one item"
    except Exception as e:  # vobject raises anything
        return f"Radicale cannot read it: {_one_line(e)}"
    try:
        Booking(text, tz)
    except (BadBooking, ValueError) as e:
        return f"not a readable booking: {_one_line(e)}"
    return None


def index_rows(index, room_key: str) -> dict:
    rows = index._db.execute(
        f"SELECT {COLUMNS} FROM bookings WHERE room = ?", (room_key,)).fetchall()
    return {r[0]: _row(r) for r in rows}


def check_database(storage) -> List[Problem]:
    """SQLite integrity of the index/journal file(s) and the journal's sanity."""
    problems: List[Problem] = []
    sqlite_files = {storage.index.path, storage.journal.path} if storage.journal._db.dialect == SQLITE else ()
    for path in sorted(sqlite_files):
        try:
            conn = sqlite3.connect(path, timeout=60)
            try:
                result = [r[0] for r in conn.execute("PRAGMA quick_check")]
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            result = [str(e)]
        if result != ["ok"]:
            problems.append(Problem(DATABASE, None, path, "; ".join(result[:3])))
            return problems  # the journal checks below would fail the same way
    db = storage.journal._db
    for collection, seq, floor in db.execute("SELECT collection, seq, floor FROM sync_counters"):
        top = db.execute("SELECT coalesce(max(seq), 0) FROM sync_changes WHERE collection = ?",
                         (collection,)).fetchone()[0]
        if top > seq:
            problems.append(Problem(JOURNAL, None, collection, f"change {top} is beyond the counter {seq}"))
        if floor > seq:
            problems.append(Problem(JOURNAL, None, collection, f"floor {floor} is beyond the counter {seq}"))
    future = db.execute("SELECT count(*) FROM sync_changes WHERE at > ?", (time.time() + FUTURE_SLACK,)).fetchone()[0]
    if future:
        problems.append(Problem(JOURNAL, None, "changes", f"{future} change(s) dated in the future"))
    return problems


def check_stray_files(storage) -> List[Problem]:
    """Temporary files of interrupted writes outside the rooms' folders."""
    problems: List[Problem] = []
    if not on_files(storage):
        return problems   # a database's transaction leaves nothing half-written behind
    root = storage._get_collection_root_folder()
    room_folders = {os.path.join(root, rooms.ROOMS, room_id) for room_id in storage.registry.ids()}
    for dirpath, dirnames, _ in os.walk(root):
        for name in list(dirnames):
            if name.startswith(RADICALE_TMP):
                dirnames.remove(name)
                if dirpath not in room_folders:  # rooms' own folders: check_room reports them
                    problems.append(Problem(TEMP, None, os.path.join(dirpath, name),
                                            "temporary folder of an interrupted write"))
            elif name == ".Radicale.cache":
                dirnames.remove(name)
    htpasswd = storage.accounts.passwords.path   # None: the passwords are a table (PostgreSQL)
    if htpasswd:
        folder, base = os.path.split(os.path.abspath(htpasswd))
        for name in _listdir(folder):
            if name.startswith(base + ".") and name.endswith(".tmp"):
                pid = name[len(base) + 1:-len(".tmp")]
                if pid.isdigit() and not _alive(int(pid)):
                    problems.append(Problem(TEMP, None, os.path.join(folder, name),
                                            "temporary password file of an interrupted write"))
    templates = storage.notifier.templates.folder
    for folder in (templates, os.path.join(templates, "rooms")):
        for name in _listdir(folder):
            if name.startswith(".tmp-"):
                problems.append(Problem(TEMP, None, os.path.join(folder, name),
                                        "temporary template file of an interrupted write"))
    return problems


# -- repair -------------------------------------------------------------------------------------
def repair(storage, problems: List[Problem]) -> List[Problem]:
    """Fix what can be fixed (caller holds the write lock); returns ``problems``, marked."""
    reindexed = set()
    for problem in problems:
        if problem.kind == TEMP:
            path = problem.subject
            if problem.room is not None:
                path = os.path.join(storage.room_collection(problem.room)._filesystem_path, path)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
            problem.repaired = True
    for problem in problems:
        if problem.kind == UNPARSEABLE and problem.room is not None:
            quarantine(storage, problem)
        elif problem.kind == NAME:
            problem.repaired = rename_garbled(storage, problem)
    for problem in problems:
        if problem.kind in (INDEX, UNPARSEABLE) and problem.room is not None \
                and problem.room not in reindexed:
            rebuild_index(storage.room_collection(problem.room))
            reindexed.add(problem.room)
    for problem in problems:
        if problem.kind == INDEX:
            problem.repaired = True
    return problems


def quarantine_folder(storage) -> str:
    """``<data>/quarantine``: beside the collections (inside, Radicale would serve it)."""
    collections = os.path.abspath(storage.configuration.get("storage", "filesystem_folder"))
    return os.path.join(os.path.dirname(collections), "quarantine")


def quarantine(storage, problem: Problem) -> None:
    """Move an unreadable item of a room into the quarantine folder; clients syncing the room
    see it removed (the journal records it)."""
    collection = storage.room_collection(problem.room)
    folder = os.path.join(quarantine_folder(storage), problem.room)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, time.strftime("%Y%m%dT%H%M%S-") + problem.subject)
    storage.journal.record(collection.path, [problem.subject])
    if on_files(storage):
        shutil.move(os.path.join(collection._filesystem_path, problem.subject), target)
    else:   # the row's text to this host's quarantine first, then the row goes (in the transaction)
        item = collection._get(problem.subject)
        with open(target, "w", encoding="utf-8", newline="") as f:
            f.write(item.serialize())
        collection._remove_row(problem.subject)
    problem.message += f"; moved to {target}"
    problem.repaired = True


def rename_garbled(storage, problem: Problem) -> bool:
    """Give an item or personal calendar stored under a garbled name the name it was sent
    as.  An item moves as Radicale's MOVE moves it (file, item cache, sync history), the
    journal records both hrefs and a room's index is rebuilt; a renamed calendar's journal
    starts again (its URL is new to every client).  A taken name or an unreadable item is
    left alone."""
    files = on_files(storage)
    if problem.subject.endswith("/"):  # a personal calendar: "user/calendar/"
        user, name = problem.subject.strip("/").split("/")
        meant = garbled(name)
        if files:
            home = os.path.join(storage._get_collection_root_folder(), user)
            if os.path.lexists(os.path.join(home, meant)):
                return False
            os.rename(os.path.join(home, name), os.path.join(home, meant))
        elif not storage.rename_collection(f"{user}/{name}", f"{user}/{meant}"):
            return False
        storage.journal.reset(f"{user}/{name}")
        storage.journal.reset(f"{user}/{meant}")
        return True
    if problem.room is not None:
        collection, href = storage.room_collection(problem.room), problem.subject
    else:
        path, href = problem.subject.rsplit("/", 1)
        collection = next(iter(storage.discover(f"/{path}/")))
    meant = garbled(href)
    if (os.path.lexists(os.path.join(collection._filesystem_path, meant)) if files
            else meant in collection._list()):
        return False
    try:
        item = collection._get(href, verify_href=False)
    except RuntimeError:
        return False
    if item is None:
        return False
    storage.journal.record(collection.path, [href, meant])
    if files:
        multifilesystem.Storage.move(storage, item, collection, meant)
    else:   # the backend's own move, not the booking core's (the booking stays where it is)
        from roomcal.storage.postgres.collections import SqlStorage
        SqlStorage.move(storage, item, collection, meant)
    if problem.room is not None:
        rebuild_index(collection)
    return True


# -- helpers ------------------------------------------------------------------------------------
def _listdir(folder: str) -> List[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__
