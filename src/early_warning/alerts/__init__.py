"""Alerts: rules, their state machine, and delivery through the mail outbox.

    rules = load_rules(models_dir / "alerts.yaml", catalog)
    notifier = Notifier(store, MailSettings.from_config(config))
    engine = AlertEngine(store, catalog, profile, rules, sink=notifier)
    result = engine.check("BLR", as_of)          # new alerts recorded and queued
    notifier.flush()                             # sent, or kept for a retry
    engine.replay("BLR", start, end)             # what would have fired (writes nothing)

Modules: `rules` (the rule file), `engine` (signals, the state machine, the alert
records), `notify` (settings, recipients and the words of a message), `mail` (the
outbox and the SMTP and folder mailers).
"""

from .engine import (
    Alert,
    AlertEngine,
    CheckResult,
    RuleState,
    Signal,
    acknowledge,
    list_alerts,
    signals,
    walk,
)
from .mail import DeliveryError, FolderMailer, Mailer, Outbox, SmtpMailer, SmtpSettings
from .notify import MailSettings, Notifier, render_alert
from .rules import Condition, Rule, RuleError, load_rules

__all__ = [
    "Alert",
    "AlertEngine",
    "CheckResult",
    "Condition",
    "DeliveryError",
    "FolderMailer",
    "MailSettings",
    "Mailer",
    "Notifier",
    "Outbox",
    "Rule",
    "RuleError",
    "RuleState",
    "Signal",
    "SmtpMailer",
    "SmtpSettings",
    "acknowledge",
    "list_alerts",
    "load_rules",
    "render_alert",
    "signals",
    "walk",
]
