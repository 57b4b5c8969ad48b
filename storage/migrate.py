"""``roomcal migrate --to postgresql://…``: a file store copied into an empty PostgreSQL database.

What is copied, each through the stores' own methods: every collection (rooms, people's
calendars and address books, the folders above them) with its properties as stored; every
item with its href and its text as it is, so its ETag (Radicale's hash of the text) stays
the same; the rooms' booking index and occupancy rows, rebuilt from those items (bookings
that overlap earlier ones, as an import --allow-conflicts leaves them, are kept and spared by
the database's constraint, as the PostgreSQL store's own import does); users with
their bcrypt hashes (never re-hashed), admin flags and e-mails, groups, API tokens (their
hashes: the secrets keep working), feeds (the links keep working), mail templates, mails
not sent yet, schedule inbox messages.  Not copied: web sessions (people sign in again),
counted sign-in failures, sent mails, the change journal's history: each collection's
counter goes on from the file store's with nothing behind it (storage/journal.py
``restart``), so sync clients start again with an empty token.

Each step (the accounts, one collection, the feeds…) is one transaction that also records
it in ``migration_progress``: a run that stopped half-way goes on where it stopped, and
nothing is copied twice.  A database holding anything else is refused.  At the end every
count and every item's ETag are compared between the two stores.
"""

import dataclasses
import time
from typing import Callable, Dict, List, Optional, Tuple

import radicale.item as radicale_item
from radicale import storage as radicale_storage

from roomcal.storage import clearing, context
from roomcal.storage.booking import EARLIEST
from roomcal.storage.context import Actor
from roomcal.storage.database import database_url
from roomcal.storage.errors import DoubleBooking, Refusal
from roomcal.storage.guarded import GuardedCollection, GuardedStorage, room_id_of

BATCH = 500            # items per executemany
_LOCK_KEY = 7_405_322_002   # pg_advisory_xact_lock: one migrating step at a time
# What a database that holds nothing has (a fresh one: the root collection, the inbox counter).
_DATA = ("SELECT 1 FROM collections WHERE path <> ''", "SELECT 1 FROM items", "SELECT 1 FROM users",
         "SELECT 1 FROM passwords", "SELECT 1 FROM groups", "SELECT 1 FROM tokens", "SELECT 1 FROM feeds",
         "SELECT 1 FROM outbox", "SELECT 1 FROM mail_templates", "SELECT 1 FROM inbox")
COMPLETE = "complete"


class MigrationError(Exception):
    """The migration cannot start: one sentence."""


@dataclasses.dataclass
class Tree:
    """What a walk of a store found: {path: (properties, {href: etag})}."""
    collections: Dict[str, Tuple[dict, Dict[str, str]]] = dataclasses.field(default_factory=dict)

    @property
    def items(self) -> int:
        return sum(len(items) for _, items in self.collections.values())

    @property
    def rooms(self) -> int:
        return sum(1 for path in self.collections if room_id_of(path))


def target_configuration(configuration, url: str):
    """The configuration of the PostgreSQL store on ``url`` (everything else the same)."""
    target = configuration.copy()
    target.update({"storage": {"type": "roomcal.storage.postgres", "roomcal_database": url}},
                  "roomcal migrate --to", privileged=True)
    return target


def run(configuration, url: str, *, dry_run: bool = False, say: Callable[[str], None] = print) -> bool:
    """Copy the file store of ``configuration`` into ``url``'s database (its tables made or
    brought up to date first) and verify the copy; True when everything matches."""
    from roomcal.storage.postgres import schema
    if database_url(configuration):
        raise MigrationError("this configuration keeps its data in PostgreSQL already; "
                             "run migrate with the configuration of the file store")
    source = radicale_storage.load(configuration)
    if dry_run:
        return _dry_run(source, url, say)
    for name in schema.migrate(url):
        say(f"applied {name}")
    target = radicale_storage.load(target_configuration(configuration, url))
    progress = Progress(target.db)
    with context.request(Actor.command_line()), source.acquire_lock("r", ""):
        if progress.done(COMPLETE):
            raise MigrationError("this database holds a finished migration already; nothing was copied "
                                 "(to copy again, start from an empty database)")
        if not progress.started() and progress.holds_data():
            raise MigrationError("the database is not empty: it holds data that no run of "
                                 "'roomcal migrate' put there; nothing was copied")
        if progress.started():
            say("going on with the migration a previous run began (steps done are not repeated)")
        failures = _copy(source, target, progress, say)
        target.refresh_statistics()
        ok = _verify(source, target, say) and not failures
        if ok:
            with target.db.transaction():
                progress.mark(COMPLETE)
    if ok:
        say("sync: the sync history was not copied: calendar apps and JSON clients start again from an "
            "empty sync-token (a JSON client holding a collection's latest token goes on); web "
            "sign-in sessions were not copied either: people sign in on the pages again")
    return ok


# -- the steps ------------------------------------------------------------------------------------
def _copy(source, target, progress: "Progress", say) -> List[str]:
    """Every step not done yet; the sentences of those that failed."""
    failures = []
    step = progress.step
    with step("accounts") as doing:
        if doing:
            users = source.accounts.export_users()
            for name, hashed, admin, email in users:
                target.accounts.restore_user(name, hashed, admin, email)
            groups = source.accounts.list_groups()
            for group, members in groups.items():
                target.accounts.restore_group(group, members)
            tokens = source.accounts.export_tokens()
            target.accounts.restore_tokens(tokens)
            say(f"copied {len(users)} users, {len(groups)} groups, {len(tokens)} tokens")
    copied = skipped = 0
    for collection, items in _walk(source):
        path, spared, failure = collection.path, None, None
        while True:
            try:
                with step(f"collection:{path}") as doing:
                    if doing:
                        _copy_collection(source, target, collection, items, spared or ())
            except DoubleBooking as refusal:
                if spared is None:   # (that transaction was undone) again, with the overlaps spared
                    spared = _overlapping(source, collection, items)
                    if spared:
                        continue
                failure = refusal.message
            except Refusal as refusal:   # a misconfigured room: its transaction is undone
                failure = refusal.message
            break
        if failure:
            failures.append(f"{path}: {failure}")
            say(f"NOT copied {path}: {failure}")
        elif not doing:
            skipped += 1
        else:
            copied += 1
            if spared:
                say(f"copied {path} ({len(items)} items): {len(spared)} of its bookings overlap earlier "
                    "ones, as in the file store (an import --allow-conflicts, a hand edit); they are "
                    "kept, spared by the database's double-booking constraint, until "
                    "/api/clear-bookings sorts them out")
            elif room_id_of(path) or len(items) >= BATCH:
                say(f"copied {path} ({len(items)} items)")
    say(f"copied {copied} collections" + (f" ({skipped} copied by a previous run)" if skipped else ""))
    with step("feeds") as doing:
        if doing:
            feeds = source.feeds.export()
            target.feeds.restore(feeds)
            say(f"copied {len(feeds)} feeds")
    with step("templates") as doing:
        if doing:
            templates = source.notifier.templates.stored()
            for name, text in templates.items():
                target.notifier.templates.restore(name, text)
            say(f"copied {len(templates)} mail templates")
    with step("outbox") as doing:
        if doing:
            mails = source.notifier.outbox.export_unsent()
            target.notifier.outbox.restore(mails)
            say(f"copied {len(mails)} mails not sent yet (sent ones stay behind)")
    with step("inbox") as doing:
        if doing:
            messages, last = source.inbox.export()
            target.inbox.restore(messages, last, [user for user, *_ in source.accounts.export_users()])
            say(f"copied {len(messages)} schedule inbox messages")
    return failures


def _copy_collection(source, target, collection, items, spared=()) -> None:
    path = collection.path
    # Radicale's create_collection as it is (not a room's, which adds its defaults and checks).
    super(GuardedStorage, target).create_collection(path, None, _stored_props(collection))
    copy = next(iter(target.discover(path)))
    for start in range(0, len(items), BATCH):
        copy.put_as_is([(item.href, radicale_item.Item(collection_path=path, text=item.serialize()))
                        for item in items[start:start + BATCH]])
    if room_id_of(path):
        copy.reindex(spared=spared)
    target.journal.restart(path, source.journal.counter(path))


def _overlapping(source, collection, items) -> set:
    """The hrefs of a room's bookings that overlap earlier ones (``clearing.plan``'s rule, over
    every occurrence, past ones too: the occupancy rows hold them all)."""
    room, core = collection.room(), source.core
    plan = clearing.plan(room, [clearing.Stored(item.href, item.serialize()) for item in items], now=EARLIEST,
                         horizon=core.horizon_of(room, int(time.time())), max_occurrences=core.max_occurrences)
    return {lost.event.href for lost in plan.deleted + plan.excluded + plan.ignored}


def _stored_props(collection) -> dict:
    """The properties as stored: a room's ``get_meta`` adds what it serves."""
    return dict(super(GuardedCollection, collection).get_meta())


def _walk(storage):
    """(collection, its items) of every collection but the root, parents first; one collection's
    items in memory at a time."""
    stack = ["/"]
    while stack:
        path = stack.pop()
        found = list(storage.discover(path, depth="1"))
        collection, rest = found[0], found[1:]
        items = [i for i in rest if isinstance(i, radicale_item.Item)]
        children = [c.path for c in rest if not isinstance(c, radicale_item.Item)]
        if collection.path:
            yield collection, items
        stack.extend(f"/{child}/" for child in sorted(children, reverse=True))


def _tree(storage) -> Tree:
    tree = Tree()
    for collection, items in _walk(storage):
        tree.collections[collection.path] = (_stored_props(collection), {i.href: i.etag for i in items})
    return tree


# -- verification ---------------------------------------------------------------------------------
def _verify(source, target, say) -> bool:
    """Counts and every item's ETag, source against target; a line per difference."""
    problems = []
    before, after = _tree(source), _tree(target)
    for path in sorted(set(before.collections) | set(after.collections)):
        if path not in after.collections:
            problems.append(f"collection {path} is missing")
            continue
        if path not in before.collections:
            problems.append(f"collection {path} is not in the file store")
            continue
        (props, items), (props_after, items_after) = before.collections[path], after.collections[path]
        if props != props_after:
            problems.append(f"collection {path}: its properties differ")
        if len(items) != len(items_after):
            problems.append(f"collection {path}: {len(items)} items in the file store, {len(items_after)} here")
        for href in sorted(set(items) & set(items_after)):
            if items[href] != items_after[href]:
                problems.append(f"{path}/{href}: ETag {items[href]} became {items_after[href]}")
        problems += [f"{path}/{href} is missing" for href in sorted(set(items) - set(items_after))]
    counts = {}
    for what, read in (("users", lambda s: sorted(s.accounts.export_users())),
                       ("groups", lambda s: s.accounts.list_groups()),
                       ("tokens", lambda s: s.accounts.export_tokens()),
                       ("feeds", lambda s: s.feeds.export()),
                       ("mail templates", lambda s: s.notifier.templates.stored()),
                       ("mails not sent", lambda s: s.notifier.outbox.export_unsent()),
                       ("inbox messages", lambda s: s.inbox.export()[0])):
        mine, theirs = read(source), read(target)
        counts[what] = len(mine)
        if len(mine) != len(theirs):
            problems.append(f"{what}: {len(mine)} in the file store, {len(theirs)} here")
        elif mine != theirs:
            problems.append(f"{what}: the same number, but they differ")
    say(f"verified: {len(before.collections)} collections ({before.rooms} rooms), {before.items} items, "
        + ", ".join(f"{n} {what}" for what, n in counts.items()))
    for problem in problems:
        say(f"MISMATCH: {problem}")
    if not problems:
        say("every count and every item's ETag match")
    return not problems


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """The steps done, in ``migration_progress`` (migration 0004)."""

    def __init__(self, db):
        self._db = db

    def started(self) -> bool:
        return self._db.execute("SELECT 1 FROM migration_progress LIMIT 1").fetchone() is not None

    def done(self, step: str) -> bool:
        return self._db.execute("SELECT 1 FROM migration_progress WHERE step = ?", (step,)).fetchone() is not None

    def mark(self, step: str) -> None:
        self._db.execute("INSERT INTO migration_progress(step, finished) VALUES (?, ?)", (step, time.time()))

    def holds_data(self) -> bool:
        return any(self._db.execute(query + " LIMIT 1").fetchone() for query in _DATA)

    def step(self, name: str):
        """``with progress.step(name) as doing:`` one transaction; ``doing`` is False when a
        run did it already (two runs at once take turns)."""
        return _Step(self, name)


class _Step:
    def __init__(self, progress: Progress, name: str):
        self._progress, self._name = progress, name
        self._transaction = progress._db.transaction()

    def __enter__(self) -> bool:
        self._transaction.__enter__()
        self._progress._db.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))
        self._doing = not self._progress.done(self._name)
        return self._doing

    def __exit__(self, *exc) -> Optional[bool]:
        if exc[0] is None and self._doing:
            self._progress.mark(self._name)
        return self._transaction.__exit__(*exc)


# -- a dry run ------------------------------------------------------------------------------------
def _dry_run(source, url: str, say) -> bool:
    from roomcal.storage.postgres import schema
    missing = schema.pending(url)
    with context.request(Actor.command_line()), source.acquire_lock("r", ""):
        tree = _tree(source)
        say(f"would copy {len(tree.collections)} collections ({tree.rooms} rooms), {tree.items} items, "
            f"{len(source.accounts.export_users())} users, {len(source.accounts.list_groups())} groups, "
            f"{len(source.accounts.export_tokens())} tokens, {len(source.feeds.export())} feeds, "
            f"{len(source.notifier.templates.stored())} mail templates, "
            f"{len(source.notifier.outbox.export_unsent())} mails not sent, "
            f"{len(source.inbox.export()[0])} inbox messages")
    if missing:
        say(f"would first apply {', '.join(missing)}")
    if "0001_collections" not in missing:
        from roomcal.storage.postgres.database import PostgresDatabase
        db = PostgresDatabase(url, pool_size=1)
        try:
            progress = Progress(db)
            begun = "0004_migration_progress" not in missing and progress.started()
            if begun and progress.done(COMPLETE):
                say("the database holds a finished migration: a run would refuse")
            elif begun:
                say("a previous run began: a run would go on with the steps not done")
            elif progress.holds_data():
                say("the database is not empty: a run would refuse")
        finally:
            db.close()
    say("dry run: nothing was written")
    return True
