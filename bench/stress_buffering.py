#!/usr/bin/env python3
"""Buffering figure (issue 12): what 40 clients holding 9.9 MB uploads open cost the workers.

Against a fresh `roomcal serve` (``--workers``, default 2; real bcrypt cost 12), two phases:

1. **Unauthenticated**: ``--clients`` (40) connections each send the head of a CalDAV PUT
   declaring a ``--size`` (9 900 000) byte body, without credentials, then the body but for its
   last byte, and wait.  Expected: ``401`` at once after the head (the worker checks credentials
   before it takes a body: "Sign-ins"), the body never read.
2. **Authenticated**: the same with a valid password.  Expected: the worker buffers bodies until
   ``[server] max_buffered`` (100 MB per worker by default) is reached, answers ``503`` to the
   uploads beyond it, and ``408`` to the ones it holds once their deadline has passed:
   ``timeout`` + 1 s per KiB received, at most 10 x ``timeout`` more, i.e. 11 x ``timeout`` for
   a 9.9 MB body (330 s with the default ``timeout = 30``; ``--timeout`` sets it for the run,
   default 5 -> 55 s).

For each phase: every client's answer (status, seconds after its head was sent, bytes it got to
send), the workers' resident memory (VmRSS of the gunicorn children of the server process,
sampled every 0.25 s: before, peak, after), and a probe (a small authenticated ``GET /api/rooms``
on a new connection every 0.5 s) to see whether other requests are still answered meanwhile.
Each client gives up after ``--hold`` (70) seconds.

Everything runs in a temporary folder; the server listens on a port the kernel picked free and
whose listening socket is checked to be this server's; it is stopped on exit, Ctrl-C and SIGTERM.
About 1.5 minutes with the defaults:

    .venv/bin/python bench/stress_buffering.py [--clients 40] [--size 9900000] [--workers 2]
        [--timeout 5] [--hold 70] [--max-buffered BYTES] [--json out.json] [--keep]
"""

import argparse
import base64
import collections
import datetime
import json
import os
import select
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import REPO, ROOMCAL, init_roomcal, roomcal_server, run  # noqa: E402
from stress_fuzz import worker_rss  # noqa: E402

USER, PASSWORD = "uploader", "uploader-Correct-Horse-3"
CHUNK = 256 * 1024


def setup(workdir, workers, timeout, max_buffered):
    options = f"\ntimeout = {timeout}" + (f"\nmax_buffered = {max_buffered}" if max_buffered else "")
    config = init_roomcal(workdir, ("[server]", "[server]" + options))
    cli = ROOMCAL + ["--config", config]
    run(cli + ["user", "add", USER, "--password", PASSWORD], cwd=REPO)
    run(cli + ["room", "add", "upload", "--name", "Upload room", "--timezone", "Europe/Berlin"], cwd=REPO)
    return roomcal_server(cli, workers, os.path.join(workdir, "serve.log"), new_session=True)


def status_of(data: bytes):
    line = data.split(b"\r\n", 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit() else None


def uploader(port, n, size, auth, hold, start_gate, results, lock):
    """One client: the head, then the body but for its last byte, then wait for an answer."""
    result = {"client": n, "status": None, "after_head_s": None, "sent": 0, "ending": None}
    head = (f"PUT /rooms/upload/big-{n}.ics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/calendar; charset=utf-8\r\nContent-Length: {size}\r\n"
            + (f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n" if auth else "")
            + "\r\n").encode()
    chunk = b"X" * CHUNK
    start_gate.wait()
    received = b""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(head)
        t0 = time.monotonic()
        deadline = t0 + hold

        def poll(wait):
            nonlocal received
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                data = sock.recv(65536)
                if not data:
                    return "closed"
                received += data
                return "answered"
            return None

        to_send = size - 1
        while to_send > 0 and time.monotonic() < deadline:
            state = poll(0)
            if state:
                result["ending"] = f"{state} while sending"
                break
            piece = chunk[:min(CHUNK, to_send)]
            try:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                sock.sendall(piece)
            except socket.timeout:
                result["ending"] = "send blocked until --hold"
                break
            except OSError as e:
                result["ending"] = f"send failed: {type(e).__name__}"
                break
            to_send -= len(piece)
            result["sent"] = size - 1 - to_send
        if result["ending"] is None:
            result["ending"] = "all but the last byte sent"
        while not received and time.monotonic() < deadline:
            try:
                state = poll(min(1.0, max(0.0, deadline - time.monotonic())))
            except OSError as e:
                result["ending"] += f"; reset ({type(e).__name__})"
                break
            if state == "closed":
                result["ending"] += "; closed without an answer"
                break
        if received:
            result["status"] = status_of(received)
            result["after_head_s"] = round(time.monotonic() - t0, 2)
            result["answer"] = received[:200].decode("latin-1")
    except OSError as e:
        result["ending"] = f"{result['ending'] or ''} error {type(e).__name__}: {e}"
        try:   # the answer may still be in the socket's buffer
            data = sock.recv(65536)
            if data:
                result["status"] = status_of(data)
                result["after_head_s"] = round(time.monotonic() - t0, 2)
        except OSError:
            pass
    finally:
        sock.close()
    with lock:
        results.append(result)


def sampler(master, stop, peaks, series):
    while not stop.is_set():
        now = worker_rss(master)
        for pid, kb in now.items():
            peaks[pid] = max(peaks.get(pid, 0), kb)
        series.append((time.monotonic(), sum(now.values())))
        stop.wait(0.25)


def prober(url, stop, probes):
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            r = requests.get(url + "/api/rooms", auth=(USER, PASSWORD), headers={"Connection": "close"}, timeout=10)
            probes.append((r.status_code, time.perf_counter() - t0))
        except requests.RequestException as e:
            probes.append((f"error {type(e).__name__}", time.perf_counter() - t0))
        stop.wait(0.5)


def phase(server, name, clients, size, auth, hold):
    master = server.process.pid
    before = worker_rss(master)
    peaks, series, probes = dict(before), [], []
    stop = threading.Event()
    threads = [threading.Thread(target=sampler, args=(master, stop, peaks, series), daemon=True),
               threading.Thread(target=prober, args=(server.url, stop, probes), daemon=True)]
    for thread in threads:
        thread.start()
    gate, lock, results = threading.Event(), threading.Lock(), []
    uploaders = [threading.Thread(target=uploader, args=(server.port, n, size, auth, hold, gate, results, lock),
                                  daemon=True) for n in range(clients)]
    for thread in uploaders:
        thread.start()
    t0 = time.monotonic()
    gate.set()
    for thread in uploaders:
        thread.join(hold + 30)
    elapsed = time.monotonic() - t0
    time.sleep(2)   # the workers let go of what they held
    stop.set()
    for thread in threads:
        thread.join(15)
    after = worker_rss(master)
    answers = collections.Counter(r["status"] for r in results)
    by_status = collections.defaultdict(list)
    for r in results:
        by_status[r["status"]].append(r)
    summary = {}
    for status, rs in by_status.items():
        times = [r["after_head_s"] for r in rs if r["after_head_s"] is not None]
        summary[str(status)] = {"count": len(rs),
                                "seconds_after_head": [min(times), statistics.median(times), max(times)] if times else None,
                                "mb_sent_median": round(statistics.median(r["sent"] for r in rs) / 1e6, 2),
                                "endings": dict(collections.Counter(r["ending"] for r in rs))}
    probe_statuses = collections.Counter(p[0] for p in probes)
    probe_ms = [p[1] * 1000 for p in probes if p[0] == 200]
    result = {"phase": name, "clients": clients, "seconds": round(elapsed, 1),
              "answers": {str(k): v for k, v in answers.items()}, "by_status": summary,
              "rss_before_mb": {p: round(kb / 1024) for p, kb in before.items()},
              "rss_peak_mb": {p: round(kb / 1024) for p, kb in peaks.items()},
              "rss_after_mb": {p: round(kb / 1024) for p, kb in after.items()},
              "rss_total_peak_mb": round(max((s for _, s in series), default=0) / 1024),
              "probe_statuses": {str(k): v for k, v in probe_statuses.items()},
              "probe_median_ms": statistics.median(probe_ms) if probe_ms else None,
              "probe_max_ms": max(probe_ms) if probe_ms else None}
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--size", type=int, default=9_900_000, help="declared body size (bytes)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=5, help="[server] timeout for the run (the default is 30)")
    parser.add_argument("--max-buffered", type=int, default=0, help="[server] max_buffered (0: the default)")
    parser.add_argument("--hold", type=float, default=70, help="seconds each client waits at most")
    parser.add_argument("--phases", default="anonymous,authenticated")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data and log)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix="roomcal-buffering-")
    results = {"date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "cpus": os.cpu_count(), "workers": args.workers,
               "timeout": args.timeout, "size": args.size, "phases": []}
    server = None
    try:
        server = setup(workdir, args.workers, args.timeout, args.max_buffered)
        server.start()
        # every worker has imported what it serves before memory is read
        for _ in range(20):
            requests.get(server.url + "/api/rooms", auth=(USER, PASSWORD), headers={"Connection": "close"}, timeout=30)
        print(f"server {server.url}, {args.workers} workers, timeout {args.timeout} s "
              f"(deadline for a {args.size}-byte body: {args.timeout + min(args.size / 1024, 10 * args.timeout):.0f} s)",
              flush=True)
        for name in args.phases.split(","):
            auth = f"{USER}:{PASSWORD}" if name == "authenticated" else None
            p = phase(server, name, args.clients, args.size, auth, args.hold)
            results["phases"].append(p)
            print(f"{name}: {args.clients} clients, {p['seconds']} s; answers {p['answers']}")
            for status, s in sorted(p["by_status"].items()):
                print(f"  {status}: {s['count']} clients, seconds after the head (min/median/max) "
                      f"{s['seconds_after_head']}, median MB sent {s['mb_sent_median']}, {s['endings']}")
            print(f"  worker RSS MB before {p['rss_before_mb']}, peak {p['rss_peak_mb']}, after {p['rss_after_mb']} "
                  f"(sum of workers at its peak: {p['rss_total_peak_mb']} MB)")
            print(f"  probe GET /api/rooms every 0.5 s meanwhile: {p['probe_statuses']}, median "
                  f"{p['probe_median_ms'] and round(p['probe_median_ms'], 1)} ms, max "
                  f"{p['probe_max_ms'] and round(p['probe_max_ms'])} ms", flush=True)
    finally:
        if server is not None:
            server.stop()
        log = os.path.join(workdir, "serve.log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                text = f.read()
            results["log"] = {"refused_buffer_full": text.count("bytes of bodies already arriving"),
                              "closed_deadline": text.count("no complete request within"),
                              "tracebacks": text.count("Traceback"), "replaced": text.count("replacing worker")}
            print(f"server log: {results['log']}")
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
