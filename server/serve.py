"""`roomcal serve`: the whole application under gunicorn (a production WSGI server).

Each worker process builds its own application (no preloading: SQLite
connections and Radicale's caches must not cross a fork); all workers share
one store, and Radicale's file lock makes their writes atomic together.
Gunicorn writes one access-log line per request and stops cleanly on SIGTERM.
"""

import logging

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from radicale import log as radicale_log

from roomcal.server import config as roomcal_config
from roomcal.server import mailer, releaser, tls, worker
from roomcal.server.front import Front, trusted_networks
from roomcal.storage import context
from roomcal.storage.context import unknown_time_zones
from roomcal.storage.feeds import mask

ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


def make_app(config_path: str):
    """Build the WSGI application from a config file (also usable by any WSGI server)."""
    configuration = roomcal_config.load(config_path)
    radicale_log.setup()
    radicale_log.set_level(configuration.get("logging", "level"),
                           configuration.get("logging", "backtrace_on_debug"))
    for name in ("radicale", ""):
        logging.getLogger(name).addFilter(_drop_errors_of_refusals)
        logging.getLogger(name).addFilter(_mask_record)
        logging.getLogger(name).addFilter(unknown_time_zones)
    # Who changed what (server/admin.py): always logged, whatever [logging] level says.
    # and which mails were queued and sent, and which bookings released
    for name in ("roomcal.admin", "roomcal.notify", "roomcal.release"):
        audit = logging.getLogger(name)
        if audit.level == logging.NOTSET or audit.level > logging.INFO:
            audit.setLevel(logging.INFO)
    front = Front(configuration)
    # This process's mail sender (the outbox; no thread without [notify] smtp_server).
    mailer.start(configuration, front.storage)
    # This process's sweep for bookings nobody checked in (one process acts per interval).
    releaser.start(front.storage)
    return front


def _drop_errors_of_refusals(record: logging.LogRecord) -> bool:
    """A refusal of our storage is an answer, not a server error.

    Radicale turns a ValueError in DELETE into "Exception", a traceback and a
    CRITICAL 500 line; the front answers 403/409 instead, and the access log
    says so.  Other errors of the same request are kept.
    """
    state = context.current()
    return not (state is not None and state.refusal is not None and record.levelno >= logging.ERROR)


class MaskingLogger(GunicornLogger):
    """Gunicorn's logger, minus the secrets of feed links (issue 6).

    The access line's request (``%(r)s``) and path carry ``/.feeds/<secret>.ics``;
    every atom is logged as ``/.feeds/rcf_<id>_…`` instead (the id names the feed
    and grants nothing).  The error log ("Error handling request /.feeds/…") too.
    """

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get("PATH_INFO") or ""
        if path.startswith("/.feeds"):  # decoded: /%2Efeeds/ and %-escapes in the secret too
            atoms["U"] = mask(path)
            atoms["r"] = f"{environ.get('REQUEST_METHOD')} {atoms['U']} {environ.get('SERVER_PROTOCOL')}"
        for key, value in atoms.items():
            if isinstance(value, str) and ("feeds" in value or "rcf_" in value):
                atoms[key] = mask(value)
        return atoms

    def setup(self, cfg):
        super().setup(cfg)
        self.error_log.addFilter(_mask_record)


def _mask_record(record: logging.LogRecord) -> bool:
    try:
        message = record.getMessage()
    except Exception:
        return True
    if "feeds" in message or "rcf_" in message:
        record.msg, record.args = mask(message), None
    return True


def _worker_exit(arbiter, worker) -> None:
    """Gunicorn's hook in a worker that stops (SIGTERM, restart): finish and hand back mail."""
    mailer.stop_all(timeout=min(10.0, arbiter.cfg.graceful_timeout / 2))
    releaser.stop_all(timeout=min(5.0, arbiter.cfg.graceful_timeout / 4))


def binds(configuration) -> list:
    result = []
    for host, port in configuration.get("server", "hosts"):
        result.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return result


class _Gunicorn(BaseApplication):
    def __init__(self, config_path: str, options: dict):
        self.config_path = config_path
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return make_app(self.config_path)

    @staticmethod
    def settings_known():
        from gunicorn.config import Config
        return Config().settings


def serve(config_path: str, workers: int = 1, threads: int = 8, bind=None) -> None:
    configuration = roomcal_config.load(config_path)
    # Requests are read in full by the worker's event loop before a thread takes
    # them (server/worker.py): slow clients cost a socket, not a thread.
    worker_class = worker.configured(
        request_timeout=configuration.get("server", "timeout"),
        max_body=configuration.get("server", "max_content_length"),
        max_buffered=configuration.get("server", "max_buffered"),
        cpu_limit=configuration.get("server", "request_cpu_limit"),
        time_limit=configuration.get("server", "request_time_limit"),
        memory_limit=configuration.get("server", "worker_memory_limit"))
    options = {
        "bind": bind or binds(configuration),
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logger_class": MaskingLogger,
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 120,
        "graceful_timeout": 20,
        "keepalive": 5,
        "proc_name": "roomcal",
        "worker_exit": _worker_exit,
        # gunicorn believes X-Forwarded-Proto (the request's scheme: the session cookie's
        # Secure flag, the addresses on the pages) and SCRIPT_NAME from these: the same
        # proxies as ours, not its default of any local client
        "forwarded_allow_ips": ",".join(str(network) for network in trusted_networks(configuration)),
    }
    if configuration.get("server", "ssl"):
        # Radicale's TLS options (server/tls.py); a problem stops us before we listen.
        try:
            context = tls.context(configuration)
        except tls.TLSError as e:
            raise roomcal_config.ConfigError(str(e)) from None
        options.update({
            "certfile": configuration.get("server", "certificate"),
            "keyfile": configuration.get("server", "key"),
            "ssl_context": lambda _config, _default_factory: context,
        })
    if "control_socket_disable" in _Gunicorn.settings_known():
        # gunicorn >= 25 opens ~/.gunicorn/gunicorn.ctl, shared by every instance of a user
        options["control_socket_disable"] = True
    logging.getLogger("roomcal").info("serving %s on %s%s", config_path, options["bind"],
                                      " with TLS" if "certfile" in options else "")
    _Gunicorn(config_path, options).run()
