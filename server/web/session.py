"""The session cookie and the CSRF tokens of the web pages.

The cookie holds a random secret; the server keeps only its hash
(``Accounts.start_session``).  A form's CSRF token is derived from the session's
secret (HMAC), so it needs no storage and changes with every sign-in.  Before sign-in
the form carries the value of a separate random cookie (double submit): a page of
another site can neither read that cookie nor set it.
"""

import hashlib
import hmac
import secrets
from typing import Optional

SESSION_COOKIE = "roomcal_session"
SIGN_IN_COOKIE = "roomcal_signin"
CSRF_FIELD = "csrf"


def csrf_for_session(secret: str) -> str:
    return hmac.new(secret.encode(), b"roomcal csrf", hashlib.sha256).hexdigest()


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def same(expected: Optional[str], given: Optional[str]) -> bool:
    """Constant-time equality of two tokens; False when either is missing."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def set_cookie(response, name: str, value: str, *, secure: bool, max_age: Optional[int] = None,
               script_root: str = "") -> None:
    # HttpOnly: no script reads it; SameSite=Lax: another site's POST does not carry it,
    # while a link from a mail to /manage still finds the reader signed in.
    response.set_cookie(name, value, max_age=max_age, path=(script_root or "") + "/", secure=secure,
                        httponly=True, samesite="Lax")


def clear_cookie(response, name: str, *, secure: bool, script_root: str = "") -> None:
    response.delete_cookie(name, path=(script_root or "") + "/", secure=secure, httponly=True,
                           samesite="Lax")
