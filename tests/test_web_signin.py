"""The web pages' front door: sign-in, sessions, CSRF and the security headers,
through a real server, over raw HTTP and in a real browser (Chromium)."""

import re

import pytest
import requests

from conftest import assert_no_500

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def site(server):
    server.add_user("wanda")
    server.add_user("walt", admin=True)
    return server


def _form(session, site, path="/"):
    answer = session.get(site.url + path, timeout=30)
    assert answer.status_code == 200, answer.text
    return CSRF.search(answer.text).group(1)


def _sign_in(site, user="wanda", password=None):
    session = requests.Session()
    token = _form(session, site)
    answer = session.post(site.url + "/signin", data={
        "csrf": token, "username": user, "password": password or site.passwords[user]},
        allow_redirects=False, timeout=30)
    return session, answer


def test_anonymous_home_is_the_sign_in_form_with_strict_headers(site):
    answer = requests.get(site.url + "/", timeout=30)
    assert answer.status_code == 200
    assert 'name="username"' in answer.text and 'name="password"' in answer.text
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Radicale works" not in answer.text


def test_sign_in_sets_an_http_only_lax_cookie_and_sign_out_ends_the_session(site):
    session, answer = _sign_in(site)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/board")
    cookie = [c for c in answer.headers["Set-Cookie"].split(", roomcal") if "roomcal_session=" in c][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain HTTP
    home = session.get(site.url + "/", timeout=30)
    assert "Hello, wanda" in home.text and f"{site.url}/" in home.text   # the CalDAV address
    stolen = session.cookies.get("roomcal_session")
    out = session.post(site.url + "/signout", data={"csrf": CSRF.search(home.text).group(1)},
                       allow_redirects=False, timeout=30)
    assert out.status_code == 303
    again = requests.get(site.url + "/", cookies={"roomcal_session": stolen}, timeout=30)
    assert 'name="password"' in again.text   # the old cookie signs nobody in any more


def _signed_in_home(site, **headers):
    """(the sign-in form's Set-Cookie, the home page signed in), the pages asked with ``headers``
    (the sign-in itself without them: a Secure cookie would not come back over plain HTTP)."""
    session = requests.Session()
    form = session.get(site.url + "/", headers=headers, timeout=30)
    session.cookies.clear()
    signed_in = requests.Session()
    answer = signed_in.post(site.url + "/signin", data={
        "csrf": _form(signed_in, site), "username": "wanda", "password": site.passwords["wanda"]},
        allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    return form.headers["Set-Cookie"], signed_in.get(site.url + "/", headers=headers, timeout=30).text


def test_a_local_client_that_is_no_trusted_proxy_cannot_claim_https(site):
    # gunicorn believes X-Forwarded-Proto from 127.0.0.1 by default; here no proxy is trusted
    cookie, home = _signed_in_home(site, **{"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on"})
    assert "Secure" not in cookie
    assert f"{site.url}/" in home and "https://" not in home   # the CalDAV address on the page


def test_a_trusted_proxy_that_says_https_makes_the_cookie_secure(make_server):
    server = make_server(start=False)
    server.configure(("[server]", "[server]\ntrusted_proxies = 127.0.0.1"))
    server.start()
    server.add_user("wanda")
    cookie, home = _signed_in_home(server, **{"X-Forwarded-Proto": "https"})
    assert "Secure" in cookie
    assert f"https://127.0.0.1:{server.port}/" in home   # the address the client used, over TLS
    cookie, home = _signed_in_home(server)
    assert "Secure" not in cookie and f"{server.url}/" in home
    assert_no_500(server)


def test_wrong_password_says_so_next_to_the_form_and_keeps_the_name(site):
    _, answer = _sign_in(site, password="not-it")
    assert answer.status_code == 403
    assert "Wrong user name or password." in answer.text and 'value="wanda"' in answer.text
    assert "roomcal_session" not in answer.headers.get("Set-Cookie", "")


def test_a_post_without_the_csrf_token_is_refused(site):
    session, _ = _sign_in(site)
    # sign-in without the form's token (a login CSRF)
    answer = requests.post(site.url + "/signin", data={"username": "wanda", "password": "pw-wanda"},
                           allow_redirects=False, timeout=30)
    assert answer.status_code == 403 and "did not come from this site" in answer.text
    # a signed-in POST with a wrong token does not sign out
    answer = session.post(site.url + "/signout", data={"csrf": "0" * 64}, allow_redirects=False, timeout=30)
    assert answer.status_code == 403
    assert "Hello, wanda" in session.get(site.url + "/", timeout=30).text


def test_next_never_leads_off_the_site(site):
    session = requests.Session()
    token = _form(session, site, "/?next=//evil.example/x")
    answer = session.post(site.url + "/signin", data={
        "csrf": token, "username": "wanda", "password": site.passwords["wanda"],
        "next": "//evil.example/x"}, allow_redirects=False, timeout=30)
    assert answer.headers["Location"] == "/board"


def test_guessing_is_throttled_like_basic_auth(make_server):
    srv = make_server(start=False)
    srv.configure(("[auth]", "[auth]\nmax_failures = 3"))
    srv.start()
    srv.add_user("gail")
    statuses = [_sign_in(srv, "gail", password=f"guess{i}")[1].status_code for i in range(5)]
    assert statuses[:3] == [403, 403, 403] and statuses[-1] == 429
    _, answer = _sign_in(srv, "gail")
    assert answer.status_code == 429 and "try again in" in answer.text
    assert int(answer.headers["Retry-After"]) > 0


def test_caldav_still_answers_on_the_root(site):
    answer = site.request("PROPFIND", "/", user="wanda", headers={"Depth": "0"})
    assert answer.status_code == 207


def test_only_the_pages_own_addresses_are_the_pages(site):
    """A calendar under a name the pages use (a user made before they existed) stays CalDAV's."""
    assert requests.get(site.url + "/my/work/x.ics", timeout=30).status_code == 401   # Radicale's
    page = requests.get(site.url + "/my", timeout=30, allow_redirects=False)   # the page's
    assert page.status_code == 303 and page.headers["Location"] == "/?next=/my"


def test_reserved_names_cannot_be_users(site):
    result = site.cli("user", "add", "board", "--password", "pw-board", check=False)
    assert result.returncode != 0


def test_sign_in_in_a_browser(site, page):
    from support.browser import sign_in
    sign_in(page, site, "wanda")
    page.goto(site.url + "/")
    assert page.get_by_role("heading", name="Hello, wanda").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url + "/")
    assert page.get_by_label("Password").is_visible()
    assert_no_500(site)
