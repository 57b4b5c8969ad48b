"""The `roomcal` command.

Every error ends in one line on stderr and a non-zero exit; no tracebacks for
user mistakes.  Writes to rooms take Radicale's storage lock and go through the
same storage plugin (and so the same booking core) as HTTP requests.
"""

import argparse
import contextlib
import getpass
import json
import logging
import re
import sys

from radicale import storage as radicale_storage

from roomcal.server import admin
from roomcal.server import config as roomcal_config
from roomcal.storage import check as store_check
from roomcal.storage import context, feeds, rooms
from roomcal.storage.accounts import AccountError
from roomcal.storage.context import Actor
from roomcal.storage.database import database_url
from roomcal.storage.errors import BookingRefused, Refusal
from roomcal.storage.mail_templates import OWN_TEMPLATES


class CliError(Exception):
    pass


# -- helpers --------------------------------------------------------------------------
def _configuration(args):
    return roomcal_config.load(roomcal_config.locate(args.config))


def _storage(args):
    # ERROR: Radicale's "Storage location ... creating now" warnings would break the
    # one-line-on-stderr contract of the first command on a fresh store.
    logging.getLogger("radicale").setLevel(logging.ERROR)
    logging.getLogger().addFilter(context.unknown_time_zones)  # vobject's bare ERRORs
    return radicale_storage.load(_configuration(args))   # [storage] type: files or PostgreSQL


@contextlib.contextmanager
def _writing(storage, path="/"):
    with context.request(Actor.command_line()):
        with storage.acquire_lock("w", "", path=path, request="CLI"):
            yield


def _split_list(text):
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def _print_table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    for row in [headers, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


# -- init / serve -------------------------------------------------------------------------
def cmd_init(args):
    if args.database:
        _migrate(args.database)
    path = roomcal_config.write_template(args.dir, database=args.database or "")
    print(f"wrote {path}")
    print(f"next: roomcal --config {path} user add NAME --admin")


def _migrate(url: str) -> None:
    """The database's tables brought up to this version (each migration once)."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise CliError(f"--database takes a postgresql://USER@HOST:PORT/DB URL, not {url!r}")
    from roomcal.storage.postgres import schema
    try:
        applied = schema.migrate(url)
    except Exception as e:   # psycopg's: cannot connect, no such database, no rights…
        raise CliError(f"cannot prepare the database {_without_password(url)}: {str(e).strip()}") from None
    for name in applied:
        print(f"applied {name}")


def _without_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def cmd_migrate_db(args):
    url = database_url(_configuration(args))
    if not url:
        raise CliError("this configuration keeps its data in files; there is no database to migrate")
    _migrate(url)
    print("the database is up to date")


def cmd_migrate(args):
    """`migrate --to URL`: the file store of this configuration into a PostgreSQL database."""
    from roomcal.storage import migrate
    if not args.to.startswith(("postgresql://", "postgres://")):
        raise CliError(f"--to takes a postgresql://USER@HOST:PORT/DB URL, not {args.to!r}")
    configuration = _configuration(args)
    logging.getLogger("radicale").setLevel(logging.ERROR)
    logging.getLogger().addFilter(context.unknown_time_zones)
    try:
        ok = migrate.run(configuration, args.to, dry_run=args.dry_run, say=print)
    except migrate.MigrationError as e:
        raise CliError(str(e)) from None
    except Exception as e:
        if type(e).__module__.split(".")[0] not in ("psycopg", "psycopg_pool"):
            raise
        raise CliError(f"cannot migrate to {_without_password(args.to)}: {str(e).strip()}") from None
    if not ok:
        print("roomcal: error: the copy does not match the file store (MISMATCH lines above); "
              "run again to go on, or start from an empty database", file=sys.stderr)
        return 1
    if not args.dry_run:
        print(f"done: set [storage] type = roomcal.storage.postgres and roomcal_database = "
              f"{_without_password(args.to)} in radicale.conf (or 'roomcal init DIR --database URL'), "
              "then start the servers")


def cmd_serve(args):
    from roomcal.server.serve import serve  # gunicorn and the WSGI app: only this command needs them
    path = roomcal_config.locate(args.config)
    url = database_url(roomcal_config.load(path))
    if url:
        from roomcal.storage.postgres import schema
        try:
            missing = schema.pending(url)
        except Exception as e:
            raise CliError(f"cannot reach the database {_without_password(url)}: {str(e).strip()}") from None
        if missing:
            raise CliError(f"the database lacks {', '.join(missing)}: run 'roomcal migrate-db' first")
    serve(path, workers=args.workers, threads=args.threads,
          bind=[args.bind] if args.bind else None)


# -- users and tokens -----------------------------------------------------------------------
def _password(args, confirm=True):
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    elif getattr(args, "password", None) is not None:
        password = args.password
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != password:
            raise CliError("the passwords differ")
    else:
        raise CliError("give --password PW or --password-stdin")
    if not password:
        raise CliError("the password must not be empty")
    return password


def cmd_user_add(args):
    storage = _storage(args)
    user = admin.add_user(storage.accounts, args.name, _password(args), Actor.command_line(),
                          admin=args.admin, email=args.email or "")
    print(f"added user {user.name}{' (admin)' if user.admin else ''}")


def cmd_user_set(args):
    accounts = _storage(args).accounts
    user = admin.change_user(accounts, args.name, Actor.command_line(), admin=args.admin,
                             email=args.email)
    print(f"user {user.name}: {'admin' if user.admin else 'not admin'}, e-mail {user.email or '(none)'}")


def cmd_user_list(args):
    users = _storage(args).accounts.list_users()
    _print_table([(u.name, "admin" if u.admin else "", u.email) for u in users], ("NAME", "ROLE", "EMAIL"))


def cmd_user_remove(args):
    admin.remove_user(_storage(args).accounts, args.name, Actor.command_line())
    print(f"removed user {args.name}")


def cmd_user_passwd(args):
    accounts = _storage(args).accounts
    admin.require_user(accounts, args.name)
    admin.change_user(accounts, args.name, Actor.command_line(), password=_password(args))
    print(f"changed the password of {args.name}")


def cmd_token_create(args):
    token, secret = admin.create_token(_storage(args).accounts, args.user, Actor.command_line(),
                                       label=args.label or "", read_only=args.read_only)
    print(f"token {token.id} for {token.user}{' (read-only)' if token.read_only else ''}; "
          "it is shown only once:")
    print(secret)


def cmd_token_list(args):
    tokens = _storage(args).accounts.list_tokens()
    import datetime
    _print_table([(t.id, t.user, "read-only" if t.read_only else "read-write", t.label,
                   datetime.datetime.fromtimestamp(t.created).strftime("%Y-%m-%d %H:%M")) for t in tokens],
                 ("ID", "USER", "ACCESS", "LABEL", "CREATED"))


def cmd_token_revoke(args):
    admin.revoke_token(_storage(args).accounts, args.id, Actor.command_line())
    print(f"revoked token {args.id}")


# -- groups (for @group in --bookers/--managers) ------------------------------------------
def cmd_group_add(args):
    accounts = _storage(args).accounts
    admin.add_to_group(accounts, args.name, args.users, Actor.command_line())
    print(f"group {args.name}: {', '.join(accounts.list_groups().get(args.name, [])) or 'no members'}")


def cmd_group_remove(args):
    accounts = _storage(args).accounts
    admin.remove_from_group(accounts, args.name, args.users, Actor.command_line())
    print(f"group {args.name}: {', '.join(accounts.list_groups().get(args.name, [])) or 'no members'}")


def cmd_group_list(args):
    groups = _storage(args).accounts.list_groups()
    _print_table([(name, ", ".join(members)) for name, members in groups.items()], ("GROUP", "MEMBERS"))


# -- rooms -------------------------------------------------------------------------------------
RULE_OPTIONS = ("opening_hours", "min_duration", "max_duration", "min_notice", "max_advance", "buffer",
                "check_in")
QUOTA_OPTIONS = ("quota_bookings", "quota_time", "quota_period")


def _off(value) -> bool:
    """A quota option given as "" or none: turn it off."""
    return isinstance(value, str) and value.strip().lower() in ("", "none")


def _room_changes(args) -> dict:
    """The room options given on the command line, as a change for server.admin."""
    changes = {}
    for option, key in (("name", "name"), ("location", "location"), ("timezone", "timezone"),
                        ("capacity", "capacity"), ("status", "status"), ("status_reason", "statusReason"),
                        ("email", "email")):
        if getattr(args, option, None) is not None:
            changes[key] = getattr(args, option)
    if args.feature:
        changes["features"] = args.feature
    for option in admin.PEOPLE:
        if getattr(args, option, None) is not None:
            changes[option] = _split_list(getattr(args, option))
    if getattr(args, "busy_title", None) is not None:
        changes["busyTitle"] = args.busy_title.strip()
    rules = {}
    for field in RULE_OPTIONS:
        if getattr(args, field) is not None:
            rules[rooms.Rules.NAMES[field]] = getattr(args, field) or None
    if args.quantity is not None:
        rules["quantity"] = args.quantity
    if args.max_instances is not None:
        rules["max-instances"] = args.max_instances
    if args.blackout:
        rules["blackout"] = list(args.blackout)
    for flag, field, value in (("no_recurring", "no_recurring", True), ("recurring", "no_recurring", False),
                               ("no_multiday", "no_multiday", True), ("multiday", "no_multiday", False),
                               ("approval", "approval", True), ("no_approval", "approval", False)):
        if getattr(args, flag, False):
            rules[rooms.Rules.NAMES[field]] = value
    for field in QUOTA_OPTIONS:   # "" or none: the quota off
        value = getattr(args, field, None)
        if value is not None:
            rules[rooms.Rules.NAMES[field]] = None if _off(value) else value
    for name in args.clear or ():
        rules[name] = None  # back to the default; unknown names are refused by server.admin
    if rules:
        changes["rules"] = rules
    return changes


def cmd_room_add(args):
    room = admin.add_room(_storage(args), args.id, _room_changes(args), Actor.command_line())
    print(f"added room {room.id} ({room.name})")


def cmd_room_set(args):
    room = admin.update_room(_storage(args), args.id, _room_changes(args), Actor.command_line())
    print(f"updated room {room.id}")


def cmd_room_list(args):
    storage = _storage(args)
    all_rooms = storage.registry.all()
    if args.json:
        print(json.dumps([{**r.to_json(), "email": storage.directory.room_email(r)} for r in all_rooms],
                         indent=2, ensure_ascii=False))
        return
    _print_table([(r.id, r.name, "" if r.capacity is None else r.capacity, r.location, r.timezone)
                  for r in all_rooms], ("ID", "NAME", "CAPACITY", "LOCATION", "TIMEZONE"))


def cmd_room_show(args):
    storage = _storage(args)
    room = storage.registry.get(args.id)
    if room is None:
        raise CliError(f"no room {args.id!r}")
    data = {**room.to_json(), "email": storage.directory.room_email(room)}
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key in ("id", "name", "capacity", "location", "timezone", "email", "features", "bookers",
                "managers"):
        value = data[key]
        print(f"{key}: {', '.join(value) if isinstance(value, list) else ('' if value is None else value)}")
    if room.viewers:
        print(f"viewers: {', '.join(room.viewers)}")
    if room.busy_title:
        print(f"busy title: {room.busy_title}")
    if room.status != "available":
        print(f"status: {room.status}{f' ({room.status_reason})' if room.status_reason else ''}")
    for key, value in data["rules"].items():
        if value not in (None, False, [], 1) or key == "quantity":
            print(f"rule {key}: {', '.join(value) if isinstance(value, list) else value}")


def cmd_room_remove(args):
    admin.remove_room(_storage(args), args.id, Actor.command_line(), force=args.force,
                      hint="use --force to remove it anyway")
    print(f"removed room {args.id}")


def cmd_import(args):
    storage = _storage(args)
    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise CliError(f"cannot read {args.file}: {e.strerror}") from None
    show = sys.stderr.isatty()

    def progress(done, total):
        if show and (done == total or done % 50 == 0):
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
    with context.request(Actor.command_line()):
        hrefs = storage.import_bookings(args.room, text, Actor.command_line(),
                                        allow_conflicts=args.allow_conflicts, progress=progress)
    print(f"imported {len(hrefs)} booking(s) into {args.room}")


def cmd_reindex(args):
    storage = _storage(args)
    ids = [args.room] if args.room else storage.registry.ids()
    with _writing(storage):
        for room_id in ids:
            count = storage.room_collection(room_id).reindex(trust_stamps=False)
            print(f"{room_id}: {count} booking(s) indexed")
    storage.refresh_statistics()


def cmd_check(args):
    storage = _storage(args)
    if args.room and storage.registry.get(args.room) is None:
        raise CliError(f"no room {args.room!r}")
    ids = [args.room] if args.room else None
    with context.request(Actor.command_line()):
        with storage.acquire_lock("w" if args.repair else "r", "", path="/", request="CLI"):
            problems = store_check.check(storage, ids)
            if args.repair and problems:
                store_check.repair(storage, problems)
                remaining = store_check.check(storage, ids)
                left = {(p.kind, p.room, p.subject) for p in remaining}
                for problem in problems:
                    problem.repaired = problem.repaired and (problem.kind, problem.room, problem.subject) not in left
            else:
                remaining = problems
    for problem in problems:
        print(problem.line())
    checked = len(ids) if ids is not None else len(storage.registry.ids())
    repaired = sum(p.repaired for p in problems)
    print(f"checked {checked} room(s): {len(problems)} problem(s) found, {repaired} repaired, "
          f"{len(remaining)} remaining")
    return 1 if remaining else 0


# -- subscription feeds (secret .ics links) -------------------------------------------------
def _server_url(configuration):
    """Where clients reach this server: [storage] roomcal_public_url, else [server] hosts."""
    import socket
    hosts = configuration.get("server", "hosts")
    host, port = hosts[0] if hosts else ("127.0.0.1", 5232)
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}" + ("" if port == 80 else f":{port}")


def cmd_feed_create(args):
    storage = _storage(args)
    room = storage.registry.get(args.room)
    if room is None:
        raise CliError(f"no room {args.room!r}")
    feed, secret = storage.feeds.create(room.id, busy_only=args.busy_only, label=args.label or "")
    url = storage.feeds.url(secret, _server_url(storage.configuration))
    print(f"feed {feed.id} of {room.id} ({'busy-only' if feed.busy_only else 'full details'}); "
          "the link is shown only once:")
    print(feeds.webcal(url))
    print(url)


def cmd_feed_list(args):
    import datetime
    storage = _storage(args)
    if args.room is not None and storage.registry.get(args.room) is None:
        raise CliError(f"no room {args.room!r}")
    _print_table([(f.id, f.room, "busy-only" if f.busy_only else "full", f.label, f.created_by,
                   datetime.datetime.fromtimestamp(f.created).strftime("%Y-%m-%d %H:%M"))
                  for f in storage.feeds.list(args.room)],
                 ("ID", "ROOM", "CONTENT", "LABEL", "BY", "CREATED"))


def cmd_feed_revoke(args):
    _storage(args).feeds.revoke(args.id)
    print(f"revoked feed {args.id}")


# -- mail to organizers: templates and the outbox ---------------------------------------------
def _template_target(args):
    """The room of a template command, or None for --default."""
    if args.default == (args.room is not None):
        raise CliError("name a room, or give --default for the template of rooms without one")
    return args.room


def cmd_template_set(args):
    room_id = _template_target(args)
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        raise CliError(f"cannot read {args.file}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{args.file} is not UTF-8 text") from None
    admin.set_template(_storage(args), room_id, text, Actor.command_line(), kind=args.kind)
    print(f"set the {args.kind + ' ' if args.kind else ''}mail template of "
          f"{'room ' + room_id if room_id else 'rooms without their own'}")


def cmd_template_show(args):
    room_id = _template_target(args)
    shown = admin.template(_storage(args), room_id, kind=args.kind)
    if room_id and shown["whose"] != "room":
        print(f"roomcal: room {room_id} has no mail template of its own; this is the {shown['whose']} one",
              file=sys.stderr)
    sys.stdout.write(shown["text"])


def cmd_template_remove(args):
    room_id = _template_target(args)
    admin.remove_template(_storage(args), room_id, Actor.command_line(), kind=args.kind)
    print(f"removed the {args.kind + ' ' if args.kind else ''}mail template of "
          f"{'room ' + room_id if room_id else 'rooms without their own'}")


def cmd_outbox_list(args):
    """`outbox list [--state S]`, `mail list [--failed]`: one line per mail, never a body."""
    import datetime
    storage = _storage(args)

    def when(seconds):
        return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") if seconds else ""
    state = "failed" if getattr(args, "failed", False) else args.state
    mails = storage.notifier.outbox.list(state)
    _print_table([(m["id"], m["state"], m["kind"], m["room"], m["recipient"], m["subject"][:40],
                   m["attempts"], when(m["created"]), when(m["sent"] or m["next_try"]),
                   " ".join(m["last_error"].split())[:60]) for m in mails],
                 ("ID", "STATE", "KIND", "ROOM", "TO", "SUBJECT", "TRIES", "CREATED", "SENT/NEXT",
                  "LAST ERROR"))


def cmd_mail_retry(args):
    if bool(args.ids) == args.all:
        raise CliError("name the mails to send again (IDs from 'roomcal mail list --failed'), or give --all")
    retried = admin.retry_mail(_storage(args), None if args.all else args.ids, Actor.command_line())
    print(f"queued {len(retried)} mail(s) to be sent again{': ' if retried else ''}"
          f"{', '.join(map(str, retried))}; a running server sends them within seconds")


# -- parser ------------------------------------------------------------------------------------
def _room_options(parser, adding):
    if adding:
        parser.add_argument("--name", required=True)
    else:
        parser.add_argument("--name")
    parser.add_argument("--capacity", type=_nonnegative)
    parser.add_argument("--location")
    parser.add_argument("--timezone", metavar="IANA")
    parser.add_argument("--feature", action="append", metavar="F")
    parser.add_argument("--bookers", metavar="LIST", help="users and @groups who may book (default: everyone)")
    parser.add_argument("--managers", metavar="LIST", help="users and @groups who approve and manage bookings")
    parser.add_argument("--viewers", metavar="LIST",
                        help="users and @groups who see bookings; when set, other users who may not "
                             "book see free/busy only (default: everyone sees them)")
    parser.add_argument("--busy-title", metavar="TEXT", help='title of busy-only feeds (default "Busy")')
    parser.add_argument("--email", metavar="ADDR",
                        help='its address as a meeting attendee (default <ID>@ the [scheduling] '
                             'room_domain); "" goes back to that')
    parser.add_argument("--status", choices=rooms.STATUSES,
                        help="unavailable: refuses new bookings (existing ones stay); "
                             "hidden: listed to admins only")
    parser.add_argument("--status-reason", metavar="TEXT", help="why, shown to people who try to book")
    rules = parser.add_argument_group("rules (ISO 8601 durations such as PT30M, PT4H, P90D)")
    rules.add_argument("--opening-hours", metavar="SPEC", help='e.g. "Mo-Fr 08:00-18:00; Sa 09:00-12:00"')
    for name in ("min-duration", "max-duration", "min-notice", "max-advance", "buffer"):
        rules.add_argument(f"--{name}", metavar="DURATION")
    rules.add_argument("--check-in", metavar="DURATION",
                       help="bookings must be checked in by this long after their start, or are "
                            'released ("" or none: off)')
    rules.add_argument("--quantity", type=_positive, metavar="N")
    rules.add_argument("--max-instances", type=_positive, metavar="N")
    rules.add_argument("--no-recurring", action="store_true")
    rules.add_argument("--no-multiday", action="store_true")
    rules.add_argument("--blackout", action="append", metavar="START/END")
    rules.add_argument("--approval", action="store_true")
    quotas = parser.add_argument_group("quotas per booker (managers and admins are exempt; "
                                       '"" or none turns one off)')
    quotas.add_argument("--quota-bookings", type=_quota_count, metavar="N",
                        help="at most N upcoming bookings per booker in this room")
    quotas.add_argument("--quota-time", metavar="DURATION",
                        help="booked time per booker per --quota-period, e.g. PT4H "
                             "(each occurrence of a series counts in its period)")
    quotas.add_argument("--quota-period", type=str.upper, metavar="P1D|P1W|P1M",
                        help="the period of --quota-time in the room's time zone: a day, a week "
                             "(Monday to Sunday; the default) or a calendar month")
    if not adding:
        rules.add_argument("--recurring", action="store_true", help="allow recurring bookings again")
        rules.add_argument("--multiday", action="store_true", help="allow multi-day bookings again")
        rules.add_argument("--no-approval", action="store_true")
        rules.add_argument("--clear", action="append", metavar="RULE", help="remove a rule, e.g. --clear buffer")
    else:
        parser.set_defaults(clear=None)


def _whole_number(minimum: int):
    """An argparse type: a whole number >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {minimum} or more")
        return value
    return parse


_positive = _whole_number(1)


def _quota_count(text):
    return text if _off(text) else _positive(text)
_nonnegative = _whole_number(0)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end in one line on stderr too (not usage + error); subparsers inherit this."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _password_options(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password", metavar="PW")
    group.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def build_parser():
    parser = _Parser(prog="roomcal", description="Room booking on CalDAV and JSON.")
    parser.add_argument("--config", metavar="PATH",
                        help=f"config file (default: ${roomcal_config.ENV}, then ./radicale.conf)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="write DIR/radicale.conf and its folders")
    p.add_argument("dir")
    p.add_argument("--database", metavar="URL",
                   help="keep everything in this PostgreSQL database (postgresql://USER@HOST:PORT/DB), "
                        "shared by every host; its tables are created or brought up to date")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("migrate-db", help="bring the PostgreSQL database's tables up to this version")
    p.set_defaults(func=cmd_migrate_db)

    p = sub.add_parser("migrate", help="copy this file store into an empty PostgreSQL database and verify it")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://USER@HOST:PORT/DB")
    p.add_argument("--dry-run", action="store_true", help="count what would be copied; write nothing")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--workers", type=_positive, default=1)
    p.add_argument("--threads", type=_positive, default=8)
    p.add_argument("--bind", metavar="HOST:PORT", help="instead of [server] hosts")
    p.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = user.add_parser("add")
    p.add_argument("name")
    _password_options(p)
    p.add_argument("--admin", action="store_true")
    p.add_argument("--email", metavar="ADDR")
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("set", help="change the admin flag or e-mail of a user")
    p.add_argument("name")
    flag = p.add_mutually_exclusive_group()
    flag.add_argument("--admin", action="store_true", default=None)
    flag.add_argument("--no-admin", dest="admin", action="store_false")
    p.add_argument("--email", metavar="ADDR", help='"" removes it')
    p.set_defaults(func=cmd_user_set)
    user.add_parser("list").set_defaults(func=cmd_user_list)
    p = user.add_parser("remove")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_remove)
    p = user.add_parser("passwd")
    p.add_argument("name")
    _password_options(p)
    p.set_defaults(func=cmd_user_passwd)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = token.add_parser("create")
    p.add_argument("user")
    p.add_argument("--label", metavar="L")
    p.add_argument("--read-only", action="store_true")
    p.set_defaults(func=cmd_token_create)
    token.add_parser("list").set_defaults(func=cmd_token_list)
    p = token.add_parser("revoke")
    p.add_argument("id")
    p.set_defaults(func=cmd_token_revoke)

    group = sub.add_parser("group", help="manage groups (@name in --bookers/--managers)").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = group.add_parser("add", help="create a group and/or add members")
    p.add_argument("name")
    p.add_argument("users", nargs="*")
    p.set_defaults(func=cmd_group_add)
    p = group.add_parser("remove", help="remove members")
    p.add_argument("name")
    p.add_argument("users", nargs="+")
    p.set_defaults(func=cmd_group_remove)
    group.add_parser("list").set_defaults(func=cmd_group_list)

    room = sub.add_parser("room", help="manage rooms").add_subparsers(dest="action", required=True, metavar="ACTION")
    p = room.add_parser("add")
    p.add_argument("id")
    _room_options(p, adding=True)
    p.set_defaults(func=cmd_room_add)
    p = room.add_parser("set")
    p.add_argument("id")
    _room_options(p, adding=False)
    p.set_defaults(func=cmd_room_set)
    p = room.add_parser("list")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_room_list)
    p = room.add_parser("show")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_room_show)
    p = room.add_parser("remove")
    p.add_argument("id")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_room_remove)

    p = sub.add_parser("import", help="import an .ics file into a room through the booking core")
    p.add_argument("room")
    p.add_argument("file", help="path, or - for standard input")
    p.add_argument("--allow-conflicts", action="store_true",
                   help="store the events as they are (legacy overlaps; clean up with /api/clear-bookings)")
    p.set_defaults(func=cmd_import)

    feed = sub.add_parser("feed", help="secret subscription links (.ics/webcal) of rooms").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = feed.add_parser("create", help="a new link; it is the last line of the output")
    p.add_argument("room")
    p.add_argument("--busy-only", action="store_true", help='times only, titled "Busy" (see --busy-title)')
    p.add_argument("--label", metavar="L")
    p.set_defaults(func=cmd_feed_create)
    p = feed.add_parser("list", help="feeds of a room (or of all rooms); never the links")
    p.add_argument("room", nargs="?")
    p.set_defaults(func=cmd_feed_list)
    p = feed.add_parser("revoke", help="the link stops working at once")
    p.add_argument("id")
    p.set_defaults(func=cmd_feed_revoke)

    template = sub.add_parser("template", help="mail templates (Jinja2) of rooms").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    for action, func, helptext in (
            ("set", cmd_template_set, "check a template file and use it: the subject on the first line, "
                                      "then the body"),
            ("show", cmd_template_show, "the template a room's mails use"),
            ("remove", cmd_template_remove, "back to the default template")):
        p = template.add_parser(action, help=helptext)
        p.add_argument("room", nargs="?", help="a room id")
        p.add_argument("--default", action="store_true",
                       help="the template of rooms without one of their own")
        p.add_argument("--kind", choices=tuple(OWN_TEMPLATES),
                       help="the template of one kind of mail (default: the one the approved, "
                            "declined, cancelled and cleared mails share)")
        if action == "set":
            p.add_argument("file", help="path, or - for standard input")
        p.set_defaults(func=func)
    outbox = sub.add_parser("outbox", help="mails to organizers, sent and waiting").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = outbox.add_parser("list")
    p.add_argument("--state", choices=("pending", "sent", "failed"))
    p.set_defaults(func=cmd_outbox_list)
    mail = sub.add_parser("mail", help="the outbox: list mails, send failed ones again").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    p = mail.add_parser("list", help="mails sent (30 days), waiting and failed; never their bodies")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--failed", action="store_true", help="only mails that failed for good")
    state.add_argument("--state", choices=("pending", "sent", "failed"))
    p.set_defaults(func=cmd_outbox_list)
    p = mail.add_parser("retry", help="send failed mails again")
    p.add_argument("ids", nargs="*", type=_positive, metavar="ID")
    p.add_argument("--all", action="store_true", help="every mail that failed for good")
    p.set_defaults(func=cmd_mail_retry)

    p = sub.add_parser("check", help="verify items, index, journal and temporary files; --repair fixes")
    p.add_argument("room", nargs="?")
    p.add_argument("--repair", action="store_true",
                   help="rebuild wrong indexes, remove stray temporary files (never deletes bookings)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("reindex", help="rebuild the booking index from the collections")
    p.add_argument("room", nargs="?")
    p.set_defaults(func=cmd_reindex)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except BookingRefused as e:
        print(f"roomcal: error: {e.message}", file=sys.stderr)
        for v in e.decision.violations:
            print(f"  rule {v.rule}: {v.message}", file=sys.stderr)
        for c in e.decision.conflicts:
            data = c.to_json(e.decision.room)
            print(f"  conflict: {data.get('title') or data['uid']} {data['start']} – {data['end']}",
                  file=sys.stderr)
        return 1
    except (CliError, roomcal_config.ConfigError, AccountError, Refusal, ValueError) as e:
        message = getattr(e, "message", None) or str(e)
        print(f"roomcal: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
