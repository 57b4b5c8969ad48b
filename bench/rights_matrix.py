#!/usr/bin/env python3
"""Rights matrix (issue "Hardening"): actors x rooms x verbs x paths over real HTTP.

Starts ``roomcal serve`` on a loopback port with a fresh data folder, sets up the cast through
the real CLI and runs every cell of the matrix against the oracle.  The matrix, the cast and
the oracle live in ``tests/support/rights_matrix.py`` (one copy, which ``tests/test_rights_matrix.py``
runs in the normal suite); this script prints the table.

    .venv/bin/python bench/rights_matrix.py [--json FILE] [--actors a,b] [--rooms k,l]
        [--verbs v,w] [--workers 2] [--parallel 3] [--strict] [--keep]

Prints per (actor, path) the cells, what the server allowed and denied and the mismatches,
then every mismatch and ``cells: N, ..., unauthorised reads: R, unauthorised writes: W,
wrongly refused: K``.  Mismatches that are reported but not fixed are listed in ``KNOWN``.
Exit status 1 on any unauthorised read or write (known ones included), any answer >= 500,
or with ``--strict`` any wrongly refused cell.  ``tests/test_rights_matrix.py`` runs the
whole matrix in the normal suite.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests"))
from bench_booking import REPO, ROOMCAL, init_roomcal, roomcal_server, run  # noqa: E402
from support.rights_matrix import (ACTORS, KINDS, KNOWN, VERBS, Matrix, describe, final_line,  # noqa: E402
                                   mismatches, seed, summary, table)


def _choices(text, known, what):
    if not text:
        return None
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write every cell and the summary as JSON")
    parser.add_argument("--actors", help="comma-separated subset of: " + ", ".join(ACTORS))
    parser.add_argument("--rooms", help="comma-separated subset of: " + ", ".join(KINDS))
    parser.add_argument("--verbs", help="comma-separated subset of the verbs (see VERBS)")
    parser.add_argument("--workers", type=int, default=2, help="roomcal serve --workers (default 2)")
    parser.add_argument("--parallel", type=int, default=3, help="rooms run side by side (default 3)")
    parser.add_argument("--strict", action="store_true", help="also fail on wrongly refused cells")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    actors = _choices(args.actors, list(ACTORS), "actors")
    kinds = _choices(args.rooms, list(KINDS), "rooms")
    verbs = _choices(args.verbs, list(VERBS), "verbs")

    t0 = time.time()
    workdir = tempfile.mkdtemp(prefix="roomcal-matrix-")
    config = init_roomcal(workdir)
    base = ROOMCAL + ["--config", config]

    def cli(*cli_args):
        return run(base + list(cli_args), cwd=REPO).stdout
    cast = seed(cli)
    server = roomcal_server(base, args.workers, os.path.join(workdir, "serve.log"))
    server.start()
    try:
        matrix = Matrix(server.url, cast, cli)
        matrix.prepare()
        print(f"setup (CLI, server, bookings): {time.time() - t0:.1f} s", flush=True)
        t1 = time.time()
        cells = matrix.run(actors, kinds, verbs, parallel=args.parallel, progress=lambda m: print(m, flush=True))
        seconds = time.time() - t1
    finally:
        server.stop()
    with open(os.path.join(workdir, "serve.log"), errors="replace") as f:
        logged_5xx = sum(1 for line in f if '" 500 ' in line or '" 502 ' in line or '" 503 ' in line)
    print(table(cells))
    print()
    for cell in mismatches(cells):
        print("  MISMATCH " + describe(cell))
    used = {c.known for c in cells if c.known}
    for known in KNOWN:
        if known.name in used:
            print(f"  KNOWN {known.name}: {known.why}")
    s = summary(cells)
    print(f"matrix: {s['cells']} cells in {seconds:.1f} s ({matrix.requests} requests), "
          f"{s['expected_allowed']} allowed and {s['expected_denied']} denied by the policy; "
          f"5xx in the access log: {logged_5xx}; total {time.time() - t0:.1f} s")
    print(final_line(cells))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": {**s, "seconds": round(seconds, 1), "requests": matrix.requests,
                                   "logged_5xx": logged_5xx},
                       "known": [dataclasses.asdict(k) for k in KNOWN],
                       "cells": [c.to_json() for c in cells]}, f, indent=1)
    if args.keep:
        print(f"data: {workdir}")
    else:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    failed = s["unauthorised_reads"] or s["unauthorised_writes"] or s["server_errors"] or logged_5xx \
        or (args.strict and s["wrongly_refused"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
