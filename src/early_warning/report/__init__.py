"""The weekly escalation-risk report (PDF).

    report = build_report(store, catalog, profile, "BLR", as_of, rules=rules,
                          out_dir=Path("reports"))
    report.path, report.sha256, report.pages, report.timings

`data` gathers the numbers, `charts` draws them (matplotlib), `pdf` lays them out
(fpdf2). The report is recorded in the `reports` table with its inputs (profile hash,
data vintage, catalog version, library versions), and the same inputs give the same
bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..alerts import MailSettings, Notifier, Rule
from ..catalog import Catalog
from ..errors import StoreError
from ..scoring import Profile
from ..services.kept import kept
from ..store import Store
from .chart_data import chart_specs
from .data import ReportData, gather, parse_week, source_lines

__all__ = [
    "Report",
    "ReportData",
    "build_report",
    "gather",
    "parse_week",
    "queue_report_email",
    "report_name",
    "source_lines",
]


@dataclass
class Report:
    path: Path
    sha256: str
    pages: int
    data: ReportData
    timings: dict[str, float] = field(default_factory=dict)
    report_id: int | None = None


def _write_atomically(path: Path, content: bytes) -> None:
    """Never a half-written report under the real name, nor a `.tmp` left behind (a
    full disk is one line: StoreError)."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(content)
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def chart_images(store: Store, data: ReportData) -> dict[str, bytes | None]:
    """Each chart's PNG, drawn once for what it shows and kept across processes: the
    same spec (`chart_data`) always gives the same pixels, so a report made again reads
    them back and imports no matplotlib."""
    images: dict[str, bytes | None] = {}
    for name, spec in chart_specs(data).items():
        images[name] = None if spec is None else kept(
            store, "chart", (name, spec), lambda name=name, spec=spec: _draw(name, spec),
            lambda png: base64.b64encode(png).decode("ascii"), _png_bytes,
        )  # fmt: skip
    return images


def _png_bytes(text: str) -> bytes:
    png = base64.b64decode(text, validate=True)
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("a kept chart that is not a PNG")
    return png


def _draw(name: str, spec: dict[str, Any]) -> bytes:
    from . import charts  # matplotlib, only for a chart not kept

    return charts.draw(name, spec)


def report_name(subject: str, week: str) -> str:
    return f"early-warning-{subject}-{week}.pdf"


def build_report(
    store: Store,
    catalog: Catalog,
    profile: Profile,
    subject: str,
    as_of: dt.date,
    *,
    rules: Sequence[Rule],
    out: Path | None = None,
    out_dir: Path = Path("reports"),
    sources: Sequence[Mapping[str, Any]] = (),
) -> Report:
    """Gather, draw, lay out and write the report; record it in the store. `rules` are
    the alert rules whose red lines page 1 leads with (the week's warning level);
    `sources` the data sources' health (`status --json`), page 1 names the unhealthy."""
    start = time.perf_counter()
    # Here, not at import: matplotlib and fpdf2 (half a second) only for a report drawn,
    # not for every command or daemon that names `Report`.
    from .pdf import render_pdf

    imported = time.perf_counter()
    data = gather(store, catalog, profile, subject, as_of, rules, sources)
    gathered = time.perf_counter()
    images = chart_images(store, data)
    charted = time.perf_counter()
    content, pages, timings = render_pdf(data, images)
    timings["charts"] = charted - gathered
    path = out or out_dir / report_name(subject, data.week)
    _write_atomically(path, content)
    digest = hashlib.sha256(content).hexdigest()
    seconds = {"import": imported - start, "data": gathered - imported, **timings}
    report = Report(path, digest, pages, data, seconds)
    report.report_id = store.record_report(
        {
            "subject": subject,
            "week": data.week,
            "as_of": as_of.isoformat(),
            "path": str(path.resolve()),
            "sha256": digest,
            "bytes": len(content),
            "pages": report.pages,
            "profile": profile.name,
            "profile_hash": profile.weights_hash,
            "data_vintage": data.data_vintage,
            "inputs": json.dumps(data.inputs(), sort_keys=True),
        }
    )
    return report


def queue_report_email(store: Store, mail: MailSettings, report: Report) -> int:
    """Queue the PDF for the weekly subscribers; once per subject, week and content."""
    data = report.data
    record = data.record
    headline = (
        "no score (insufficient data)"
        if data.empty or record.get("score") is None
        else f"{record['score']:.1f} ({record['band']})"
    )
    outbox_id = Notifier(store, mail).outbox.queue(
        key=f"report:{data.subject}:{data.week}:{report.sha256}",
        sender=mail.sender,
        recipients=list(mail.report_recipients),
        subject=f"[report] {data.subject}, week {data.week}: {headline}",
        text=(
            f"The weekly escalation-risk report for {data.subject}, week {data.week} "
            f"(as of {data.as_of}), is attached.\n\nScore: {headline}.\n"
            f"SHA-256 of the PDF: {report.sha256}\n"
        ),
        attachments=[(report.path.name, report.path.read_bytes(), "application/pdf")],
    )
    store.set_report_email(report.report_id, outbox_id)
    return outbox_id
