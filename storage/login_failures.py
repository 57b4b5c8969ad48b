"""Failed sign-ins, counted where every worker sees them, and the lock-outs they earn.

Two counters per failure: one for the client address alone, one for the user
name from that address.  A name guessed at from one address is locked out after
``max_failures`` failures within ``window`` seconds; an address that sprays many
names after ``ADDRESS_FACTOR`` times as many (an office behind one address is
not locked out by one person's typos).  While locked, a sign-in is answered
429 without running bcrypt; a success clears the name's counter for that
address.  Counts live in the accounts' database (its SQLite file, or the shared
PostgreSQL database), so every worker process, and with PostgreSQL every host,
shares them.
"""

import dataclasses
import hashlib
import random
import time
from typing import Optional

from roomcal.storage.database import open_database

ADDRESS_FACTOR = 5
# SQLite's table (PostgreSQL's: storage/postgres/migrations/0002_accounts.sql).
SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures(key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL, since REAL NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class LockedOut:
    """Why sign-ins are refused for now, and for how long (Retry-After)."""
    retry_after: int
    address: str
    user: Optional[str]


class LoginFailures:
    def __init__(self, configuration, db_path: str, max_failures: int = 10, window: float = 900.0):
        """In ``db_path`` (SQLite: the accounts' file) unless the configuration names the
        shared PostgreSQL database."""
        self.max_failures = max_failures
        self.window = window
        self._db = open_database(configuration, db_path, lambda conn: conn.executescript(SCHEMA))

    @staticmethod
    def _keys(address: str, user: Optional[str]) -> tuple:
        """Hashed: what a client typed as a name (a password, sometimes) is not kept in clear."""
        def key(*parts):
            return hashlib.sha256("\0".join(parts).encode()).hexdigest()
        return key("addr", address), (key("user", user, address) if user is not None else None)

    def locked(self, address: str, user: Optional[str], now: Optional[float] = None) -> Optional[LockedOut]:
        """The lock-out in force for a sign-in from ``address`` as ``user``, if any."""
        now = time.time() if now is None else now
        address_key, user_key = self._keys(address, user)
        for key, limit in ((user_key, self.max_failures),
                           (address_key, self.max_failures * ADDRESS_FACTOR)):
            if key is None:
                continue
            row = self._db.execute("SELECT failures, since FROM login_failures WHERE key = ?",
                                   (key,)).fetchone()
            if row and row[0] >= limit and now - row[1] < self.window:
                return LockedOut(max(1, int(row[1] + self.window - now + 0.999)), address,
                                 user if key == user_key else None)
        return None

    def failed(self, address: str, user: Optional[str], now: Optional[float] = None) -> Optional[LockedOut]:
        """Count a failure; the lock-out it starts (only the failure that reaches a limit
        returns one, so each lock-out is reported once)."""
        now = time.time() if now is None else now
        address_key, user_key = self._keys(address, user)
        started = None
        db = self._db
        for key, limit in ((user_key, self.max_failures),
                           (address_key, self.max_failures * ADDRESS_FACTOR)):
            if key is None:
                continue
            # A window older than ``window`` starts again at this failure.  (The stored
            # row's columns are named with their table: PostgreSQL has ``excluded``'s too.)
            failures, = db.execute(
                "INSERT INTO login_failures(key, failures, since) VALUES (?, 1, ?) "
                "ON CONFLICT(key) DO UPDATE SET failures = CASE WHEN ? - login_failures.since >= ? "
                "THEN 1 ELSE login_failures.failures + 1 END, "
                "since = CASE WHEN ? - login_failures.since >= ? THEN ? ELSE login_failures.since END "
                "RETURNING failures", (key, now, now, self.window, now, self.window, now)).fetchone()
            if failures == limit and started is None:
                started = LockedOut(int(self.window), address, user if key == user_key else None)
        if random.random() < 0.01:   # now and then, forget windows that are over
            db.execute("DELETE FROM login_failures WHERE ? - since >= ?", (now, self.window))
        return started

    def succeeded(self, address: str, user: str) -> None:
        _, user_key = self._keys(address, user)
        self._db.execute("DELETE FROM login_failures WHERE key = ?", (user_key,))
