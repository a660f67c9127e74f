"""Configuration: a TOML file, overridden by environment variables.

Every setting has a default (`DEFAULTS`), so no file is needed to start. A file named
by `--config` or `EARLY_WARNING_CONFIG` overrides the defaults; an environment
variable `EARLY_WARNING_<SECTION>_<KEY>` overrides the file (for example
`EARLY_WARNING_INGEST_MAX_FILE_BYTES=1000000`), and `EARLY_WARNING_DB` overrides
`database.path`. Relative paths in a file are relative to that file's folder.

Unknown sections or keys and values of the wrong type are refused with the file and the
key named, because a mistyped key that is silently ignored is a setting that silently
does not apply.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .files import read_toml

__all__ = [
    "DEFAULTS", "FEEDS", "Config", "Credentials", "FeedKind", "bundled_path", "load_config",
]  # fmt: skip

_PACKAGE_DIR = Path(__file__).resolve().parent
_SECRET_WORDS = ("password", "token", "secret")

DEFAULTS: dict[str, dict[str, Any]] = {
    "database": {
        "path": "early-warning.db",
    },
    "catalog": {
        "dir": "",  # empty: the catalog shipped with the project
        "default_subject": "BLR",
    },
    "ingest": {
        "max_file_bytes": 512 * 1024 * 1024,
        "max_field_chars": 4000,
        "http_timeout_seconds": 30.0,  # of each connect and read
        "http_total_seconds": 300.0,  # of a whole download, however slowly it drips
        "batch_rows": 20000,
        "max_line_chars": 4 * 1024 * 1024,  # a longer line is a reject (a JSON item: refused)
        "max_unzipped_bytes": 1024 * 1024 * 1024,  # all members of a zip, inflated
        "max_zip_ratio": 200.0,  # inflated / compressed size of a zip member
    },
    "paths": {
        "models": "",  # empty: the models shipped with the project
        "reports": "reports",
    },
    "mail": {
        "host": "",  # empty: no SMTP server; messages are written to outbox_dir as .eml
        "port": 25,
        "security": "none",  # none | starttls | tls
        "username": "",
        "password": "",  # only from EARLY_WARNING_MAIL_PASSWORD, never from a file
        "sender": "early-warning@localhost",
        "to_watch": [],  # recipients of watch alerts and above
        "to_amber": [],  # recipients of amber and red alerts
        "to_red": [],  # recipients of red alerts only
        "to_reports": [],  # subscribers to the weekly PDF report
        "to_ops": [],  # operators: a source failing again and again (the daemon)
        "timeout_seconds": 30.0,
        "max_attempts": 8,
        "outbox_dir": "outbox",
        "cafile": "",  # trust this CA certificate for STARTTLS/TLS (a private CA)
    },
}
DEFAULTS["daemon"] = {
    "timezone": "UTC",  # of the weekly report's weekday and hour
    "report_weekday": "mon",
    "report_hour": 7,
    "report_subjects": [],  # empty: the default subject
    "misfire_grace_seconds": 43200,  # a job missed while down runs at start-up within this
    "flush_seconds": 60,
    "jobstore": "",  # empty: <database>.jobs.sqlite beside the database
    "failure_alert_after": 3,  # consecutive failures of a source before operators hear
    "check_minutes": 60,  # score, forecast and alert check even without new data
    "settle_seconds": 5,  # a watched file must be unchanged this long before it is read
}
DEFAULTS["web"] = {
    "host": "127.0.0.1",
    "port": 8765,
    "token": "",  # required when serving beyond loopback (shown as *** by `config show`)
}
_PATH_KEYS = {
    ("database", "path"), ("catalog", "dir"), ("paths", "models"), ("paths", "reports"),
    ("mail", "outbox_dir"), ("mail", "cafile"), ("daemon", "jobstore"),
}  # fmt: skip
_ENV_ONLY = {("mail", "password"): "EARLY_WARNING_MAIL_PASSWORD"}
_CHOICES = {
    ("mail", "security"): ("none", "starttls", "tls"),
    ("daemon", "report_weekday"): ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
}
_SOURCE_KEYS = {
    "url", "folder", "feed", "master_url", "cron", "every_seconds", "subject",
    "expected_every_seconds", "email_env", "password_env", "token_url",
}  # fmt: skip
# An ACLED feed's account: the variables that hold it (never the file), and the
# token endpoint of ACLED's OAuth (the `key` + `email` parameters ended in 2025).
_ACLED_DEFAULTS = {
    "email_env": "ACLED_EMAIL",
    "password_env": "ACLED_PASSWORD",
    "token_url": "https://acleddata.com/oauth/token",
}


@dataclass(frozen=True)
class FeedKind:
    """A live feed's publisher rhythm (`[sources.NAME] feed = ...`, `ingest/feeds.py`)."""

    cadence: str  # in words, for the docs and messages
    poll_seconds: int  # how often it is asked, unless cron or every_seconds says
    expected_every_seconds: int  # silent after this long without a new publication


DAY = 86400
FEEDS: dict[str, FeedKind] = {
    # A new export every 15 minutes; four missed in a row is an hour: silent.
    "gdelt": FeedKind("every 15 minutes", 900, 3600),
    # A release each month (about the middle of the next one): 45 days is a missed one.
    "ucdp_candidate": FeedKind("monthly", DAY, 45 * DAY),
    # WDI is updated a few times a year; a series gets its new year about once a year.
    "worldbank": FeedKind("yearly (a few updates a year)", DAY, 400 * DAY),
    # ACLED updates its data every week; two weeks without a new event is a missed one.
    "acled": FeedKind("weekly", DAY, 14 * DAY),
}


@dataclass(frozen=True)
class Credentials:
    """An account read from the environment for a feed (`[sources.NAME]`'s
    `email_env`, `password_env`): kept in memory only, never shown or stored."""

    user: str = field(repr=False)
    secret: str = field(repr=False)
    names: tuple[str, str] = ("", "")  # the variables they came from, for messages


def bundled_path(name: str) -> Path:
    """A folder shipped with the project (`indicators`, `models`).

    From a source checkout or an editable install it is the folder at the top of the
    repository; from a wheel it is the copy bundled inside the package.
    """
    checkout = _PACKAGE_DIR.parent.parent / name
    if checkout.is_dir():
        return checkout
    return _PACKAGE_DIR / "_bundled" / name


@dataclass
class Config:
    """The effective settings, as nested sections of plain values."""

    values: dict[str, dict[str, Any]]
    file: Path | None = None
    origins: dict[str, str] = field(default_factory=dict)
    # [sources.NAME] tables: what the daemon ingests, and when
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    @property
    def db_path(self) -> Path:
        return Path(self.values["database"]["path"])

    @property
    def catalog_dir(self) -> Path:
        configured = self.values["catalog"]["dir"]
        return Path(configured) if configured else bundled_path("indicators")

    @property
    def models_dir(self) -> Path:
        configured = self.values["paths"]["models"]
        return Path(configured) if configured else bundled_path("models")

    @property
    def default_subject(self) -> str:
        return str(self.values["catalog"]["default_subject"])

    def with_db(self, path: str | Path, origin: str = "--db") -> Config:
        """A copy that uses another database file (the `--db` option)."""
        values = copy.deepcopy(self.values)
        values["database"]["path"] = str(path)
        origins = dict(self.origins, **{"database.path": origin})
        return Config(values, self.file, origins, copy.deepcopy(self.sources))

    def masked(self) -> dict[str, dict[str, Any]]:
        """The settings with secrets replaced by '***' (for `config show`)."""
        shown = copy.deepcopy(self.values)
        for section, entries in shown.items():
            for key, value in entries.items():
                if any(word in key for word in _SECRET_WORDS) and value:
                    shown[section][key] = "***"
        shown["sources"] = {
            name: {k: "***" if k == "credentials" else v for k, v in spec.items()}
            for name, spec in self.sources.items()
        }
        shown["catalog"]["dir"] = str(self.catalog_dir)
        shown["paths"]["models"] = str(self.models_dir)
        return shown


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then the environment."""
    env = os.environ if env is None else env
    values = copy.deepcopy(DEFAULTS)
    origins = {f"{s}.{k}": "default" for s, keys in DEFAULTS.items() for k in keys}
    file = None
    sources: dict[str, dict[str, Any]] = {}
    if path is None and env.get("EARLY_WARNING_CONFIG"):
        path = env["EARLY_WARNING_CONFIG"]
    if path is not None:
        file = Path(path)
        sources = _apply_file(values, origins, file, env)
    _apply_env(values, origins, env)
    return Config(values, file, origins, sources)


def _apply_file(
    values: dict[str, dict[str, Any]],
    origins: dict[str, str],
    file: Path,
    env: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    data = read_toml(file, ConfigError, "configuration file")
    sources = _sources(data.pop("sources", {}), file, env)
    for section, entries in data.items():
        if section not in DEFAULTS:
            raise ConfigError(f"{file}: unknown section [{section}] (known: {', '.join(DEFAULTS)})")
        if not isinstance(entries, dict):
            raise ConfigError(f"{file}: [{section}] must be a table")
        for key, value in entries.items():
            where = f"{file}: [{section}] {key}"
            if (section, key) in _ENV_ONLY:
                raise ConfigError(
                    f"{where}: not read from a file; set the environment variable "
                    f"{_ENV_ONLY[section, key]} instead"
                )
            values[section][key] = _coerce(section, key, value, where)
            if (section, key) in _PATH_KEYS and value:
                resolved = Path(value).expanduser()
                if not resolved.is_absolute():
                    resolved = file.resolve().parent / resolved
                values[section][key] = str(resolved)
            origins[f"{section}.{key}"] = str(file)
    return sources


def _sources(raw: Any, file: Path, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`[sources.NAME]`: a `url` or a watched `folder`, on a `cron` or `every_seconds`;
    or a live `feed` (one of FEEDS) at its `url`, polled on its own rhythm unless told."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: [sources] must be tables like [sources.NAME]")
    found = {}
    for name, spec in raw.items():
        where = f"{file}: [sources.{name}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(spec) - _SOURCE_KEYS
        if unknown:
            known = ", ".join(sorted(_SOURCE_KEYS))
            raise ConfigError(f"{where} {sorted(unknown)[0]}: unknown key (known: {known})")
        if "feed" in spec:
            if spec["feed"] not in FEEDS:
                kinds = ", ".join(FEEDS)
                raise ConfigError(f"{where} feed: {spec['feed']!r} is not one of {kinds}")
            if "url" not in spec or "folder" in spec:
                raise ConfigError(f"{where}: a feed takes its url (and no folder)")
        elif "master_url" in spec:
            raise ConfigError(f'{where} master_url: only for feed = "gdelt"')
        if "master_url" in spec and spec.get("feed") != "gdelt":
            raise ConfigError(f'{where} master_url: only for feed = "gdelt"')
        for key in sorted(set(_ACLED_DEFAULTS) & set(spec)):
            if spec.get("feed") != "acled":
                raise ConfigError(f'{where} {key}: only for feed = "acled"')
        if ("url" in spec) == ("folder" in spec):
            raise ConfigError(f"{where}: give a url or a folder (one of them)")
        if "cron" in spec and "every_seconds" in spec:
            raise ConfigError(f'{where}: give cron ("*/5 * * * *") or every_seconds, not both')
        if "feed" not in spec and ("cron" in spec) == ("every_seconds" in spec):
            raise ConfigError(f'{where}: give cron ("*/5 * * * *") or every_seconds (one of them)')
        entry = {"name": name}
        for key, value in spec.items():
            if key in ("every_seconds", "expected_every_seconds"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"{where} {key}: a whole number >= 1, got {value!r}")
            elif not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where} {key}: expected text, got {value!r}")
            entry[key] = value
        if entry.get("feed") == "acled":
            entry = {**_ACLED_DEFAULTS, **entry}
            entry["credentials"] = _credentials(entry, where, env)
        if "folder" in entry:
            folder = Path(entry["folder"]).expanduser()
            entry["folder"] = str(
                folder if folder.is_absolute() else file.resolve().parent / folder
            )
        found[name] = entry
    return found


def _credentials(entry: dict[str, Any], where: str, env: Mapping[str, str]) -> Credentials:
    """The account named by `email_env` and `password_env`, which must be set."""
    found = []
    for key, what in (("email_env", "e-mail"), ("password_env", "password")):
        name = entry[key]
        if not env.get(name, "").strip():
            raise ConfigError(
                f"{where} {key}: the environment variable {name} is not set (the ACLED "
                f"account's {what}; it is read from the environment only)"
            )
        found.append(env[name].strip())
    return Credentials(found[0], found[1], (entry["email_env"], entry["password_env"]))


def _apply_env(
    values: dict[str, dict[str, Any]], origins: dict[str, str], env: Mapping[str, str]
) -> None:
    known = {"EARLY_WARNING_DB", "EARLY_WARNING_CONFIG"} | {
        f"EARLY_WARNING_{section.upper()}_{key.upper()}"
        for section, keys in DEFAULTS.items()
        for key in keys
    }
    for name in env:
        if name.startswith("EARLY_WARNING_") and name not in known:
            raise ConfigError(f"environment variable {name}: unknown setting (see `config show`)")
    if env.get("EARLY_WARNING_DB"):
        values["database"]["path"] = env["EARLY_WARNING_DB"]
        origins["database.path"] = "EARLY_WARNING_DB"
    for section, keys in DEFAULTS.items():
        for key in keys:
            name = f"EARLY_WARNING_{section.upper()}_{key.upper()}"
            if name in env:
                values[section][key] = _coerce_text(section, key, env[name], name)
                origins[f"{section}.{key}"] = name


def _coerce(section: str, key: str, value: Any, where: str) -> Any:
    if key not in DEFAULTS[section]:
        known = ", ".join(DEFAULTS[section])
        raise ConfigError(f"{where}: unknown key (known in [{section}]: {known})")
    default = DEFAULTS[section][key]
    if isinstance(default, list):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of text, got {value!r}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: expected a whole number >= 0, got {value!r}")
        if key == "port" and not 1 <= value <= 65535:
            raise ConfigError(f"{where}: a port is between 1 and 65535, got {value}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{where}: expected a number > 0, got {value!r}")
        if not math.isfinite(value):  # nan and inf pass `<= 0`; TOML and float() read them
            raise ConfigError(f"{where}: expected a finite number > 0, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    choices = _CHOICES.get((section, key))
    if choices and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(choices)}")
    return value


def _coerce_text(section: str, key: str, text: str, where: str) -> Any:
    default = DEFAULTS[section][key]
    value: Any = text
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            value = lowered in ("true", "1", "yes")
        elif isinstance(default, int):
            value = int(text)
        elif isinstance(default, float):
            value = float(text)
    except ValueError:
        raise ConfigError(f"{where}: cannot read {text!r} as {type(default).__name__}") from None
    return _coerce(section, key, value, where)
