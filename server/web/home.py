"""``/``: the sign-in form for the anonymous, else where to go (the board, my bookings, the
API, the CalDAV address for a calendar app); ``/signin`` and ``/signout``."""

from werkzeug.routing import Rule

from roomcal.server.errors import TooManyFailures, Unauthorized
from roomcal.server.web import session
from roomcal.storage.accounts import SignInsBusy

MAX_FIELD = 1024


def home(web, request, page):
    if page.identity is None:
        return sign_in_form(web, request, page)
    core, actor = web.storage.core, page.actor
    manages = actor.admin or any(core.is_manager(room, actor) for room in web.storage.registry.all())
    return page.render("home.html", caldav=request.host_url.rstrip("/") + page.url("/"),
                       home_url=request.host_url.rstrip("/") + page.url(f"/{page.identity.user}/"),
                       manages=manages)


def sign_in_form(web, request, page, *, status=200, message="", username=""):
    if page.identity is not None and request.method == "GET":
        return page.redirect(_next(request.args.get("next")))
    return page.render("signin.html", status, message=message, username=username,
                       next=_next(request.values.get("next")))


def sign_in(web, request, page):
    """The form's user name and password, checked as Basic's are (the same throttle)."""
    username = request.form.get("username", "")[:MAX_FIELD]
    password = request.form.get("password", "")[:MAX_FIELD]
    address = web.front.client_address(request.environ)
    try:
        identity = web.front.check_password(address, username, password)
    except Unauthorized:
        return sign_in_form(web, request, page, status=403, username=username,
                            message="Wrong user name or password.")
    except TooManyFailures as refused:
        response = sign_in_form(web, request, page, status=429, username=username, message=str(refused))
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    except SignInsBusy:
        response = sign_in_form(web, request, page, status=503, username=username, message=(
            "Too many sign-ins are being checked at once; try again in a moment."))
        response.headers["Retry-After"] = "2"
        return response
    secret = web.storage.accounts.start_session(identity.user)
    response = page.redirect(_next(request.form.get("next")))
    page.cookies.clear()   # no new sign-in token: the session's own takes over
    session.set_cookie(response, session.SESSION_COOKIE, secret, secure=web.secure(request),
                       script_root=request.script_root)
    session.clear_cookie(response, session.SIGN_IN_COOKIE, secure=web.secure(request),
                         script_root=request.script_root)
    return response


def sign_out(web, request, page):
    secret = request.cookies.get(session.SESSION_COOKIE, "")
    if secret:
        web.storage.accounts.end_session(secret)
    response = page.redirect("/")
    session.clear_cookie(response, session.SESSION_COOKIE, secure=web.secure(request),
                         script_root=request.script_root)
    return response


def _next(target) -> str:
    """Where to go after signing in: a path of this site only (never //elsewhere)."""
    target = (target or "").strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 2000:
        return "/board"
    return target


ROUTES = [
    Rule("/", endpoint=home, methods=["GET"]),
    Rule("/signin", endpoint=sign_in_form, methods=["GET"]),
    Rule("/signin", endpoint=sign_in, methods=["POST"]),
    Rule("/signout", endpoint=sign_out, methods=["POST"]),
]
