"""The one exception tree of early-warning.

Every error the library raises on purpose is a subclass of `EarlyWarningError`, and
its message is one line a user can act on: it names the file, the line or record, and
the field where that applies. The command line prints that line to stderr and exits
with the status in `exit_code`; no traceback is shown for a user's mistake.

    EarlyWarningError            base class; exit 2
    ├── ConfigError              the configuration file or an environment override is wrong
    ├── CatalogError             an indicator catalog file is wrong (file, indicator, field)
    ├── ProfileError             a weight profile is wrong (file, family or indicator, field)
    ├── RuleError                an alert rule file is wrong (file, rule, field)
    ├── StoreError               the database cannot be opened, migrated or written
    │   └── LockError            another daemon already runs on this database
    ├── NotFoundError            a named thing (indicator, source, run) does not exist
    ├── InputError               a value given on the command line or in a form is unusable
    │   └── PeriodError          a date, week, month, quarter or year that is not one
    │                            (also a ValueError, for the parsers that catch that)
    ├── IngestError              a whole input file or URL is refused before anything is written
    │   │                        (missing, wrong columns, undecodable, too large)
    │   └── FetchError           a URL that cannot be fetched (refused, timed out, not the API)
    ├── DeliveryError            a message could not be handed to the mail server; it stays
    │                            in the outbox for a retry
    └── RequestError             the workbench refuses a request (HTTP 400)
        ├── ForbiddenError       wrong origin, host or token, or a read-only workbench (403)
        └── TooLargeError        a request body over the limit (413)

A single bad row is not an exception: it becomes a `Reject` (see `early_warning.ingest`)
and lands in the `rejects` table, while the good rows of the same file are kept.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "ConfigError",
    "DeliveryError",
    "EarlyWarningError",
    "FetchError",
    "ForbiddenError",
    "IngestError",
    "InputError",
    "LockError",
    "NotFoundError",
    "PeriodError",
    "ProfileError",
    "RequestError",
    "RuleError",
    "StoreError",
    "TooLargeError",
]


class EarlyWarningError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code: int = 2


class ConfigError(EarlyWarningError):
    """The configuration (TOML file or environment override) is invalid."""


class CatalogError(EarlyWarningError):
    """The indicator catalog is invalid; the message names file, indicator and field."""


class ProfileError(EarlyWarningError):
    """A weight profile is invalid; the message names the file and the entry."""


class RuleError(EarlyWarningError):
    """An alert rule file is invalid; the message names the file, rule and field."""


class StoreError(EarlyWarningError):
    """The SQLite store cannot be opened, migrated or written."""


class LockError(StoreError):
    """Another daemon already runs on this database."""


class NotFoundError(EarlyWarningError):
    """A named indicator, source, subject or record does not exist."""


class InputError(EarlyWarningError):
    """A value given on the command line is unusable (one observation, an option)."""


class PeriodError(InputError, ValueError):
    """The text is not a valid period; the message says why in a few words."""


class IngestError(EarlyWarningError):
    """A whole input is refused before anything is written."""


class FetchError(IngestError):
    """A URL could not be fetched (recorded as a refused run by `ingest`)."""


class DeliveryError(EarlyWarningError):
    """A message could not be handed to the mail server (it stays in the outbox)."""


class RequestError(EarlyWarningError):
    """The workbench refuses a request; `status` is the HTTP status it answers with."""

    status = 400


class ForbiddenError(RequestError):
    """Wrong origin, host or token, or a change asked of a read-only workbench."""

    status = 403


class TooLargeError(RequestError):
    """A request body over the workbench's limit."""

    status = 413
