-- `roomcal migrate --to` (storage/migrate.py): the steps of a copy from a file store that
-- are done, each recorded in the transaction that did it, so that a second run goes on
-- where the first stopped and never copies anything twice.
CREATE TABLE migration_progress(
    step text PRIMARY KEY,               -- accounts, collection:<path>, feeds, …, complete
    finished double precision NOT NULL
);
