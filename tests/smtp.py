"""A real SMTP server on 127.0.0.1 for the notification tests (aiosmtpd)."""

import email
import email.policy
import socket
import threading
import time

from aiosmtpd.controller import Controller


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    """aiosmtpd handler: keeps every message it accepts, parsed."""

    def __init__(self):
        self.messages = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.arrived:
            self.messages.append((envelope.rcpt_tos, message))
            self.arrived.notify_all()
        return "250 OK"


class SMTPServer:
    """``start()`` listens on 127.0.0.1 at a free port, ``stop()`` ends it.

    ``messages``: (recipients, email.message.EmailMessage) in arrival order.
    """

    def __init__(self):
        self.inbox = _Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self):
        return self.inbox.messages

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def wait_for(self, count, timeout=10.0):
        """The messages once ``count`` arrived; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.inbox.arrived:
            while len(self.inbox.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.inbox.messages)} of {count} mail(s) after {timeout}s")
                self.inbox.arrived.wait(left)
            return list(self.inbox.messages)
