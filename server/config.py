"""Finding, loading and writing roomcal's configuration (a Radicale config file).

Radicale rejects sections it does not know, so roomcal's own options live in
the plugin sections, prefixed ``roomcal_``.  Relative paths are read relative
to the config file, so a checkout's ``radicale.conf`` works from anywhere.
"""

import configparser
import os
from typing import Optional

from radicale import config as radicale_config

from roomcal.storage import checkin, notify
from roomcal.storage.scheduling import addresses

ENV = "ROOMCAL_CONFIG"
# Options that hold paths: (section, option, default relative to the config dir).
PATHS = (
    ("storage", "filesystem_folder", "data/collections"),
    ("storage", "roomcal_index", "data/index.sqlite"),
    ("auth", "htpasswd_filename", "data/users"),
    ("auth", "roomcal_accounts", "data/accounts.sqlite"),
    ("storage", "roomcal_outbox", "data/outbox.sqlite"),
    ("storage", "roomcal_templates", "data/templates"),
)


class ConfigError(Exception):
    pass


def locate(explicit: Optional[str] = None) -> str:
    """--config, then $ROOMCAL_CONFIG, then ./radicale.conf."""
    path = explicit or os.environ.get(ENV) or "radicale.conf"
    if not os.path.isfile(path):
        where = ("--config" if explicit else f"${ENV}" if os.environ.get(ENV) else "the current folder")
        raise ConfigError(f"config file {path!r} not found (from {where}); "
                          "create one with 'roomcal init DIR' or pass --config PATH")
    return os.path.abspath(path)


# roomcal's own sections: Radicale refuses unknown sections, so each is taken out and handed
# to roomcal's storage as [storage] <prefix><option>.  (module with SECTION, OPTIONS, CARRIED)
CARRIED_SECTIONS = (notify, addresses, checkin)


def _read(path: str) -> tuple:
    """(Radicale's sections, {roomcal's section: its options}) of a config file, as Radicale
    reads it."""
    parser = configparser.RawConfigParser()
    try:
        with open(path) as f:
            parser.read_file(f)
    except Exception as e:
        raise RuntimeError(f"Failed to load config file {path!r}: {e}") from e
    sections = {s: {o: parser[s][o] for o in parser.options(s)} for s in parser.sections()}
    return sections, {module.SECTION: sections.pop(module.SECTION, {}) for module in CARRIED_SECTIONS}


def _positive(kind):
    def convert(value):
        number = kind(value)
        if number <= 0:
            raise ValueError("must be more than 0")
        return number
    convert.__name__ = kind.__name__
    return convert


# roomcal's own [server] options (Radicale's schema, extended: Radicale ignores them).
SERVER_OPTIONS = {
    "request_cpu_limit": {"value": "60", "type": _positive(float),
                          "help": "CPU seconds one request may use before its worker is replaced"},
    "request_time_limit": {"value": "600", "type": _positive(float),
                           "help": "seconds one request may take before its worker is replaced"},
    "worker_memory_limit": {"value": "1024", "type": _positive(int),
                            "help": "MB of memory above which a worker is replaced"},
    "max_buffered": {"value": "100000000", "type": _positive(int),
                     "help": "bytes of request bodies one worker holds while they arrive"},
    "trusted_proxies": {"value": "", "type": str,
                        "help": "addresses of reverse proxies whose X-Forwarded-For and -Proto are believed"},
}


# roomcal's numeric [auth] options (plugin options: Radicale hands them over as text).
AUTH_NUMBERS = {
    "max_failures": (int, 10),          # failed sign-ins of one name from one address…
    "failure_window": (float, 900.0),   # …within this many seconds, before a lock-out
}


def auth_number(configuration, name: str):
    """[auth] ``name`` as a positive number (its default when unset); ValueError if invalid."""
    kind, default = AUTH_NUMBERS[name]
    try:
        raw = configuration.get("auth", name)
    except KeyError:
        return default
    try:
        return _positive(kind)(raw)
    except (TypeError, ValueError):
        raise ValueError(f"[auth] {name} must be a number more than 0, not {raw!r}") from None


def _schema():
    schema = radicale_config.DEFAULT_CONFIG_SCHEMA.copy()
    schema["server"] = schema["server"].copy()
    schema["server"].update(SERVER_OPTIONS)
    return schema


# Configs written before the packages were installed under ``roomcal.`` name the plugins by
# their folders; they keep working.
_FORMER_TYPES = {"plugins.auth": "roomcal.plugins.auth", "plugins.rights": "roomcal.plugins.rights",
                 "storage": "roomcal.storage"}


def _current_types(sections: dict) -> dict:
    for section in ("auth", "rights", "storage"):
        options = sections.get(section, {})
        if options.get("type") in _FORMER_TYPES:
            options["type"] = _FORMER_TYPES[options["type"]]
    return sections


def load(path: str) -> radicale_config.Configuration:
    try:
        sections, carried = _read(path)
        configuration = radicale_config.Configuration(_schema())
        configuration.update(_current_types(sections), f"config file {path!r}")
        for module in CARRIED_SECTIONS:
            options = carried[module.SECTION]
            unknown = sorted(set(options) - set(module.OPTIONS))
            if unknown:
                raise ConfigError(f"{path}: unknown option(s) in [{module.SECTION}]: "
                                  f"{', '.join(unknown)} (known: {', '.join(module.OPTIONS)})")
            if options:
                configuration.update({"storage": {module.CARRIED + k: v for k, v in options.items()}},
                                     f"[{module.SECTION}] of {path}")
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"cannot load {path}: {e}") from None
    base = os.path.dirname(os.path.abspath(path))
    resolved = {}
    for section, option, default in PATHS:
        if option.startswith("roomcal_") and _radicale_type(configuration, section):
            continue  # e.g. [auth] type = none: Radicale takes no options of ours there
        try:
            raw = configuration.get_raw(section, option)
        except KeyError:
            raw = default
        value = os.path.expanduser(str(raw))
        resolved.setdefault(section, {})[option] = os.path.normpath(os.path.join(base, value))
    try:
        configuration.update(resolved, f"paths of {path}", privileged=True)
        notify.check_configuration(configuration)
        addresses.settings_from(configuration)
        checkin.settings_from(configuration)
        for name in AUTH_NUMBERS:
            auth_number(configuration, name)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return configuration


def _radicale_type(configuration, section: str) -> bool:
    """Whether a plugin section has one of Radicale's own types (which refuse unknown options)."""
    import importlib
    internal = getattr(importlib.import_module(f"radicale.{section}"), "INTERNAL_TYPES", ())
    return configuration.get(section, "type") in internal


TEMPLATE = """\
# roomcal configuration (a Radicale 3.9 config file with roomcal's plugins).
# Relative paths are relative to this file's folder.

[server]
# host:port pairs, comma separated
hosts = 127.0.0.1:5232
max_content_length = 10000000
delay_on_error = 0

[auth]
type = roomcal.plugins.auth
# bcrypt password file (htpasswd -B compatible)
htpasswd_filename = {data}/users
# admin flags, e-mail addresses, groups and hashed API tokens
roomcal_accounts = {data}/accounts.sqlite
roomcal_bcrypt_rounds = 12
delay = 0

[rights]
type = roomcal.plugins.rights

[storage]
type = roomcal.storage
filesystem_folder = {data}/collections
# the booking index (rebuilt from the collections when missing or stale)
roomcal_index = {data}/index.sqlite
# how far ahead conflicts are checked when a room has no max-advance
roomcal_horizon = P2Y
# most occurrences of one series that a write may check
roomcal_max_occurrences = 5000
# seconds between scans for booking files edited in place outside roomcal (each in a
# thread of its own; 0: before every use of a room, by the request)
roomcal_index_verify_interval = 10
# an item that cannot be read (a hand edit, a disk fault) is skipped with a WARNING, and the
# rest of its calendar is served; `roomcal check --repair` moves it to <data>/quarantine/
skip_broken_item = True
# subscription feeds (roomcal feed create): days of bookings before and after today
roomcal_feed_past_days = 30
roomcal_feed_future_days = 365
# the server's address as clients see it, for feed links (default: http:// + [server] hosts);
# set it behind a reverse proxy.  ([server] takes no options of its own, so it lives here.)
# roomcal_public_url = https://rooms.example.org
# mail to organizers (see [notify]): mails waiting to be sent, and the Jinja2 templates
# of `roomcal template set`
roomcal_outbox = {data}/outbox.sqlite
roomcal_templates = {data}/templates
# seconds before a failed mail is tried again, doubling per attempt up to the maximum
roomcal_outbox_retry_min = 30
roomcal_outbox_retry_max = 3600
# seconds after which a mail claimed by a server process that died is sent by another
roomcal_outbox_claim_timeout = 300

# E-mail to a booking's organizer when someone else approves, declines, cancels or
# deletes it, or clear-bookings removes it.  No smtp_server: no mail.  The environment
# variables SMTP_SERVER, SMTP_PORT, SMTP_EMAIL, SMTP_PASSWORD, SMTP_USER_NAME,
# SMTP_SENDER_NAME, SMTP_BCC and SMTP_STARTTLS override these options.
[notify]
# smtp_server = smtp.example.org
# # none, starttls or ssl; the port defaults to 25, 587 or 465
# smtp_security = ssl
# smtp_port = 465
# # smtp_username defaults to from_email when a password is set
# smtp_username = rooms@example.org
# smtp_password = secret
# from_email = rooms@example.org
# sender_name = Room booking
# # comma-separated addresses that get a blind copy of every mail
# bcc =
# a CalDAV write into a room that the room refuses (a conflict, a rule) also mails its
# author the reason: calendar apps do not show it.  (JSON and /api callers get it in the answer.)
refusals = true
# mail the booker every new and changed booking, with the booking attached as booking.ics
# confirmations = false

# Rooms as meeting attendees (RFC 6638): calendar apps invite a room by its address and
# the server answers for it.  false: no server-side scheduling, and none advertised.
[scheduling]
enabled = true
# a room without its own address (roomcal room set ID --email ADDR) is <id>@room_domain
room_domain = rooms.localhost

# Rooms with a check-in rule (roomcal room set ID --check-in PT10M): a booking must be
# checked in from check_in_opens before its start; one nobody checked in is released by
# the server, which looks every release_interval seconds.
[rooms]
check_in_opens = PT15M
release_interval = 30

[web]
type = none

[logging]
# roomcal serve logs one line per request itself
level = warning
"""


POSTGRESQL_STORAGE = """type = roomcal.storage.postgres
# rooms, bookings, users, tokens, feeds and mail of every host: one PostgreSQL database
# (storage/postgres/; `roomcal migrate-db` after an upgrade)
roomcal_database = {url}
"""


def write_template(directory: str, data: str = "data", database: str = "") -> str:
    """DIR/radicale.conf: the file store in DIR/data, or ``database``'s PostgreSQL."""
    path = os.path.join(directory, "radicale.conf")
    if os.path.exists(path):
        raise ConfigError(f"{path} already exists; not overwriting it")
    os.makedirs(directory, exist_ok=True)
    for sub in ("collections",):
        os.makedirs(os.path.join(directory, data, sub), exist_ok=True)
    text = TEMPLATE.format(data=data)
    if database:
        text = text.replace("type = roomcal.storage\n", POSTGRESQL_STORAGE.format(url=database), 1)
    with open(path, "x", encoding="utf-8") as f:
        f.write(text)
    return path
