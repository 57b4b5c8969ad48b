"""The `roomcal` command.

Every error ends in one line on stderr and a non-zero exit; no tracebacks for
user mistakes.  Writes to rooms take Radicale's storage lock and go through the
same storage plugin (and so the same booking core) as HTTP requests.
"""

import argparse
import contextlib
import getpass
import json
import os
import sys

from server import config as roomcal_config
from storage import context, rooms
from storage.accounts import AccountError
from storage.context import Actor
from storage.errors import BookingRefused, Refusal


class CliError(Exception):
    pass


# -- helpers --------------------------------------------------------------------------
def _configuration(args):
    return roomcal_config.load(roomcal_config.locate(args.config))


def _storage(args):
    import logging

    from storage.store import Storage
    # ERROR: Radicale's "Storage location ... creating now" warnings would break the
    # one-line-on-stderr contract of the first command on a fresh store.
    logging.getLogger("radicale").setLevel(logging.ERROR)
    return Storage(_configuration(args))


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
    path = roomcal_config.write_template(args.dir)
    print(f"wrote {path}")
    print(f"next: roomcal --config {path} user add NAME --admin")


def cmd_serve(args):
    from server.serve import serve
    path = roomcal_config.locate(args.config)
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
    user = storage.accounts.add_user(args.name, _password(args), admin=args.admin, email=args.email or "")
    print(f"added user {user.name}{' (admin)' if user.admin else ''}")


def cmd_user_list(args):
    users = _storage(args).accounts.list_users()
    _print_table([(u.name, "admin" if u.admin else "", u.email) for u in users], ("NAME", "ROLE", "EMAIL"))


def cmd_user_remove(args):
    _storage(args).accounts.remove_user(args.name)
    print(f"removed user {args.name}")


def cmd_user_passwd(args):
    storage = _storage(args)
    storage.accounts.require_user(args.name)
    storage.accounts.set_password(args.name, _password(args))
    print(f"changed the password of {args.name}")


def cmd_token_create(args):
    token, secret = _storage(args).accounts.create_token(args.user, args.label or "", args.read_only)
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
    _storage(args).accounts.revoke_token(args.id)
    print(f"revoked token {args.id}")


# -- groups (for @group in --bookers/--managers) ------------------------------------------
def cmd_group_add(args):
    accounts = _storage(args).accounts
    for user in args.users:
        accounts.require_user(user)
    accounts.add_group(args.name)
    for user in args.users:
        accounts.add_member(args.name, user)
    print(f"group {args.name}: {', '.join(accounts.list_groups().get(args.name, [])) or 'no members'}")


def cmd_group_remove(args):
    accounts = _storage(args).accounts
    groups = accounts.list_groups()
    if args.name not in groups:
        raise CliError(f"no group {args.name!r}")
    for user in args.users:
        if user not in groups[args.name]:
            raise CliError(f"{user!r} is not in group {args.name!r}")
        accounts.remove_member(args.name, user)
    print(f"group {args.name}: {', '.join(accounts.list_groups().get(args.name, [])) or 'no members'}")


def cmd_group_list(args):
    groups = _storage(args).accounts.list_groups()
    _print_table([(name, ", ".join(members)) for name, members in groups.items()], ("GROUP", "MEMBERS"))


# -- rooms -------------------------------------------------------------------------------------
RULE_OPTIONS = ("opening_hours", "min_duration", "max_duration", "min_notice", "max_advance", "buffer")


def _apply_room_options(room, args):
    for field in ("name", "location", "timezone"):
        if getattr(args, field, None) is not None:
            setattr(room, field, getattr(args, field))
    if args.capacity is not None:
        room.capacity = args.capacity
    if args.feature:
        room.features = list(dict.fromkeys(f.strip() for f in args.feature if f.strip()))
    if args.bookers is not None:
        room.bookers = _split_list(args.bookers)
    if args.managers is not None:
        room.managers = _split_list(args.managers)
    r = room.rules
    for field in RULE_OPTIONS:
        if getattr(args, field) is not None:
            setattr(r, field, getattr(args, field) or None)
    if args.quantity is not None:
        r.quantity = args.quantity
    if args.max_instances is not None:
        r.max_instances = args.max_instances
    if args.blackout:
        r.blackouts = list(args.blackout)
    for flag, field, value in (("no_recurring", "no_recurring", True), ("recurring", "no_recurring", False),
                               ("no_multiday", "no_multiday", True), ("multiday", "no_multiday", False),
                               ("approval", "approval", True), ("no_approval", "approval", False)):
        if getattr(args, flag, False):
            setattr(r, field, value)
    for name in args.clear or ():
        fields = {public: field for field, public in r.NAMES.items()}
        field = fields.get(name) or fields.get(name.replace("_", "-"))
        if field is None:
            raise CliError(f"--clear: unknown rule {name!r} (one of {', '.join(fields)})")
        default = rooms.Rules().__getattribute__(field)
        setattr(r, field, default)
    return room.validate()


def _check_people(storage, room):
    groups = storage.accounts.list_groups()
    for entry in room.bookers + room.managers:
        if entry.startswith("@"):
            if entry[1:] not in groups:
                raise CliError(f"no group {entry[1:]!r} (in --bookers/--managers); "
                               "create it with 'roomcal group add'")
            continue
        if storage.accounts.get_user(entry) is None:
            raise CliError(f"no user {entry!r} (in --bookers/--managers)")


def cmd_room_add(args):
    storage = _storage(args)
    rooms.check_id(args.id)
    if storage.registry.get(args.id) is not None:
        raise CliError(f"room {args.id!r} already exists; change it with 'roomcal room set'")
    room = _apply_room_options(rooms.Room(id=args.id, name=args.name), args)
    _check_people(storage, room)
    with _writing(storage, room.path):
        storage.create_collection(room.path, props=room.to_props())
    print(f"added room {room.id} ({room.name})")


def cmd_room_set(args):
    storage = _storage(args)
    room = storage.registry.get(args.id)
    if room is None:
        raise CliError(f"no room {args.id!r}")
    old_timezone = room.timezone
    room = _apply_room_options(room, args)
    _check_people(storage, room)
    with _writing(storage, room.path):
        collection = storage.room_collection(room.id)
        collection.set_meta({**collection.get_meta(), **room.to_props()})
        if room.timezone != old_timezone:  # floating times and dates move
            storage.room_collection(room.id).reindex()
    print(f"updated room {room.id}")


def cmd_room_list(args):
    storage = _storage(args)
    all_rooms = storage.registry.all()
    if args.json:
        print(json.dumps([r.to_json() for r in all_rooms], indent=2, ensure_ascii=False))
        return
    _print_table([(r.id, r.name, "" if r.capacity is None else r.capacity, r.location, r.timezone)
                  for r in all_rooms], ("ID", "NAME", "CAPACITY", "LOCATION", "TIMEZONE"))


def cmd_room_show(args):
    storage = _storage(args)
    room = storage.registry.get(args.id)
    if room is None:
        raise CliError(f"no room {args.id!r}")
    data = room.to_json()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key in ("id", "name", "capacity", "location", "timezone", "features", "bookers", "managers"):
        value = data[key]
        print(f"{key}: {', '.join(value) if isinstance(value, list) else ('' if value is None else value)}")
    for key, value in data["rules"].items():
        if value not in (None, False, [], 1) or key == "quantity":
            print(f"rule {key}: {', '.join(value) if isinstance(value, list) else value}")


def cmd_room_remove(args):
    storage = _storage(args)
    with _writing(storage, f"/rooms/{args.id}/"):
        collection = storage.room_collection(args.id)
        count = storage.index.count(collection.view().room_key)
        if count and not args.force:
            raise CliError(f"room {args.id!r} still has {count} booking(s); use --force to remove it anyway")
        collection.delete()
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
            count = storage.room_collection(room_id).reindex()
            print(f"{room_id}: {count} booking(s) indexed")


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
    rules = parser.add_argument_group("rules (ISO 8601 durations such as PT30M, PT4H, P90D)")
    rules.add_argument("--opening-hours", metavar="SPEC", help='e.g. "Mo-Fr 08:00-18:00; Sa 09:00-12:00"')
    for name in ("min-duration", "max-duration", "min-notice", "max-advance", "buffer"):
        rules.add_argument(f"--{name}", metavar="DURATION")
    rules.add_argument("--quantity", type=_positive, metavar="N")
    rules.add_argument("--max-instances", type=_positive, metavar="N")
    rules.add_argument("--no-recurring", action="store_true")
    rules.add_argument("--no-multiday", action="store_true")
    rules.add_argument("--blackout", action="append", metavar="START/END")
    rules.add_argument("--approval", action="store_true")
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
    p.set_defaults(func=cmd_init)

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

    p = sub.add_parser("reindex", help="rebuild the booking index from the collections")
    p.add_argument("room", nargs="?")
    p.set_defaults(func=cmd_reindex)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
