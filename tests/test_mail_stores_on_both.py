"""The mail stores on both databases (SQLite files, the shared PostgreSQL database), through
their public methods: the outbox (each mail goes once however many senders claim at once,
backoff, sent), the release lease, the schedule inbox (messages, sync tokens) and the mails'
templates (files, or PostgreSQL's table)."""

import sqlite3
import threading
import time

import pytest

from roomcal.storage.mail_templates import DEFAULT_SUBJECT, TemplateError, Templates
from roomcal.storage.outbox import Outbox
from roomcal.storage.release import Lease
from roomcal.storage.scheduling.inbox import PREFIX, Inbox, InvalidToken
from support.databases import database  # noqa: F401 (a fixture: each test runs on both databases)

TEMPLATE = "Hello {{ event_name }}\n\nBody for {{ calendar_name }}\n"


# -- the outbox ---------------------------------------------------------------------------------
def test_senders_claiming_at_once_each_take_a_mail_once(tmp_path, database):
    path = str(tmp_path / "outbox.sqlite")
    ids = [Outbox(path, database).add(f"{n}@example.org", f"S{n}", "B") for n in range(40)]
    taken, errors = [], []
    start = threading.Barrier(4)

    def sender(name):
        outbox = Outbox(path, database)   # each sender its own, as each process has
        try:
            start.wait()
            while True:
                mail = outbox.claim(name, lease=60)
                if mail is None:
                    return
                taken.append(mail.id)
                outbox.done(mail.id, name)
        except Exception as e:   # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=sender, args=(f"s{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(taken) == sorted(ids)   # every mail, none twice
    outbox = Outbox(path, database)
    assert {m["state"] for m in outbox.list()} == {"sent"} and outbox.next_due() is None


def test_a_mail_is_retried_after_its_backoff_and_kept_failed_when_refused(tmp_path, database):
    outbox = Outbox(str(tmp_path / "outbox.sqlite"), database)
    first = outbox.add("a@example.org", "S", "B", kind="approved", room="r", uid="u",
                       calendar="BEGIN:VCALENDAR", method="REQUEST", reply_to="o@example.org")
    second = outbox.add("b@example.org", "S2", "B2")
    mail = outbox.claim("me", lease=60)
    assert (mail.id, mail.kind, mail.room, mail.uid, mail.method, mail.attempts) == \
        (first, "approved", "r", "u", "REQUEST", 0)
    assert outbox.holders() == ["me"]
    outbox.retry(first, "me", "421 try later", delay=30)
    assert outbox.get(first)["last_error"] == "421 try later" and outbox.holders() == []
    assert time.time() + 25 < outbox.next_due() <= time.time() + 30 or outbox.next_due() <= time.time()
    assert outbox.claim("me", lease=60).id == second                      # first waits its backoff
    outbox.fail(second, "me", "550 no such user")
    assert outbox.claim("me", lease=60) is None
    again = outbox.claim("me", lease=60, now=time.time() + 31)
    assert (again.id, again.attempts) == (first, 1)
    outbox.release("me")                                                  # a sender stopping
    assert outbox.claim("other", lease=60, now=time.time() + 31).id == first
    outbox.done(first, "other")
    assert [(m["id"], m["state"]) for m in outbox.list()] == [(first, "sent"), (second, "failed")]
    assert [m["id"] for m in outbox.list(limit=1)] == [second]
    assert [m["id"] for m in outbox.list("failed")] == [second]
    assert outbox.requeue(None) == [second] and outbox.get(second)["state"] == "pending"
    outbox.prune(now=time.time() + 31 * 86400)                             # sent rows expire
    assert [m["id"] for m in outbox.list()] == [second]


# -- the release lease --------------------------------------------------------------------------
def test_a_lease_has_one_holder_among_many_at_once(tmp_path, database):
    path = str(tmp_path / "index.sqlite")
    won, start = [], threading.Barrier(6)

    def take(owner):
        start.wait()
        if Lease(path, database).take("release", owner, 60):
            won.append(owner)

    threads = [threading.Thread(target=take, args=(f"p{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1
    lease = Lease(path, database)
    assert lease.take("release", won[0], 60) and not lease.take("release", "late", 60)
    assert lease.take("other", "late", 60)                                 # names are separate
    lease.give_back("release", won[0])
    assert lease.take("release", "late", 60)


# -- the schedule inbox -------------------------------------------------------------------------
def test_inbox_messages_and_tokens(tmp_path, database):
    inbox = Inbox(str(tmp_path / "inbox.sqlite"), database)
    empty = inbox.token()
    assert empty == f"{PREFIX}0" and inbox.list("user") == []
    first = inbox.add("user", "uid1", "REQUEST", "text 1")
    other = inbox.add("someone", "uid2", "CANCEL", "text 2")
    middle = inbox.token()
    assert middle == f"{PREFIX}2"
    assert [(m.href, m.method, m.text) for m in inbox.list("user")] == [(first, "REQUEST", "text 1")]
    assert inbox.get("user", other) is None and inbox.get("someone", other).uid == "uid2"
    ctag = inbox.ctag("user")
    assert inbox.remove("user", first) and not inbox.remove("user", first)
    assert inbox.ctag("user") != ctag and inbox.list("user") == []
    added, removed, now = inbox.changes("user", middle)
    assert (added, removed, now) == ([], [first], f"{PREFIX}3")
    added, removed, _ = inbox.changes("someone", empty)
    assert [m.href for m in added] == [other] and removed == []
    with pytest.raises(InvalidToken, match="future"):
        inbox.changes("user", f"{PREFIX}99")
    with pytest.raises(InvalidToken):
        inbox.changes("user", "urn:other:1")


def test_inbox_numbers_are_never_reused_by_another_writer(tmp_path, database):
    path = str(tmp_path / "inbox.sqlite")
    done = []

    def write(user):
        inbox = Inbox(path, database)
        for n in range(10):
            done.append(inbox.add(user, f"{user}{n}", "REQUEST", "text"))

    threads = [threading.Thread(target=write, args=(f"u{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    inbox = Inbox(path, database)
    seqs = [m.seq for user in ("u0", "u1", "u2") for m in inbox.list(user)]
    assert len(done) == 30 and sorted(seqs) == list(range(1, 31))
    assert inbox.token() == f"{PREFIX}30"


def test_an_inbox_file_from_before_the_counter_keeps_its_tokens(tmp_path):
    path = str(tmp_path / "inbox.sqlite")
    with sqlite3.connect(path) as db:   # as the file was made: numbers from AUTOINCREMENT
        db.executescript("""
        CREATE TABLE inbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, href TEXT NOT NULL,
            uid TEXT NOT NULL DEFAULT '', method TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL, gone INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE inbox_floors(user TEXT PRIMARY KEY, seq INTEGER NOT NULL);
        INSERT INTO inbox(user, href, created) VALUES ('u', 'a.ics', 1e9), ('u', 'b.ics', 1e9),
            ('u', 'c.ics', 1e9);
        DELETE FROM inbox WHERE href = 'c.ics';""")
    inbox = Inbox(path)
    assert inbox.token() == f"{PREFIX}3"                  # the last number handed out, as before
    added, _, _ = inbox.changes("u", f"{PREFIX}1")        # a token a client held
    assert [m.href for m in added] == ["b.ics"]
    href = inbox.add("u", "new", "REQUEST", "text", now=1e9 + 1)
    assert inbox.get("u", href).seq == 4 and inbox.token() == f"{PREFIX}4"
    with pytest.raises(InvalidToken, match="future"):
        inbox.changes("u", f"{PREFIX}5")


# -- the mails' templates -----------------------------------------------------------------------
def test_templates_of_a_room_are_set_read_and_dropped(tmp_path, database):
    templates = Templates(str(tmp_path / "templates"), database)
    assert templates.get("board")[2] == "built-in" and templates.get("board")[0] == DEFAULT_SUBJECT
    templates.set(None, "Subject: All {{ event_name }}\n\nDefault body\n")
    templates.set("board", TEMPLATE)
    templates.set("board", "Pending {{ event_name }}\n\nDecide\n", kind="pending")
    assert templates.get("board") == ("Hello {{ event_name }}", "Body for {{ calendar_name }}\n", "room")
    assert templates.get("attic") == ("All {{ event_name }}", "Default body\n", "default")
    assert templates.get("board", "pending")[2] == "room" and templates.get("attic", "pending")[2] == "built-in"
    # another process (with PostgreSQL: another host) sees the same templates
    assert Templates(str(tmp_path / "templates"), database).get("board")[2] == "room"
    with pytest.raises(TemplateError):
        templates.set("board", "Subject {{ nope }}\n\nBody\n")
    with pytest.raises(TemplateError):
        templates.set("board", TEMPLATE, kind="nonsense")
    templates.drop_room("board")
    assert templates.get("board")[2] == "default" and templates.get("board", "pending")[2] == "built-in"
    assert templates.remove(None) and not templates.remove(None)
    assert templates.get("board")[2] == "built-in"
    assert templates.refused()[2] == "built-in"
