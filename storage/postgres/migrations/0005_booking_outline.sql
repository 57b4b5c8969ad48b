-- What lists show of a booking (storage/outline.py), kept in its index row by the booking
-- core when it is written, so that a listing of single bookings reads no item.  Rows
-- written before have none ('') and are read from their items, as before; `roomcal check`
-- names them and `roomcal check --repair` fills them.
ALTER TABLE bookings ADD COLUMN outline text NOT NULL DEFAULT '';
