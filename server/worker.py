"""Gunicorn's threaded worker, made deaf to slow clients.

gthread gives a connection to a pool thread as soon as its first byte arrives,
and the thread then blocks until the whole request is in: a client that sends
one byte a second holds a thread for minutes, and as many such clients as there
are threads stall the worker.  This worker reads every request in its event
loop, without blocking, and gives it to a thread only once it is complete
(head and body), so threads are spent on work only.  A request must be
complete within ``[server] timeout`` seconds of its first byte, plus one second
for every MIN_RATE bytes it brought (a large upload on a slow line is not cut
off, up to MAX_EXTENSIONS × the timeout); else it gets a 408 and the
connection is closed.  Bodies still arriving share ``max_buffered`` bytes per
worker; past that a request gets a 503.  When a request's head is complete and
its body is still to come, the application checks its credentials first (its
``check_head``, in a thread: bcrypt is slow): a refused one is answered at
once, without taking its body.

A watchdog, also on the event loop, replaces a worker whose request uses more
than ``cpu_limit`` seconds of CPU or ``time_limit`` seconds, or whose memory
grows past ``memory_limit`` MB: Python cannot stop a thread, so the worker logs
why, lets its other requests finish for a few seconds and exits; gunicorn starts
a new one.  Whatever a request does, it cannot burn a CPU for ever.

Only the framing is done here (where does this request end?); parsing stays
gunicorn's: the bytes are handed to its parser as read-ahead.  Anything this
module cannot frame (bad lengths, bare LFs, oversized heads or bodies) is
handed over at once, and gunicorn's parser or the front answers it.
"""

import errno
import os
import selectors
import ssl
import threading
import time
from functools import partial
from typing import NamedTuple

from gunicorn import http
from gunicorn import sock as gunicorn_sock
from gunicorn.workers.gthread import ThreadWorker

from roomcal.storage.feeds import mask

RECV_SIZE = 256 * 1024
MIN_RATE = 1024   # bytes a second that earn a slow upload more time (like Apache's mod_reqtimeout)
MAX_EXTENSIONS = 10   # …but at most 10 × the timeout in all
RECYCLE_GRACE = 5.0   # seconds the other requests of a worker being replaced get to finish
# How often the watchdog looks (its limits are seconds): the event loop turns a few times
# per request, and a look reads /proc (3 % of a worker's time under a stream of PUTs).
WATCH_INTERVAL = 0.25
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class RequestFrame:
    """Bytes of one HTTP/1.1 request as they arrive, and whether they are all here.

    ``ready`` becomes true when the request is complete, or when it can never be
    framed here (then the parser's error is the answer, without waiting).
    """

    def __init__(self, max_head: int, max_body: int):
        self.data = bytearray()
        self.max_head = max_head
        self.max_body = max_body
        self.ready = False
        self.head_end = None      # offset just after the head's blank line
        self.body_end = None      # offset just after the body, when the length is known
        self.chunk_at = None      # chunked: offset of the next chunk-size line
        self.oversized = False    # a declared length over max_body: never waited for
        self.expects_continue = False
        self._searched = 0

    def feed(self, data: bytes) -> bool:
        self.data += data
        if not self.ready:
            self._advance()
        return self.ready

    def _give_up(self):
        self.ready = True

    def _advance(self):
        if self.head_end is None and not self._read_head():
            return
        if self.chunk_at is not None:
            self._read_chunks()
        elif self.body_end is not None and len(self.data) >= self.body_end:
            self.ready = True

    def _read_head(self) -> bool:
        start = 2 if self.data[:2] == b"\r\n" else 0   # one stray CRLF is allowed (RFC 9112 2.2)
        end = self.data.find(b"\r\n\r\n", max(start, self._searched - 3))
        if end < 0:
            self._searched = len(self.data)
            head = self.data[start:]
            if len(head) > self.max_head or head.count(b"\n") != head.count(b"\r\n"):
                self._give_up()   # the parser answers 431/400
            return False
        head = bytes(self.data[start:end])
        if b"\n" in head.replace(b"\r\n", b""):
            self._give_up()
            return False
        self.head_end = end + 4
        lines = head.split(b"\r\n")
        kept, lengths, chunked = [lines[0]], set(), False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                lengths.add(value)
            elif name == b"transfer-encoding":
                chunked = chunked or b"chunked" in value
            elif name == b"expect" and value == b"100-continue":
                # Answered here, while the body is still to come; dropped from
                # the head so that gunicorn does not send a second one later.
                self.expects_continue = True
                continue
            kept.append(line)
        if self.expects_continue:
            rebuilt = b"\r\n".join(kept) + b"\r\n\r\n"
            self.data[start:self.head_end] = rebuilt
            self.head_end = start + len(rebuilt)
        if chunked:
            self.chunk_at = self.head_end
            return True
        if len(lengths) > 1:
            self._give_up()
            return False
        try:
            length = int(lengths.pop()) if lengths else 0
        except ValueError:
            length = -1
        if length < 0:
            self._give_up()   # the parser answers 400
            return False
        if length > self.max_body:   # the application's head check answers 413 (the worker's
            self.oversized = True     # _after_head), without waiting for the body
            return True
        self.body_end = self.head_end + length
        return True

    def _read_chunks(self):
        while True:
            line_end = self.data.find(b"\r\n", self.chunk_at)
            if line_end < 0:
                if len(self.data) - self.chunk_at > 1024:
                    self._give_up()
                return
            size_text = bytes(self.data[self.chunk_at:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self._give_up()
                return
            if size == 0:   # the last chunk, then trailers up to a blank line
                if self.data[line_end + 2:line_end + 4] == b"\r\n" or \
                        self.data.find(b"\r\n\r\n", line_end) >= 0:
                    self.ready = True
                return
            if len(self.data) - self.head_end > self.max_body:
                self._give_up()
                return
            next_at = line_end + 2 + size + 2
            if len(self.data) < next_at:
                return
            self.chunk_at = next_at


class Running(NamedTuple):
    """A request a thread is serving, as the watchdog sees it."""
    what: str          # method and path, feed secrets masked
    client: str
    started: float     # time.monotonic()
    cpu_clock: int     # the thread's CPU-time clock
    cpu_started: float


class BufferingThreadWorker(ThreadWorker):
    """gthread, with every request read in full by the event loop first.

    The limits and ``head_check`` are set by `configured`.
    """

    request_timeout = 30.0
    max_body = 100_000_000
    max_buffered = 100_000_000
    cpu_limit = 60.0
    time_limit = 600.0
    memory_limit = 1024       # MB

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading = set()   # connections whose request is still arriving
        self.buffered = 0      # bytes held for them
        self.running = {}      # thread id -> Running
        self.leaving_at = None  # when the watchdog decided to replace this worker
        self.watch_due = 0.0    # when it looks next
        # h2c needs a preface: left to gthread as it is.  TLS is buffered too: the
        # handshake is done here, on the event loop, before the request is read.
        self.buffering = getattr(self.cfg, "http2_cleartext", "off") == "off"
        self.tls = None   # this worker's SSLContext, made once (gunicorn makes one per connection)
        cfg = self.cfg
        if cfg.limit_request_fields and cfg.limit_request_field_size and cfg.limit_request_line:
            self.max_head = cfg.limit_request_line + cfg.limit_request_fields * (cfg.limit_request_field_size + 2)
        else:
            self.max_head = 1024 * 1024

    def enqueue_req(self, conn):
        # Every way in (accept, a kept-alive or deferred connection becoming readable,
        # read-ahead of the next request) passes here, always on the main thread.
        if not self.buffering:
            return super().enqueue_req(conn)
        frame = RequestFrame(self.max_head, self.max_body)
        if conn.parser is not None:
            frame.feed(conn.parser.unreader.take_buffered())
        elif self.cfg.is_ssl and not isinstance(conn.sock, ssl.SSLSocket):
            if self.tls is None:
                self.tls = gunicorn_sock.ssl_context(self.cfg)
            conn.sock = self.tls.wrap_socket(conn.sock, server_side=True, do_handshake_on_connect=False,
                                             suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
            conn.handshaking = True
        conn.frame = frame
        conn.read_started = time.monotonic()
        conn.continued = False
        conn.head_seen = False   # its head went to the application's check (once)
        if frame.ready:
            return self._hand_over(conn)
        self.buffered += len(frame.data)
        self._after_head(conn)
        conn.sock.setblocking(False)
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn, _sock):
        if getattr(conn, "handshaking", False) and not self._shake_hands(conn):
            return
        try:
            data = conn.sock.recv(RECV_SIZE)
            # TLS decrypts whole records: what is left of one does not wake the poller
            while isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending():
                data += conn.sock.recv(conn.sock.pending())
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:   # ssl.SSLError included: a broken or refused TLS connection
            data = b""
        if not data:   # closed by the client before the request was complete
            return self._drop(conn)
        if self.buffered + len(data) > self.max_buffered:
            self.log.warning("refused a request from %s: %d bytes of bodies already arriving",
                             _address(conn), self.buffered)
            return self._drop(conn, busy_response())
        frame = conn.frame
        self.buffered += len(data)
        if frame.feed(data):
            return self._hand_over(conn)
        self._after_head(conn)

    def _shake_hands(self, conn) -> bool:
        """One step of the TLS handshake, without blocking; True once it is done."""
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLWantWriteError:   # rare: the handshake's answer did not fit the buffer
            self.poller.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE,
                               partial(self._on_bytes, conn))
            return False
        except (OSError, ValueError) as e:   # ssl.SSLError: not TLS, or no common ground
            self.log.debug("TLS handshake with %s failed: %s", _address(conn), e)
            self._drop(conn)
            return False
        conn.handshaking = False
        self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))
        return True

    def _after_head(self, conn):
        """Once the head is in and a body is still to come: check the credentials first,
        then (if the client asked) tell it to send the body."""
        frame = conn.frame
        if frame.head_end is None or conn.head_seen:
            return
        conn.head_seen = True
        # The application's check_head(method, target, headers, client) -> the bytes of a
        # whole HTTP response that refuses the request, or None (server/front.py).
        check = getattr(self.wsgi, "check_head", None)
        if check is None:
            if frame.oversized:   # whoever answers, it is not worth waiting for that body
                return self._hand_over(conn)
            return self._continue(conn)
        head = bytes(frame.data[:frame.head_end])
        future = self.tpool.submit(_checked_head, check, head, _address(conn))
        future.add_done_callback(
            lambda done: self.method_queue.defer(self._head_checked, conn, done))

    def _head_checked(self, conn, done):
        if conn not in self.reading:   # complete (and handed over) or closed meanwhile
            return
        answer = done.result() if not done.cancelled() else None
        if answer:
            return self._drop(conn, answer)
        if conn.frame.oversized:
            return self._hand_over(conn)
        self._continue(conn)

    def _continue(self, conn):
        if conn.frame.expects_continue and not conn.continued:
            conn.continued = True
            try:
                conn.sock.send(CONTINUE)
            except OSError:
                pass

    def _hand_over(self, conn):
        if conn in self.reading:
            self.reading.discard(conn)
            self.poller.unregister(conn.sock)
            self.buffered -= len(conn.frame.data)
        data = bytes(conn.frame.data)
        conn.frame = None
        if conn.parser is None and isinstance(conn.sock, ssl.SSLSocket):
            # Wrapped and shaken hands with here: what conn.init() would do, minus that.
            conn.initialized = True
            conn.sock.setblocking(True)
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.init()   # plain HTTP/1: makes the parser, no I/O
        conn.parser.unreader.unread(data)
        conn.data_ready = True
        super().enqueue_req(conn)

    def _drop(self, conn, answer: bytes = b""):
        if conn in self.reading:
            self.buffered -= len(conn.frame.data)
        self.reading.discard(conn)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        if answer:
            try:
                conn.sock.send(answer)
            except OSError as e:
                if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EAGAIN):
                    self.log.debug("408 not sent: %s", e)
        self.nr_conns -= 1
        conn.close()

    def _deadline(self, conn) -> float:
        earned = min(len(conn.frame.data) / MIN_RATE, MAX_EXTENSIONS * self.request_timeout)
        return conn.read_started + self.request_timeout + earned

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.reading if self._deadline(c) <= now]:
            self.log.info("closed a connection from %s: no complete request within %ss",
                          _address(conn), self.request_timeout)
            self._drop(conn, timeout_response(self.request_timeout))
        if now >= self.watch_due:
            self.watch_due = now + WATCH_INTERVAL
            self._watch(now)

    # -- the watchdog ------------------------------------------------------------------
    def handle_request(self, req, conn):
        ident = threading.get_ident()
        clock = time.pthread_getcpuclockid(ident)
        self.running[ident] = Running(f"{req.method} {_masked(req.path)}", _address(conn),
                                      time.monotonic(), clock, time.clock_gettime(clock))
        try:
            return super().handle_request(req, conn)
        finally:
            self.running.pop(ident, None)

    def _watch(self, now: float) -> None:
        if self.leaving_at is not None:
            others = len(self.running) - 1   # the request that made it leave never ends
            if others <= 0 or now - self.leaving_at > RECYCLE_GRACE:
                self.log.error("worker %s exits now, to be replaced", os.getpid())
                os._exit(1)   # threads cannot be stopped: only the process can go
            return
        for run in list(self.running.values()):
            try:
                cpu = time.clock_gettime(run.cpu_clock) - run.cpu_started
            except OSError:   # the thread just finished
                continue
            wall = now - run.started
            if cpu > self.cpu_limit or wall > self.time_limit:
                return self._leave(f"{run.what} from {run.client} has run {wall:.0f} s and used "
                                   f"{cpu:.0f} s of CPU (limits: {self.time_limit:g} s, "
                                   f"{self.cpu_limit:g} s of CPU)", now)
        memory = _resident_mb()
        if memory > self.memory_limit:
            self._leave(f"it holds {memory} MB of memory (limit: {self.memory_limit} MB)", now)

    def _leave(self, why: str, now: float) -> None:
        self.log.error("replacing worker %s: %s", os.getpid(), why)
        self.leaving_at = now
        self.alive = False
        self.set_accept_enabled(False)


def timeout_response(seconds: float) -> bytes:
    text = f"The request did not arrive in full within {seconds:g} seconds.\n".encode()
    return (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            + f"Content-Length: {len(text)}\r\n\r\n".encode() + text)


def busy_response() -> bytes:
    text = b"The server is receiving too many uploads at once; try again in a few seconds.\n"
    return (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            + f"Content-Length: {len(text)}\r\n\r\n".encode() + text)


def _checked_head(check, head: bytes, client: str):
    """Run the application's head check on a parsed head (in a pool thread)."""
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rpartition(" ")[0] or rest
    headers = []
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    try:
        return check(method, target, headers, client)
    except Exception:   # a broken check must not drop good requests: the app decides later
        return None


def _address(conn) -> str:
    client = conn.client
    return client[0] if isinstance(client, tuple) and client else str(client or "?")


def _masked(path: str) -> str:
    return mask(path) if "feeds" in path or "rcf_" in path else path


def _resident_mb() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return 0


def configured(request_timeout: float, max_body: int, *, max_buffered: int = 100_000_000,
               cpu_limit: float = 60.0, time_limit: float = 600.0, memory_limit: int = 1024) -> type:
    """The worker class with this server's limits (set before gunicorn forks its workers)."""
    return type("BufferingThreadWorker", (BufferingThreadWorker,), {
        "request_timeout": float(request_timeout), "max_body": int(max_body),
        "max_buffered": int(max_buffered), "cpu_limit": float(cpu_limit),
        "time_limit": float(time_limit), "memory_limit": int(memory_limit)})
