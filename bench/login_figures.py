#!/usr/bin/env python3
"""Sign-in figures (issue 12): what bcrypt costs, and whether guessing slows valid clients.

Against a fresh `roomcal serve --workers 4` with the real cost, ``roomcal_bcrypt_rounds = 12``
(the test suite uses 4), ``[server] trusted_proxies = 127.0.0.1`` so that ``X-Forwarded-For``
names the client, and the default lock-outs (``max_failures = 10`` per name and address, 50 of
any names per address, within 900 s):

(a) **Unknown name vs known name, wrong password.**  ``--attempts`` (20) Basic sign-ins of each,
    interleaved, one at a time, each from its own forwarded address (no lock-out can interfere):
    the ratio of the medians (unknown / known) says whether names can be probed by timing.
(b) **A valid Bearer token under guessing.**  ``GET /api/rooms`` with a valid token, one
    request after another for ``--duration`` seconds (a new connection each, so that every
    worker is sampled): median and p95 latency
      1. alone;
      2. while ``--guessers`` (12) clients send Basic guesses as fast as they can, all from one
         forwarded address, with lock-outs on (each guesser has its own target name: two real
         users and ten unknown names);
      3. the same, but each guess from a new forwarded address, so that no lock-out starts and
         every guess costs a bcrypt check: the rationing of bcrypt (one check at a time per
         worker, four waiting, 503 beyond) alone protects the valid client.
    The guessers' answers (401 / 429 / 503) are counted.  Target of the issue: valid Bearer median
    <= 50 ms under 12 guessing clients.

Everything runs in a temporary folder; the server listens on a port the kernel picked free and
whose listening socket is checked to be this server's; it is stopped on exit, Ctrl-C and
SIGTERM.  About 2.5 minutes with the defaults:

    .venv/bin/python bench/login_figures.py [--workers 4] [--rounds 12] [--attempts 20]
        [--guessers 12] [--duration 30] [--json out.json] [--keep]
"""

import argparse
import collections
import datetime
import itertools
import json
import os
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import REPO, ROOMCAL, init_roomcal, roomcal_server, run  # noqa: E402

USERS = {"alice": "alice-Correct-Horse-1", "bob": "bob-Battery-Staple-2"}
TOKEN_USER = "carol"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def setup(workdir: str, workers: int, rounds: int, extra_server: str = "", extra_auth: str = "") -> tuple:
    """`roomcal init` with the given bcrypt cost, users, a room and a token; (server, token, cli)."""
    config = init_roomcal(workdir, ("roomcal_bcrypt_rounds = 12", f"roomcal_bcrypt_rounds = {rounds}"),
                          ("[server]", "[server]\ntrusted_proxies = 127.0.0.1" + extra_server),
                          ("[auth]", "[auth]" + extra_auth))
    cli = ROOMCAL + ["--config", config]
    for user, password in {**USERS, TOKEN_USER: "carol-pw-unused"}.items():
        run(cli + ["user", "add", user, "--password", password], cwd=REPO)
    run(cli + ["room", "add", "lobby", "--name", "Lobby", "--timezone", "Europe/Berlin"], cwd=REPO)
    token = run(cli + ["token", "create", TOKEN_USER], cwd=REPO).stdout.strip().splitlines()[-1]
    server = roomcal_server(cli, workers, os.path.join(workdir, "serve.log"), new_session=True)
    return server, token, cli


# -- (a) unknown vs known names ------------------------------------------------------------
def name_timing(url: str, attempts: int) -> dict:
    def timed(user, address):
        t0 = time.perf_counter()
        r = requests.get(url + "/api/rooms", auth=(user, "wrong-" + secrets.token_hex(4)),
                         headers={"X-Forwarded-For": address, "Connection": "close"}, timeout=60)
        seconds = time.perf_counter() - t0
        assert r.status_code == 401, (user, r.status_code, r.text[:200])
        return seconds
    known, unknown = [], []
    for n in range(attempts):
        known.append(timed("alice", f"10.1.{n // 250}.{n % 250 + 1}"))
        unknown.append(timed(f"nobody{n}", f"10.2.{n // 250}.{n % 250 + 1}"))
    return {"known_ms": [s * 1000 for s in known], "unknown_ms": [s * 1000 for s in unknown],
            "known_median_ms": statistics.median(known) * 1000,
            "unknown_median_ms": statistics.median(unknown) * 1000,
            "ratio": statistics.median(unknown) / statistics.median(known)}


# -- (b) a valid token under guessing -------------------------------------------------------------
def bearer_sampler(url: str, token: str, stop: threading.Event, samples: list, statuses: collections.Counter):
    """Valid Bearer requests one after another (a new connection each) until ``stop``."""
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            r = requests.get(url + "/api/rooms", headers={"Authorization": f"Bearer {token}", "Connection": "close"},
                             timeout=30)
            statuses[r.status_code] += 1
            if r.status_code == 200:
                samples.append(time.perf_counter() - t0)
        except requests.RequestException as e:
            statuses[f"error {type(e).__name__}"] += 1
        stop.wait(0.02)


def guesser(url: str, user: str, address_of, stop: threading.Event, statuses: collections.Counter, lock):
    """Basic guesses for ``user`` as fast as the server answers (keep-alive, like a script would)."""
    session = requests.Session()
    while not stop.is_set():
        try:
            r = session.get(url + "/api/rooms", auth=(user, "guess-" + secrets.token_hex(6)),
                            headers={"X-Forwarded-For": address_of()}, timeout=60)
            status = r.status_code
        except requests.RequestException as e:
            status = f"error {type(e).__name__}"
            session.close()
            session = requests.Session()
        with lock:
            statuses[status] += 1
    session.close()


def condition(url: str, token: str, seconds: float, guessers: int = 0, fresh_addresses: bool = False) -> dict:
    stop = threading.Event()
    samples, bearer_statuses = [], collections.Counter()
    guess_statuses, lock = collections.Counter(), threading.Lock()
    counter = itertools.count(1)

    def new_address():   # 100.64.0.0/10: one address per guess
        n = next(counter)
        return f"100.{64 + n // 65536 % 64}.{n // 256 % 256}.{n % 256}"

    names = list(USERS) + [f"ghost{i}" for i in range(max(0, guessers - len(USERS)))]
    threads = [threading.Thread(target=guesser, daemon=True,
                                args=(url, names[i % len(names)], new_address if fresh_addresses else (lambda: "203.0.113.9"),
                                      stop, guess_statuses, lock)) for i in range(guessers)]
    for thread in threads:
        thread.start()
    if guessers:
        time.sleep(2)   # let the guessers get going
    sampler = threading.Thread(target=bearer_sampler, args=(url, token, stop, samples, bearer_statuses), daemon=True)
    t0 = time.time()
    sampler.start()
    time.sleep(seconds)
    stop.set()
    sampler.join(60)
    for thread in threads:
        thread.join(90)
    elapsed = time.time() - t0 + (2 if guessers else 0)
    ms = [s * 1000 for s in samples]
    return {"guessers": guessers, "fresh_addresses": fresh_addresses, "seconds": round(elapsed, 1),
            "bearer_requests": sum(bearer_statuses.values()), "bearer_statuses": {str(k): v for k, v in bearer_statuses.items()},
            "bearer_median_ms": statistics.median(ms) if ms else None, "bearer_p95_ms": percentile(ms, 0.95),
            "bearer_max_ms": max(ms) if ms else None,
            "guesses": sum(guess_statuses.values()), "guess_statuses": {str(k): v for k, v in sorted(guess_statuses.items(), key=str)},
            "guesses_per_second": round(sum(guess_statuses.values()) / max(elapsed, 1e-9), 1)}


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=12, help="roomcal_bcrypt_rounds (default: the real 12)")
    parser.add_argument("--attempts", type=int, default=20, help="sign-ins of each kind for (a)")
    parser.add_argument("--guessers", type=int, default=12)
    parser.add_argument("--duration", type=float, default=30, help="seconds of Bearer sampling per condition")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data and log)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix="roomcal-logins-")
    results = {"date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "cpus": os.cpu_count(), "workers": args.workers,
               "rounds": args.rounds}
    server = None
    try:
        server, token, _ = setup(workdir, args.workers, args.rounds)
        server.start()
        url = server.url
        print(f"server {url}, {args.workers} workers, bcrypt rounds {args.rounds}; load average {load_average()}",
              flush=True)
        results["load_before"] = load_average()
        assert requests.get(url + "/api/rooms", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
        a = name_timing(url, args.attempts)
        results["names"] = a
        print(f"(a) wrong password, {args.attempts} each, interleaved: known name median {a['known_median_ms']:.0f} ms, "
              f"unknown name median {a['unknown_median_ms']:.0f} ms, ratio unknown/known {a['ratio']:.2f} "
              f"(known {min(a['known_ms']):.0f}-{max(a['known_ms']):.0f} ms, "
              f"unknown {min(a['unknown_ms']):.0f}-{max(a['unknown_ms']):.0f} ms)", flush=True)
        for key, guessers, fresh in (("alone", 0, False), ("lockouts_on", args.guessers, False),
                                     ("lockouts_off", args.guessers, True)):
            load = load_average()
            b = condition(url, token, args.duration, guessers, fresh)
            b["load_before"] = load
            results[key] = b
            print(f"(b) {key}: valid Bearer median {b['bearer_median_ms']:.1f} ms, p95 {b['bearer_p95_ms']:.1f} ms, "
                  f"max {b['bearer_max_ms']:.0f} ms over {b['bearer_requests']} requests {b['bearer_statuses']}"
                  + (f"; {b['guesses']} guesses ({b['guesses_per_second']}/s): {b['guess_statuses']}" if guessers else "")
                  + f"; load average before {load}", flush=True)
    finally:
        if server is not None:
            server.stop()
        log = os.path.join(workdir, "serve.log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                text = f.read()
            results["lockout_lines"] = text.count("login lock-out:")
            results["tracebacks"] = text.count("Traceback")
            results["fivexx_logged_not_503"] = sum(1 for line in text.splitlines()
                                                  if '" 5' in line and '" 503 ' not in line and "ms \"" in line)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"lock-out lines in the log: {results.get('lockout_lines')}; tracebacks: {results.get('tracebacks')}; "
          f"5xx other than 503 in the access log: {results.get('fivexx_logged_not_503')}")
    target = results["lockouts_off"]["bearer_median_ms"], results["lockouts_on"]["bearer_median_ms"]
    print(f"target (valid Bearer median <= 50 ms under {args.guessers} guessers): "
          f"{'met' if max(target) <= 50 else 'missed'} ({target[1]:.1f} ms with lock-outs, {target[0]:.1f} ms without)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
