"""The report's layout with fpdf2: page one answers "how worried, and why?".

Sections: summary; trend; indicators (a table that continues across pages with its
header repeated); forecasts and their track record; sensitivity; alerts log;
appendix (method, weight profile, versions, sources). Where there is nothing to
show, the section says why in words. The creation date is the report's as-of date
and the fonts are embedded, so the same inputs give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace, XPos, YPos
from fpdf.enums import TableCellStyle
from fpdf.line_break import BREAKING_SPACE_SYMBOLS_STR

from ..alerts.skill import (
    AT_START_NOTE,
    EXPLAINED,
    false_alarms_text,
    firings_text,
    hit_rate_text,
    lead_text,
)
from ..numbers import format_number
from .chart_data import BAND_COLOURS
from .data import ReportData

__all__ = ["lay_out", "render_pdf"]

# The DejaVu fonts matplotlib ships (the charts' own), found without importing it: a
# report whose charts are kept draws none.
_MATPLOTLIB = importlib.util.find_spec("matplotlib")
assert _MATPLOTLIB is not None and _MATPLOTLIB.submodule_search_locations
_FONTS = Path(_MATPLOTLIB.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf"
FONT = "DejaVu"
GREY = (90, 90, 90)
INK = (20, 20, 20)
BAND_RGB = {
    name: tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    for name, colour in BAND_COLOURS.items()
}
SEVERITY_RGB = {"watch": (31, 78, 121), "amber": (179, 107, 0), "red": (176, 0, 32)}
WARNING_RGB = {"none": (225, 225, 225), **SEVERITY_RGB}
HEADINGS = FontFace(emphasis="BOLD", fill_color=(225, 229, 235))


class _Document(FPDF):
    def __init__(self, data: ReportData) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.data = data
        self.add_font(FONT, "", _FONTS / "DejaVuSans.ttf")
        self.add_font(FONT, "B", _FONTS / "DejaVuSans-Bold.ttf")
        self.add_font(FONT, "I", _FONTS / "DejaVuSans-Oblique.ttf")
        self.set_margins(15, 14, 15)
        self.set_auto_page_break(True, margin=16)
        moment = dt.datetime.combine(data.as_of, dt.time(12), tzinfo=dt.UTC)
        self.set_creation_date(moment)
        self.set_title(f"Escalation-risk report: {data.subject}, week {data.week}")
        self.set_author("early-warning")
        self.set_subject(f"as of {data.as_of}; profile {data.profile.name}")
        self.set_creator("early-warning")

    def header(self) -> None:
        self.set_font(FONT, "", 7)
        self.set_text_color(*GREY)
        self.cell(
            0,
            4,
            f"early-warning \u00b7 weekly escalation-risk report \u00b7 "
            f"{self.data.subject} \u00b7 week {self.data.week}",
            align="L",
        )
        self.ln(6)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT, "", 7)
        self.set_text_color(*GREY)
        profile = self.data.profile
        self.cell(
            0,
            4,
            f"profile {profile.name} ({profile.weights_hash}) \u00b7 catalog "
            f"{self.data.catalog.version} \u00b7 data {self.data.data_vintage}",
            align="L",
        )
        self.cell(0, 4, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(*INK)

    # -- text helpers --------------------------------------------------------------

    def h1(self, text: str) -> None:
        self.set_font(FONT, "B", 16)
        self.multi_cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)

    def h2(self, text: str) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(2)
        self.set_font(FONT, "B", 11)
        self.cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(180, 180, 180)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)
        self.set_font(FONT, "", 9)

    def para(self, text: str, size: float = 9, style: str = "", colour: Any = INK) -> None:
        self.set_font(FONT, style, size)
        self.set_text_color(*colour)
        self.text_block(size * 0.5, text)
        self.set_text_color(*INK)
        self.set_font(FONT, "", 9)

    def bullets(self, items: Sequence[str], size: float = 9) -> None:
        self.set_font(FONT, "", size)
        for item in items:
            self.set_x(self.l_margin + 2)
            self.text_block(size * 0.5, f"\u2022 {item}")

    def text_block(self, height: float, text: str) -> None:
        """Left-aligned text from x to the right margin, lines `height` apart, as
        `multi_cell(0, height, text, align="L")` writes it (the same lines, the same
        places), a line at a time with `cell`: fpdf2's line breaker re-measures the line
        at every character it adds."""
        width = self.w - self.r_margin - self.x
        lines = wrap(self, text, width - 2 * self.c_margin)
        if lines is None:
            self.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
            return
        for k, line in enumerate(lines):
            last = k == len(lines) - 1
            self.cell(
                width, height, line, align="L", new_x=XPos.LMARGIN if last else XPos.LEFT,
                new_y=YPos.NEXT,
            )  # fmt: skip

    def chart(self, png: bytes | None, width: float, missing: str, caption: str = "") -> None:
        if png is None:
            self.para(f"[no chart] {missing}", 8.5, "I", GREY)
            return
        self.image(io.BytesIO(png), w=width)
        if caption:
            self.para(caption, 7.5, "I", GREY)

    def table(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        size: float = 7.5,
        aligns: str | None = None,
        group_rows: Sequence[int] = (),
    ) -> None:
        """A table whose header repeats on every page it runs onto.

        Drawn as fpdf2's `table()` draws one with horizontal lines, padding PAD and the
        columns scaled to the page width (the same rows, heights, page breaks, fills and
        text positions: the same page), but a cell whose text fits on one line is
        written with `cell`: fpdf2's table measures and lays out every cell twice with
        `multi_cell`, whose line breaker re-measures the line at every character, and
        that was most of the layout time. Only a cell that wraps still goes through
        `multi_cell` (measured once, drawn once)."""
        self.set_font(FONT, "", size)
        columns = [w * self.epw / sum(widths) for w in widths]
        left = self.x
        starts = [left + sum(columns[:j]) for j in range(len(columns))]
        aligned = zip(starts, columns, aligns or "L" * len(widths), strict=True)
        plain = [(x, w, a) for x, w, a in aligned]
        body_fill = self.font_face().fill_color  # fpdf2 fills a body cell with it too
        lines = [_Line(self, [*zip(plain, headings, strict=True)], "B", HEADINGS.fill_color, size)]
        for k, row in enumerate(rows):
            if k in group_rows:
                whole = [((left, sum(columns), "L"), row[0])]
                lines.append(_Line(self, whole, "B", GROUP.fill_color, size))
            else:
                given = [*zip(plain, map(str, row), strict=False)]  # as fpdf2: the cells given
                lines.append(_Line(self, given, "", body_fill, size))
        if len(lines) > 1 and self.will_page_break(lines[0].height + lines[1].height):
            self.add_page(same=True)  # never the headings alone at the foot of a page
        for k, line in enumerate(lines):
            if k > 0 and self.will_page_break(line.height):
                self.add_page(same=True)
                lines[0].draw(0, len(lines))
            line.draw(k, len(lines))
        self.set_font(FONT, "", 9)
        self.set_x(self.l_margin)
        self.ln(1)


# What `wrap` leaves to fpdf2: forced breaks, soft hyphens, the other breaking spaces.
_UNUSUAL = frozenset("\n\r\f\u00a0\u00ad" + BREAKING_SPACE_SYMBOLS_STR.replace(" ", ""))


def wrap(pdf: FPDF, text: str, width: float) -> list[str] | None:
    """The lines fpdf2's `multi_cell` breaks `text` into where `width` (mm) is left for
    text, in the current font: its WORD rule (a line ends before the character that
    would overflow it, at the last space if there is one, which is dropped; an
    overflowing space is dropped too) and its arithmetic (integer glyph widths summed,
    then scaled; the same 1e-9 tolerance), in one pass instead of one per character.
    None where fpdf2 must decide: empty or unusual text, text shaping, spacing or
    stretching, or a character wider than the line (which fpdf2 refuses)."""
    if not text or _UNUSUAL.intersection(text) or pdf.text_shaping:
        return None
    if pdf.char_spacing or pdf.font_stretching != 100 or pdf.current_font is None:
        return None
    glyphs, size, k = pdf.current_font.cw, pdf.font_size_pt, pdf.k
    lines: list[str] = []
    start = units = 0
    space = -1  # the line's last space
    i = 0
    while i < len(text):
        char = text[i]
        more = glyphs[ord(char)]
        if units * size * 0.001 / k + more * size * 0.001 / k - width > 1e-9:
            if char == " ":
                lines.append(text[start:i])
                i += 1
            elif space >= 0:
                lines.append(text[start:space])
                i = space + 1
            elif i == start:
                return None
            else:
                lines.append(text[start:i])
            start, units, space = i, 0, -1
            continue
        if char == " ":
            space = i
        units += more
        i += 1
    if start < len(text):
        lines.append(text[start:])
    return lines


PAD = 0.8  # mm around a table cell's text
GROUP = FontFace(emphasis="BOLD", fill_color=(240, 240, 240))


class _Line:
    """One table row: its cells (x, width, align and text), style, fill and height."""

    def __init__(
        self,
        pdf: _Document,
        cells: list[tuple[tuple[float, float, str], str]],
        style: str,
        fill: Any,
        size: float,
    ) -> None:
        self.pdf, self.cells, self.style, self.fill = pdf, cells, style, fill
        self.step = size * 0.5  # the line height
        pdf.set_font(FONT, style, size)
        self.wrapped: list[list[str] | None] = []  # each cell's lines, None: fpdf2 draws it
        self.counts = [self._count(text, width) for (_, width, _), text in cells]
        self.height = max(self.step * n + 2 * PAD if n else 0 for n in self.counts) or self.step

    def _count(self, text: str, width: float) -> int:
        """Lines the text takes in the cell (0 if empty), as `multi_cell` breaks it;
        one line without asking it when the text is narrower than the cell (the
        line breaker only breaks a line that does not fit)."""
        if not text:
            return 0
        self.wrapped.append(wrap(self.pdf, text, width - 2 * PAD))
        if self.wrapped[-1] is None:  # what `wrap` leaves to fpdf2
            return len(self._multi_cell(width, text, dry_run=True, output="LINES"))
        return len(self.wrapped[-1])

    def _multi_cell(self, width: float, text: str, align: str = "L", **kwargs: Any) -> Any:
        return self.pdf.multi_cell(
            w=width, h=self.step, text=text, max_line_height=self.step, align=align,
            new_x=XPos.RIGHT, new_y=YPos.TOP, padding=PAD, **kwargs,
        )  # fmt: skip

    def draw(self, index: int, total: int) -> None:
        """Borders and fill as fpdf2's HORIZONTAL_LINES, then the text, centred."""
        pdf, top = self.pdf, self.pdf.y
        pdf.set_font(FONT, self.style, pdf.font_size_pt)
        border = TableCellStyle(bottom=index < total - 1, top=index > 0)
        wrapped = iter(self.wrapped)
        for ((x, width, align), text), count in zip(self.cells, self.counts, strict=True):
            border.draw_cell_border(pdf, x, top, x + width, top + self.height, self.fill)
            if not count:
                continue
            lines = next(wrapped)
            middle = top + (self.height - (self.step * count + 2 * PAD)) / 2
            if lines is None:
                pdf.set_xy(x, middle)
                self._multi_cell(width, text, align)
                continue
            margin, pdf.c_margin = pdf.c_margin, 0  # the padding is the only margin
            for k, line in enumerate(lines):  # the row fits the page: no break inside
                pdf.set_xy(x + PAD, middle + PAD + k * self.step)
                pdf.cell(width - 2 * PAD, self.step, line, align=align)
            pdf.c_margin = margin
        pdf.set_xy(pdf.l_margin, top + self.height)


def render_pdf(
    data: ReportData, images: Mapping[str, bytes | None] | None = None
) -> tuple[bytes, int, dict[str, float]]:
    """The report as PDF bytes, its page count, and the seconds spent on charts and
    layout; `images`, the charts' PNGs by name when drawn (or kept) already."""
    import time

    start = time.perf_counter()
    if images is None:
        from . import charts
        from .chart_data import chart_specs

        images = {
            name: None if spec is None else charts.draw(name, spec)
            for name, spec in chart_specs(data).items()
        }
    charted = time.perf_counter()
    content, pages = lay_out(data, images)
    done = time.perf_counter()
    return content, pages, {"charts": charted - start, "layout": done - charted}


def lay_out(data: ReportData, images: Mapping[str, bytes | None]) -> tuple[bytes, int]:
    """The PDF bytes and page count from the numbers and the charts' PNGs."""
    pdf = _Document(data)
    pdf.alias_nb_pages()
    pdf.add_page()
    _summary(pdf, data)
    _trend(pdf, data, images)
    _indicators(pdf, data)
    _forecasts(pdf, data, images)
    _sensitivity(pdf, data)
    _alerts_log(pdf, data)
    _appendix(pdf, data)
    content = bytes(pdf.output())
    for font in pdf.fonts.values():  # fpdf2 closes only the faces the PDF used
        font.close()
    return content, pdf.pages_count


# -- page one -----------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


# The shipped theatre's countries; any other subject is titled by its code alone.
_NAMES = {
    "BLR": "Belarus", "RUS": "Russia", "UKR": "Ukraine", "POL": "Poland",
    "LTU": "Lithuania", "LVA": "Latvia",
}  # fmt: skip


def _subject_name(subject: str) -> str | None:
    """The title name: Belarus for BLR, Belarus-Ukraine for BLR-UKR; None if unknown."""
    parts = [_NAMES.get(code) for code in subject.split("-")]
    return "-".join(p for p in parts if p) if all(parts) else None


def _summary(pdf: _Document, data: ReportData) -> None:
    name = _subject_name(data.subject)
    title = f"{name} ({data.subject})" if name else data.subject
    title = f"{title}: week {data.week}"
    pdf.h1(f"Escalation risk, {title}")
    pdf.para(
        f"As of {data.as_of.isoformat()} \u00b7 weight profile {data.profile.name} "
        f"({data.profile.weights_hash}) \u00b7 data vintage {data.data_vintage}",
        8,
        colour=GREY,
    )
    pdf.ln(2)
    if data.sources:  # first: a silent feed makes everything below older than it looks
        pdf.h2("Data sources needing attention")
        pdf.bullets(data.sources)
    if data.empty:
        pdf.h2("No assessment this week")
        pdf.bullets(data.notes or ["No data."])
        pdf.para(
            "Nothing can be scored or forecast without observations. Load data with "
            "`early-warning ingest FILE` or enter one with `early-warning observe`.",
            9,
        )
        return
    _warning_box(pdf, data)
    _score_box(pdf, data)
    if data.ranking_note:
        pdf.para(data.ranking_note, 8, "I", GREY)
    pdf.h2("Probability of an escalation event")
    _probabilities(pdf, data)
    pdf.h2("Why: the largest changes since last week")
    drivers = data.record.get("drivers") or []
    if drivers:
        pdf.bullets([d["reason"] for d in drivers[:3]])
    elif data.previous is None:
        pdf.para("This is the first week of the record: there is no week before to compare.")
    else:
        pdf.para("Nothing changed in the data used by the score since last week.")
    pdf.h2("Active alerts")
    _active_alerts(pdf, data)
    pdf.h2("Data coverage and staleness")
    _coverage(pdf, data)


def _warning_box(pdf: _Document, data: ReportData) -> None:
    """The week's warning level first, with the red lines crossed: a duty officer reads
    this line before the score (the red lines are tripwires, whatever the score says)."""
    warning = data.warning
    if warning is None:
        return
    colour = WARNING_RGB[warning.level]
    top = pdf.get_y()
    pdf.set_fill_color(*colour)
    pdf.rect(pdf.l_margin, top, pdf.w - pdf.l_margin - pdf.r_margin, 11, style="F")
    pdf.set_xy(pdf.l_margin + 4, top + 1.5)
    if warning.level != "none":
        pdf.set_text_color(255, 255, 255)
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 8, f"WARNING LEVEL {warning.level.upper()}")
    pdf.set_text_color(*INK)
    pdf.set_y(top + 12)
    pdf.bullets(list(warning.reasons))
    pdf.ln(1)


def _score_box(pdf: _Document, data: ReportData) -> None:
    record = data.record
    band = record["band"] or "insufficient data"
    fill = BAND_RGB.get(record["band"] or "", (235, 235, 235))
    top = pdf.get_y()
    pdf.set_fill_color(*fill)
    pdf.rect(pdf.l_margin, top, pdf.w - pdf.l_margin - pdf.r_margin, 37, style="F")
    pdf.set_fill_color(255, 255, 255)
    pdf.set_xy(pdf.l_margin + 4, top + 3)
    pdf.set_font(FONT, "B", 26)
    value = "no score" if record["score"] is None else f"{record['score']:.1f}"
    pdf.cell(45, 12, value)
    pdf.set_font(FONT, "B", 16)
    pdf.cell(60, 12, band.upper())
    pdf.set_xy(pdf.l_margin + 4, top + 15)
    pdf.set_font(FONT, "", 8.5)
    lines = [f"Score 0-100; bands: {_bands(data)}.", _change_line(data)]
    if record.get("stale_share") and record.get("age_band"):
        aged = record["age_band"]
        lines.append(
            f"{record['stale_share']:.0%} of its weight rests on stale values; with their "
            f"uncertainty widened by age: {aged['low']:.1f} to {aged['high']:.1f}."
        )
    if data.uncertainty is not None and data.uncertainty.band["score"] is not None:
        b = data.uncertainty.band
        p_high = data.uncertainty.p_high_or_worse
        lines.append(  # one line of the box, about 120 characters at most
            f"5-95% as the weights vary ({b.get('method', data.profile.aggregation)}): "
            f"{b['low']:.1f} to {b['high']:.1f}{_other_methods(data)}; "
            f"P(high or worse) {_pct(p_high)}"
        )
    for line in lines:
        pdf.set_x(pdf.l_margin + 4)
        pdf.cell(0, 4.5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(top + 39)


def _other_methods(data: ReportData) -> str:
    """The latest score under the other aggregation methods, for page 1 (the full list,
    normalisation included, is on the sensitivity page)."""
    assert data.uncertainty is not None
    return "".join(
        f"; under {m['method']} aggregation: {m['score']:.1f}"
        for m in data.uncertainty.method_uncertainty
        if m["choice"] == "aggregation"
    )


def _change_line(data: ReportData) -> str:
    record, previous = data.record, data.previous
    if previous is None or previous.get("score") is None or record["score"] is None:
        return "No score last week to compare with."
    change = record["score"] - previous["score"]
    moved = "No change" if abs(change) < 0.05 else f"Change: {change:+.1f} points"
    return (
        f"{moved} since last week (week {previous['week']}: "
        f"{previous['score']:.1f}, {previous['band']})."
    )


def _bands(data: ReportData) -> str:
    from ..scoring.profiles import BAND_NAMES

    bounds = data.profile.bands
    return ", ".join(f"{n} {int(b)}+" for n, b in zip(BAND_NAMES[1:], bounds, strict=True))


def _probabilities(pdf: _Document, data: ReportData) -> None:
    if data.forecast is None:
        pdf.para("No forecast could be made.")
        return
    rows = []
    for h in data.forecast.horizons:
        rows.append(
            [
                f"within {h['weeks']} weeks",
                _pct(h["probability"]),
                "no interval"
                if h["low"] is None or h["high"] is None
                else f"{_pct(h['low'])} to {_pct(h['high'])}",
                str(h.get("status", "")),
            ]
        )
    pdf.table(
        ["horizon", "ensemble", "90% interval", "status"],
        rows,
        (40, 28, 45, 67),
        size=8.5,
        aligns="LRRL",
    )
    pdf.para(
        f"An event of severity {data.forecast.severity} or more (from the event record) "
        "within the horizon, as known on the as-of date. See the forecasts section for each "
        "model and the track record.",
        7.5,
        "I",
        GREY,
    )


def _active_alerts(pdf: _Document, data: ReportData) -> None:
    if not data.alerts_checked and not data.alerts:
        pdf.para(
            f"No alert has been recorded for {data.subject} in this period (alerts are "
            "recorded, and mailed, by `early-warning alerts check` and the daemon). The "
            "warning level above does not depend on them: it is computed from the data.",
            9,
            "I",
        )
        return
    if not data.active_alerts:
        pdf.para("No alert is firing this week.")
        return
    order = {"red": 0, "amber": 1, "watch": 2}
    for alert in sorted(data.active_alerts, key=lambda a: (order[a.severity], a.as_of)):
        pdf.set_font(FONT, "B", 9)
        pdf.set_text_color(*SEVERITY_RGB[alert.severity])
        pdf.cell(16, 4.8, alert.severity.upper())
        pdf.set_text_color(*INK)
        pdf.set_font(FONT, "", 9)
        state = "" if alert.state == "firing" else f" [{alert.state}]"
        since = (data.warning.details.get("lapsed_since", {}) if data.warning else {}).get(
            alert.rule
        )
        if since:  # never a years-old red carried as current
            state += f" [lapsed: its evidence is stale since {since}]"
        pdf.multi_cell(
            0,
            4.8,
            f"{alert.rule} since {alert.week}{state}: {alert.message}",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
            align="L",
        )


def _coverage(pdf: _Document, data: ReportData) -> None:
    record = data.record
    families = record["families"]
    parts = [f"{name} {info['coverage']:.0%} ({info['status']})" for name, info in families.items()]
    pdf.para(
        f"Coverage of the weighted indicators: {record['coverage']:.0%} overall; "
        + "; ".join(parts)
        + "."
    )
    stale = [data.catalog.indicators[i].name for i in record["stale"]]
    missing = record["missing"]
    if stale:
        pdf.para(
            f"Stale (older than their maximum age; still used, with a wider band; {len(stale)}): "
            + "; ".join(stale)  # the names have commas of their own
            + ".",
            8.5,
        )
    pdf.para(
        f"No current value ({len(missing)} indicators): missing data are left out and the "
        "weights of the rest of the family are renormalised; no gap is filled with a "
        "neutral value.",
        8.5,
    )
    for note in data.notes:
        pdf.para(note, 8.5, "B")


# -- trend --------------------------------------------------------------------------


def _trend(pdf: _Document, data: ReportData, images: Mapping[str, bytes | None]) -> None:
    if data.empty:
        return
    pdf.add_page()
    pdf.h2("Trend")
    rows = data.trend_rows
    first = data.results.panel.date(rows.start) if data.results else data.as_of
    pdf.chart(
        images["trend"],
        180,
        "no week in this period has a score (too little current data).",
        f"Weekly score from {first} to {data.as_of} with the band shading, the 5-95% band "
        "under weight uncertainty (shaded blue; only in weeks with a score), escalation "
        "events (purple lines, thicker for more severe) and alerts (triangles).",
    )
    pdf.h2("Families")
    pdf.chart(
        images["families"],
        180,
        "no family data.",
        "Each family's score where it had enough coverage to be scored.",
    )


# -- indicators ---------------------------------------------------------------------


def _indicators(pdf: _Document, data: ReportData) -> None:
    if data.empty:
        return
    pdf.add_page()
    pdf.h2(f"Indicators in week {data.week}")
    pdf.para(
        "Value as the catalog describes it; age in days since the period ended "
        "(STALE: older than the indicator's maximum age, still used with a wider band); "
        "risk 0-1 after normalisation; the profile weight; the contribution in score points; the "
        "source and its Admiralty grade; the change since last week.",
        7.5,
        "I",
        GREY,
    )
    rows: list[list[str]] = []
    groups = []
    family = None
    for r in data.indicators:
        if r.family != family:
            family = r.family
            groups.append(len(rows))
            rows.append([data.catalog.families[family].name] + [""] * 8)
        age = "-" if r.age_days is None else str(r.age_days)
        if r.status == "stale":
            age += " STALE"
        source = f"{r.source} [{r.grade}]" if r.grade else r.source
        rows.append(
            [
                r.name,
                r.value,
                r.period,
                age,
                "-" if r.risk is None else f"{r.risk:.2f}",
                _weight(r.weight),
                "-" if r.contribution is None else f"{r.contribution:.2f}",
                source,
                r.change,
            ]
        )
    pdf.table(
        ["indicator", "value", "period", "age", "risk", "weight", "contrib.", "source", "change"],
        rows,
        (42, 30, 17, 13, 10, 11, 13, 27, 17),
        size=6.5,
        aligns="LLLRRRRLL",
        group_rows=groups,
    )


# -- forecasts ----------------------------------------------------------------------


def _forecasts(pdf: _Document, data: ReportData, images: Mapping[str, bytes | None]) -> None:
    if data.empty or data.forecast is None:
        return
    pdf.add_page()
    pdf.h2("Forecasts: every model")
    rows = []
    for h in data.forecast.horizons:
        for m in h["models"]:
            rows.append(
                [
                    f"{h['weeks']} weeks",
                    m["model"],
                    _pct(m["probability"]),
                    f"{_pct(m['low'])} to {_pct(m['high'])}",
                    str(m["status"]),
                ]
            )
        rows.append(
            [
                f"{h['weeks']} weeks",
                "ensemble",
                _pct(h["probability"]),
                "no interval"
                if h["low"] is None or h["high"] is None
                else f"{_pct(h['low'])} to {_pct(h['high'])}",
                str(h.get("status", "")),
            ]
        )
    pdf.table(
        ["horizon", "model", "probability", "90% interval", "status"],
        rows,
        (22, 28, 24, 40, 66),
        size=7.5,
        aligns="LLRRL",
    )
    pdf.para(
        "The trend model answers a different question (the chance that the score "
        "reaches the high band) and is not pooled into the ensemble.",
        7.5,
        "I",
        GREY,
    )
    pdf.h2("Track record (point-in-time backtest)")
    if not data.backtest:
        pdf.para(
            f"No backtest on record for this profile ({data.profile.weights_hash}); run "
            "`early-warning backtest`. Without one, these probabilities have no "
            "demonstrated skill.",
            9,
            "I",
        )
        return
    rows = []
    alert_rows = []
    for horizon, models in data.backtest.items():
        ensemble = models.get("ensemble")
        if not ensemble:
            continue
        m = ensemble["metrics"]
        low, high = m.get("brier_skill_90") or [None, None]
        skill = f"{_fmt(m.get('brier_skill'), 3)} ({_fmt(low, 2)} to {_fmt(high, 2)})"
        rows.append(
            [
                f"{horizon} weeks",
                f"{ensemble['start']} to {ensemble['end']}",
                str(m.get("n_origins")),
                str(m.get("n_events")),
                _fmt(m.get("brier"), 3),
                skill,
                "yes" if m.get("skill_claimed") else "no",
                _fmt(m.get("auc"), 2),
            ]
        )
        for a in m.get("alerts", []):
            lead = a.get("mean_lead_weeks")
            alert_rows.append(
                [
                    f"{horizon} weeks",
                    f">= {a['threshold']:.0%}",
                    str(a["alerts"]),
                    str(a["events"]),
                    _pct(a.get("hit_rate")),
                    _pct(a.get("false_alarm_rate")),
                    "-" if lead is None else f"{lead:.1f}",
                ]
            )
    pdf.table(
        [
            "horizon",
            "origins from/to",
            "origins",
            "events",
            "Brier",
            "Brier skill (90%)",
            "skill?",
            "AUC",
        ],
        rows,
        (17, 43, 14, 13, 14, 45, 12, 12),
        size=7,
        aligns="LLRRRLLR",
    )
    pdf.para(
        "Brier skill is against the base rate; skill is claimed only when the whole "
        "90% interval is above zero.",
        7.5,
        "I",
        GREY,
    )
    if alert_rows:
        pdf.para("Alert thresholds on the ensemble probability in the backtest:", 8.5, "B")
        pdf.table(
            [
                "horizon",
                "threshold",
                "alerts",
                "events",
                "hit rate",
                "false alarms",
                "lead (weeks)",
            ],
            alert_rows,
            (20, 22, 18, 18, 22, 26, 24),
            size=7,
            aligns="LLRRRRR",
        )
    pdf.chart(
        images["reliability"],
        90,
        "no reliability table in the stored backtest.",
        "Reliability of the ensemble: observed frequency against forecast probability "
        "(numbers: forecasts in each bin).",
    )


# -- sensitivity --------------------------------------------------------------------


def _sensitivity(pdf: _Document, data: ReportData) -> None:
    if data.empty or data.uncertainty is None:
        return
    pdf.h2("Sensitivity: which weights matter, and what would change the band")
    band = data.uncertainty.band
    if band["score"] is not None and band["low"] is not None:
        methods = data.uncertainty.method_lines()
        pdf.para(
            f"The band, {band['low']:.1f} to {band['high']:.1f} around the score of "
            f"{band['score']:.1f}, is the 5-95% range when the weights are redrawn "
            f"{data.uncertainty.draws:,} times under the profile's own method "
            f"({band.get('method', data.profile.aggregation)} aggregation); a choice of "
            "method is not noise around the weights, so it is shown here, one choice at a "
            "time, not pooled into the band"
            + (": " + "; ".join(methods) + "." if methods else "."),
            8.5,
        )
    sobol = data.uncertainty.sobol
    if sobol.get("computed"):
        rows = [
            [
                i["weight"],
                _fmt(i["first_order"], 3),
                _fmt(i.get("first_order_conf"), 3),
                _fmt(i["total"], 3),
                _fmt(i.get("total_conf"), 3),
            ]
            for i in sobol["indices"][:10]
        ]
        pdf.para(
            f"Sobol indices of the weights (each varied by \u00b1{sobol['range']:.0%}, "
            f"{sobol['samples']:,} model runs, 95% intervals); the ten largest:",
            8.5,
        )
        pdf.table(
            ["weight", "first order", "\u00b1", "total", "\u00b1"],
            rows,
            (80, 25, 20, 25, 20),
            size=7.5,
            aligns="LRRRR",
        )
        if sobol.get("note"):
            pdf.para(
                f"Note: {sobol['note']}; a larger sample (`sensitivity --samples`) would "
                "tell them apart.",
                8.5,
            )
    else:
        pdf.para(f"Sobol indices not computed: {sobol.get('reason', 'too little data')}.")
    if data.band_changes:
        pdf.para(
            "One indicator at a time at its riskiest or safest value, everything else as "
            "it is (exact rescoring):",
            8.5,
        )
        rows = [
            [
                c["name"],
                f"{c['risk']:.2f}",
                f"{c['riskiest']['score']:.1f} ({c['riskiest']['band']})",
                f"{c['safest']['score']:.1f} ({c['safest']['band']})",
            ]
            for c in data.band_changes
        ]
        pdf.table(
            ["indicator", "risk now", "at its riskiest", "at its safest"],
            rows,
            (80, 20, 40, 40),
            size=7.5,
            aligns="LRLL",
        )
        crossing = [
            f"{c['name']} at its {end} ({c[end]['band']})"
            for c in data.band_changes
            for end in ("riskiest", "safest")
            if c[end]["band"] != c["band"]
        ]
        if crossing:
            pdf.para(
                f"On its own, each of these would move the score out of the "
                f"{data.record['band']} band: " + "; ".join(crossing) + ".",
                8.5,
            )
        else:
            pdf.para(
                f"No single indicator can move the score out of the {data.record['band']} "
                "band on its own.",
                8.5,
            )


# -- alerts log ---------------------------------------------------------------------


def _alerts_log(pdf: _Document, data: ReportData) -> None:
    if data.empty:
        return
    pdf.h2("Alerts log")
    if not data.alerts:
        checked = "" if data.alerts_checked else " (no alert check has been run in this period)"
        pdf.para(f"No alert fired in the period of the trend chart{checked}.")
    else:
        rows = [
            [
                a.week,
                a.severity,
                a.rule,
                "-" if a.value is None else a.value_text,
                a.threshold_text,
                a.state
                + (f" ({a.evidence.get('resolved_week')})" if a.state == "resolved" else ""),
                a.message,
            ]
            for a in data.alerts
        ]
        pdf.table(
            ["week", "severity", "rule", "value", "threshold", "state", "message"],
            rows,
            (15, 12, 44, 18, 13, 23, 55),
            size=6.5,
            aligns="LLLRRLL",
        )
    _rule_scores(pdf, data)


def _rule_scores(pdf: _Document, data: ReportData) -> None:
    """How each rule would have done in a point-in-time replay against the events."""
    scores = data.rule_scores
    if scores is None:
        return
    pdf.h2("How each rule would have done (point-in-time replay)")
    kept = scores.get("computed_at")
    where = (
        f"kept by `alerts replay --score --record` on {kept[:10]}"
        if kept
        else "replayed for this report over the weeks of the trend chart (not kept)"
    )
    left_out = scores["excluded_imprecise_events"]
    pdf.para(
        f"Every rule replayed from {scores['start']} to {scores['end']}, each week judged "
        f"on the data as known that week ({where}), against the "
        f"{scores['n_events']} event(s) of severity {scores['severity_at_least']} or more in "
        "that period"
        + (f" ({left_out} dated only to the year left out)" if left_out else "")
        + ".",
        8.5,
    )
    headings = ["rule", "severity", "firings"]
    for weeks in scores["horizons"]:
        headings += [f"hit rate {weeks}w", f"false alarms {weeks}w", f"lead {weeks}w"]
    rows = []
    for rule in scores["rules"]:
        row = [rule["rule"], rule["severity"], firings_text(rule)]
        for h in rule["horizons"]:
            row += [hit_rate_text(h), false_alarms_text(h), lead_text(h)]
        rows.append(row)
    n = len(scores["horizons"])
    rest = (180 - 44 - 14 - 11) / (3 * n)
    pdf.table(
        headings,
        rows,
        (44, 14, 11, *([rest * 1.05, rest * 1.15, rest * 0.8] * n)),
        size=6.5,
        aligns="LLR" + "RRR" * n,
    )
    notes = [AT_START_NOTE + "."] if any(r["firing_at_start"] for r in scores["rules"]) else []
    pdf.para(" ".join([*notes, EXPLAINED]), 7.5, "I", GREY)


def _weight(weight: float) -> str:
    """A weight as the profile file has it (six significant digits, as `:g` had)."""
    return format_number(weight, digits=6)


# -- appendix -----------------------------------------------------------------------

METHOD = (
    "Indicators come from the catalog, each with a direction of risk and its reasoning "
    "and citations. Observations are placed on a weekly grid: a value counts until it is "
    "older than its indicator's maximum age (then it is stale and left out); events decay "
    "with a half-life. Each value is normalised to a risk between 0 and 1 on fixed "
    "goalposts (or by level), weighted within its family, and the families are combined "
    "into a score from 0 to 100 with the profile's weights and aggregation. A family with "
    "too little coverage is not scored, and the weights of the rest are renormalised; no "
    "missing value is replaced by a neutral one. The uncertainty band redraws the weights "
    "2,000 times under the profile's own aggregation and normalisation; the score under "
    "the other methods is reported beside it, not pooled into it. The Sobol indices, with "
    "their 95% intervals, say which weights the score is most sensitive to. Forecasts "
    "are the probability of an "
    "escalation event within each horizon from a base rate, a penalised logistic "
    "regression and a Markov-switching model, pooled; each is tested in a point-in-time "
    "backtest, and skill is claimed only where the backtest shows it. Alerts are rules "
    "(the reports' red lines, thresholds, jumps, stale data) evaluated week by week."
)


def _appendix(pdf: _Document, data: ReportData) -> None:
    pdf.add_page()
    pdf.h2("Appendix: method")
    pdf.para(METHOD, 8.5)
    pdf.h2("Appendix: weight profile")
    profile = data.profile
    pdf.para(
        f"Profile {profile.name}, hash {profile.weights_hash}, aggregation "
        f"{profile.aggregation}, bands {_bands(data)}, minimum family coverage "
        f"{profile.min_family_coverage:.0%}.",
        8.5,
    )
    rows, groups = [], []
    for family in data.catalog.families.values():
        groups.append(len(rows))
        weight = _weight(profile.family_weights[family.id])
        rows.append([f"{family.name} (family weight {weight})", ""])
        for ind in family.indicators:
            rows.append([ind, _weight(profile.indicator_weights[ind])])
    pdf.table(["indicator", "weight"], rows, (140, 40), size=6.5, aligns="LR", group_rows=groups)
    pdf.h2("Appendix: inputs and versions")
    inputs = data.inputs()
    lines = [f"catalog version {inputs['catalog_version']}; data vintage {inputs['data_vintage']}"]
    lines += [f"{name} {version}" for name, version in inputs["versions"].items()]
    pdf.bullets(lines, 8)
    pdf.h2("Appendix: sources")
    pdf.bullets([s.reference() for s in data.catalog.sources.values()], 8)
    used = sorted({r.source for r in data.indicators if r.source})
    if used:
        pdf.para("Observation sources behind this week's values: " + ", ".join(used) + ".", 8)
