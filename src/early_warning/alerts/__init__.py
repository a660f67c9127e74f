"""Alerts: rules, their state machine, and delivery through the mail outbox.

Work in progress (issue 5): the outbox and the mailers (`mail`) are in place; the rule
engine comes next.
"""

from .mail import DeliveryError, FolderMailer, Mailer, Outbox, SmtpMailer, SmtpSettings

__all__ = ["DeliveryError", "FolderMailer", "Mailer", "Outbox", "SmtpMailer", "SmtpSettings"]
