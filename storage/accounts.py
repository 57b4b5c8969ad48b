"""Users, groups, API tokens and the web pages' sign-in sessions.

On the file store passwords live in an htpasswd file (bcrypt), so admins can also
manage it with ``htpasswd -B``; on PostgreSQL, which every host shares, the same bcrypt
hashes are a table (``HtpasswdFile`` or ``PasswordTable``, chosen once: the rest of
``Accounts`` does not know which).  Everything else about a user (admin flag, e-mail),
groups and tokens lives in the accounts database (storage/database.py: its SQLite
file, or PostgreSQL).  Tokens are stored as SHA-256 of the secret (they are long
random strings, so a slow hash adds nothing) and compared in constant time; the
secret is shown once and never logged.  Sessions of the web pages are kept the same
way: only a hash of the cookie's secret is stored.
"""

import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from typing import List, Optional, Tuple

import bcrypt

from roomcal.storage.context import Actor
from roomcal.storage.database import SQLITE, open_database
from roomcal.storage.text import is_email, one_line

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")  # the whole name: fullmatch
# Top-level URL segments that are not principals.
# (the web pages' addresses are among them: a user "board" would own /board/)
RESERVED_USERS = frozenset({"rooms", "api", "board", "my", "manage", "signin", "signout"})
TOKEN_PREFIX = "rc_"
SESSION_PREFIX = "rs_"
SESSION_LIFETIME = 12 * 3600   # seconds: a working day, then sign in again
# A credential's row by its key ('c', user, text, number), and the query of its user
# (``Accounts._credential``).
TOKEN_ROW = ('SELECT \'c\', "user", hash, read_only FROM tokens WHERE id = ?',
             'SELECT "user" FROM tokens WHERE id = ?')
SESSION_ROW = ('SELECT \'c\', "user", NULL, expires FROM sessions WHERE hash = ?',
               'SELECT "user" FROM sessions WHERE hash = ?')


# SQLite's tables (PostgreSQL's: storage/postgres/migrations/0002_accounts.sql).  "user" is
# quoted in every statement: a reserved word in PostgreSQL, an ordinary name in SQLite.
SCHEMA = """
CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY,
    admin INTEGER NOT NULL DEFAULT 0, email TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS members(grp TEXT NOT NULL, user TEXT NOT NULL,
    PRIMARY KEY(grp, user));
CREATE TABLE IF NOT EXISTS groups(name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tokens(id TEXT PRIMARY KEY, user TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL,
    read_only INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(hash TEXT PRIMARY KEY, user TEXT NOT NULL,
    expires REAL NOT NULL);
"""


class AccountError(ValueError):
    pass


class SignInsBusy(Exception):
    """More passwords are waiting to be checked than this process takes at once."""


class BcryptGate:
    """At most ``concurrent`` bcrypt checks at a time in this process, and at most
    ``waiting`` more queued: bcrypt is deliberately slow (and releases the GIL), so a flood
    of guesses would otherwise take every CPU and every thread from valid requests.
    (Requests with the same credentials wait for one check: ``Accounts.check_password``.)"""

    def __init__(self, concurrent: int = 1, waiting: int = 4):
        self._slots = threading.BoundedSemaphore(concurrent)
        self._queue = threading.BoundedSemaphore(concurrent + waiting)

    def __enter__(self):
        if not self._queue.acquire(blocking=False):
            raise SignInsBusy()
        self._slots.acquire()

    def __exit__(self, *exc):
        self._slots.release()
        self._queue.release()


@dataclasses.dataclass
class User:
    name: str
    admin: bool = False
    email: str = ""


@dataclasses.dataclass
class Token:
    id: str
    user: str
    label: str
    read_only: bool
    created: float


@dataclasses.dataclass
class Identity:
    """Who a request runs as, and through what."""
    user: str
    admin: bool
    groups: frozenset
    read_only: bool = False
    via: str = "password"  # or "token", "session"

    def actor(self) -> Actor:
        return Actor(self.user, self.groups, self.admin)


def check_name(name: str, what: str = "user name") -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise AccountError(f"{what} {name!r} must be letters, digits, '.', '_', '-' or '@' "
                           "(starting with a letter or digit)")


class _Check:
    def __init__(self):
        self.done = threading.Event()
        self.ok = False
        self.busy = False


def check_email(email: str) -> None:
    """Empty (none) or one address: it becomes the To: of mails (storage/notify.py)."""
    if email != "" and not is_email(email):
        raise AccountError(f"{email!r} is not an e-mail address")


class HtpasswdFile:
    """The file store's passwords: an htpasswd file of bcrypt hashes (``htpasswd -B``)."""

    def __init__(self, path: str):
        self.path = path

    def _read(self) -> dict:
        entries = {}
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#") and ":" in line:
                        name, hashed = line.split(":", 1)
                        if name:  # ":hash" is nobody (an empty name must not log in)
                            entries[name] = hashed
        except FileNotFoundError:
            pass
        return entries

    def _write(self, entries: dict) -> None:
        for name, hashed in entries.items():  # a line break would start another user's line
            if not name or ":" in name or not one_line(name) or not one_line(hashed):
                raise AccountError(f"user name {name!r} cannot be written to the password file")
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        temp = f"{self.path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as f:
            for name, hashed in sorted(entries.items()):
                f.write(f"{name}:{hashed}\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, self.path)

    def get(self, name: str) -> Optional[str]:
        return self._read().get(name)

    def names(self) -> set:
        return set(self._read())

    def add(self, name: str, hashed: str) -> bool:
        """False (and nothing written) when ``name`` has a password already."""
        entries = self._read()
        if name in entries:
            return False
        entries[name] = hashed
        self._write(entries)
        return True

    def set(self, name: str, hashed: str) -> None:
        entries = self._read()
        entries[name] = hashed
        self._write(entries)

    def remove(self, name: str) -> None:
        entries = self._read()
        entries.pop(name, None)
        self._write(entries)


class PasswordTable:
    """Passwords in the shared database (PostgreSQL): every host must see a new one at
    once, and no file is shared.  The same bcrypt hashes as in an htpasswd file."""
    path = None   # no file (``roomcal check`` looks for an htpasswd file's leftovers)

    def __init__(self, db):
        self._db = db

    def get(self, name: str) -> Optional[str]:
        if not name:   # nobody, as a ":hash" line of an htpasswd file: an empty name must not log in
            return None
        row = self._db.execute("SELECT hash FROM passwords WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def names(self) -> set:
        return {r[0] for r in self._db.execute("SELECT name FROM passwords WHERE name <> ''")}

    def add(self, name: str, hashed: str) -> bool:
        """False (and nothing written) when ``name`` has a password already."""
        return self._db.execute("INSERT INTO passwords(name, hash) VALUES (?, ?) "
                                "ON CONFLICT(name) DO NOTHING", (name, hashed)).rowcount == 1

    def set(self, name: str, hashed: str) -> None:
        self._db.execute("INSERT INTO passwords(name, hash) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET hash = excluded.hash", (name, hashed))

    def remove(self, name: str) -> None:
        self._db.execute("DELETE FROM passwords WHERE name = ?", (name,))


class Accounts:
    def __init__(self, configuration, htpasswd_path: str, db_path: str, bcrypt_rounds: int = 12):
        """The accounts database is ``db_path`` (SQLite) unless the configuration names the
        shared PostgreSQL database; so are the passwords (``htpasswd_path`` or a table)."""
        self.db_path = db_path   # on the file store also the feeds' and login failures' file
        self.bcrypt_rounds = bcrypt_rounds
        self._db = open_database(configuration, db_path, lambda conn: conn.executescript(SCHEMA))
        self.passwords = (HtpasswdFile(htpasswd_path) if self._db.dialect == SQLITE
                          else PasswordTable(self._db))
        self._verified = {}   # (user, digest) -> expiry; avoids bcrypt per request
        self._cache_key = secrets.token_bytes(32)
        self._bcrypt = BcryptGate()
        self._checking = {}   # digest -> _Check: the same credentials, checked once at a time
        self._checking_lock = threading.Lock()
        self._dummy_hash = None   # for unknown users: same cost as the hashes we write

    def _hash(self, password: str) -> str:
        if not password:
            raise AccountError("the password must not be empty")
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.bcrypt_rounds)).decode()

    # -- users -------------------------------------------------------------
    def add_user(self, name: str, password: str, admin: bool = False, email: str = "") -> User:
        check_name(name)
        check_email(email)
        if name.lower() in RESERVED_USERS:
            raise AccountError(f"user name {name!r} is reserved (it is a URL of the server)")
        if self.get_user(name):
            raise AccountError(f"user {name!r} already exists")
        hashed = self._hash(password)   # (before the transaction: bcrypt is slow)
        with self._db.transaction():
            if not self.passwords.add(name, hashed):   # another host added it meanwhile
                raise AccountError(f"user {name!r} already exists")
            self._db.execute('DELETE FROM sessions WHERE "user" = ?', (name,))   # signed in elsewhere
            self._put_user(name, admin, email or "")
        return User(name, admin, email or "")

    def _put_user(self, name: str, admin: bool, email: str) -> None:
        self._db.execute("INSERT INTO users(name, admin, email) VALUES (?, ?, ?) ON CONFLICT(name) "
                         "DO UPDATE SET admin = excluded.admin, email = excluded.email",
                         (name, int(admin), email))

    def get_user(self, name: str) -> Optional[User]:
        row = self._db.execute("SELECT name, admin, email FROM users WHERE name = ?",
                               (name,)).fetchone()
        if row:
            return User(row[0], bool(row[1]), row[2])
        if self.passwords.get(name) is not None:  # added with htpasswd by hand
            return User(name)
        return None

    def user_with_email(self, email: str) -> Optional[User]:
        """The user whose e-mail address is ``email`` (case-insensitive), or None."""
        row = self._db.execute("SELECT name FROM users WHERE lower(email) = lower(?) AND email != '' "
                               "ORDER BY name LIMIT 1", (email,)).fetchone()
        return self.get_user(row[0]) if row else None

    def require_user(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise AccountError(f"no user {name!r}")
        return user

    def list_users(self) -> List[User]:
        names = self.passwords.names()
        names.update(r[0] for r in self._db.execute("SELECT name FROM users"))
        return [self.get_user(n) for n in sorted(names)]

    def remove_user(self, name: str) -> None:
        self.require_user(name)
        with self._db.transaction():
            self.passwords.remove(name)
            self._db.execute("DELETE FROM users WHERE name = ?", (name,))
            for table in ("members", "tokens", "sessions"):
                self._db.execute(f'DELETE FROM {table} WHERE "user" = ?', (name,))

    def set_password(self, name: str, password: str) -> None:
        self.require_user(name)
        self.passwords.set(name, self._hash(password))

    def update_user(self, name: str, *, admin: Optional[bool] = None,
                    email: Optional[str] = None) -> User:
        user = self.require_user(name)
        if email is not None:
            check_email(email)
        admin = user.admin if admin is None else admin
        email = user.email if email is None else email
        self._put_user(name, admin, email)
        return User(name, admin, email)

    def is_admin(self, name: str) -> bool:
        row = self._db.execute("SELECT admin FROM users WHERE name = ?", (name,)).fetchone()
        return bool(row and row[0])

    def _digest(self, name: str, password: str, hashed: str) -> bytes:
        return hmac.new(self._cache_key, f"{name}\0{password}\0{hashed}".encode(),
                        hashlib.sha256).digest()

    def verified_identity(self, name: str, password: str) -> Optional[Identity]:
        """The identity of ``name`` when this password was checked right for it in the last
        minutes (no bcrypt: the check every request of a signed-in client takes), else None."""
        hashed, admin, groups = self._hash_and_identity(name)
        if not self._verified_now(self._digest(name, password, hashed or "")):
            return None
        return Identity(name, admin, groups, False, "password")

    def _hash_and_identity(self, name: str) -> tuple:
        """(password hash, is_admin, groups): in one query when the passwords are a table."""
        if not isinstance(self.passwords, PasswordTable) or not name:
            return (self.passwords.get(name), *self._admin_and_groups(name))
        hashed, admin, groups = None, False, set()
        for password_hash, is_admin, group in self._db.execute(
                "SELECT hash, NULL, NULL FROM passwords WHERE name = ? UNION ALL "
                "SELECT NULL, admin, NULL FROM users WHERE name = ? UNION ALL "
                'SELECT NULL, NULL, grp FROM members WHERE "user" = ?', (name, name, name)):
            hashed = hashed or password_hash
            admin = admin or bool(is_admin)
            if group is not None:
                groups.add(group)
        return hashed, admin, frozenset(groups)

    def _verified_now(self, digest: bytes) -> bool:
        expiry = self._verified.get(digest)
        return bool(expiry and expiry > time.monotonic())

    def check_password(self, name: str, password: str) -> bool:
        """bcrypt, one at a time per process (SignInsBusy when too many wait); the same
        cost for unknown users as for known ones."""
        hashed = self.passwords.get(name)
        digest = self._digest(name, password, hashed or "")
        if self._verified_now(digest):   # (only successes are remembered)
            return True
        with self._checking_lock:
            check = self._checking.get(digest)
            leader = check is None
            if leader:
                check = self._checking[digest] = _Check()
        if not leader:   # a client opening several connections at once: one bcrypt for all
            check.done.wait()
            if check.busy:
                raise SignInsBusy()
            return check.ok
        try:
            check.busy = True   # until the gate lets this check in
            with self._bcrypt:
                check.busy = False
                try:
                    check.ok = bcrypt.checkpw(password.encode(), self.dummy_hash() if hashed is None
                                              else hashed.encode()) and hashed is not None
                except ValueError:  # not a bcrypt hash, or a password over bcrypt's 72 bytes
                    check.ok = False
        finally:
            with self._checking_lock:
                del self._checking[digest]
            check.done.set()
        if check.ok:
            if len(self._verified) > 10000:
                self._verified.clear()
            self._verified[digest] = time.monotonic() + 300
        return check.ok

    def dummy_hash(self) -> bytes:
        """What an unknown name's password is checked against (the server makes it at start:
        made on first use, it would cost the first unknown name a second bcrypt)."""
        if self._dummy_hash is None:
            self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(self.bcrypt_rounds))
        return self._dummy_hash

    # -- groups ------------------------------------------------------------
    def groups_of(self, name: str) -> frozenset:
        return frozenset(r[0] for r in self._db.execute(
            'SELECT grp FROM members WHERE "user" = ?', (name,)))

    def add_group(self, group: str) -> None:
        check_name(group, "group name")
        self._db.execute("INSERT INTO groups(name) VALUES (?) ON CONFLICT(name) DO NOTHING", (group,))

    def add_member(self, group: str, user: str) -> None:
        self.require_user(user)
        self.add_group(group)
        self._db.execute('INSERT INTO members(grp, "user") VALUES (?, ?) '
                         'ON CONFLICT(grp, "user") DO NOTHING', (group, user))

    def remove_member(self, group: str, user: str) -> None:
        self._db.execute('DELETE FROM members WHERE grp = ? AND "user" = ?', (group, user))

    def list_groups(self) -> dict:
        groups = {r[0]: [] for r in self._db.execute("SELECT name FROM groups ORDER BY name")}
        for grp, user in self._db.execute('SELECT grp, "user" FROM members ORDER BY grp, "user"'):
            groups.setdefault(grp, []).append(user)
        return groups

    def identity(self, name: str, *, read_only: bool = False, via: str = "password") -> Identity:
        admin, groups = self._admin_and_groups(name)
        return Identity(name, admin, groups, read_only, via)

    def _admin_and_groups(self, name: str) -> tuple:
        """``is_admin`` and ``groups_of`` in one query (every request asks both)."""
        admin, groups = False, set()
        for is_admin, group in self._db.execute(
                "SELECT admin, NULL FROM users WHERE name = ? UNION ALL "
                'SELECT NULL, grp FROM members WHERE "user" = ?', (name, name)):
            admin = admin or bool(is_admin)
            if group is not None:
                groups.add(group)
        return admin, frozenset(groups)

    # -- tokens ------------------------------------------------------------
    def create_token(self, user: str, label: str = "", read_only: bool = False):
        """Return (Token, secret).  The secret is not kept."""
        self.require_user(user)
        token_id = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        created = time.time()
        self._db.execute(
            'INSERT INTO tokens(id, "user", label, hash, read_only, created) VALUES (?, ?, ?, ?, ?, ?)',
            (token_id, user, label or "", _token_hash(secret), int(read_only), created))
        return Token(token_id, user, label or "", read_only, created), secret

    def list_tokens(self, user: Optional[str] = None) -> List[Token]:
        query = 'SELECT id, "user", label, read_only, created FROM tokens'
        rows = (self._db.execute(query + ' WHERE "user" = ? ORDER BY created', (user,))
                if user else self._db.execute(query + " ORDER BY created"))
        return [Token(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def revoke_token(self, token_id: str) -> None:
        if not self._db.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount:
            raise AccountError(f"no token {token_id!r}")

    def check_token(self, secret: str) -> Optional[Identity]:
        match = re.match(rf"^{TOKEN_PREFIX}([0-9a-f]{{12}})_", secret or "")
        if not match:
            return None
        found = self._credential(TOKEN_ROW, match.group(1))
        if found is None or not hmac.compare_digest(found[1], _token_hash(secret)):
            return None
        user, _, read_only, admin, groups = found
        return Identity(user, admin, groups, bool(read_only), "token")

    def _credential(self, credential: Tuple[str, str], key: str) -> Optional[tuple]:
        """(user, text, number, is_admin, groups) of a token's or a session's row (``TOKEN_ROW``,
        ``SESSION_ROW``: its query by ``key``, and the query of its user) with its user's admin
        right and groups, in one query (on PostgreSQL one round trip, not three, on every
        request); None when there is no such row, or its user is gone."""
        row, owner = credential
        found, has_row, admin, groups = None, False, False, set()
        for kind, text, value, number in self._db.execute(
                f"{row} UNION ALL "
                f"SELECT 'u', NULL, NULL, admin FROM users WHERE name = ({owner}) UNION ALL "
                f'SELECT \'g\', grp, NULL, NULL FROM members WHERE "user" = ({owner})', (key, key, key)):
            if kind == "c":
                found = (text, value, number)
            elif kind == "u":
                has_row, admin = True, bool(number)
            else:
                groups.add(text)
        if found is None or not has_row and self.get_user(found[0]) is None:   # (htpasswd users have no row)
            return None
        return (*found, admin, frozenset(groups))


    # -- a copy to another store (storage/migrate.py): hashes as they are, never re-hashed --
    def export_users(self) -> List[tuple]:
        """(name, password hash or None, admin, email) of every user."""
        return [(u.name, self.passwords.get(u.name), u.admin, u.email) for u in self.list_users()]

    def restore_user(self, name: str, hashed: Optional[str], admin: bool, email: str) -> None:
        with self._db.transaction():
            if hashed is not None:
                self.passwords.set(name, hashed)
            self._put_user(name, admin, email)

    def restore_group(self, group: str, members: List[str]) -> None:
        """A group and its members as they are (a member need not have a password here)."""
        with self._db.transaction():
            self._db.execute("INSERT INTO groups(name) VALUES (?) ON CONFLICT(name) DO NOTHING", (group,))
            self._db.executemany('INSERT INTO members(grp, "user") VALUES (?, ?) ON CONFLICT(grp, "user") '
                                 'DO NOTHING', [(group, user) for user in members])

    def export_tokens(self) -> List[tuple]:
        """(id, user, label, hash, read_only, created) of every token: its secret's hash."""
        return [tuple(r) for r in self._db.execute(
            'SELECT id, "user", label, hash, read_only, created FROM tokens ORDER BY id')]

    def restore_tokens(self, rows: List[tuple]) -> None:
        self._db.executemany('INSERT INTO tokens(id, "user", label, hash, read_only, created) '
                             'VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING', rows)

    # -- sessions of the web pages -------------------------------------------------
    def start_session(self, user: str, now: Optional[float] = None) -> str:
        """A new session for ``user``: the secret for its cookie (not kept)."""
        self.require_user(user)
        now = time.time() if now is None else now
        secret = SESSION_PREFIX + secrets.token_urlsafe(32)
        self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
        self._db.execute('INSERT INTO sessions(hash, "user", expires) VALUES (?, ?, ?)',
                         (_token_hash(secret), user, now + SESSION_LIFETIME))
        return secret

    def session_identity(self, secret: str, now: Optional[float] = None) -> Optional[Identity]:
        """Who the session ``secret`` signs in; None when unknown, ended or expired.  Looked
        up by the hash of a 256-bit secret: nothing to learn from timing."""
        if not (secret or "").startswith(SESSION_PREFIX) or len(secret) > 100:
            return None
        found = self._credential(SESSION_ROW, _token_hash(secret))
        if found is None or found[2] <= (time.time() if now is None else now):
            return None
        user, _, _, admin, groups = found
        return Identity(user, admin, groups, False, "session")

    def end_session(self, secret: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE hash = ?", (_token_hash(secret or ""),))


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()

