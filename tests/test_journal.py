"""The change journal (storage/journal.py) on both databases: numbers per collection, pages
without gaps when one write journals many hrefs, floors, and the upgrade of an old SQLite file."""

import os
import sqlite3

import pytest

from roomcal.storage.journal import PREFIX, InvalidToken, Journal
from support.databases import database  # noqa: F401 (a fixture)


@pytest.fixture
def journal(database):
    return Journal(os.path.join(database.get("storage", "filesystem_folder"), "index.sqlite"), database)


def test_numbers_are_per_collection_and_pages_split_one_write(journal):
    assert journal.current("a/cal") == f"{PREFIX}0"
    journal.record("a/cal", [f"{n}.ics" for n in range(5)])   # one write (an import)
    journal.record("/b/cal/", ["x.ics"])
    assert journal.current("b/cal") == f"{PREFIX}1"
    seen, token = [], f"{PREFIX}0"
    while True:
        hrefs, token, more = journal.changes("a/cal", token, 2)
        seen += hrefs
        if not more:
            break
    assert seen == [f"{n}.ics" for n in range(5)]
    journal.record("a/cal", ["1.ics"])
    assert journal.changes("a/cal", token, None)[0] == ["1.ics"]


def test_reset_voids_older_tokens_and_the_future_is_refused(journal):
    journal.record("a/cal", ["x.ics"])
    old = journal.current("a/cal")
    journal.reset("a/cal")
    with pytest.raises(InvalidToken, match="too old"):
        journal.changes("a/cal", f"{PREFIX}0", None)
    assert journal.changes("a/cal", old, None)[0] == []
    with pytest.raises(InvalidToken, match="future"):
        journal.changes("a/cal", f"{PREFIX}99", None)
    with pytest.raises(InvalidToken):
        journal.changes("a/cal", "garbage", None)


def test_an_old_single_sequence_file_keeps_its_tokens(tmp_path):
    path = str(tmp_path / "index.sqlite")
    with sqlite3.connect(path) as db:
        db.executescript("""
        CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, collection TEXT NOT NULL,
            href TEXT NOT NULL, at REAL NOT NULL);
        CREATE TABLE floors(collection TEXT PRIMARY KEY, seq INTEGER NOT NULL);
        INSERT INTO changes(collection, href, at) VALUES ('a/cal', 'x.ics', 1e9), ('b/cal', 'y.ics', 1e9),
            ('a/cal', 'z.ics', 1e9);
        INSERT INTO floors VALUES ('b/cal', 2);""")
    journal = Journal(path)
    assert journal.changes("a/cal", f"{PREFIX}1", None)[0] == ["z.ics"]   # a token a client held
    with pytest.raises(InvalidToken, match="too old"):
        journal.changes("b/cal", f"{PREFIX}1", None)
    journal.record("a/cal", ["w.ics"])
    assert journal.changes("a/cal", f"{PREFIX}3", None)[0] == ["w.ics"]
