"""Sending the outbox: one thread per server process (each gunicorn worker).

The thread claims one due mail at a time from the outbox (storage/outbox.py;
atomic across processes, so two workers never send one mail), sends it over
SMTP and marks it sent.  A failure hands the mail back with exponential
backoff — ``roomcal_outbox_retry_min`` seconds, doubling per attempt, at most
``roomcal_outbox_retry_max`` — so an SMTP outage only delays mail.  A
permanent refusal (5xx for the recipient or the message) marks it failed.
The thread never touches Radicale's lock or the collections: writes only
append rows, and a write never waits for SMTP.
"""

import email.message
import email.utils
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
import uuid
from typing import Optional

from roomcal.storage import notify
from roomcal.storage.outbox import Mail, Outbox
from roomcal.storage.text import one_line

logger = logging.getLogger("roomcal.notify")
SMTP_TIMEOUT = 30  # seconds per SMTP operation; the claim lease must be longer
ATTACHMENT_NAME = "booking.ics"


class PermanentFailure(Exception):
    pass


def message(settings: notify.Settings, mail: Mail) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    sender = settings.sender
    msg["From"] = _header(email.utils.formataddr((settings.sender_name, sender))
                          if settings.sender_name else sender)
    msg["To"] = _header(mail.recipient)
    msg["Subject"] = _header(mail.subject)
    msg["Date"] = email.utils.formatdate(localtime=True)
    domain = sender.rpartition("@")[2] or "roomcal.invalid"
    # One Message-ID per outbox row: a mail sent twice (crash after "250 OK") is recognizable.
    tag = uuid.uuid5(uuid.NAMESPACE_URL, f"{mail.id}/{mail.uid}").hex[:12]
    msg["Message-ID"] = f"<roomcal-{mail.id}-{tag}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    if mail.kind:
        msg["X-Roomcal-Event"] = mail.kind
    if mail.reply_to:
        msg["Reply-To"] = _header(mail.reply_to)
    msg.set_content(mail.body)
    if mail.calendar:
        # iMIP (RFC 6047): text/calendar;method=... as the alternative to the text, which
        # mail clients offer to answer, and the same .ics attached for those that look there.
        method = _header(mail.method or "PUBLISH")
        msg.add_alternative(mail.calendar, subtype="calendar", params={"method": method})
        msg.add_attachment(mail.calendar.encode(), maintype="application", subtype="ics",
                           filename="invite.ics")
    if mail.attachment:
        # A confirmation: the booking to add to any calendar (PUBLISH: no reply expected).
        msg.add_attachment(mail.attachment, subtype="calendar", filename=ATTACHMENT_NAME,
                           params={"method": "PUBLISH"})
    return msg


def _header(value: str) -> str:
    """A header value as it is, or PermanentFailure: Python writes a line break in a value
    as it is, which ends the header block (or starts another header, "Bcc: ...")."""
    if not one_line(value):
        raise PermanentFailure(f"a header value holds a line break or control character: {value!r}")
    return value


def send(settings: notify.Settings, mail: Mail) -> None:
    """One mail over SMTP; PermanentFailure when the server refuses it for good."""
    msg = message(settings, mail)
    recipients = [mail.recipient, *settings.bcc]
    context = ssl.create_default_context()
    if settings.security == "ssl":
        connection = smtplib.SMTP_SSL(settings.server, settings.smtp_port, timeout=SMTP_TIMEOUT,
                                      context=context)
    else:
        connection = smtplib.SMTP(settings.server, settings.smtp_port, timeout=SMTP_TIMEOUT)
    with connection as smtp:
        smtp.ehlo_or_helo_if_needed()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.login:
            smtp.login(settings.login, settings.password)
        try:
            refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(f"recipients refused: {e.recipients}") from None
            raise
        except smtplib.SMTPDataError as e:
            if e.smtp_code >= 500:
                raise PermanentFailure(f"message refused: {e.smtp_code} {e.smtp_error!r}") from None
            raise
    # The Bcc copies went, the recipient was refused: the mail did not reach whom it is for
    # (kept failed, or tried again; its Bcc copies then go again).
    if mail.recipient in (refused or {}):
        code, answer = refused[mail.recipient]
        if code >= 500:
            raise PermanentFailure(f"recipient refused: {code} {answer!r}")
        raise smtplib.SMTPRecipientsRefused({mail.recipient: (code, answer)})


class Sender(threading.Thread):
    def __init__(self, settings: notify.Settings, outbox: Outbox, *, retry_min: float = 30,
                 retry_max: float = 3600, lease: float = 300):
        super().__init__(name="roomcal-mailer", daemon=True)
        self.settings = settings
        self.outbox = outbox
        self.retry_min = max(retry_min, 0.05)
        self.retry_max = max(retry_max, self.retry_min)
        self.lease = max(lease, SMTP_TIMEOUT * 4)
        self.poll = min(2.0, max(0.1, self.retry_min))  # mails queued by other processes
        # The host too: with PostgreSQL, senders of other hosts share the outbox.
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        notify.WAKE.set()

    def run(self) -> None:
        logger.info("Mail sender %s started (SMTP %s:%s, %s)", self.owner, self.settings.server,
                    self.settings.smtp_port, self.settings.security)
        self.release_orphans()
        pruned = 0.0
        while not self._stopping.is_set():
            notify.WAKE.clear()  # before looking: a mail queued from now on wakes the wait below
            try:
                if time.time() - pruned > 3600:
                    self.outbox.prune()
                    pruned = time.time()
                mail = self.outbox.claim(self.owner, self.lease)
            except Exception:
                logger.exception("The outbox %s cannot be read; trying again", self.outbox.path)
                self._stopping.wait(max(self.poll, 1))
                continue
            if mail is None:
                self._sleep()
                continue
            self.deliver(mail)
        try:
            self.outbox.release(self.owner)
        except Exception:
            pass

    def release_orphans(self) -> None:
        """Leases of senders whose process is gone (a worker killed, a server restarted after
        kill -9): handed back now rather than when the lease runs out.  Owners are
        ``<pid>-<random>@<host>`` (before: ``<pid>-<random>``, a sender of this host); only
        this host's processes can be looked at."""
        here = socket.gethostname()
        try:
            for owner in self.outbox.holders():
                pid, _, rest = owner.partition("-")
                host = rest.partition("@")[2]
                if host in ("", here) and pid.isdigit() and int(pid) != os.getpid() \
                        and not _alive(int(pid)):
                    self.outbox.release(owner)
                    logger.info("Mail leases of the stopped sender %s handed back", owner)
        except Exception:
            logger.exception("The outbox %s cannot be read for stale leases", self.outbox.path)

    def _sleep(self) -> None:
        timeout = self.poll
        try:
            due = self.outbox.next_due()
        except Exception:
            due = None
        if due is not None:
            timeout = min(timeout, max(0.02, due - time.time()))
        notify.WAKE.wait(timeout)

    def backoff(self, attempts: int) -> float:
        return min(self.retry_max, self.retry_min * (2 ** min(attempts, 30)))

    def deliver(self, mail: Mail) -> None:
        try:
            send(self.settings, mail)
        except PermanentFailure as e:
            logger.error("Mail %d to %s refused for good: %s", mail.id, mail.recipient, e)
            self.outbox.fail(mail.id, self.owner, str(e))
        except Exception as e:
            delay = self.backoff(mail.attempts)
            logger.warning("Mail %d to %s not sent (attempt %d: %s); next try in %.1f s",
                           mail.id, mail.recipient, mail.attempts + 1, _describe(e), delay)
            self.outbox.retry(mail.id, self.owner, _describe(e), delay)
        else:
            logger.info("Mail %d (%s) sent to %s", mail.id, mail.kind, mail.recipient)
            self.outbox.done(mail.id, self.owner)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        pass
    return True


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


_started = {}
_lock = threading.Lock()


def stop_all(timeout: float = 10.0) -> None:
    """Stop this process's senders: the mail being sent is finished and marked, and what
    they still hold is released for the other processes at once.  A stopping worker that
    left its claim behind delayed that mail by the whole lease, and sent it again if the
    SMTP server had already taken it."""
    with _lock:
        senders = [s for (pid, _), s in _started.items() if pid == os.getpid()]
    for sender in senders:
        sender.stop()
    deadline = time.monotonic() + timeout
    for sender in senders:
        sender.join(max(0.0, deadline - time.monotonic()))
        if sender.is_alive():
            logger.warning("Mail sender %s still busy at exit; its mail is sent again after the lease",
                           sender.owner)


def start(configuration, storage) -> Optional[Sender]:
    """The sender of this process (started once per process and outbox); None without SMTP."""
    notifier = storage.notifier
    if not notifier.settings.enabled:
        return None
    key = (os.getpid(), notifier.outbox_path)
    with _lock:
        sender = _started.get(key)
        if sender is None or not sender.is_alive():
            retry_min, retry_max, lease = notify.outbox_timing(configuration)
            sender = Sender(notifier.settings, Outbox(notifier.outbox_path, configuration),
                            retry_min=retry_min, retry_max=retry_max, lease=lease)
            sender.start()
            _started[key] = sender
    return sender
