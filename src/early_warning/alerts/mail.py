"""Mail delivery through an outbox: nothing is lost, each recipient gets a message once.

Every message is first written to the `outbox` table, with one row per recipient in
`outbox_deliveries` (queued), in the caller's transaction; `flush` then sends each
recipient its own copy (its `To:` names that recipient only, so no recipient learns
who else is on the list). Each recipient has its own attempts, exponential backoff
and death after `max_attempts`: a server that refuses one recipient (550 at RCPT)
while accepting another retries only the refused one. `outbox.status` is the
message's aggregate: `queued` while any recipient is queued or being sent, `sent`
when every recipient is sent, `dead` when one is dead and none is left to try.

Claim, then send. Before it sends, a flusher claims the recipient's row in a write
transaction (`status = 'sending'`, who claimed it, and a lease that runs out
`lease_seconds` later, by default max(600 s, 10 x the SMTP timeout) plus the ten
minutes a server may take to answer the end of the body): only the
flusher whose UPDATE changed the row sends, so any number of flushers at once (the
daemon, `outbox flush`, `alerts check`, `report --email`, `alerts test-email`, in
any process) send each copy once. A claim whose lease ran out (its flusher died) is
claimed again and sent, so a crash never loses a message. The guarantee, precisely:

  * nothing is lost: a copy stays queued (or claimed) until an SMTP server accepted
    it for its recipient, or it is marked dead after `max_attempts` (and shown by
    `status`, `db status` and `outbox list`);
  * each recipient gets it exactly once, except in one narrow window: the process
    dies (or the database cannot be written) after the server accepted the copy and
    before the outbox recorded it. The copy is then sent again once its lease has
    run out; the resend carries the same Message-ID, so receivers can drop it.
    (The same holds for a flusher whose one SMTP exchange outlasts its whole lease,
    ten socket timeouts: only a server that keeps answering just inside the timeout,
    step after step, can make that happen.)

Once the server has accepted the message (`send_message` returned), the delivery is
done: an error on QUIT (a server answering 421) is ignored and the socket closed.

`Mailer` is the seam: `SmtpMailer` speaks SMTP (plain, STARTTLS or implicit TLS, with
optional authentication; the password only from the environment), `FolderMailer`
writes `.eml` files when no SMTP server is configured (one file per message and
recipient). Headers are built by the `email` package, and every header value passes
`_header_text`, which refuses line breaks, so no indicator name or note can inject a
header; addresses pass `check_address`, which refuses control characters and
anything that is not a plain user@host.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import re
import secrets
import smtplib
import socket
import ssl
import time
import unicodedata
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from ..clock import Clock, SystemClock, iso_timestamp
from ..errors import DeliveryError, InputError
from ..store import Store

__all__ = [
    "DeliveryError",
    "FolderMailer",
    "Mailer",
    "Outbox",
    "SmtpMailer",
    "SmtpSettings",
    "build_message",
    "check_address",
]

BACKOFF_SECONDS = (60, 300, 900, 3600, 3 * 3600, 12 * 3600)
MIN_LEASE_SECONDS = 600.0
# How long the reply to the end of the message body may take (RFC 5321 4.5.3.2.6: ten
# minutes; a server that scans content answers late). A shorter wait would call an
# accepted message failed and send it again on every retry.
DATA_REPLY_SECONDS = 600.0


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand one message over to the recipient(s) in its To header, or raise
        DeliveryError."""
        ...


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    security: str = "none"  # none | starttls | tls
    username: str = ""
    password: str = ""  # from the environment only; never logged or shown
    timeout: float = 30.0
    cafile: str | None = None  # trust this certificate (a private CA, a test)


def _reply(exc: BaseException) -> str:
    """The server's words for an SMTP error, on one line."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = [f"{code} {_text(reply)}" for code, reply in exc.recipients.values()]
        return "recipient refused: " + ("; ".join(parts) or "no reason given")
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _text(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        if settings.security not in ("none", "starttls", "tls"):
            raise InputError(f"mail security {settings.security!r}: use none, starttls or tls")
        timeout = settings.timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise InputError(f"mail timeout {timeout!r}: expected a number of seconds")
        if not math.isfinite(timeout) or timeout <= 0:
            raise InputError(f"mail timeout {timeout!r}: expected a finite number of seconds > 0")
        self.settings = settings

    @property
    def timeout(self) -> float:
        return float(self.settings.timeout)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.cafile)

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        client: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                client = _PatientSMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._context()
                )
            else:
                client = _PatientSMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(context=self._context())
            if s.username:
                client.login(s.username, s.password)
            client.send_message(message)
        except Exception as exc:  # any failure is this message's
            if client is not None:
                _close(client)
            # The reason, never the credentials: smtplib's messages do not carry them.
            raise DeliveryError(f"{_reply(exc)} ({s.host}:{s.port})") from None
        # The server has accepted the message: delivered. Whatever QUIT answers (a 421,
        # a reset connection) must not make it look failed, or it would be sent again.
        _close(client)


class _PatientData:
    """Waits up to DATA_REPLY_SECONDS (not the step timeout) for the reply to the end of
    the message body: the server may already have stored the message."""

    sock: socket.socket | None
    timeout: float

    def data(self, msg: Any) -> tuple[int, bytes]:
        if self.sock is not None:
            self.sock.settimeout(max(DATA_REPLY_SECONDS, self.timeout))
        try:
            return super().data(msg)  # type: ignore[misc]
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class _PatientSMTP(_PatientData, smtplib.SMTP):
    pass


class _PatientSMTP_SSL(_PatientData, smtplib.SMTP_SSL):  # named as smtplib names it
    pass


def _close(client: smtplib.SMTP) -> None:
    """Say QUIT politely, ignore any answer or error, and close the socket."""
    try:
        if client.sock is not None:
            client.sock.settimeout(min(5.0, client.timeout or 5.0))
            client.quit()
    except Exception:  # the delivery is decided already
        pass
    finally:
        client.close()


class FolderMailer:
    """Writes each copy as `<hash of Message-ID and To>.eml` in a folder (no SMTP
    server configured), so the copies for different recipients do not overwrite each
    other and a copy written again replaces itself."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        identity = f"{message['Message-ID']}\n{message['To']}"
        name = hashlib.sha256(identity.encode()).hexdigest()[:24]
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(bytes(message))
            temporary.replace(target)
        except OSError as exc:
            raise DeliveryError(f"{self.folder}: {type(exc).__name__}: {exc}") from None


def _header_text(value: str, field: str) -> str:
    if "\r" in value or "\n" in value:
        raise InputError(f"mail header {field}: line breaks are not allowed")
    return value


# A plain address: a dot-atom local part (no quoted strings, no comments) and a host
# name (letters, digits and hyphens in dot-separated labels) or an [IP literal].
_LOCAL = re.compile(r"[^\s@()<>\[\]:;,\\\".]+(\.[^\s@()<>\[\]:;,\\\".]+)*")
_LABEL = re.compile(r"[^\W_](?:[^\W_]|-){0,62}(?<!-)")
_LITERAL = re.compile(r"\[[0-9A-Fa-f:.]+\]")


def _address_problem(value: str) -> str | None:
    """Why `value` is not a plain e-mail address, or None."""
    if "\r" in value or "\n" in value:
        return "line breaks are not allowed"
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"control character U+{ord(char):04X} is not allowed"
        if category.startswith("C"):  # format (invisible), surrogate, private, unassigned
            return f"invisible or unassigned character U+{ord(char):04X} is not allowed"
    if "," in value or ";" in value:
        return "one address per entry (give a list of addresses instead)"
    if any(unicodedata.category(c).startswith("Z") or c.isspace() for c in value):
        return "spaces are not allowed"
    if value.count("@") != 1:
        return "expected one @ (user@host)"
    local, _, host = value.partition("@")
    if not local or not host:
        return "expected user@host"
    if len(value) > 254 or len(local) > 64:
        return "too long"
    if not _LOCAL.fullmatch(local):
        return f"{local!r} is not a plain user name (no quotes, brackets, commas, spare dots)"
    if _LITERAL.fullmatch(host):
        return None
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return f"{host!r} is not a host name"
    return None


def check_address(value: str, where: str) -> str:
    """A bare e-mail address (user@host), or InputError naming where it came from."""
    if not isinstance(value, str):
        raise InputError(f"{where}: {value!r} is not an e-mail address (user@host)")
    problem = _address_problem(value)
    if problem:
        raise InputError(f"{where}: {value!r} is not an e-mail address (user@host): {problem}")
    return value


def build_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: dt.datetime,
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    """A plain-text (and HTML) message with a stable Message-ID and any attachments
    given as (file name, content, MIME type)."""
    if not recipients:
        raise InputError("a message needs at least one recipient")
    message = EmailMessage()
    message["From"] = check_address(sender, "From")
    message["To"] = ", ".join(check_address(r, "To") for r in recipients)
    message["Subject"] = _header_text(" ".join(subject.split()), "Subject")
    message["Date"] = format_datetime(date)
    message["Message-ID"] = _header_text(message_id, "Message-ID")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for name, content, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        message.add_attachment(
            content, maintype=maintype, subtype=subtype, filename=_header_text(name, "filename")
        )
    # Boundaries derived from the Message-ID, one per multipart part: the same message
    # is the same bytes (the email package draws them at random).
    seed = hashlib.sha256(message_id.encode()).hexdigest()[:24]
    for n, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"=_{seed}.{n}")
    return message


def _copy_for(content: bytes, recipient: str) -> EmailMessage:
    """The stored message as sent to one recipient: To names that recipient only."""
    message = message_from_bytes(content, policy=policy.SMTP)
    for field in ("To", "Cc", "Bcc"):
        del message[field]
    message["To"] = recipient
    return message  # type: ignore[return-value]


class Outbox:
    """Queued messages in the store, sent by `flush` with claims, retries and backoff."""

    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        clock: Clock | None = None,
        max_attempts: int = 8,
        lease_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.clock = clock or store.clock or SystemClock()
        self.max_attempts = max_attempts
        timeout = float(getattr(mailer, "timeout", 30.0))
        # One SMTP transaction is about ten steps (connect, greeting, EHLO, STARTTLS,
        # EHLO, AUTH, MAIL, RCPT, DATA, the body), each bounded by the socket timeout,
        # and the reply to the body, which may take DATA_REPLY_SECONDS.
        default = max(MIN_LEASE_SECONDS, 10 * timeout) + max(DATA_REPLY_SECONDS, timeout)
        self.lease_seconds = lease_seconds if lease_seconds is not None else default

    def _write(self) -> AbstractContextManager[Any]:
        """A write transaction taken at once (BEGIN IMMEDIATE), or a savepoint inside
        the caller's transaction: claims and results are written under the lock."""
        return self.store.transaction(immediate=True)

    def queue(
        self,
        *,
        key: str,
        sender: str,
        recipients: Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        attachments: Sequence[tuple[str, bytes, str]] = (),
    ) -> int:
        """Queue a message once per `key` (a second queue of the same key adds nothing),
        with one delivery per recipient."""
        existing = self.store.outbox_id_for_key(key)
        if existing is not None:
            return existing
        unique = list(dict.fromkeys(recipients))
        domain = sender.rpartition("@")[2] or "early-warning.local"
        # Derived from the key alone: the same crossing always has the same Message-ID,
        # even if its outbox row were lost and the alert queued again.
        message_id = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
        now = self.clock.now()
        message = build_message(
            sender=sender, recipients=unique, subject=subject, text=text, html=html,
            message_id=message_id, date=now, attachments=attachments,
        )  # fmt: skip
        stamp = iso_timestamp(now)
        with self._write():
            outbox_id = self.store.insert_outbox_message(
                key=key, message_id=message_id, recipients=", ".join(unique),
                subject=message["Subject"], message=bytes(message), queued_at=stamp,
            )  # fmt: skip
            if outbox_id is None:  # queued by someone else meanwhile
                return int(self.store.outbox_id_for_key(key))  # type: ignore[arg-type]
            for recipient in unique:
                self.store.insert_outbox_delivery(outbox_id, recipient, stamp)
        return outbox_id

    def flush(self, *, retry_now: bool = False) -> dict[str, int]:
        """Send every copy that is due (with `retry_now`, every queued one, backoff or
        not), and any whose claim has outlived its lease. Returns how many messages
        were sent (to every recipient tried), failed (some recipient to retry) and died
        (some recipient dead) in this flush."""
        token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
        start = iso_timestamp(self.clock.now())
        due_by = "9999" if retry_now else start
        due = self.store.due_deliveries(due_by, start)
        outcome: dict[int, str] = {}
        rank = {"sent": 0, "failed": 1, "dead": 2}
        content: tuple[int, bytes] | None = None
        for delivery_id, outbox_id, recipient, attempts in due:
            if not self._claim(delivery_id, attempts, token, due_by):
                continue  # another flusher has it, or it changed since it was seen
            result = "sent"
            try:
                if content is None or content[0] != outbox_id:
                    content = (outbox_id, self.store.outbox_message(outbox_id))
                self.mailer.send(_copy_for(content[1], recipient))
            except Exception as exc:  # one bad copy must not block the rest
                error = str(exc) if isinstance(exc, DeliveryError) else _reply(exc)
                result = self._failed(delivery_id, outbox_id, attempts + 1, token, error)
            else:
                # Recorded at once: the window in which a crash would resend is here.
                self._sent(delivery_id, outbox_id)
            if rank[result] >= rank[outcome.get(outbox_id, "sent")]:
                outcome[outbox_id] = result
        counts = {"sent": 0, "failed": 0, "dead": 0}
        for result in outcome.values():
            counts[result] += 1
        return counts

    def _claim(self, delivery_id: int, attempts: int, token: str, due_by: str) -> bool:
        now = self.clock.now()
        stamp = iso_timestamp(now)
        lease = iso_timestamp(now + dt.timedelta(seconds=self.lease_seconds))
        with self._write():
            return self.store.claim_delivery(
                delivery_id, attempts=attempts, token=token, now=stamp, lease_until=lease,
                due_by=due_by,
            )  # fmt: skip

    def _sent(self, delivery_id: int, outbox_id: int) -> None:
        # Whoever holds the claim now: the server has this copy, so it is sent.
        with self._write():
            self.store.mark_delivery_sent(delivery_id, iso_timestamp(self.clock.now()))
            self.store.refresh_outbox(outbox_id)

    def _failed(
        self, delivery_id: int, outbox_id: int, attempts: int, token: str, error: str
    ) -> str:
        dead = attempts >= self.max_attempts
        wait = BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)]
        with self._write():
            held = self.store.mark_delivery_failed(
                delivery_id,
                token=token,
                status="dead" if dead else "queued",
                error=" ".join(error.split())[:500],
                next_attempt_at=iso_timestamp(self.clock.now() + dt.timedelta(seconds=wait)),
            )
            if held:  # else another flusher took it over after our lease ran out
                self.store.refresh_outbox(outbox_id)
        return "dead" if dead else "failed"

    def backlog(self) -> dict[str, int]:
        return self.store.outbox_backlog()

    def deliveries(self, outbox_id: int) -> list[dict[str, Any]]:
        """Each recipient of a message with its state, attempts and last error."""
        return self.store.outbox_deliveries(outbox_id)

    def outcome(self, outbox_id: int, *, wait_seconds: float = 0.0) -> dict[str, Any]:
        """How one message stands: its status, each recipient's, and a one-line reason
        when it is not sent. With `wait_seconds`, first waits (up to that long) for
        copies that another flusher is sending right now."""
        deadline = time.monotonic() + wait_seconds
        while True:
            recipients = self.deliveries(outbox_id)
            busy = any(r["status"] == "sending" for r in recipients)
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        found = self.store.outbox_status(outbox_id)
        status, error = found if found else ("missing", "no such message")
        problems = []
        for r in recipients:
            if r["status"] == "sent":
                continue
            words = {
                "queued": f"to retry at {r['next_attempt_at']}",
                "sending": "being sent by another process",
                "dead": f"dead after {r['attempts']} attempt(s)",
            }.get(r["status"], r["status"])
            reason = f" ({r['last_error']})" if r["last_error"] else ""
            problems.append(f"{r['recipient']}: {words}{reason}")
        if not recipients and status != "sent":
            problems.append(error or status)
        return {
            "outbox_id": outbox_id,
            "status": status,
            "sent": int(status == "sent"),
            "failed": int(status == "queued"),
            "dead": int(status == "dead"),
            "recipients": recipients,
            "reason": " ".join("; ".join(problems).split()) or None,
        }
