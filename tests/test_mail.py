"""Mail through the outbox against a real SMTP server (aiosmtpd on 127.0.0.1).

No fixed sleeps and no short timeouts: a test machine under load (the whole suite,
other suites beside it) is slow, never broken. Every client waits up to `TIMEOUT`
seconds, the server binds a port of its own choosing and keeps it while it is
"down" (so no other process can take it and receive our mail), and it names itself
without a DNS lookup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from early_warning import FixedClock, InputError, Store
from early_warning.alerts import FolderMailer, Outbox, SmtpMailer, SmtpSettings

TIMEOUT = 30.0  # seconds a client waits for the server; far above any healthy reply


class Inbox:
    """What the server received: (envelope recipients, bytes) per message.

    `refuse` names recipients answered 550 at RCPT; `delay` seconds are spent in DATA
    before the 250 (a slow server, so that flushers overlap); `quit_reply` replaces
    the 221 of QUIT (a server answering 421).
    """

    def __init__(
        self, *, refuse: tuple[str, ...] = (), delay: float = 0.0, quit_reply: str | None = None
    ) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse = set(refuse)
        self.delay = delay
        if quit_reply is not None:
            self.handle_QUIT = self._quit  # aiosmtpd calls the hook only if it exists
            self.quit_reply = quit_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    async def _quit(self, server, session, envelope):
        return self.quit_reply

    def copies(self) -> list[tuple[str, str]]:
        """(Message-ID, recipient) of every copy received."""
        return [
            (str(message_from_bytes(c, policy=policy.default)["Message-ID"]), r)
            for rs, c in self.messages
            for r in rs
        ]


def _free_port() -> int:
    """A port free a moment ago (racy: prefer `SmtpServer`, which keeps its port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class _Controller(Controller):
    """aiosmtpd on a socket bound by us (no free-port race)."""

    def __init__(self, handler, sock: socket.socket, **kwargs) -> None:
        super().__init__(
            handler, hostname="127.0.0.1", port=sock.getsockname()[1],
            server_hostname="localhost",  # else aiosmtpd asks DNS (getfqdn) per connection
            ready_timeout=120.0, **kwargs,
        )  # fmt: skip
        self._sock = sock

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can go down and come back on its port.

    A bound socket that never listens holds the port for the server's whole life:
    while the server is down a client gets "connection refused" at once, and no other
    process (another test, another suite) can bind the port and receive our mail.
    """

    def __init__(self, inbox: Inbox | None = None, **kwargs) -> None:
        self.inbox = inbox or Inbox()
        self.kwargs = kwargs
        self._hold = _port_socket()
        self.port = int(self._hold.getsockname()[1])
        self._controller: _Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpServer:
        assert self._controller is None
        self._controller = _Controller(self.inbox, _port_socket(self.port), **self.kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def close(self) -> None:
        self.stop()
        self._hold.close()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpServer, Inbox]]:
    server = SmtpServer().start()
    try:
        yield server, server.inbox
    finally:
        server.close()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port nobody listens on, and nobody else can take while the test runs."""
    hold = _port_socket()
    try:
        yield int(hold.getsockname()[1])
    finally:
        hold.close()


def _settings(port: int, **kwargs) -> SmtpSettings:
    return SmtpSettings("127.0.0.1", port, **{"timeout": TIMEOUT, **kwargs})


def _outbox(store: Store, port: int, clock: FixedClock | None = None, **kwargs) -> Outbox:
    return Outbox(store, SmtpMailer(_settings(port)), clock, **kwargs)


def _queue(
    outbox: Outbox,
    key: str = "rule-1:BLR:2021-W08",
    recipients: tuple[str, ...] = ("duty@example.org", "desk@example.org"),
) -> int:
    return outbox.queue(
        key=key, sender="ew@example.org", recipients=list(recipients),
        subject="[red] ru_base_status BLR", text="A permanent base was agreed.", html="<p>base</p>",
    )  # fmt: skip


def _deliveries(store: Store, key: str) -> dict[str, dict]:
    rows = store.db.query(
        "SELECT d.* FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id "
        "WHERE o.key = ? ORDER BY d.id",
        [key],
    )
    return {r["recipient"]: r for r in rows}


def _status(store: Store, key: str) -> str:
    return store.db.execute("SELECT status FROM outbox WHERE key = ?", [key]).fetchone()[0]


def test_each_recipient_gets_its_own_copy_once(store: Store, smtp) -> None:
    server, inbox = smtp
    outbox = _outbox(store, server.port)
    _queue(outbox)
    assert outbox.flush() == {"sent": 1, "failed": 0, "dead": 0}
    assert sorted(r for r, _ in inbox.messages) == [["desk@example.org"], ["duty@example.org"]]
    for (recipient,), content in inbox.messages:
        message = message_from_bytes(content, policy=policy.default)
        assert message["To"] == recipient  # the list of recipients is not disclosed
        assert message["Cc"] is None and message["Bcc"] is None
        assert message["Subject"] == "[red] ru_base_status BLR"
        assert "A permanent base was agreed." in message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)) is not None
    assert len({m for m, _ in inbox.copies()}) == 1  # one Message-ID for every copy
    assert outbox.flush()["sent"] == 0  # sent once, not again
    assert outbox.flush(retry_now=True)["sent"] == 0
    assert len(inbox.messages) == 2
    assert _status(store, "rule-1:BLR:2021-W08") == "sent"
    assert {d["status"] for d in _deliveries(store, "rule-1:BLR:2021-W08").values()} == {"sent"}


def test_server_down_nothing_lost_then_each_message_once(
    store: Store, clock: FixedClock, smtp
) -> None:
    server, inbox = smtp
    server.stop()  # the mail server is down (its port stays ours: connections refused)
    outbox = _outbox(store, server.port, clock)
    for n in range(3):
        _queue(outbox, f"rule-{n}")
    assert outbox.flush() == {"sent": 0, "failed": 3, "dead": 0}
    assert outbox.backlog() == {"queued": 3}
    clock.advance(seconds=30)
    assert outbox.flush()["sent"] == 0  # backing off: not due yet
    server.start()
    clock.advance(seconds=61)
    # A new process with the same database: the queue survived.
    with Store(store.path, clock=clock) as again:
        fresh = _outbox(again, server.port, clock)
        assert fresh.flush()["sent"] == 3
        assert fresh.flush()["sent"] == 0
    assert len(inbox.messages) == 6  # three messages, two recipients each
    assert sorted(set(inbox.copies())) == sorted(inbox.copies())  # no copy twice
    assert len({m for m, _ in inbox.copies()}) == 3


def test_queueing_the_same_key_twice_adds_nothing(store: Store, smtp) -> None:
    server, _ = smtp
    outbox = _outbox(store, server.port)
    assert _queue(outbox) == _queue(outbox)
    assert outbox.backlog() == {"queued": 1}
    assert store.count("outbox_deliveries") == 2


def test_a_message_that_keeps_failing_is_marked_dead(
    store: Store, clock: FixedClock, refused_port: int
) -> None:
    outbox = _outbox(store, refused_port, clock, max_attempts=2)
    _queue(outbox)
    assert outbox.flush()["failed"] == 1
    clock.advance(hours=1)
    assert outbox.flush()["dead"] == 1
    assert outbox.backlog() == {"dead": 1}
    deliveries = _deliveries(store, "rule-1:BLR:2021-W08")
    assert {d["status"] for d in deliveries.values()} == {"dead"}
    assert all("ConnectionRefused" in d["last_error"] for d in deliveries.values())


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


def test_without_a_server_each_recipient_gets_an_eml_file(store: Store, tmp_path: Path) -> None:
    outbox = Outbox(store, FolderMailer(tmp_path / "outbox"))
    _queue(outbox)
    assert outbox.flush()["sent"] == 1
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    # One file per recipient: the copies share the Message-ID but do not overwrite.
    assert sorted(m["To"] for m in messages) == ["desk@example.org", "duty@example.org"]
    assert len({m["Message-ID"] for m in messages}) == 1
    assert all(m["Date"] is not None for m in messages)  # a Date header is always set
    assert not list((tmp_path / "outbox").glob("*.tmp"))


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
    auth = _Authenticator()
    with SmtpServer(
        tls_context=_tls_context(cert, key), require_starttls=True, authenticator=auth,
        auth_required=True, auth_require_tls=True,
    ) as server:  # fmt: skip
        inbox = server.inbox
        settings = _settings(server.port, security="starttls", username="duty",
                             password="s3cret", cafile=str(cert))  # fmt: skip
        outbox = Outbox(store, SmtpMailer(settings))
        _queue(outbox, recipients=("duty@example.org",))
        assert outbox.flush()["sent"] == 1
        assert auth.logins == ["duty"] and len(inbox.messages) == 1

        # A wrong password is a failure that stays queued and does not show the password.
        wrong = Outbox(store, SmtpMailer(_settings(server.port, security="starttls",
                       username="duty", password="guess", cafile=str(cert))))  # fmt: skip
        _queue(wrong, "second", ("duty@example.org",))
        assert wrong.flush()["failed"] == 1
        query = "SELECT last_error FROM outbox WHERE key = 'second'"
        (error,) = [r[0] for r in store.db.execute(query)]
        assert error and "guess" not in error and "s3cret" not in error
        assert auth.logins == ["duty"] and len(inbox.messages) == 1

        # Without STARTTLS the server refuses to go on, and nothing is marked sent.
        plain = Outbox(store, SmtpMailer(_settings(server.port)))
        _queue(plain, "third", ("duty@example.org",))
        assert plain.flush()["failed"] == 1
        assert len(inbox.messages) == 1


def test_starttls_refuses_a_certificate_it_does_not_trust(store: Store, tls_files) -> None:
    cert, key = tls_files
    with SmtpServer(tls_context=_tls_context(cert, key), require_starttls=True) as server:
        outbox = Outbox(store, SmtpMailer(_settings(server.port, security="starttls")))
        _queue(outbox, recipients=("duty@example.org",))
        assert outbox.flush()["failed"] == 1
        (error,) = [r[0] for r in store.db.execute("SELECT last_error FROM outbox")]
        assert "CERTIFICATE_VERIFY_FAILED" in error


def test_implicit_tls(store: Store, tls_files) -> None:
    cert, key = tls_files
    with SmtpServer(ssl_context=_tls_context(cert, key)) as server:
        settings = _settings(server.port, security="tls", cafile=str(cert))
        outbox = Outbox(store, SmtpMailer(settings))
        _queue(outbox, recipients=("duty@example.org",))
        assert outbox.flush()["sent"] == 1 and len(server.inbox.messages) == 1


def test_one_bad_message_does_not_block_the_others(store: Store, clock: FixedClock) -> None:
    with SmtpServer(Inbox(refuse=("broken@example.org",))) as server:
        outbox = _outbox(store, server.port, clock, max_attempts=2)
        _queue(outbox, "good-1", ("duty@example.org",))
        _queue(outbox, "broken", ("broken@example.org",))  # the server refuses it outright
        _queue(outbox, "good-2", ("duty@example.org",))
        assert outbox.flush() == {"sent": 2, "failed": 1, "dead": 0}
        assert len(server.inbox.messages) == 2
        clock.advance(hours=1)
        assert outbox.flush() == {"sent": 0, "failed": 0, "dead": 1}
    (error,) = [
        r[0] for r in store.db.execute("SELECT last_error FROM outbox WHERE key = 'broken'")
    ]
    assert "broken@example.org" in error and "550" in error


def test_an_unwritable_outbox_folder_is_a_failure_not_a_crash(store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    outbox = Outbox(store, FolderMailer(blocker / "outbox"))
    _queue(outbox)
    assert outbox.flush()["failed"] == 1
    assert outbox.backlog() == {"queued": 1}


# -- per-recipient delivery: a refusal, a rude QUIT ----------------------------------


def test_a_recipient_refused_at_rcpt_is_retried_alone_then_dead_and_listed(
    store: Store, clock: FixedClock
) -> None:
    key = "rule-1:BLR:2021-W08"
    with SmtpServer(Inbox(refuse=("gone@example.org",))) as server:
        outbox = _outbox(store, server.port, clock, max_attempts=3)
        _queue(outbox, key, ("duty@example.org", "gone@example.org"))
        assert outbox.flush() == {"sent": 0, "failed": 1, "dead": 0}
        assert [r for r, _ in server.inbox.messages] == [["duty@example.org"]]
        assert _status(store, key) == "queued"  # not sent: one recipient is still to go
        deliveries = _deliveries(store, key)
        assert deliveries["duty@example.org"]["status"] == "sent"
        gone = deliveries["gone@example.org"]
        assert gone["status"] == "queued" and gone["attempts"] == 1 and "550" in gone["last_error"]

        assert outbox.flush(retry_now=True) == {"sent": 0, "failed": 1, "dead": 0}
        clock.advance(hours=1)
        assert outbox.flush() == {"sent": 0, "failed": 0, "dead": 1}
        assert outbox.flush(retry_now=True) == {"sent": 0, "failed": 0, "dead": 0}
        # The accepted recipient got it once, never again; the refused one never.
        assert [r for r, _ in server.inbox.messages] == [["duty@example.org"]]
    assert _status(store, key) == "dead"
    deliveries = _deliveries(store, key)
    assert deliveries["duty@example.org"]["status"] == "sent"
    assert deliveries["gone@example.org"]["status"] == "dead"
    assert deliveries["gone@example.org"]["attempts"] == 3
    (error,) = store.db.execute("SELECT last_error FROM outbox WHERE key = ?", [key]).fetchone()
    assert error.startswith("gone@example.org: ") and "550 5.1.1 no such user here" in error

    from .conftest import run_cli

    listed = run_cli("--db", str(store.path), "outbox", "list", "--json", cwd=store.path.parent)
    assert listed.returncode == 0, listed.stderr
    (message,) = json.loads(listed.stdout)
    assert message["status"] == "dead"
    shown = {d["recipient"]: d for d in message["deliveries"]}
    assert shown["duty@example.org"]["status"] == "sent" and shown["duty@example.org"]["sent_at"]
    assert shown["gone@example.org"]["status"] == "dead"
    assert "550" in shown["gone@example.org"]["last_error"]
    text = run_cli("--db", str(store.path), "outbox", "list", cwd=store.path.parent)
    assert text.returncode == 0, text.stderr
    header, _, duty, gone = text.stdout.splitlines()  # one line per recipient
    assert header.split()[:5] == ["id", "status", "subject", "recipient", "delivery"]
    assert duty.split()[:2] == ["1", "dead"]  # the message: dead, since one recipient is
    assert "duty@example.org  sent" in duty
    assert gone.split()[:3] == ["gone@example.org", "dead", "3"] and "550" in gone


def test_a_server_answering_quit_with_421_gets_each_message_once(
    store: Store, clock: FixedClock
) -> None:
    with SmtpServer(Inbox(quit_reply="421 4.3.2 shutting down")) as server:
        outbox = _outbox(store, server.port, clock)
        for n in range(3):
            _queue(outbox, f"rule-{n}", ("duty@example.org",))
        # The server accepted each message; what it says to QUIT changes nothing.
        assert outbox.flush() == {"sent": 3, "failed": 0, "dead": 0}
        clock.advance(hours=1)
        assert outbox.flush(retry_now=True) == {"sent": 0, "failed": 0, "dead": 0}
        assert len(server.inbox.messages) == 3
        assert len(set(server.inbox.copies())) == 3
    assert outbox.backlog() == {"sent": 3}


def test_a_server_slow_to_answer_the_body_gets_each_message_once(
    store: Store, clock: FixedClock
) -> None:
    """Found by an attacker's trial: a server that stored the message, then answered the
    end of the body after the step timeout, got a copy on every retry. The client now
    waits for that one reply as RFC 5321 says (ten minutes), not the step timeout."""
    with SmtpServer(Inbox(delay=2.0)) as server:
        outbox = Outbox(store, SmtpMailer(_settings(server.port, timeout=0.5)), clock)
        _queue(outbox, "rule-slow", ("duty@example.org",))
        assert outbox.flush() == {"sent": 1, "failed": 0, "dead": 0}
        clock.advance(hours=1)
        assert outbox.flush(retry_now=True) == {"sent": 0, "failed": 0, "dead": 0}
        assert len(server.inbox.messages) == 1


def test_an_old_outbox_is_split_per_recipient_by_the_migration(
    tmp_path: Path, clock: FixedClock, smtp
) -> None:
    """Messages queued before migration 012 keep their state, one row per recipient."""
    path = tmp_path / "old.db"
    with Store(path, clock=clock) as store:  # then made to look like before 012
        store.db.execute("DROP TABLE outbox_deliveries")
        store.db.execute("DELETE FROM migrations WHERE name = '012_outbox_deliveries'")
        message = _legacy_message()
        rows = [
            ("queued", "duty@example.org, desk@example.org", 2, None, "earlier: timed out"),
            ("sent", "duty@example.org", 1, "2024-05-01T00:00:00.000000Z", None),
            ("dead", "desk@example.org", 8, None, "550 no such user"),
            ("queued", "", 0, None, None),
        ]
        for n, (status, recipients, attempts, sent_at, error) in enumerate(rows):
            store.db.execute(
                "INSERT INTO outbox (key, message_id, recipients, subject, message, status, "
                "attempts, last_error, next_attempt_at, queued_at, sent_at) "
                "VALUES (?, '<legacy@example.org>', ?, 's', ?, ?, ?, ?, '2024-05-01', "
                "'2024-05-01', ?)",
                [f"old-{n}", recipients, message, status, attempts, error, sent_at],
            )
    with Store(path, clock=clock) as store:
        assert "012_outbox_deliveries" in store.applied_migrations()
        queued = _deliveries(store, "old-0")
        assert list(queued) == ["duty@example.org", "desk@example.org"]
        assert {d["status"] for d in queued.values()} == {"queued"}
        assert {d["attempts"] for d in queued.values()} == {2}
        assert _deliveries(store, "old-1")["duty@example.org"]["sent_at"].startswith("2024-05-01")
        assert _deliveries(store, "old-2")["desk@example.org"]["status"] == "dead"
        assert _deliveries(store, "old-3") == {}
        assert _status(store, "old-3") == "dead"  # nobody to send it to: shown, not dropped
        server, inbox = smtp
        assert _outbox(store, server.port, clock).flush() == {"sent": 1, "failed": 0, "dead": 0}
        # The old message named both recipients in To; each copy names its own only.
        tos = sorted(
            str(message_from_bytes(c, policy=policy.default)["To"]) for _, c in inbox.messages
        )
        assert tos == ["desk@example.org", "duty@example.org"]
        assert (
            store.db.execute("SELECT status FROM outbox WHERE key = 'old-0'").fetchone()[0]
            == "sent"
        )


def _legacy_message() -> bytes:
    return (
        b"From: ew@example.org\r\nTo: duty@example.org, desk@example.org\r\n"
        b"Subject: s\r\nMessage-ID: <legacy@example.org>\r\n\r\nqueued before 012\r\n"
    )


# -- addresses and settings ----------------------------------------------------------


@pytest.mark.parametrize("address", ["", "not an address", "a@b@c", "duty@example.org, x@y.org"])
def test_addresses_must_be_addresses(store: Store, address: str) -> None:
    outbox = Outbox(store, FolderMailer(Path("/nonexistent")))
    with pytest.raises(InputError, match="is not an e-mail address"):
        outbox.queue(key="k", sender="ew@example.org", recipients=[address], subject="s", text="t")


CONTROL = ["duty\x07@example.org", "duty@exa\x00mple.org", "duty\x1b[31m@example.org",
           "duty@example.org\x7f", "du\u200bty@example.org", "duty@example\x85.org"]  # fmt: skip


@pytest.mark.parametrize("address", CONTROL)
@pytest.mark.parametrize("field", ["recipient", "sender"])
def test_control_characters_in_addresses_are_refused(
    store: Store, address: str, field: str
) -> None:
    outbox = Outbox(store, FolderMailer(Path("/nonexistent")))
    values = {"recipient": "duty@example.org", "sender": "ew@example.org", field: address}
    with pytest.raises(InputError, match=r"character U\+00|character U\+200B") as error:
        outbox.queue(key="k", sender=values["sender"], recipients=[values["recipient"]],
                     subject="s", text="t")  # fmt: skip
    assert str(error.value).startswith("From: " if field == "sender" else "To: ")
    assert outbox.backlog() == {}


def test_control_characters_are_refused_where_the_address_came_from(tmp_path: Path) -> None:
    from early_warning import load_config
    from early_warning.alerts import MailSettings
    from early_warning.errors import ConfigError

    config = tmp_path / "ew.toml"
    config.write_text('[mail]\nto_red = ["duty\\u0007@example.org"]\n')
    with pytest.raises(ConfigError) as error:
        MailSettings.from_config(load_config(config, env={}))
    assert str(error.value).startswith(f"{config}: [mail] to_red: ")
    assert "control character U+0007" in str(error.value)
    env = {"EARLY_WARNING_MAIL_TO_OPS": "ops\x01@example.org"}
    with pytest.raises(ConfigError, match=r"EARLY_WARNING_MAIL_TO_OPS: \[mail\] to_ops: .*U\+0001"):
        MailSettings.from_config(load_config(None, env=env))

    from .conftest import run_cli

    assert run_cli("init", cwd=tmp_path).returncode == 0
    sent = run_cli("alerts", "test-email", "--to", "duty\x1b@example.org", cwd=tmp_path)
    assert sent.returncode == 2 and "Traceback" not in sent.stderr
    assert sent.stderr.strip().count("\n") == 0
    assert "--to: " in sent.stderr and "control character U+001B" in sent.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_a_mail_timeout_must_be_a_finite_positive_number(tmp_path: Path, value: str) -> None:
    from early_warning import load_config
    from early_warning.errors import ConfigError

    config = tmp_path / "ew.toml"
    config.write_text(f"[mail]\ntimeout_seconds = {value}\n")
    with pytest.raises(ConfigError) as error:
        load_config(config, env={})
    assert str(error.value).startswith(f"{config}: [mail] timeout_seconds: ")
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="EARLY_WARNING_MAIL_TIMEOUT_SECONDS: "):
        load_config(None, env={"EARLY_WARNING_MAIL_TIMEOUT_SECONDS": value})
    with pytest.raises(InputError, match="timeout"):
        SmtpMailer(SmtpSettings("127.0.0.1", 25, timeout=float(value)))

    from .conftest import run_cli

    shown = run_cli("--config", str(config), "config", "show", cwd=tmp_path)
    assert shown.returncode == 2 and "timeout_seconds" in shown.stderr
    assert shown.stderr.strip().count("\n") == 0


# -- commands that send their own message answer for that message -------------------


def _mail_env(server: SmtpServer, **extra: str) -> dict[str, str]:
    return {
        "EARLY_WARNING_MAIL_HOST": "127.0.0.1",
        "EARLY_WARNING_MAIL_PORT": str(server.port),
        "EARLY_WARNING_MAIL_TIMEOUT_SECONDS": str(TIMEOUT),
        **{f"EARLY_WARNING_MAIL_{k.upper()}": v for k, v in extra.items()},
    }


def _queue_other(path: Path, key: str, recipient: str) -> None:
    with Store(path) as store:
        Outbox(store, FolderMailer(path.parent / "unused")).queue(
            key=key, sender="ew@example.org", recipients=[recipient], subject=key, text="t"
        )


def _received(inbox: Inbox, recipient: str) -> list[str]:
    """Subjects of the copies received for one recipient."""
    return [
        str(message_from_bytes(c, policy=policy.default)["Subject"])
        for rs, c in inbox.messages
        if rs == [recipient]
    ]


def test_report_email_exits_by_its_own_message(tmp_path: Path) -> None:
    from .conftest import run_cli

    with SmtpServer(Inbox(refuse=("stuck@example.org", "gone@example.org"))) as server:
        env = _mail_env(server, to_reports="desk@example.org")
        assert run_cli("init", cwd=tmp_path, env=env).returncode == 0
        db = tmp_path / "early-warning.db"
        _queue_other(db, "stuck", "stuck@example.org")  # a message the server keeps refusing

        made = run_cli(
            "report", "--as-of", "2024-06-01", "--email", "--json", cwd=tmp_path, env=env
        )
        assert made.returncode == 0, made.stderr  # its own message went; the stuck one is not it
        assert len(_received(server.inbox, "desk@example.org")) == 1
        # The same report again: its message was sent already (and is not sent again).
        again = run_cli("report", "--as-of", "2024-06-01", "--email", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert "e-mailed: sent, 1 of 1 recipient(s)" in again.stdout
        assert len(_received(server.inbox, "desk@example.org")) == 1
        emailed = json.loads(made.stdout)["emailed"]
        assert emailed["status"] == "sent" and emailed["sent"] == 1
        assert [r["status"] for r in emailed["recipients"]] == ["sent"]

        # Its own message refused, while another queued message goes out in the same flush.
        _queue_other(db, "other", "duty@example.org")
        env = _mail_env(server, to_reports="desk@example.org,gone@example.org")
        failed = run_cli("report", "--as-of", "2024-05-01", "--email", cwd=tmp_path, env=env)
        assert failed.returncode == 1
        assert _received(server.inbox, "duty@example.org") == ["other"]
        (line,) = failed.stderr.strip().splitlines()
        assert line.startswith("early-warning: report e-mail not delivered via smtp://127.0.0.1:")
        assert "gone@example.org: to retry at" in line and "550 5.1.1 no such user here" in line
        assert "desk@example.org" not in line  # that recipient has it
        assert len(_received(server.inbox, "desk@example.org")) == 2  # this week's, last week's


def test_test_email_exits_by_its_own_message(tmp_path: Path) -> None:
    from .conftest import run_cli

    with SmtpServer(Inbox(refuse=("stuck@example.org", "gone@example.org"))) as server:
        env = _mail_env(server, to_red="duty@example.org")
        assert run_cli("init", cwd=tmp_path, env=env).returncode == 0
        db = tmp_path / "early-warning.db"
        _queue_other(db, "stuck", "stuck@example.org")
        sent = run_cli("alerts", "test-email", cwd=tmp_path, env=env)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("sent to duty@example.org via smtp://127.0.0.1:")

        _queue_other(db, "other", "desk@example.org")  # goes out in the same flush
        refused = run_cli("alerts", "test-email", "--to", "gone@example.org", cwd=tmp_path, env=env)
        assert refused.returncode == 1
        assert _received(server.inbox, "desk@example.org") == ["other"]
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("early-warning: test message not delivered via smtp://127.0.0.1:")
        assert "gone@example.org: to retry at" in line and "550" in line
        assert line.endswith("it stays in the outbox for a retry (see `early-warning outbox list`)")
