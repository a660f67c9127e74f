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


# -- STARTTLS, implicit TLS and authentication, with a certificate made here ----------


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _Authenticator:
    """Accepts one user and password; remembers who logged in."""

    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == b"duty" and auth_data.password == b"s3cret"
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return _self_signed(tmp_path)


def _tls_context(cert: Path, key: Path):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_starttls_with_authentication(store: Store, tls_files) -> None:
    cert, key = tls_files
    inbox, auth = Inbox(), _Authenticator()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), tls_context=_tls_context(cert, key),
        require_starttls=True, authenticator=auth, auth_required=True, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        settings = SmtpSettings(
            "127.0.0.1", controller.port, "starttls", "duty", "s3cret", 5, str(cert)
        )
        outbox = Outbox(store, SmtpMailer(settings))
        _queue(outbox)
        assert outbox.flush()["sent"] == 1
        assert auth.logins == ["duty"] and len(inbox.messages) == 1

        # A wrong password is a failure that stays queued and does not show the password.
        wrong = Outbox(store, SmtpMailer(SmtpSettings(
            "127.0.0.1", controller.port, "starttls", "duty", "guess", 2, str(cert))))  # fmt: skip
        _queue(wrong, "second")
        assert wrong.flush()["failed"] == 1
        query = "SELECT last_error FROM outbox WHERE key = 'second'"
        (error,) = [r[0] for r in store.db.execute(query)]
        assert error and "guess" not in error and "s3cret" not in error
        assert auth.logins == ["duty"] and len(inbox.messages) == 1

        # Without STARTTLS the server refuses to go on, and nothing is marked sent.
        plain = Outbox(store, SmtpMailer(SmtpSettings("127.0.0.1", controller.port, timeout=5)))
        _queue(plain, "third")
        assert plain.flush()["failed"] >= 1
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_starttls_refuses_a_certificate_it_does_not_trust(store: Store, tls_files) -> None:
    cert, key = tls_files
    controller = Controller(
        Inbox(), hostname="127.0.0.1", port=_free_port(), tls_context=_tls_context(cert, key),
        require_starttls=True,
    )  # fmt: skip
    controller.start()
    try:
        outbox = Outbox(store, SmtpMailer(SmtpSettings("127.0.0.1", controller.port, "starttls")))
        _queue(outbox)
        assert outbox.flush()["failed"] == 1
        (error,) = [r[0] for r in store.db.execute("SELECT last_error FROM outbox")]
        assert "CERTIFICATE_VERIFY_FAILED" in error
    finally:
        controller.stop()


def test_implicit_tls(store: Store, tls_files) -> None:
    cert, key = tls_files
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=_free_port(), ssl_context=_tls_context(cert, key)
    )
    controller.start()
    try:
        settings = SmtpSettings("127.0.0.1", controller.port, "tls", timeout=5, cafile=str(cert))
        outbox = Outbox(store, SmtpMailer(settings))
        _queue(outbox)
        assert outbox.flush()["sent"] == 1 and len(inbox.messages) == 1
    finally:
        controller.stop()


def test_one_bad_message_does_not_block_the_others(store: Store, smtp, clock: FixedClock) -> None:
    controller, inbox = smtp
    outbox = Outbox(store, SmtpMailer(SmtpSettings("127.0.0.1", controller.port, timeout=5)),
                    clock, max_attempts=2)  # fmt: skip
    _queue(outbox, "good-1")
    # A message the server refuses outright (smtplib raises on an empty envelope).
    store.db.execute(
        "INSERT INTO outbox (key, message_id, recipients, subject, message, status, attempts, "
        "next_attempt_at, queued_at) VALUES ('broken', '<b@x>', '', 's', ?, 'queued', 0, "
        "'2000', '2000')",
        [b"Subject: s\r\n\r\nno recipients\r\n"],
    )
    _queue(outbox, "good-2")
    assert outbox.flush() == {"sent": 2, "failed": 1, "dead": 0}
    assert len(inbox.messages) == 2
    clock.advance(hours=1)
    assert outbox.flush() == {"sent": 0, "failed": 0, "dead": 1}
    (error,) = [
        r[0] for r in store.db.execute("SELECT last_error FROM outbox WHERE key = 'broken'")
    ]
    assert error


def test_an_unwritable_outbox_folder_is_a_failure_not_a_crash(store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    outbox = Outbox(store, FolderMailer(blocker / "outbox"))
    _queue(outbox)
    assert outbox.flush()["failed"] == 1
    assert outbox.backlog() == {"queued": 1}


@pytest.mark.parametrize("address", ["", "not an address", "a@b@c", "duty@example.org, x@y.org"])
def test_addresses_must_be_addresses(store: Store, address: str) -> None:
    outbox = Outbox(store, FolderMailer(Path("/nonexistent")))
    with pytest.raises(InputError, match="is not an e-mail address"):
        outbox.queue(key="k", sender="ew@example.org", recipients=[address], subject="s", text="t")
