"""The `roomcal` command line (issue 2, "CLI contract").

Effects are checked where they matter: a password set by the CLI logs in on the
running server, a revoked token stops working there, a room shown by the CLI is
the room the API serves.  Every error must end in a non-zero exit and exactly
one clear line on stderr, without a traceback.

``run`` is the installed command as a real subprocess: init, finding the config
(option, environment, current folder), a fresh store's first command, and a user,
a password from stdin and a token made by another process and used on the server.
``server.cli`` runs the same ``main`` in the test process (tests/conftest.py): exit
status, stdout and stderr as the process would give them, without an interpreter
start per command.
"""

import configparser
import datetime
import json
import os
import subprocess
import time
import uuid

import pytest
import requests

from conftest import REPO, ROOMCAL, event, free_port


# -- helpers ---------------------------------------------------------------------------
def run(*args, cwd=REPO, env=None, input=None, config=None):
    """`roomcal [--config CONFIG] ARGS` without $ROOMCAL_CONFIG unless ``env`` sets it."""
    environment = {k: v for k, v in os.environ.items() if k != "ROOMCAL_CONFIG"}
    environment.update(env or {})
    command = ROOMCAL + (["--config", str(config)] if config else []) + [str(a) for a in args]
    return subprocess.run(command, cwd=str(cwd), env=environment, input=input,
                          capture_output=True, text=True, timeout=60)


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    return result


def assert_error(result, *words):
    """Non-zero exit, exactly one non-empty stderr line mentioning ``words``, no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"expected a failure, got exit 0: {output}"
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
    return lines[0]


def init(path):
    ok(run("init", path))
    return path / "radicale.conf"


def soon(days, hour=10, hours=1):
    """UTC iCalendar start/end a few days ahead (inside every default horizon)."""
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=days)
    start = datetime.datetime.combine(day, datetime.time(hour))
    end = start + datetime.timedelta(hours=hours)
    return start.strftime("%Y%m%dT%H%M%SZ"), end.strftime("%Y%m%dT%H%M%SZ")


def api_status(server, auth=None, token=None, path="/api/rooms"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.url + path, auth=auth, headers=headers, timeout=30).status_code


# -- init ---------------------------------------------------------------------------------
PATH_OPTIONS = {("storage", "filesystem_folder"), ("storage", "roomcal_index"),
                ("auth", "htpasswd_filename"), ("auth", "roomcal_accounts")}


def test_init_writes_a_complete_config_whose_paths_all_lie_inside_dir(tmp_path):
    site = tmp_path / "new" / "site"  # does not exist yet
    result = ok(run("init", site, cwd=tmp_path))
    config = site / "radicale.conf"
    assert config.is_file()
    assert str(config) in result.stdout or "radicale.conf" in result.stdout

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config)
    present = {(s, o) for s in parser.sections() for o in parser[s]}
    assert PATH_OPTIONS <= present, f"missing path options: {PATH_OPTIONS - present}"
    assert parser["storage"]["type"] and parser["auth"]["type"] and parser["rights"]["type"]
    assert parser["server"]["hosts"]
    root = os.path.realpath(site)
    for section in parser.sections():
        for option, value in parser[section].items():
            if "/" not in value and (section, option) not in PATH_OPTIONS:
                continue
            resolved = os.path.realpath(os.path.join(site, os.path.expanduser(value)))
            assert os.path.commonpath([root, resolved]) == root, \
                f"[{section}] {option} = {value} points outside {site}"
    # The folders are created.
    assert os.path.isdir(os.path.join(site, parser["storage"]["filesystem_folder"]))


def test_everything_the_cli_writes_lands_inside_the_init_dir(tmp_path):
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = init(site)
    before = set(os.listdir(site))
    ok(run("user", "add", "ina", "--password", "pw", "--admin", config=config, cwd=elsewhere))
    ok(run("token", "create", "ina", config=config, cwd=elsewhere))
    ok(run("room", "add", "r1", "--name", "R1", config=config, cwd=elsewhere))
    assert os.listdir(elsewhere) == [], "relative paths must be read relative to the config file"
    assert set(os.listdir(site)) >= before
    users = run("user", "list", config=config, cwd=elsewhere)
    assert "ina" in ok(users).stdout
    # The password went into the config's htpasswd file, as bcrypt.
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config)
    htpasswd = os.path.join(site, parser["auth"]["htpasswd_filename"])
    with open(htpasswd) as f:
        entries = dict(line.strip().split(":", 1) for line in f if ":" in line)
    assert entries["ina"].startswith(("$2b$", "$2y$", "$2a$"))


def test_init_refuses_to_overwrite(tmp_path):
    config = init(tmp_path / "site")
    with open(config, "a") as f:
        f.write("# keep me\n")
    line = assert_error(run("init", tmp_path / "site"), "exists")
    assert "radicale.conf" in line
    assert config.read_text().endswith("# keep me\n")


def test_a_config_written_before_the_roomcal_package_names_still_works(tmp_path):
    """Configs written by roomcal init before the packages were installed as roomcal.*
    name the plugins by their folders: the server reads them as the new names.  Run
    outside the checkout, where the folders are no top-level packages (as when installed)."""
    config = init(tmp_path / "old")
    port = free_port()
    text = config.read_text().replace("hosts = 127.0.0.1:5232", f"hosts = 127.0.0.1:{port}")
    for new, old in (("type = roomcal.plugins.auth", "type = plugins.auth"),
                     ("type = roomcal.plugins.rights", "type = plugins.rights"),
                     ("type = roomcal.storage\n", "type = storage\n")):
        assert new in text
        text = text.replace(new, old)
    config.write_text(text)
    ok(run("user", "add", "old-user", "--password", "pw", config=config, cwd=tmp_path))
    ok(run("room", "add", "old-room", "--name", "Old room", config=config, cwd=tmp_path))
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(ROOMCAL + ["--config", str(config), "serve"], cwd=tmp_path,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        answer = None
        for _ in range(100):
            try:
                answer = requests.request("PROPFIND", f"http://127.0.0.1:{port}/rooms/old-room/",
                                          auth=("old-user", "pw"), headers={"Depth": "0"}, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 207, (tmp_path / "serve.log").read_text()
        assert "Old room" in answer.text
    finally:
        server.terminate()
        server.wait(20)


# -- finding the config -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_sites(tmp_path_factory):
    """Two stores told apart by their users."""
    base = tmp_path_factory.mktemp("sites")
    a, b, empty = base / "a", base / "b", base / "empty"
    empty.mkdir()
    ok(run("user", "add", "only-in-a", "--password", "pw", config=init(a)))
    ok(run("user", "add", "only-in-b", "--password", "pw", config=init(b)))
    return a / "radicale.conf", b / "radicale.conf", b, empty


def users_seen(result):
    out = ok(result).stdout
    return {name for name in ("only-in-a", "only-in-b") if name in out}


def test_config_option_is_used(two_sites):
    a, b, _, empty = two_sites
    assert users_seen(run("user", "list", config=a, cwd=empty)) == {"only-in-a"}
    assert users_seen(run("user", "list", config=b, cwd=empty)) == {"only-in-b"}


def test_roomcal_config_environment_variable_is_the_default(two_sites):
    a, _, _, empty = two_sites
    assert users_seen(run("user", "list", cwd=empty, env={"ROOMCAL_CONFIG": str(a)})) == {"only-in-a"}


def test_radicale_conf_in_the_current_folder_is_the_last_resort(two_sites):
    _, _, b_dir, _ = two_sites
    assert users_seen(run("user", "list", cwd=b_dir)) == {"only-in-b"}


def test_config_option_beats_environment_which_beats_current_folder(two_sites):
    a, b, b_dir, _ = two_sites
    assert users_seen(run("user", "list", cwd=b_dir, env={"ROOMCAL_CONFIG": str(a)})) == {"only-in-a"}
    assert users_seen(run("user", "list", config=b, cwd=b_dir,
                          env={"ROOMCAL_CONFIG": str(a)})) == {"only-in-b"}


def test_config_not_found_errors(two_sites, tmp_path):
    _, _, _, empty = two_sites
    missing = tmp_path / "nowhere" / "radicale.conf"
    assert_error(run("user", "list", config=missing, cwd=empty), "not found", str(missing))
    assert_error(run("user", "list", cwd=empty, env={"ROOMCAL_CONFIG": str(missing)}),
                 "not found", str(missing))
    assert_error(run("room", "list", cwd=empty), "not found", "radicale.conf")


def test_an_error_as_the_very_first_command_on_a_fresh_store_is_one_line(tmp_path):
    config = init(tmp_path / "fresh")
    assert_error(run("room", "show", "nope", config=config), "nope")


# -- users ----------------------------------------------------------------------------------------
def test_user_add_with_password_logs_in_on_the_server(server):
    ok(run("user", "add", "cli-u1", "--password", "first pw", config=server.config))
    assert api_status(server, ("cli-u1", "first pw")) == 200
    assert api_status(server, ("cli-u1", "other")) == 401


def test_user_add_password_stdin(server):
    ok(run("user", "add", "cli-u2", "--password-stdin", input="from stdin\n", config=server.config))
    assert api_status(server, ("cli-u2", "from stdin")) == 200
    assert api_status(server, ("cli-u2", "from stdin\n")) == 401


def test_user_add_admin_and_email_show_in_user_list(server):
    ok(server.cli("user", "add", "cli-boss", "--password", "pw", "--admin", "--email", "boss@example.org"))
    ok(server.cli("user", "add", "cli-plain", "--password", "pw"))
    listing = ok(server.cli("user", "list")).stdout.splitlines()
    boss = next(line for line in listing if line.split()[:1] == ["cli-boss"])
    plain = next(line for line in listing if line.split()[:1] == ["cli-plain"])
    assert "admin" in boss and "boss@example.org" in boss
    assert "admin" not in plain and "@" not in plain
    # The admin flag is real: only the admin may administer.
    server.add_room("cli-adminroom")
    boss_view = requests.get(server.url + "/api/rooms/cli-adminroom", auth=("cli-boss", "pw"), timeout=30).json()
    plain_view = requests.get(server.url + "/api/rooms/cli-adminroom", auth=("cli-plain", "pw"), timeout=30).json()
    assert boss_view["may"]["administer"] is True
    assert plain_view["may"]["administer"] is False


def test_duplicate_user_is_refused(server):
    ok(server.cli("user", "add", "cli-dup", "--password", "one"))
    assert_error(server.cli("user", "add", "cli-dup", "--password", "two", check=False),
                 "cli-dup", "exists")
    assert api_status(server, ("cli-dup", "one")) == 200
    assert api_status(server, ("cli-dup", "two")) == 401


def test_user_add_without_any_password_is_an_error(server):
    assert_error(server.cli("user", "add", "cli-nopw", check=False, input=""), "password")
    assert "cli-nopw" not in server.cli("user", "list").stdout


@pytest.mark.parametrize("name", ["api", "rooms", "bad/name"])
def test_user_names_that_cannot_be_principals_are_refused(server, name):
    assert_error(server.cli("user", "add", name, "--password", "pw", check=False), name)


def test_user_passwd(server):
    ok(server.cli("user", "add", "cli-pw", "--password", "old"))
    assert api_status(server, ("cli-pw", "old")) == 200
    ok(server.cli("user", "passwd", "cli-pw", "--password", "new"))
    assert api_status(server, ("cli-pw", "new")) == 200
    assert api_status(server, ("cli-pw", "old")) == 401
    ok(server.cli("user", "passwd", "cli-pw", "--password-stdin", input="newer\n"))
    assert api_status(server, ("cli-pw", "newer")) == 200
    assert api_status(server, ("cli-pw", "new")) == 401


def test_user_passwd_of_unknown_user(server):
    assert_error(server.cli("user", "passwd", "cli-ghost", "--password", "x", check=False), "cli-ghost")


def test_user_remove(server):
    ok(server.cli("user", "add", "cli-gone", "--password", "pw"))
    token = server.token("cli-gone")
    assert api_status(server, ("cli-gone", "pw")) == 200 and api_status(server, token=token) == 200
    ok(server.cli("user", "remove", "cli-gone"))
    assert "cli-gone" not in server.cli("user", "list").stdout
    assert api_status(server, ("cli-gone", "pw")) == 401
    assert api_status(server, token=token) == 401
    assert_error(server.cli("user", "remove", "cli-gone", check=False), "cli-gone")


# -- tokens -------------------------------------------------------------------------------------------
def test_token_create_prints_the_token_as_the_last_line(server):
    server.add_user("cli-tok")
    result = ok(run("token", "create", "cli-tok", "--label", "laptop", config=server.config))
    lines = result.stdout.splitlines()
    assert lines and lines[-1].strip() == lines[-1] and lines[-1]
    secret = lines[-1]
    assert " " not in secret
    assert api_status(server, token=secret) == 200
    response = server.request("PROPFIND", "/cli-tok/", token=secret, headers={"Depth": "0"})
    assert response.status_code == 207
    # Each call makes a new token.
    assert server.token("cli-tok") != secret


def test_token_list_never_shows_secrets_and_secrets_are_not_stored(server):
    server.add_user("cli-lst")
    rw = server.token("cli-lst", "--label", "sync-script")
    ro = server.token("cli-lst", "--label", "dashboard", "--read-only")
    listing = ok(server.cli("token", "list")).stdout
    rows = [line for line in listing.splitlines() if "cli-lst" in line]
    assert len(rows) == 2
    assert any("sync-script" in r and "read-only" not in r for r in rows)
    assert any("dashboard" in r and "read-only" in r for r in rows)
    for secret in (rw, ro):
        assert secret not in listing
        tail = secret[-20:]
        assert tail not in listing
    # Stored hashed: the secret is nowhere in the data folder (nor in the logs).
    for folder, _, files in os.walk(server.dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            for secret in (rw, ro):
                assert secret.encode() not in data and secret[-20:].encode() not in data, \
                    f"token secret found in {os.path.join(folder, name)}"


def test_token_revoke(server):
    server.add_user("cli-rev")
    secret = server.token("cli-rev", "--label", "to-revoke")
    keep = server.token("cli-rev", "--label", "to-keep")
    assert api_status(server, token=secret) == 200
    row = next(line for line in server.cli("token", "list").stdout.splitlines() if "to-revoke" in line)
    token_id = row.split()[0]
    ok(server.cli("token", "revoke", token_id))
    assert api_status(server, token=secret) == 401
    assert api_status(server, token=keep) == 200
    assert "to-revoke" not in server.cli("token", "list").stdout
    assert_error(server.cli("token", "revoke", token_id, check=False), token_id)


def test_token_for_unknown_user(server):
    result = server.cli("token", "create", "cli-nobody", check=False)
    assert_error(result, "cli-nobody")
    assert "rc_" not in result.stdout


# -- rooms ----------------------------------------------------------------------------------------------
def test_room_add_show_and_list(server):
    server.add_user("cli-rb1")
    server.add_user("cli-rm1")
    ok(server.cli("room", "add", "cli-conf", "--name", "Conference A", "--capacity", "12",
                  "--location", "2nd floor", "--timezone", "Europe/Berlin",
                  "--feature", "projector", "--feature", "whiteboard",
                  "--bookers", "cli-rb1", "--managers", "cli-rm1",
                  "--min-duration", "PT30M", "--max-duration", "PT4H", "--max-advance", "P90D"))
    shown = json.loads(ok(server.cli("room", "show", "cli-conf", "--json")).stdout)
    assert shown["id"] == "cli-conf" and shown["name"] == "Conference A"
    assert shown["capacity"] == 12 and shown["location"] == "2nd floor"
    assert shown["timezone"] == "Europe/Berlin"
    assert shown["features"] == ["projector", "whiteboard"]
    assert shown["bookers"] == ["cli-rb1"] and shown["managers"] == ["cli-rm1"]
    assert shown["rules"]["min-duration"] == "PT30M"
    assert shown["rules"]["max-duration"] == "PT4H"
    assert shown["rules"]["max-advance"] == "P90D"

    text = ok(server.cli("room", "show", "cli-conf")).stdout
    for value in ("cli-conf", "Conference A", "12", "2nd floor", "Europe/Berlin", "projector", "PT4H"):
        assert value in text

    listed = json.loads(ok(server.cli("room", "list", "--json")).stdout)
    assert isinstance(listed, list)
    mine = next(r for r in listed if r["id"] == "cli-conf")
    assert mine["name"] == "Conference A" and mine["capacity"] == 12
    table = ok(server.cli("room", "list")).stdout
    row = next(line for line in table.splitlines() if line.startswith("cli-conf"))
    assert "Conference A" in row and "Europe/Berlin" in row

    # The CLI and the server see the same room.
    api = server.request("GET", "/api/rooms/cli-conf", user="cli-rb1").json()
    assert api["name"] == "Conference A" and api["rules"]["max-duration"] == "PT4H"


def test_room_set_changes_the_room(server):
    server.add_room("cli-set", "--capacity", "4", name="Before")
    ok(server.cli("room", "set", "cli-set", "--name", "After", "--capacity", "8",
                  "--location", "Annex", "--timezone", "America/New_York", "--buffer", "PT15M"))
    shown = json.loads(server.cli("room", "show", "cli-set", "--json").stdout)
    assert (shown["name"], shown["capacity"], shown["location"], shown["timezone"]) == \
        ("After", 8, "Annex", "America/New_York")
    assert shown["rules"]["buffer"] == "PT15M"
    server.add_user("cli-setter")
    api = server.request("GET", "/api/rooms/cli-set", user="cli-setter").json()
    assert api["name"] == "After" and api["capacity"] == 8 and api["timezone"] == "America/New_York"


def test_room_remove_empty_room(server):
    server.add_room("cli-empty")
    server.add_user("cli-viewer")
    assert server.request("GET", "/api/rooms/cli-empty", user="cli-viewer").status_code == 200
    ok(server.cli("room", "remove", "cli-empty"))
    assert server.request("GET", "/api/rooms/cli-empty", user="cli-viewer").status_code == 404
    assert "cli-empty" not in server.cli("room", "list").stdout
    assert_error(server.cli("room", "show", "cli-empty", check=False), "cli-empty")


def test_room_remove_refuses_while_bookings_exist_unless_forced(server):
    server.add_room("cli-busy")
    server.add_user("cli-booker")
    start, end = soon(10)
    put = server.put_ics("/rooms/cli-busy/one.ics", event(start, end), user="cli-booker")
    assert put.status_code == 201, put.text
    line = assert_error(server.cli("room", "remove", "cli-busy", check=False), "cli-busy", "--force")
    assert "booking" in line.lower()
    assert server.request("GET", "/rooms/cli-busy/one.ics", user="cli-booker").status_code == 200
    assert server.request("GET", "/api/rooms/cli-busy", user="cli-booker").status_code == 200
    ok(server.cli("room", "remove", "cli-busy", "--force"))
    assert server.request("GET", "/api/rooms/cli-busy", user="cli-booker").status_code == 404
    assert "cli-busy" not in server.cli("room", "list").stdout


# -- every error case: non-zero exit, one line, no traceback ---------------------------------------------
@pytest.fixture(scope="module")
def existing(server):
    server.add_room("cli-taken", name="Taken")
    return "cli-taken", server.cli("room", "show", "cli-taken", "--json").stdout


ERRORS = [
    # (arguments, words the one stderr line must contain)
    (("room", "show", "cli-nosuch"), ("cli-nosuch",)),
    (("room", "show", "cli-nosuch", "--json"), ("cli-nosuch",)),
    (("room", "set", "cli-nosuch", "--capacity", "3"), ("cli-nosuch",)),
    (("room", "remove", "cli-nosuch"), ("cli-nosuch",)),
    (("room", "remove", "cli-nosuch", "--force"), ("cli-nosuch",)),
    (("room", "add", "cli-tz", "--name", "X", "--timezone", "Mars/Olympus_Mons"), ("Mars/Olympus_Mons",)),
    (("room", "set", "cli-taken", "--timezone", "Not/AZone"), ("Not/AZone",)),
    (("room", "add", "cli-dur", "--name", "X", "--max-duration", "4 hours"), ("max-duration", "4 hours")),
    (("room", "add", "cli-dur", "--name", "X", "--min-duration", "30min"), ("min-duration", "30min")),
    (("room", "set", "cli-taken", "--buffer", "PT"), ("buffer",)),
    (("room", "set", "cli-taken", "--max-advance", "ninety days"), ("max-advance",)),
    (("room", "add", "cli-taken", "--name", "Again"), ("cli-taken", "exists")),
    (("room", "add", "api", "--name", "API"), ("api", "reserved")),
    (("room", "add", "API", "--name", "API"), ("API", "reserved")),
    (("room", "add", "bad/id", "--name", "X"), ("bad/id",)),
    (("room", "add", "cli-ppl", "--name", "X", "--bookers", "cli-no-such-user"), ("cli-no-such-user",)),
    (("room", "add", "cli-cap", "--name", "X", "--capacity", "lots"), ("capacity",)),
    (("token", "revoke", "000000000000"), ("000000000000",)),
    (("user", "remove", "cli-nobody-here"), ("cli-nobody-here",)),
]


@pytest.mark.parametrize("args,words", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_error_is_one_clear_line(server, existing, args, words):
    taken, before = existing
    assert_error(server.cli(*args, check=False), *words)
    # A refused command changed nothing.
    if taken in args:
        assert server.cli("room", "show", taken, "--json").stdout == before
    if args[:2] == ("room", "add") and args[2] != taken:
        assert server.cli("room", "show", args[2], check=False).returncode != 0


def test_unique_token_labels_do_not_matter_for_ids(server):
    """Ids from `token list` are what `token revoke` takes, even with equal labels."""
    server.add_user("cli-same")
    first = server.token("cli-same", "--label", "same")
    second = server.token("cli-same", "--label", "same")
    ids = [line.split()[0] for line in server.cli("token", "list").stdout.splitlines()
           if "cli-same" in line]
    assert len(set(ids)) == 2
    ok(server.cli("token", "revoke", ids[0]))
    statuses = sorted([api_status(server, token=first), api_status(server, token=second)])
    assert statuses == [200, 401]


def test_room_ids_with_dots_dashes_and_underscores_work(server):
    room_id = f"b.{uuid.uuid4().hex[:6]}-x_1"
    server.add_room(room_id)
    assert json.loads(server.cli("room", "show", room_id, "--json").stdout)["id"] == room_id
