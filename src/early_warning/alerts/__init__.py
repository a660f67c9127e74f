"""Alerts: rules, their state machine, and delivery through the mail outbox.

Work in progress (issue 5): the outbox and the mailers (`mail`) and the rule files
(`rules`) are in place; the engine that evaluates the rules comes next.
"""

from .mail import DeliveryError, FolderMailer, Mailer, Outbox, SmtpMailer, SmtpSettings
from .rules import Condition, Rule, RuleError, load_rules

__all__ = [
    "Condition",
    "DeliveryError",
    "FolderMailer",
    "Mailer",
    "Outbox",
    "Rule",
    "RuleError",
    "SmtpMailer",
    "SmtpSettings",
    "load_rules",
]
