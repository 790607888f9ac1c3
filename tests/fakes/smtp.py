"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it is given."""

import socket
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler: `messages` holds (recipients, the message as text) in arrival order."""

    def __init__(self):
        self.messages = []
        self.port = None

    @property
    def url(self):
        """The server as an EMAIL_URL."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@contextmanager
def smtp_inbox():
    """Run the server on a free port for the block; yields its Inbox."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    inbox.port = port
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
