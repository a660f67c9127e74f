"""The report's fast layout puts every word where fpdf2's own `table` and `multi_cell`
put it: the same lines, on the same pages, at the same places (read back with pypdf).

`report/pdf.py` draws tables a line at a time with `cell` and wraps text in one pass
(fpdf2's line breaker re-measures the line at every character); these tests run the
same content through fpdf2's own code and compare. An fpdf2 upgrade that changes its
rules fails here, not silently in the report.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fpdf import FPDF, FontFace, XPos, YPos
from fpdf.enums import TableCellFillMode
from pypdf import PdfReader

from early_warning import bundled_path, load_catalog
from early_warning.report.pdf import _FONTS, FONT, HEADINGS, METHOD, PAD, _Document, wrap

GROUP = FontFace(emphasis="BOLD", fill_color=(240, 240, 240))


@pytest.fixture
def document() -> Iterator[Callable[[], _Document]]:
    """A maker of bare documents; their font files closed after the test (fpdf2 closes
    only the fonts a written PDF used)."""
    made: list[_Document] = []

    def make() -> _Document:
        made.append(_document())
        return made[-1]

    yield make
    for pdf in made:
        for font in pdf.fonts.values():
            font.close()


def _document() -> _Document:
    class _Bare(_Document):  # the report's fonts and margins, no header or footer
        def __init__(self) -> None:
            FPDF.__init__(self, orientation="P", unit="mm", format="A4")
            self.data = None
            for style, name in (("", ""), ("B", "-Bold"), ("I", "-Oblique")):
                self.add_font(FONT, style, _FONTS / f"DejaVuSans{name}.ttf")
            self.set_margins(15, 14, 15)
            self.set_auto_page_break(True, margin=16)

        def header(self) -> None:
            pass

        def footer(self) -> None:
            pass

    pdf = _Bare()
    pdf.add_page()
    pdf.set_font(FONT, "", 9)
    return pdf


def _fpdf2_table(pdf: FPDF, headings, rows, widths, size, aligns, groups) -> None:
    """The table as the report drew it before, with fpdf2's `table()`."""
    pdf.set_font(FONT, "", size)
    align = tuple({"L": "LEFT", "R": "RIGHT"}[a] for a in aligns)
    with FPDF.table(  # fpdf2's own, not the report's
        pdf,
        col_widths=tuple(widths), text_align=align, headings_style=HEADINGS,
        line_height=size * 0.5, repeat_headings=1, first_row_as_headings=True,
        borders_layout="HORIZONTAL_LINES", cell_fill_mode=TableCellFillMode.NONE,
        padding=PAD,
    ) as table:  # fmt: skip
        table.row(list(headings))
        for k, row in enumerate(rows):
            if k in groups:
                table.row(style=GROUP).cell(row[0], colspan=len(widths), align="LEFT")
            else:
                table.row(list(row))
    pdf.set_font(FONT, "", 9)
    pdf.ln(1)


def _placed(content: bytes) -> list[list[tuple[str, float, float]]]:
    """Every text run of every page with where it starts (to 0.01 pt)."""
    pages = []
    for page in PdfReader(io.BytesIO(content)).pages:
        runs: list[tuple[str, float, float]] = []

        def visit(text: str, cm: Any, tm: Any, *_: Any, into=runs) -> None:
            if text.strip():
                into.append((text, round(tm[4] + cm[4], 2), round(tm[5] + cm[5], 2)))

        page.extract_text(visitor_text=visit)
        pages.append(runs)
    return pages


@pytest.fixture(scope="module")
def words() -> list[str]:
    """Real cell texts: the catalog's names (some wrap in the indicator column)."""
    catalog = load_catalog(bundled_path("indicators"))
    names = [ind.name for ind in catalog.indicators.values()]
    return names + [s.reference() for s in catalog.sources.values()][:5]


def test_a_long_table_is_placed_as_fpdf2_places_it(words: list[str], document) -> None:
    headings = ["indicator", "value", "period", "age", "risk", "source"]
    widths, aligns = (42, 30, 17, 13, 10, 27), "LLLRRL"
    rows, groups = [], set()
    for k, name in enumerate(words):
        if k % 25 == 0:
            groups.add(len(rows))
            rows.append([f"Family {k // 25} (family weight 0.25)", *[""] * 5])
        rows.append([name, f"{k * 1.37:.2f} of GDP, long", "2019-11", str(k), "0.50", ""])
    ours, theirs = document(), document()
    ours.para(METHOD, 8.5)  # the table starts part-way down, after wrapped text
    theirs.set_font(FONT, "", 8.5)
    theirs.multi_cell(0, 4.25, METHOD, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")
    ours.table(headings, rows, widths, size=6.5, aligns=aligns, group_rows=sorted(groups))
    theirs.set_font(FONT, "", 9)
    _fpdf2_table(theirs, headings, rows, widths, 6.5, aligns, groups)
    assert ours.pages_count == theirs.pages_count > 2  # page breaks, headings repeated
    ours_placed, theirs_placed = _placed(bytes(ours.output())), _placed(bytes(theirs.output()))
    for page, (mine, fpdf2s) in enumerate(zip(ours_placed, theirs_placed, strict=True)):
        assert mine == fpdf2s, f"page {page + 1}"
    assert sum(text == "indicator" for page in ours_placed for text, *_ in page) >= 3


@pytest.mark.parametrize("width", [20.0, 42.3, 97.0, 180.0])
def test_wrap_breaks_lines_where_multi_cell_does(words: list[str], width: float, document) -> None:
    pdf = document()
    texts = [*words, METHOD, "a" * 200, "one  two   spaces " * 9, "x " * 80]
    for size in (6.5, 9.0):
        pdf.set_font(FONT, "", size)
        for text in texts:
            theirs = pdf.multi_cell(width, 3, text, dry_run=True, output="LINES", padding=0)
            assert wrap(pdf, text, width - 2 * pdf.c_margin) == theirs, text
    assert wrap(pdf, "a\nb", 50) is None and wrap(pdf, "", 50) is None  # left to fpdf2
