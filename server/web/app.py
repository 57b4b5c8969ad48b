"""Dispatch of the web pages: the reader's session, CSRF on every POST, the security
headers of every answer, a refusal as a page with its sentence."""

import importlib
import importlib.resources
import re
from typing import Optional
from urllib.parse import quote

import jinja2
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from roomcal.server.web import session
from roomcal.storage.errors import Refusal

PAGE_MODULES = (
    "roomcal.server.web.home",
    "roomcal.server.web.board",
    "roomcal.server.web.mine",
    "roomcal.server.web.manage",
)
ASSETS = "/.assets/"
ASSET_NAME = re.compile(r"[a-z0-9_-]+\.(css|js|png|svg)")
ASSET_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8",
               "png": "image/png", "svg": "image/svg+xml"}
# Our own scripts and stylesheets only: no inline script or style, nothing from elsewhere.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
          "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_FORM = 64 * 1024
FORM_EXPIRED = ("This form has expired or did not come from this site; reload the page and "
                "try again.")


class Page:
    """What an endpoint knows of the request: the reader (None: anonymous) and the CSRF
    token its forms carry; ``render`` answers a template with both."""

    def __init__(self, web: "Web", request: Request, identity, csrf: str):
        self.web = web
        self.request = request
        self.identity = identity
        self.csrf = csrf
        self.cookies = []   # (name, value) to set on the answer (a new sign-in token)

    @property
    def actor(self):
        return self.identity.actor() if self.identity else None

    def url(self, path: str) -> str:
        return self.request.script_root + path

    def render(self, template: str, status: int = 200, **values) -> Response:
        text = self.web.templates.get_template(template).render(
            page=self, user=self.identity, csrf=self.csrf, url=self.url,
            asset=lambda name: self.url(ASSETS + name), **values)
        return Response(text, status, content_type="text/html; charset=utf-8")

    def redirect(self, path: str) -> Response:
        """303: after a POST the browser GETs the page (reload does not post again)."""
        return Response("", 303, headers={"Location": self.url(path)})

    def sign_in_first(self) -> Optional[Response]:
        """None when someone is signed in, else the way to the sign-in form and back."""
        if self.identity is not None:
            return None
        back = self.request.full_path.rstrip("?")
        return Response("", 303, headers={"Location": self.url("/?next=" + quote(back, safe="/"))})


class Web:
    def __init__(self, front):
        self.front = front
        self.storage = front.storage
        rules = []
        for name in PAGE_MODULES:
            rules.extend(importlib.import_module(name).ROUTES)
        self.url_map = Map(rules, strict_slashes=False)
        self._addresses = self.url_map.bind("localhost")   # for claims: asked by every request
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("roomcal.server.web", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def claims(self, method: str, path: str) -> bool:
        """Whether a request is the pages': a page's address and method (a wrong method on
        a page's address too, for its 405).  Anything else under the same names, and every
        other method (CalDAV's PROPFIND of /), stays Radicale's."""
        if method not in ("GET", "HEAD", "POST"):
            return False
        if path.startswith(ASSETS):
            return True
        try:
            self._addresses.match(path, method)
        except MethodNotAllowed:
            return True
        except HTTPException:   # no such page
            return False
        return True

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path.startswith(ASSETS):
            return self.asset(path[len(ASSETS):])(environ, start_response)
        request = Request(environ)
        request.max_content_length = request.max_form_memory_size = MAX_FORM
        response = _secure_headers(self.answer(request))
        return response(environ, start_response)

    def answer(self, request: Request) -> Response:
        secret = request.cookies.get(session.SESSION_COOKIE, "")
        identity = self.storage.accounts.session_identity(secret) if secret else None
        sign_in_token = request.cookies.get(session.SIGN_IN_COOKIE, "")
        csrf = session.csrf_for_session(secret) if identity else (
            sign_in_token or session.new_sign_in_token())
        page = Page(self, request, identity, csrf)
        if identity is None and csrf != sign_in_token:
            page.cookies.append((session.SIGN_IN_COOKIE, csrf))
        # What a POST's form must carry: a new sign-in token was never sent, so none matches.
        expected = csrf if identity is not None or sign_in_token else None
        try:
            response = self.dispatch(request, page, expected)
        except Refusal as refusal:   # what the endpoint did not show next to its form
            response = page.render("error.html", refusal.json_status, message=refusal.message)
        for name, value in page.cookies:
            session.set_cookie(response, name, value, secure=self.secure(request),
                               script_root=request.script_root)
        return response

    def dispatch(self, request: Request, page: Page, expected_csrf: Optional[str]) -> Response:
        try:
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
        except MethodNotAllowed:
            return page.render("error.html", 405, message=f"{request.method} is not allowed here.")
        except NoRoute:
            return page.render("error.html", 404, message=f"There is no page {request.path}.")
        except HTTPException as e:
            return page.render("error.html", e.code or 400, message=e.description or "Bad request.")
        if request.method == "POST":
            try:
                given = request.form.get(session.CSRF_FIELD)
            except RequestEntityTooLarge:
                return page.render("error.html", 413, message="This form is too large.")
            if not session.same(expected_csrf, given):
                return page.render("error.html", 403, message=FORM_EXPIRED)
        return endpoint(self, request, page, **args)

    def secure(self, request: Request) -> bool:
        """Whether the reader came over TLS (ours, or a trusted proxy's): Secure cookies."""
        return request.scheme == "https" or self.front.behind_tls(request.environ)

    def asset(self, name: str) -> Response:
        match = ASSET_NAME.fullmatch(name)
        resource = importlib.resources.files("roomcal.server.web").joinpath("static", name) \
            if match else None
        if resource is None or not resource.is_file():
            return _secure_headers(Response("Not found.\n", 404, content_type="text/plain; charset=utf-8"))
        response = Response(resource.read_bytes(), 200, content_type=ASSET_TYPES[match.group(1)])
        response.headers["Cache-Control"] = "max-age=3600"
        return _secure_headers(response)


def _secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response
