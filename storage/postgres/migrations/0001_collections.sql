-- Radicale's collections and items (storage/postgres/store.py), the change journal of
-- every collection (storage/journal.py) and the booking index of rooms with the
-- occupancy rows that make a double booking impossible (storage/postgres/index.py).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE collections(
    path text PRIMARY KEY,               -- sanitized, no slashes at either end; '' is the root
    props text NOT NULL DEFAULT '{}',    -- Radicale's properties, a JSON object
    modified double precision NOT NULL   -- seconds since the epoch: a write to it or its items
);
INSERT INTO collections(path, props, modified) VALUES ('', '{}', extract(epoch from now()));

CREATE TABLE items(
    collection text NOT NULL REFERENCES collections(path) ON DELETE CASCADE,
    href text NOT NULL,
    uid text NOT NULL,
    etag text NOT NULL,                  -- quoted, as Radicale's
    component text NOT NULL,             -- VEVENT, VTODO, VCARD…
    range_start bigint NOT NULL,         -- Radicale's enclosing time range (REPORT prefilter)
    range_end bigint NOT NULL,
    text text NOT NULL,
    modified double precision NOT NULL,
    PRIMARY KEY(collection, href)
);
CREATE INDEX items_by_uid ON items(collection, uid);

-- The change journal: a counter per collection, bumped in the writing transaction, so a
-- token never skips a change that commits later with a smaller number.
CREATE TABLE sync_counters(
    collection text PRIMARY KEY,
    seq bigint NOT NULL DEFAULT 0,       -- the last number handed out
    floor bigint NOT NULL DEFAULT 0      -- tokens below it are void (reset, pruning)
);
CREATE TABLE sync_changes(
    collection text NOT NULL,
    seq bigint NOT NULL,
    href text NOT NULL,
    at double precision NOT NULL,
    PRIMARY KEY(collection, seq, href)
);

-- The booking index (storage/index.py): one row per item of a room.
CREATE TABLE rooms(room text PRIMARY KEY, fingerprint text NOT NULL, newest bigint NOT NULL DEFAULT 0);
CREATE TABLE bookings(
    room text NOT NULL, href text NOT NULL, uid text NOT NULL,
    start bigint NOT NULL, "end" bigint NOT NULL,
    recurring integer NOT NULL, blocking integer NOT NULL,
    status text NOT NULL DEFAULT '', summary text NOT NULL DEFAULT '',
    owner text NOT NULL DEFAULT '',
    PRIMARY KEY(room, href)
);
CREATE INDEX bookings_by_start ON bookings(room, recurring, start);
CREATE INDEX bookings_by_uid ON bookings(room, uid);
CREATE INDEX bookings_by_length ON bookings(room, recurring, ("end" - start));
CREATE INDEX bookings_by_owner ON bookings(room, owner, "end");

-- What each booking holds of its room: one row per blocking occurrence up to the room's
-- horizon, its span as the core defines it (start, then its end or one second, then the
-- buffer in force when it was written).  For a room of quantity 1 no two may overlap:
-- the database refuses it even if our code let it through.
CREATE TABLE occupancy(
    room text NOT NULL,
    href text NOT NULL,
    during tstzrange NOT NULL,
    one_at_a_time boolean NOT NULL,      -- the room's quantity was 1 when it was written
    FOREIGN KEY (room, href) REFERENCES bookings(room, href) ON DELETE CASCADE,
    CONSTRAINT no_double_booking EXCLUDE USING gist (room WITH =, during WITH &&) WHERE (one_at_a_time)
);
CREATE INDEX occupancy_by_booking ON occupancy(room, href);
-- A series expanded up to a moment (open-ended rules): rolled forward by the server.
CREATE TABLE expanded(room text NOT NULL, href text NOT NULL, until bigint NOT NULL,
    PRIMARY KEY(room, href), FOREIGN KEY (room, href) REFERENCES bookings(room, href) ON DELETE CASCADE);
