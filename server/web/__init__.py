"""The web pages (issue 14): sign-in, the room board, a room's week, my bookings, approvals.

Server-rendered with Jinja2 (autoescaped), a little JavaScript of our own, no CDN: they
work offline.  ``app.Web`` dispatches; each page module holds a ``ROUTES`` list of
werkzeug ``Rule``s whose endpoint is ``(web, request, page) -> Response``.  Every write
goes through ``storage/verbs.py`` — the same booking core, rights and sentences as /api.
"""
