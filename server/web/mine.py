"""``/my``: the reader's own bookings (stamped owner) in every room they can see, with
Cancel and Reschedule forms, and Check in where the room wants it (while the listed
occurrence's window is open); ``?past=1`` adds the last days, ``?cancelled=1`` the cancelled.

Bounded: from now through ``HORIZON_DAYS`` ahead and at most ``MAX_SHOWN`` bookings (the
page says when it cut).  Each room costs one windowed index query (``verbs.bookings_in``).
"""

import time

from werkzeug.routing import Rule

from roomcal.server.web import listing, when
from roomcal.server.web.listing import DAY, HORIZON_DAYS, MAX_SHOWN
from roomcal.storage import verbs
from roomcal.storage.instances import Booking

PAST_DAYS = 90
# After a 303 the page says what happened; fixed sentences by name (no text from the URL).
NOTICES = {
    "cancelled": "The booking is cancelled; its time is free again.",
    "moved": "The booking is moved to its new time.",
    "moved-pending": "The booking is moved; the new time waits for a manager's approval.",
    "checked-in": "Checked in: the room stays yours.",
}


def my_bookings(web, request, page, failed=None, status=200):
    redirect = page.sign_in_first()
    if redirect is not None:
        return redirect
    storage, actor = web.storage, page.actor
    show_past = request.args.get("past") == "1"
    show_cancelled = request.args.get("cancelled") == "1"
    statuses = () if show_cancelled else ("confirmed", "pending")
    rooms = listing.visible_rooms(storage, actor)
    now = int(time.time())
    upcoming = listing.collect(storage, actor, rooms, (now, now + HORIZON_DAYS * DAY),
                               statuses=statuses, mine=True)
    past = []
    if show_past:   # what ended by now, the latest first
        past = [shown for shown in listing.collect(storage, actor, rooms, (now - PAST_DAYS * DAY, now),
                                                   statuses=statuses, mine=True)
                if shown.end is not None and shown.end <= now][::-1]
    # The refusal goes next to its form when the page shows that form, else on top.
    beside_form = failed is not None and any(
        failed.about(shown, failed.action) and shown.offers(failed.action) for shown in upcoming[:MAX_SHOWN])
    return page.render("mine.html", status, upcoming=upcoming[:MAX_SHOWN], upcoming_total=len(upcoming),
                       past=past[:MAX_SHOWN], past_total=len(past), show_past=show_past,
                       show_cancelled=show_cancelled, horizon_days=HORIZON_DAYS, past_days=PAST_DAYS,
                       notice=NOTICES.get(request.args.get("done", "")), failed=failed,
                       failed_elsewhere=failed is not None and not beside_form)


def cancel(web, request, page):
    def run(room, uid):
        return verbs.cancel(web.storage, page.actor, room, uid, reason=request.form.get("reason"))
    return listing.act(web, request, page, "cancel", run, my_bookings, lambda written: "/my?done=cancelled")


def reschedule(web, request, page):
    def run(room, uid):
        start = when.from_input(request.form.get("start"), "The new start")
        end = request.form.get("end", "").strip()
        end = when.from_input(end, "The new end") if end else None   # empty: keep the length
        written = verbs.reschedule(web.storage, page.actor, room, uid, start, end)
        return verbs.status_of(Booking(written.text, room.tz))

    def done(status):
        return "/my?done=moved-pending" if status == "pending" else "/my?done=moved"
    return listing.act(web, request, page, "reschedule", run, my_bookings, done)


def check_in(web, request, page):
    """The listed occurrence (the form's ``occurrence``: its start), by the verb."""
    def run(room, uid):
        return verbs.check_in(web.storage, page.actor, room, uid, request.form.get("occurrence") or None)
    return listing.act(web, request, page, "check-in", run, my_bookings, lambda done: "/my?done=checked-in")


ROUTES = [
    Rule("/my", endpoint=my_bookings, methods=["GET"]),
    Rule("/my/cancel", endpoint=cancel, methods=["POST"]),
    Rule("/my/reschedule", endpoint=reschedule, methods=["POST"]),
    Rule("/my/check-in", endpoint=check_in, methods=["POST"]),
]
