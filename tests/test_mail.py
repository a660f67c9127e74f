"""Mail through the outbox against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from early_warning import FixedClock, InputError, Store
from early_warning.alerts import FolderMailer, Outbox, SmtpMailer, SmtpSettings


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        if controller._thread is not None:  # a test may have stopped it already
            controller.stop()


def _outbox(store: Store, port: int) -> Outbox:
    return Outbox(store, SmtpMailer(SmtpSettings("127.0.0.1", port, timeout=5)))


def _queue(outbox: Outbox, key: str = "rule-1:BLR:2021-W08") -> int:
    return outbox.queue(
        key=key, sender="ew@example.org", recipients=["duty@example.org", "desk@example.org"],
        subject="[red] ru_base_status BLR", text="A permanent base was agreed.", html="<p>base</p>",
    )  # fmt: skip


def test_a_queued_message_is_delivered_with_its_recipients(store: Store, smtp) -> None:
    controller, inbox = smtp
    outbox = _outbox(store, controller.port)
    _queue(outbox)
    assert outbox.flush() == {"sent": 1, "failed": 0, "dead": 0}
    ((recipients, content),) = inbox.messages
    assert recipients == ["duty@example.org", "desk@example.org"]
    message = message_from_bytes(content, policy=policy.default)
    assert message["Subject"] == "[red] ru_base_status BLR"
    assert "A permanent base was agreed." in message.get_body(("plain",)).get_content()
    assert message.get_body(("html",)) is not None
    assert outbox.flush()["sent"] == 0  # sent once, not again


def test_server_down_nothing_lost_then_each_message_once(
    store: Store, clock: FixedClock, smtp
) -> None:
    controller, inbox = smtp
    port = controller.port
    controller.stop()  # the mail server is down
    outbox = Outbox(store, SmtpMailer(SmtpSettings("127.0.0.1", port, timeout=2)), clock)
    for n in range(3):
        _queue(outbox, f"rule-{n}")
    assert outbox.flush() == {"sent": 0, "failed": 3, "dead": 0}
    assert outbox.backlog() == {"queued": 3}
    clock.advance(seconds=30)
    assert outbox.flush()["sent"] == 0  # backing off: not due yet
    restarted = Controller(inbox, hostname="127.0.0.1", port=port)
    restarted.start()
    try:
        clock.advance(seconds=61)
        # A new process with the same database: the queue survived.
        fresh = Outbox(
            Store(store.path, clock=clock), SmtpMailer(SmtpSettings("127.0.0.1", port)), clock
        )
        assert fresh.flush()["sent"] == 3
        assert fresh.flush()["sent"] == 0
    finally:
        restarted.stop()
    assert len(inbox.messages) == 3
    ids = {message_from_bytes(c, policy=policy.default)["Message-ID"] for _, c in inbox.messages}
    assert len(ids) == 3


def test_queueing_the_same_key_twice_adds_nothing(store: Store, smtp) -> None:
    controller, _ = smtp
    outbox = _outbox(store, controller.port)
    assert _queue(outbox) == _queue(outbox)
    assert outbox.backlog() == {"queued": 1}


def test_a_message_that_keeps_failing_is_marked_dead(store: Store, clock: FixedClock) -> None:
    outbox = Outbox(
        store, SmtpMailer(SmtpSettings("127.0.0.1", _free_port(), timeout=1)), clock, max_attempts=2
    )
    _queue(outbox)
    assert outbox.flush()["failed"] == 1
    clock.advance(hours=1)
    assert outbox.flush()["dead"] == 1
    assert outbox.backlog() == {"dead": 1}


@pytest.mark.parametrize("field", ["recipient", "sender"])
def test_header_injection_through_addresses_is_refused(store: Store, field: str) -> None:
    outbox = Outbox(store, FolderMailer(Path("/nonexistent")))
    values = {"recipient": "duty@example.org", "sender": "ew@example.org"}
    values[field] = "x\r\nBcc: attacker@example.org"
    with pytest.raises(InputError, match="line breaks are not allowed"):
        outbox.queue(key="k", sender=values["sender"], recipients=[values["recipient"]],
                     subject="s", text="t")  # fmt: skip
    assert outbox.backlog() == {}


def test_a_subject_with_line_breaks_stays_one_header(store: Store, tmp_path: Path) -> None:
    outbox = Outbox(store, FolderMailer(tmp_path / "out"))
    outbox.queue(key="k", sender="ew@example.org", recipients=["duty@example.org"],
                 subject="[red] base\r\nBcc: attacker@example.org", text="t")  # fmt: skip
    outbox.flush()
    (eml,) = (tmp_path / "out").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Bcc"] is None
    assert message["Subject"] == "[red] base Bcc: attacker@example.org"


def test_without_a_server_messages_become_eml_files(store: Store, tmp_path: Path) -> None:
    outbox = Outbox(store, FolderMailer(tmp_path / "outbox"))
    _queue(outbox)
    assert outbox.flush()["sent"] == 1
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "duty@example.org, desk@example.org"
    assert message["Date"] is not None and dt.datetime  # a Date header is always set
