"""The stores of accounts, sign-in failures and feeds through their public methods, each
test once on the file store's SQLite file and once on the shared PostgreSQL database
(no server: the stores are what is tested)."""

import os

import bcrypt
import pytest

from roomcal.storage.accounts import SESSION_LIFETIME, AccountError, Accounts
from roomcal.storage.feeds import FeedError, feeds_from
from roomcal.storage.login_failures import ADDRESS_FACTOR, LoginFailures
from support.databases import database  # noqa: F401 (a fixture)


@pytest.fixture
def configuration(database):
    """A configuration of the file store (roomcal_database unset) or of PostgreSQL."""
    return database


def accounts_of(configuration) -> Accounts:
    """A host's accounts: a second one on the same configuration is another host."""
    folder = configuration.get("storage", "filesystem_folder")
    return Accounts(configuration, os.path.join(folder, "users"), os.path.join(folder, "accounts.sqlite"),
                    bcrypt_rounds=4)


@pytest.fixture
def accounts(configuration):
    return accounts_of(configuration)


# -- users and passwords ----------------------------------------------------------------------
def test_users_are_added_updated_found_and_listed(accounts):
    accounts.add_user("alice", "a-secret", admin=True, email="Alice@Example.org")
    accounts.add_user("bob", "b-secret")
    assert accounts.get_user("alice").admin and accounts.is_admin("alice")
    assert not accounts.is_admin("bob") and accounts.get_user("carol") is None
    assert accounts.user_with_email("alice@example.ORG").name == "alice"
    assert accounts.update_user("bob", admin=True, email="bob@example.org").admin
    assert accounts.update_user("bob", email="").email == "" and accounts.get_user("bob").admin
    assert accounts.user_with_email("") is None
    assert [(u.name, u.admin) for u in accounts.list_users()] == [("alice", True), ("bob", True)]
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user("alice", "again")
    with pytest.raises(AccountError, match="reserved"):
        accounts.add_user("Rooms", "x")
    with pytest.raises(AccountError, match="no user"):
        accounts.update_user("carol", admin=True)


def test_passwords_are_bcrypt_and_checked_the_same_for_unknown_names(accounts):
    accounts.add_user("alice", "a-secret")
    assert accounts.passwords.get("alice").startswith("$2b$04$")   # bcrypt, as htpasswd -B
    assert accounts.check_password("alice", "a-secret")
    assert accounts.verified_identity("alice", "a-secret") == accounts.identity("alice")
    assert not accounts.check_password("alice", "wrong")
    assert accounts.verified_identity("alice", "wrong") is None
    assert not accounts.check_password("nobody", "a-secret")
    assert accounts.dummy_hash().startswith(b"$2b$04$")   # what unknown names cost: the same
    accounts.set_password("alice", "new-secret")
    assert accounts.check_password("alice", "new-secret")
    assert not accounts.check_password("alice", "a-secret")
    assert accounts.verified_identity("alice", "a-secret") is None   # a new hash: not remembered
    with pytest.raises(AccountError, match="empty"):
        accounts.set_password("alice", "")


def test_another_host_sees_users_and_passwords_at_once(configuration):
    one, other = accounts_of(configuration), accounts_of(configuration)
    one.add_user("alice", "a-secret", email="alice@example.org")
    assert other.check_password("alice", "a-secret")
    assert other.get_user("alice").email == "alice@example.org"
    with pytest.raises(AccountError, match="already exists"):
        other.add_user("alice", "b-secret")
    assert one.check_password("alice", "a-secret")   # the refused add changed nothing
    other.remove_user("alice")
    assert one.get_user("alice") is None and not one.check_password("alice", "a-secret")


def test_removing_a_user_takes_password_memberships_tokens_and_sessions(accounts):
    accounts.add_user("alice", "a-secret")
    accounts.add_member("staff", "alice")
    _, token = accounts.create_token("alice")
    session = accounts.start_session("alice")
    accounts.remove_user("alice")
    assert accounts.get_user("alice") is None and accounts.list_users() == []
    assert accounts.passwords.get("alice") is None
    assert accounts.groups_of("alice") == frozenset() and accounts.list_groups() == {"staff": []}
    assert accounts.check_token(token) is None and accounts.list_tokens() == []
    assert accounts.session_identity(session) is None
    accounts.add_user("alice", "again")   # the name is free again, without the old sessions
    assert accounts.session_identity(session) is None
    with pytest.raises(AccountError, match="no user"):
        accounts.remove_user("bob")


def test_the_file_store_keeps_passwords_in_the_htpasswd_file(configuration, accounts):
    accounts.add_user("alice", "a-secret")
    htpasswd = os.path.join(configuration.get("storage", "filesystem_folder"), "users")
    if accounts.passwords.path is None:   # PostgreSQL: a table; no file to share or to leave
        assert not os.path.exists(htpasswd)
        return
    with open(htpasswd) as f:
        assert f.read().startswith("alice:$2b$04$")
    with open(htpasswd, "a") as f:   # as `htpasswd -B users bob` would
        f.write("bob:" + bcrypt.hashpw(b"b-secret", bcrypt.gensalt(4)).decode() + "\n")
    assert accounts.get_user("bob").admin is False and accounts.check_password("bob", "b-secret")
    assert [u.name for u in accounts.list_users()] == ["alice", "bob"]


# -- groups, tokens, sessions -------------------------------------------------------------------
def test_groups_and_members(accounts):
    accounts.add_user("alice", "a-secret")
    accounts.add_user("bob", "b-secret")
    accounts.add_group("empty")
    accounts.add_group("empty")
    accounts.add_member("staff", "alice")
    accounts.add_member("staff", "alice")
    accounts.add_member("staff", "bob")
    accounts.add_member("board", "bob")
    assert accounts.groups_of("bob") == {"staff", "board"}
    assert accounts.list_groups() == {"board": ["bob"], "empty": [], "staff": ["alice", "bob"]}
    accounts.remove_member("staff", "bob")
    assert accounts.identity("bob").groups == {"board"}
    assert accounts.identity("alice").actor().groups == {"staff"}
    with pytest.raises(AccountError):
        accounts.add_member("staff", "carol")
    with pytest.raises(AccountError):
        accounts.add_group("no spaces")


def test_tokens(accounts):
    accounts.add_user("alice", "a-secret")
    token, secret = accounts.create_token("alice", "calendar app", read_only=True)
    _, other = accounts.create_token("alice")
    identity = accounts.check_token(secret)
    assert (identity.user, identity.read_only, identity.via) == ("alice", True, "token")
    assert (identity.admin, identity.groups) == (False, frozenset())
    assert not accounts.check_token(other).read_only
    accounts.update_user("alice", admin=True)
    accounts.add_group("staff")
    accounts.add_member("staff", "alice")
    assert (accounts.check_token(other).admin, accounts.check_token(other).groups) == (True, {"staff"})
    assert accounts.check_token(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert [(t.id, t.label) for t in accounts.list_tokens("alice")][0] == (token.id, "calendar app")
    assert len(accounts.list_tokens()) == 2 and accounts.list_tokens("bob") == []
    accounts.revoke_token(token.id)
    assert accounts.check_token(secret) is None
    with pytest.raises(AccountError, match="no token"):
        accounts.revoke_token(token.id)


def test_sessions(accounts):
    accounts.add_user("alice", "a-secret", admin=True)
    now = 1_800_000_000.0
    secret = accounts.start_session("alice", now=now)
    identity = accounts.session_identity(secret, now=now + 60)
    assert (identity.user, identity.admin, identity.groups, identity.via) == ("alice", True, frozenset(), "session")
    accounts.add_group("staff")
    accounts.add_member("staff", "alice")
    assert accounts.session_identity(secret, now=now + 60).groups == {"staff"}
    assert accounts.session_identity(secret, now=now + SESSION_LIFETIME) is None   # expired
    accounts.end_session(secret)
    assert accounts.session_identity(secret, now=now + 60) is None
    kept = accounts.start_session("alice", now=now)
    accounts.start_session("alice", now=now + SESSION_LIFETIME + 1)   # sweeps the expired
    assert accounts.session_identity(kept, now=now + 60) is None


# -- sign-in failures -------------------------------------------------------------------------
def failures_of(configuration, **options) -> LoginFailures:
    folder = configuration.get("storage", "filesystem_folder")
    return LoginFailures(configuration, os.path.join(folder, "accounts.sqlite"), **options)


def test_a_name_is_locked_out_after_max_failures_within_the_window(configuration):
    failures, other_host = failures_of(configuration, max_failures=3, window=100), failures_of(configuration)
    now = 1_800_000_000.0
    assert failures.failed("10.0.0.1", "alice", now) is None
    assert other_host.failed("10.0.0.1", "alice", now + 1) is None   # counted where all see it
    assert failures.locked("10.0.0.1", "alice", now + 2) is None
    started = failures.failed("10.0.0.1", "alice", now + 2)
    assert (started.user, started.retry_after) == ("alice", 100)
    assert failures.failed("10.0.0.1", "alice", now + 3) is None   # reported once
    locked = failures.locked("10.0.0.1", "alice", now + 50)
    assert (locked.user, locked.retry_after) == ("alice", 50)
    assert failures.locked("10.0.0.2", "alice", now + 50) is None     # another address
    assert failures.locked("10.0.0.1", "bob", now + 50) is None       # another name
    assert failures.locked("10.0.0.1", "alice", now + 100) is None    # the window is over
    assert failures.failed("10.0.0.1", "alice", now + 101) is None    # and starts again at 1


def test_an_address_spraying_names_is_locked_out_and_a_success_clears_the_name(configuration):
    failures = failures_of(configuration, max_failures=2, window=100)
    now = 1_800_000_000
    failures.failed("10.0.0.1", "alice", now)
    failures.succeeded("10.0.0.1", "alice")
    assert failures.failed("10.0.0.1", "alice", now) is None   # counted from 1 again
    for n in range(2 * ADDRESS_FACTOR - 3):   # the address's 3rd to 9th failure, one per name
        assert failures.failed("10.0.0.1", f"user{n}", now) is None
    started = failures.failed("10.0.0.1", None, now)
    assert started is not None and started.user is None
    assert failures.locked("10.0.0.1", "carol", now + 1).user is None
    assert failures.locked("10.0.0.9", "carol", now + 1) is None


# -- feeds ----------------------------------------------------------------------------------
def test_feeds(configuration):
    folder = configuration.get("storage", "filesystem_folder")
    feeds = feeds_from(configuration, os.path.join(folder, "accounts.sqlite"))
    feed, secret = feeds.create("room-a", busy_only=True, label="Lobby screen", created_by="alice")
    other, other_secret = feeds.create("room-b", busy_only=False)
    assert feeds.check(secret) == feed and feeds.check(secret).busy_only
    assert feeds.check(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert feeds.get(feed.id).salt == feed.salt and feeds.get("0" * 12) is None
    assert [f.id for f in feeds.list()] == [feed.id, other.id]
    assert [f.id for f in feeds.list("room-b")] == [other.id]
    with pytest.raises(FeedError):
        feeds.revoke(feed.id, "room-b")
    feeds.revoke(feed.id, "room-a")
    assert feeds.check(secret) is None
    with pytest.raises(FeedError):
        feeds.revoke(feed.id)
    feeds.drop_room("room-b")
    assert feeds.check(other_secret) is None and feeds.list() == []
