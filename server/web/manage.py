"""``/manage``: for the managers of rooms (and admins), the bookings waiting for approval in
their rooms, with Approve and Decline-with-reason forms, and today's bookings of those
rooms, each in its room's zone.

Someone who manages no room gets the page saying so (200, not 403): the menu shows the
link to everyone, and there is nothing to hide; approving stays the core's decision
(``verbs.approve`` refuses others with 403, shown as its sentence).
"""

import time

from werkzeug.routing import Rule

from roomcal.server.web import listing, when
from roomcal.server.web.listing import DAY, HORIZON_DAYS, MAX_SHOWN
from roomcal.storage import verbs

NOTICES = {
    "approved": "The booking is approved; its organizer sees it confirmed.",
    "declined": "The booking is declined; its organizer is told why, and the time is free again.",
}


def manage(web, request, page, failed=None, status=200):
    redirect = page.sign_in_first()
    if redirect is not None:
        return redirect
    storage, actor = web.storage, page.actor
    rooms = [room for room in storage.registry.all() if storage.core.is_manager(room, actor)]
    now = int(time.time())
    pending = listing.collect(storage, actor, rooms, (now, now + HORIZON_DAYS * DAY), statuses=("pending",))
    today = []   # (room, its day's label, its bookings) for the rooms with bookings today
    for room in rooms:
        day = when.today(room, now)
        shown = listing.collect(storage, actor, [room], when.day_bounds(room, day),
                                statuses=("confirmed", "pending"))
        if shown:
            today.append((room, when.day_label(day), shown[:MAX_SHOWN]))
    beside_form = failed is not None and any(failed.about(shown, failed.action) for shown in pending[:MAX_SHOWN])
    return page.render("manage.html", status, rooms=rooms, pending=pending[:MAX_SHOWN],
                       pending_total=len(pending), today=today, horizon_days=HORIZON_DAYS,
                       notice=NOTICES.get(request.args.get("done", "")), failed=failed,
                       failed_elsewhere=failed is not None and not beside_form)


def approve(web, request, page):
    def run(room, uid):
        return verbs.approve(web.storage, page.actor, room, uid)
    return listing.act(web, request, page, "approve", run, manage, lambda written: "/manage?done=approved")


def decline(web, request, page):
    def run(room, uid):
        return verbs.decline(web.storage, page.actor, room, uid, reason=request.form.get("reason"))
    return listing.act(web, request, page, "decline", run, manage, lambda written: "/manage?done=declined")


ROUTES = [
    Rule("/manage", endpoint=manage, methods=["GET"]),
    Rule("/manage/approve", endpoint=approve, methods=["POST"]),
    Rule("/manage/decline", endpoint=decline, methods=["POST"]),
]
