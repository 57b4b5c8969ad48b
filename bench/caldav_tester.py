"""caldav-server-tester against a fresh roomcal: which CalDAV features a client library finds.

A bench tool, not a test: caldav-server-tester is no dependency of roomcal.  Install it into
the venv first (``.venv/bin/pip install caldav-server-tester``).  The script

- makes a fresh roomcal in a temporary folder (``roomcal init``, cheap bcrypt),
- adds ``alice`` (with an e-mail: her calendar-user-address-set has an address), ``bob``
  (also with an e-mail: the tester's scheduling checks invite the second account and query
  its free/busy) and a room ``board`` anyone may book,
- serves it on a free loopback port and runs ``caldav-server-tester --format hints`` with
  alice as the main account and bob as the extra one (``--config-section`` twice, from a
  caldav config file written into the temporary folder; without a second account the
  tester leaves scheduling's cross-user checks "unknown"),
- prints the hints and writes them (with the tester's stderr, which names failed checks)
  to the file given on the command line.

    .venv/bin/python bench/caldav_tester.py bench/caldav-tester-after.txt [--format text] [--keep]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import REPO, ROOMCAL, init_roomcal, roomcal_server, run  # noqa: E402

MAIN = ("alice", "alice-pw", "alice@example.org", "Alice Example")
SECOND = ("bob", "bob-pw", "bob@example.org", "Bob Example")
ROOM = ("board", "Board room")


def tester_command() -> list:
    """The tester installed beside this Python (the venv's), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "caldav-server-tester")
    found = beside if os.path.exists(beside) else shutil.which("caldav-server-tester")
    if not found:
        sys.exit("caldav-server-tester is not installed: .venv/bin/pip install caldav-server-tester")
    return [found]


def version(command) -> str:
    result = subprocess.run(command + ["--version"], capture_output=True, text=True)
    return result.stdout.strip() or result.stderr.strip()


def setup(directory: str) -> list:
    """A fresh roomcal with the two users and the room; returns the CLI command."""
    config = init_roomcal(directory)
    cli = ROOMCAL + ["--config", config]
    for name, password, email, _ in (MAIN, SECOND):
        run(cli + ["user", "add", name, "--password", password, "--email", email], cwd=REPO)
    run(cli + ["room", "add", ROOM[0], "--name", ROOM[1]], cwd=REPO)
    return cli


def caldav_config(directory: str, url: str) -> str:
    """A caldav (calendaring-config) file with one section per account."""
    path = os.path.join(directory, "caldav.json")
    sections = {section: {"caldav_url": url, "caldav_username": name, "caldav_password": password}
                for section, (name, password, _, _) in (("roomcal-main", MAIN), ("roomcal-second", SECOND))}
    with open(path, "w") as f:
        json.dump(sections, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="file to write the result to")
    parser.add_argument("--format", default="hints", choices=("hints", "text", "json", "yaml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before the tester is stopped")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its serve.log)")
    args = parser.parse_args()
    command = tester_command()
    directory = tempfile.mkdtemp(prefix="roomcal-caldav-tester-")
    server = None
    try:
        cli = setup(directory)
        server = roomcal_server(cli, args.workers, os.path.join(directory, "serve.log")).start()
        url = server.url + "/"
        # The tester's own variables would replace the file's sections (CALDAV_URL & co.).
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("CALDAV_", "CALENDARING_"))}
        environ["CALDAV_CONFIG_FILE"] = caldav_config(directory, url)
        started = time.time()
        tester = subprocess.Popen(
            command + ["--format", args.format, "--config-section", "roomcal-main",
                       "--config-section", "roomcal-second"],
            cwd=directory, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = tester.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            tester.send_signal(signal.SIGTERM)
            out, err = tester.communicate()
            err += f"\n(stopped after {args.timeout:.0f} s)\n"
        seconds = time.time() - started
        head = (f"# {version(command)} --format {args.format} against roomcal "
                f"(commit {_commit()}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                f"{seconds:.0f} s, exit {tester.returncode}\n"
                f"# main account {MAIN[0]} <{MAIN[2]}>, extra account {SECOND[0]} <{SECOND[2]}>, "
                f"room {ROOM[0]}\n")
        text = head + out
        if err.strip():
            text += "\n# stderr of the tester\n" + "".join(f"# {line}\n" for line in err.splitlines())
        print(text, end="")
        with open(args.output, "w") as f:
            f.write(text)
        errors = [line for line in open(os.path.join(directory, "serve.log"), errors="replace")
                  if '" 500 ' in line or "Traceback" in line]   # the status follows the request
        if errors:
            print(f"the server answered 500 or logged a traceback {len(errors)} time(s); see "
                  f"{directory}/serve.log", file=sys.stderr)
            args.keep = True
        return 0 if tester.returncode == 0 else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {directory}", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or "?"


if __name__ == "__main__":
    sys.exit(main())
