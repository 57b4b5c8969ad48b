"""A real SMTP server (aiosmtpd) on loopback for the mail tests: it keeps what it receives."""

import email
import email.policy
import os
import time

from aiosmtpd.controller import Controller

from conftest import free_port
from roomcal.storage import notify


class Smtp:
    """An SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self):
        self.port = free_port()
        self.messages = []   # (envelope recipients, email.message.EmailMessage)
        self.refused = set()  # recipients refused for good (550), as a server without the mailbox
        self.controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        # A folded header keeps the blank after "Subject:" when parsed; mail clients drop it.
        subject = " ".join(str(message["Subject"]).split())
        del message["Subject"]
        message["Subject"] = subject
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self):
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, predicate, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [m for _, m in self.messages if predicate(m)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no such mail within {timeout} s; got "
                             f"{[(m['To'], m['Subject']) for _, m in self.messages]}")

    def about(self, uid):
        return [m for _, m in self.messages if uid in body(m) or uid in m["Subject"]]

    def invitations(self, uid, method=None):
        """The iMIP mails about ``uid`` (with a text/calendar part), of ``method`` if given."""
        return [m for _, m in self.messages if uid in (calendar_part(m) or "")
                and (method is None or f"METHOD:{method}" in calendar_part(m))]

    def wait_for_invitations(self, uid, method, count=1, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.invitations(uid, method)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {method} about {uid} within {timeout} s; got "
                             f"{[(m['To'], m['Subject']) for _, m in self.messages]}")


def body(message) -> str:
    """The text of a mail (its text/plain part when it has attachments)."""
    return (message.get_body(preferencelist=("plain",)) or message).get_content()


def calendar_part(message):
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_content()
    return None


def mailing_server(make_server, smtp, *edits, workers=1, notify_lines=""):
    """A started roomcal server whose mail goes to ``smtp``: its [notify] section points there
    (plus ``notify_lines``), then the config ``edits`` ((old, new) pairs) apply."""
    for variable in list(notify.ENVIRONMENT) + ["SMTP_STARTTLS"]:  # the server inherits them
        os.environ.pop(variable, None)
    server = make_server(workers=workers, start=False)
    server.configure(("[notify]\n", "[notify]\nsmtp_server = 127.0.0.1\n"
                                    f"smtp_port = {smtp.port}\nsmtp_security = none\n"
                                    "from_email = rooms@example.org\n" + notify_lines), *edits)
    server.start()
    return server
