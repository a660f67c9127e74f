"""From an alert to an e-mail in the outbox: settings, recipients, words.

`MailSettings.from_config` reads the `[mail]` section. With no `host`, messages are
written as `.eml` files to `outbox_dir`, so nothing is lost before a server is
configured. Recipients are per severity and cumulative upwards: the `to_watch` list
gets every alert, `to_amber` gets amber and red, `to_red` only red.

`render_alert` writes the message: a subject line with the severity, the rule and
the subject; a plain-text body and an HTML body (every value escaped) with the value,
the threshold, what changed, the drivers and the sources behind them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import ConfigError, InputError
from ..store import Store
from .engine import Alert
from .mail import FolderMailer, Mailer, Outbox, SmtpMailer, SmtpSettings, check_address
from .rules import SEVERITIES

__all__ = ["MailSettings", "Notifier", "render_alert"]


@dataclass(frozen=True)
class MailSettings:
    host: str = ""  # empty: write .eml files to outbox_dir
    port: int = 25
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "early-warning@localhost"
    recipients: Mapping[str, Sequence[str]] = field(default_factory=dict)  # severity -> list
    report_recipients: Sequence[str] = ()
    timeout: float = 30.0
    max_attempts: int = 8
    outbox_dir: Path = Path("outbox")
    cafile: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> MailSettings:
        """The `[mail]` settings, with every address checked (ConfigError names the key)."""
        get = config.values["mail"]
        keys = ["sender", *(f"to_{s}" for s in (*SEVERITIES, "reports", "ops"))]
        for key in keys:
            for address in [get[key]] if key == "sender" else get.get(key, []):
                try:
                    check_address(address, f"[mail] {key}")
                except InputError as exc:
                    raise ConfigError(
                        f"{config.origins.get(f'mail.{key}', 'config')}: {exc}"
                    ) from None
        if get["max_attempts"] < 1:
            raise ConfigError("[mail] max_attempts: at least 1")
        timeout = get["timeout_seconds"]
        if not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
            where = config.origins.get("mail.timeout_seconds", "config")
            raise ConfigError(
                f"{where}: [mail] timeout_seconds: expected a finite number > 0, got {timeout!r}"
            )
        return cls(
            host=get["host"], port=get["port"], security=get["security"],
            username=get["username"], password=get["password"], sender=get["sender"],
            recipients={s: tuple(get[f"to_{s}"]) for s in SEVERITIES},
            report_recipients=tuple(get["to_reports"]),
            timeout=get["timeout_seconds"], max_attempts=get["max_attempts"],
            outbox_dir=Path(get["outbox_dir"]), cafile=get["cafile"] or None,
        )  # fmt: skip

    def mailer(self) -> Mailer:
        if not self.host:
            return FolderMailer(self.outbox_dir)
        return SmtpMailer(
            SmtpSettings(
                self.host,
                self.port,
                self.security,
                self.username,
                self.password,
                self.timeout,
                self.cafile,
            )
        )

    def describe(self) -> str:
        """Where mail goes, without the password."""
        if not self.host:
            return f".eml files in {self.outbox_dir}"
        user = f" as {self.username}" if self.username else ""
        return f"smtp://{self.host}:{self.port} ({self.security}){user}"

    def recipients_for(self, severity: str) -> list[str]:
        """Everyone subscribed at this severity or below it, in order, once each."""
        found: list[str] = []
        for level in SEVERITIES[: SEVERITIES.index(severity) + 1]:
            for address in self.recipients.get(level, ()):
                if address not in found:
                    found.append(address)
        return found


class Notifier:
    """Queues one message per alert in the outbox (in the caller's transaction)."""

    def __init__(self, store: Store, settings: MailSettings) -> None:
        self.settings = settings
        self.outbox = Outbox(store, settings.mailer(), max_attempts=settings.max_attempts)

    def queue(self, alert: Alert) -> int | None:
        """The outbox id, or None when nobody is subscribed to the alert's severity."""
        recipients = self.settings.recipients_for(alert.severity)
        if not recipients:
            return None
        subject, text, body = render_alert(alert)
        return self.outbox.queue(
            key=f"alert:{alert.dedupe_key}",
            sender=self.settings.sender,
            recipients=recipients,
            subject=subject,
            text=text,
            html=body,
        )

    def flush(self, *, retry_now: bool = False) -> dict[str, int]:
        return self.outbox.flush(retry_now=retry_now)

    def deliver(self, outbox_id: int) -> dict[str, Any]:
        """Flush, then how this one message stands (see `Outbox.outcome`): a command
        that sends its own message answers for that message, not for the whole queue.
        Waits a little for copies another process is sending at that moment."""
        self.flush()
        return self.outbox.outcome(outbox_id, wait_seconds=3 * self.settings.timeout)


def _warning_words(warning: dict[str, Any]) -> str:
    return f"{warning['level'].upper()} for {warning['week']}: " + "; ".join(warning["reasons"])


def render_alert(alert: Alert) -> tuple[str, str, str]:
    """(subject line, plain text, HTML) for one alert."""
    ev = alert.evidence
    subject = f"[{alert.severity.upper()}] {alert.rule}: {alert.subject}, week {alert.week}"
    warning = ev.get("warning")
    if warning:  # the week's one level (alerts/warning.py), the same as every face shows
        subject += f"; warning level {warning['level'].upper()}"
    facts = [
        *([("Warning level", _warning_words(warning))] if warning else []),
        ("Severity", alert.severity),
        ("Rule", f"{alert.rule} ({alert.kind})"),
        ("Subject", alert.subject),
        ("Week", f"{alert.week} (evaluated on {alert.as_of})"),
        ("Value", alert.value_text),
        ("Threshold", f"{alert.threshold_text}: {alert.condition}"),
        ("What changed", ev.get("changed", "")),
    ]
    if ev.get("profile_hash"):
        facts.append(("Weight profile", f"{ev.get('profile')} ({ev['profile_hash']})"))
    drivers = [d["reason"] for d in ev.get("drivers", [])]
    citations = list(ev.get("citations", []))
    lines = [alert.message, ""]
    lines += [f"{name}: {text}" for name, text in facts]
    lines += ["", "Drivers:"] + [f"  - {d}" for d in drivers or ["(none recorded)"]]
    lines += ["", "Sources:"] + [f"  - {c}" for c in citations or ["(none recorded)"]]
    lines += [
        "",
        f"Alert id {alert.id}: acknowledge with `early-warning alerts ack {alert.id} --note ...`.",
        "Sent by early-warning; each crossing is sent once (Message-ID is stable).",
    ]
    text = "\n".join(lines) + "\n"
    e = html.escape
    rows = "".join(f"<tr><th align='left'>{e(n)}</th><td>{e(str(t))}</td></tr>" for n, t in facts)
    items = "".join(f"<li>{e(d)}</li>" for d in drivers) or "<li>(none recorded)</li>"
    sources = "".join(f"<li>{e(c)}</li>" for c in citations) or "<li>(none recorded)</li>"
    colour = {"red": "#b00020", "amber": "#b36b00", "watch": "#1f4e79"}[alert.severity]
    body = (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<p style='color:{colour};font-weight:bold'>{e(alert.message)}</p>"
        f"<table cellpadding='3'>{rows}</table>"
        f"<h3>Drivers</h3><ul>{items}</ul><h3>Sources</h3><ul>{sources}</ul>"
        f"<p>Alert id {e(str(alert.id))}: acknowledge with "
        f"<code>early-warning alerts ack {e(str(alert.id))} --note ...</code></p>"
        "<p style='color:#666'>Sent by early-warning; each crossing is sent once "
        "(Message-ID is stable).</p></body></html>"
    )
    return subject, text, body
