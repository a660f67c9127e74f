"""Alerts: rules, their state machine, and delivery through the mail outbox.

    rules = load_rules(models_dir / "alerts.yaml", catalog)
    notifier = Notifier(store, MailSettings.from_config(config))
    engine = AlertEngine(store, catalog, profile, rules, sink=notifier)
    result = engine.check("BLR", as_of)          # new alerts recorded and queued
    notifier.flush()                             # sent, or kept for a retry
    engine.replay("BLR", start, end)             # what would have fired (writes nothing)
    score_replay(engine, "BLR", start, end)      # each rule's hit rate, false alarms, lead

Modules: `rules` (the rule file), `signals` (each rule as a weekly signal), `states`
(the state machine), `records` (alerts and a check's result), `warning` (the week's
level), `skill` (a replayed rule scored against the events) - all pure - then
`engine` (the alert service over the store), `track_record` (every rule replayed point
in time and scored, kept and read back), `notify` (settings, recipients and the words
of a message), `mail` (the outbox and the SMTP and folder mailers).
"""

from typing import TYPE_CHECKING

from .. import lazy
from .records import Alert, CheckResult
from .rules import Condition, Rule, RuleError, load_rules
from .signals import Signal, signals
from .states import RuleState, walk

# The engine and notifier (services) and the outbox (I/O) load on first use, so that
# importing the pure rules, signals and states does not bring the store.
__getattr__, __dir__ = lazy.exports(
    __name__,
    {
        **dict.fromkeys(["AlertEngine", "acknowledge", "list_alerts"], ".engine"),
        **dict.fromkeys(
            ["DeliveryError", "FolderMailer", "Mailer", "Outbox", "SmtpMailer", "SmtpSettings"],
            ".mail",
        ),
        **dict.fromkeys(["MailSettings", "Notifier", "render_alert"], ".notify"),
        **dict.fromkeys(
            ["record_replay_score", "score_replay", "stored_replay_score"], ".track_record"
        ),
    },
)  # fmt: skip

if TYPE_CHECKING:
    from .engine import AlertEngine, acknowledge, list_alerts
    from .mail import DeliveryError, FolderMailer, Mailer, Outbox, SmtpMailer, SmtpSettings
    from .notify import MailSettings, Notifier, render_alert
    from .track_record import record_replay_score, score_replay, stored_replay_score

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
    "record_replay_score",
    "render_alert",
    "score_replay",
    "signals",
    "stored_replay_score",
    "walk",
]
