"""Mail delivery through an outbox: nothing is lost, each message is sent once.

Every message is first written to the `outbox` table (queued), then sent by `flush`.
A message that fails is retried with exponential backoff and, after `max_attempts`,
marked dead (and shown by `status`). The delivery guarantee:

  * at least once: a message stays queued until an SMTP server has accepted it;
  * duplicates only in one narrow case: the process dies between the server accepting
    a message and the outbox recording it; the resend carries the same Message-ID, so
    receivers can drop it.

`Mailer` is the seam: `SmtpMailer` speaks SMTP (plain, STARTTLS or implicit TLS, with
optional authentication; the password only from the environment), `FolderMailer`
writes `.eml` files when no SMTP server is configured. Headers are built by the
`email` package, and every header value passes `_header_text`, which refuses line
breaks, so no indicator name or note can inject a header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from ..clock import Clock, SystemClock, iso_timestamp
from ..errors import InputError
from ..store import Store

__all__ = [
    "DeliveryError",
    "FolderMailer",
    "Mailer",
    "Outbox",
    "SmtpMailer",
    "SmtpSettings",
    "build_message",
]

BACKOFF_SECONDS = (60, 300, 900, 3600, 3 * 3600, 12 * 3600)


class DeliveryError(Exception):
    """A message could not be handed to the mail server (it stays in the outbox)."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand one message over, or raise DeliveryError."""
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


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        if settings.security not in ("none", "starttls", "tls"):
            raise InputError(f"mail security {settings.security!r}: use none, starttls or tls")
        self.settings = settings

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.cafile)

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        try:
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            with client:
                if s.security == "starttls":
                    client.starttls(context=self._context())
                if s.username:
                    client.login(s.username, s.password)
                client.send_message(message)
        except Exception as exc:  # any failure is this message's
            # The reason, never the credentials: smtplib's messages do not carry them.
            raise DeliveryError(f"{s.host}:{s.port}: {type(exc).__name__}: {exc}") from None


class FolderMailer:
    """Writes each message as `<Message-ID>.eml` in a folder (no SMTP server configured)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        name = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:24]
        target = self.folder / f"{name}.eml"
        temporary = target.with_suffix(".tmp")
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


ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.?[^@\s<>,;\"]*")


def check_address(value: str, where: str) -> str:
    """A bare e-mail address (user@host), or InputError naming where it came from."""
    _header_text(value, where)
    if not ADDRESS.fullmatch(value):
        raise InputError(f"{where}: {value!r} is not an e-mail address (user@host)")
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
    return message


class Outbox:
    """Queued messages in the store, sent by `flush` with retries and backoff."""

    def __init__(
        self, store: Store, mailer: Mailer, clock: Clock | None = None, max_attempts: int = 8
    ) -> None:
        self.store = store
        self.mailer = mailer
        self.clock = clock or store.clock or SystemClock()
        self.max_attempts = max_attempts

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
        """Queue a message once per `key` (a second queue of the same key adds nothing)."""
        existing = self.store.db.execute("SELECT id FROM outbox WHERE key = ?", [key]).fetchone()
        if existing:
            return int(existing[0])
        domain = sender.rpartition("@")[2] or "early-warning.local"
        # Derived from the key alone: the same crossing always has the same Message-ID,
        # even if its outbox row were lost and the alert queued again.
        message_id = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
        now = self.clock.now()
        message = build_message(
            sender=sender, recipients=recipients, subject=subject, text=text, html=html,
            message_id=message_id, date=now, attachments=attachments,
        )  # fmt: skip
        cursor = self.store.db.execute(
            "INSERT INTO outbox (key, message_id, recipients, subject, message, status, attempts, "
            "next_attempt_at, queued_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
            [
                key,
                message_id,
                ", ".join(recipients),
                message["Subject"],
                bytes(message),
                iso_timestamp(now),
                iso_timestamp(now),
            ],
        )
        return int(cursor.lastrowid or 0)

    def flush(self, *, retry_now: bool = False) -> dict[str, int]:
        """Send every message that is due (with `retry_now`, every queued one);
        return how many were sent, failed, died."""
        now = self.clock.now()
        due_by = "9999" if retry_now else iso_timestamp(now)
        due = list(
            self.store.db.query(
                "SELECT id, message, attempts FROM outbox WHERE status = 'queued' "
                "AND next_attempt_at <= ? ORDER BY id",
                [due_by],
            )
        )
        counts = {"sent": 0, "failed": 0, "dead": 0}
        from email import message_from_bytes, policy

        for row in due:
            message = message_from_bytes(row["message"], policy=policy.SMTP)
            try:
                self.mailer.send(message)  # type: ignore[arg-type]
            except Exception as exc:  # one bad message must not block the rest
                attempts = row["attempts"] + 1
                dead = attempts >= self.max_attempts
                wait = BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)]
                self.store.db.execute(
                    "UPDATE outbox SET attempts = ?, status = ?, last_error = ?, "
                    "next_attempt_at = ? WHERE id = ?",
                    [
                        attempts,
                        "dead" if dead else "queued",
                        (
                            str(exc)
                            if isinstance(exc, DeliveryError)
                            else f"{type(exc).__name__}: {exc}"
                        )[:500],
                        iso_timestamp(now + dt.timedelta(seconds=wait)),
                        row["id"],
                    ],
                )
                counts["dead" if dead else "failed"] += 1
                continue
            # Recorded at once: the window in which a crash would resend is this line.
            self.store.db.execute(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?, "
                "last_error = NULL WHERE id = ?",
                [iso_timestamp(self.clock.now()), row["id"]],
            )
            counts["sent"] += 1
        return counts

    def backlog(self) -> dict[str, int]:
        rows = self.store.db.execute("SELECT status, count(*) FROM outbox GROUP BY status")
        return {status: count for status, count in rows}
