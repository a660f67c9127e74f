"""What an ingest may weigh (`Limits`) and what it did (`IngestResult`).

Kept apart from the ingest driver so that the importers (GDELT, published data) can
build results without importing the package that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Config

__all__ = ["IngestResult", "Limits", "RejectInfo", "describe_exception", "duplicate_result"]


@dataclass(frozen=True)
class Limits:
    """What an input may weigh: from the `[ingest]` section of the configuration."""

    max_file_bytes: int = 512 * 1024 * 1024
    max_field_chars: int = 4000
    http_timeout_seconds: float = 30.0  # of each connect and each read
    http_total_seconds: float = 300.0  # of a whole download
    batch_rows: int = 20000
    max_line_chars: int = 4 * 1024 * 1024
    max_unzipped_bytes: int = 1024 * 1024 * 1024
    max_zip_ratio: float = 200.0

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        section = config.values["ingest"]
        return cls(
            max_file_bytes=int(section["max_file_bytes"]),
            max_field_chars=int(section["max_field_chars"]),
            http_timeout_seconds=float(section["http_timeout_seconds"]),
            http_total_seconds=float(section["http_total_seconds"]),
            batch_rows=int(section["batch_rows"]),
            max_line_chars=int(section["max_line_chars"]),
            max_unzipped_bytes=int(section["max_unzipped_bytes"]),
            max_zip_ratio=float(section["max_zip_ratio"]),
        )

    def zip_limits(self) -> dict[str, Any]:
        return {"max_unzipped_bytes": self.max_unzipped_bytes, "max_ratio": self.max_zip_ratio}


@dataclass(frozen=True)
class RejectInfo:
    line: int
    field: str
    reason: str


@dataclass
class IngestResult:
    """What one ingest did; `exit_code` follows DESIGN.md 3.3."""

    uri: str
    status: str  # ok | partial | duplicate
    kind: str = "observations"
    format: str = ""
    run_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    derived: int = 0  # derived values (mappings/derived.yaml) recomputed into new rows
    derived_rejected: int = 0  # derived values that failed validation (in `rejects`)
    flagged: int = 0
    announced: int = 0  # published before their period began (declared ahead)
    seconds: float = 0.0
    message: str = ""
    rejects: list[RejectInfo] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.rows_rejected else 0

    def summary(self) -> str:
        if self.status == "duplicate":
            return f"{self.uri}: {self.message}; nothing added"
        parts = [
            f"{self.rows_read:,} read",
            f"{self.rows_loaded:,} loaded",
            f"{self.rows_unchanged:,} already present",
            f"{self.rows_rejected:,} rejected",
        ]
        if self.flagged:
            parts.append(f"{self.flagged:,} flagged as formula-like text")
        if self.announced:
            parts.append(f"{self.announced:,} announced ahead of their period")
        if self.derived:
            parts.append(f"{self.derived:,} derived values updated")
        if self.derived_rejected:
            parts.append(f"{self.derived_rejected:,} derived values rejected (rejects list)")
        if self.rows_skipped:
            reasons = "; ".join(f"{n:,} {why}" for why, n in self.skipped.items())
            parts.append(f"{self.rows_skipped:,} skipped ({reasons})")
        kind = self.kind
        if self.format not in ("", "csv", "xlsx", "json", "ndjson", "manual"):
            kind = f"{self.format} -> {self.kind}"  # a published layout, read by its mapping
        return f"{self.uri}: {kind}: " + ", ".join(parts) + f" (run {self.run_id})"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "rejects"}
        data["rejects"] = [vars(r) for r in self.rejects]
        data["exit_code"] = self.exit_code
        return data


def duplicate_result(uri: str, kind: str, fmt: str, earlier: dict[str, Any]) -> IngestResult:
    """The answer for content already ingested: which run read it, and its rejects."""
    when = str(earlier["started_at"])[:10]
    message = f"already ingested in run {earlier['id']} on {when}"
    if earlier["rows_rejected"]:
        message += (
            f" ({earlier['rows_rejected']:,} rows were rejected then: "
            f"early-warning rejects list --run {earlier['id']})"
        )
    result = IngestResult(uri, "duplicate", kind, fmt, earlier["id"], message=message)
    result.rows_rejected = int(earlier["rows_rejected"] or 0)
    return result


def describe_exception(exc: BaseException) -> str:
    """An unexpected exception in one line: its kind and the start of its message (for a
    refused run's message: a file, or a download, that failed in a way no check foresaw)."""
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
