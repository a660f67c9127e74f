"""The column order of the bulk inserts, and the positions ingest fills by name.

Validation builds each row as a list in exactly this order (a list literal is the
fastest way to build a million of them) and ingest fills in the columns only it knows
(when the rows were recorded, by which run) at the positions named here, then hands
the rows to one `executemany`. Reorder a tuple and the positions follow.
"""

from __future__ import annotations

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_RECORDED_AT",
    "EVENT_RUN_ID",
    "OBSERVATION_COLUMNS",
    "OBSERVATION_FLAGS",
    "OBSERVATION_RECORDED_AT",
    "OBSERVATION_RUN_ID",
    "REJECT_COLUMNS",
    "REJECT_RAW",
]

# Column order of the bulk observation insert (see ingest).
OBSERVATION_COLUMNS = (
    "indicator", "subject", "period", "period_start", "period_end", "value", "value_text",
    "source_id", "citation", "published", "known_from", "recorded_at", "reliability",
    "credibility", "unit", "note", "flags", "run_id", "line", "content_hash",
)  # fmt: skip
EVENT_COLUMNS = (
    "date", "date_end", "date_precision", "subject", "kind", "severity", "title",
    "citation", "source_id", "note",
    "known_from", "recorded_at", "run_id", "line", "content_hash",
)  # fmt: skip
# Column order of the bulk reject insert.
REJECT_COLUMNS = ("run_id", "uri", "line", "field", "reason", "raw", "recorded_at")

OBSERVATION_RECORDED_AT = OBSERVATION_COLUMNS.index("recorded_at")
OBSERVATION_RUN_ID = OBSERVATION_COLUMNS.index("run_id")
OBSERVATION_FLAGS = OBSERVATION_COLUMNS.index("flags")
EVENT_RECORDED_AT = EVENT_COLUMNS.index("recorded_at")
EVENT_RUN_ID = EVENT_COLUMNS.index("run_id")
REJECT_RAW = REJECT_COLUMNS.index("raw")
