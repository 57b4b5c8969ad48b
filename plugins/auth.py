"""Radicale auth plugin: trusts only identities the roomcal front has verified.

The front (server/front.py) checks Basic passwords (bcrypt htpasswd) and Bearer
tokens, then hands Radicale the user under a per-process secret, so a client
cannot claim an identity by sending headers of its own.
"""

import secrets

from radicale import auth

from roomcal.storage import context as request_context
from roomcal.storage.guarded import accounts_from

ENVIRON_KEY = "roomcal.identity"
_PROCESS_SECRET = secrets.token_urlsafe(32)


def hand_over(environ, identity) -> None:
    """Called by the front once the request is authenticated."""
    environ[ENVIRON_KEY] = identity


class Auth(auth.BaseAuth):
    def __init__(self, configuration):
        super().__init__(configuration)
        self._accounts = accounts_from(configuration)

    def get_external_login(self, environ):
        identity = environ.get(ENVIRON_KEY)
        if identity is None:
            return ()
        return identity.user, _PROCESS_SECRET

    def _login_ext_with_groups(self, login, password, context):
        if password != _PROCESS_SECRET or not login:
            return "", set()
        known = request_context.signed_in(login)
        return login, set(known.groups if known else self._accounts.groups_of(login))
