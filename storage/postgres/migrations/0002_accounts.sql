-- Users, groups, API tokens, the web pages' sessions and their passwords
-- (storage/accounts.py), counted sign-in failures (storage/login_failures.py) and
-- subscription feeds (storage/feeds.py).  The same tables as in the accounts' SQLite
-- file, plus passwords: on the file store they are an htpasswd file, here every host
-- must see them.  "user" is reserved in PostgreSQL: quoted here and in every statement.
CREATE TABLE users(
    name text PRIMARY KEY,
    admin bigint NOT NULL DEFAULT 0,
    email text NOT NULL DEFAULT ''
);
CREATE TABLE passwords(
    name text PRIMARY KEY,
    hash text NOT NULL                   -- bcrypt, as htpasswd -B writes it
);
CREATE TABLE groups(name text PRIMARY KEY);
CREATE TABLE members(
    grp text NOT NULL,
    "user" text NOT NULL,
    PRIMARY KEY(grp, "user")
);
CREATE INDEX members_by_user ON members("user");
CREATE TABLE tokens(
    id text PRIMARY KEY,
    "user" text NOT NULL,
    label text NOT NULL DEFAULT '',
    hash text NOT NULL,                  -- SHA-256 of the secret
    read_only bigint NOT NULL DEFAULT 0,
    created double precision NOT NULL
);
CREATE TABLE sessions(
    hash text PRIMARY KEY,               -- SHA-256 of the cookie's secret
    "user" text NOT NULL,
    expires double precision NOT NULL
);

CREATE TABLE login_failures(
    key text PRIMARY KEY,                -- SHA-256 of the address (and the name tried)
    failures bigint NOT NULL,
    since double precision NOT NULL
);

CREATE TABLE feeds(
    id text PRIMARY KEY,
    room text NOT NULL,
    label text NOT NULL DEFAULT '',
    busy_only bigint NOT NULL,
    hash text NOT NULL,                  -- SHA-256 of the secret
    salt text NOT NULL,
    created double precision NOT NULL,
    created_by text NOT NULL DEFAULT ''
);
CREATE INDEX feeds_by_room ON feeds(room);
