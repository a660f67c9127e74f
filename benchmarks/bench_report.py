"""The weekly report's own stages, each against a floor measured in the same run.

On the demo database (built first), for BLR week 2021-W08: `gather` once, then each
stage of drawing it, ours and its floor in turn (`benchlines.timed`: the same number of
runs a side, interleaved, medians):

  import  a fresh Python importing `early_warning.report.pdf` and `.charts` (the
          layout, the charts, and everything `gather` needs: what a report that draws
          its charts imports; one whose charts are kept skips matplotlib), against
          one importing only the libraries drawing needs: fpdf2 and matplotlib's
          Figure with its Agg canvas. The floor leaves out our own modules (store,
          scoring, forecast, alerts, services).
  charts  the three charts (trend, families, reliability) to PNG, against the same
          figures (size, resolution, grid of axes) with the same data lines only: it
          leaves out the band shading and names, the uncertainty band, events, alerts,
          titles, legends, date ticks and the notes in words.
  layout  the PDF laid out from the gathered numbers and the charts' PNGs, against
          fpdf2 writing the same words (the report's own text, read back with pypdf,
          one `cell` per line, page by page) in the same fonts, with the same three
          images: it leaves out wrapping, tables, fills, rules and page-break logic.

Then the time split of one whole `build_report` (data, charts, layout, write), as
before, on a database whose charts, forecast and band nobody kept yet. Goals
(issue 19): each stage at most 2x its floor (the `report` command as a whole is
`bench_cli.py`'s).

Usage: python benchmarks/bench_report.py [--repeat N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlines import MIN_REPEAT, Timed, goal_line, one_blas_thread, timed
from fpdf import FPDF
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pypdf import PdfReader

from early_warning import bundled_path
from early_warning.alerts import load_rules
from early_warning.demo import run_demo
from early_warning.report import build_report, gather
from early_warning.report import charts as report_charts
from early_warning.report.pdf import _FONTS, FONT, lay_out
from early_warning.scoring import load_profile
from early_warning.store import Store

AS_OF = dt.date(2021, 2, 28)
GOAL = 2.0
IMPORT_OURS = "import early_warning.report.pdf, early_warning.report.charts"  # a report drawn
IMPORT_FLOOR = "import fpdf, matplotlib.figure, matplotlib.backends.backend_agg"


def fresh_import(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=report_charts.DPI)
    return buffer.getvalue()


def bare_charts(data) -> list[bytes]:
    """The floor of `charts`: the same figures and axes, the data lines alone."""
    results, rows = data.results, data.trend_rows
    out = []
    figure = Figure(figsize=(7.2, 3.0), dpi=report_charts.DPI)
    FigureCanvasAgg(figure)
    figure.add_subplot().plot(results.score[rows])
    out.append(_png(figure))
    names = list(results.index.structure.families)
    lines = -(-len(names) // 2)
    figure = Figure(figsize=(7.2, 1.55 * lines), dpi=report_charts.DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(lines, 2, sharex=True, squeeze=False)
    for k in range(len(names)):
        axes[k // 2][k % 2].plot(results.agg.family_score[rows, k])
    out.append(_png(figure))
    figure = Figure(figsize=(3.4, 3.0), dpi=report_charts.DPI)
    FigureCanvasAgg(figure)
    figure.add_subplot().plot([0, 0.5, 1], [0, 0.4, 1], marker="o")
    out.append(_png(figure))
    return out


def bare_layout(pages: list[list[str]], images: list[bytes]) -> bytes:
    """The floor of `layout`: the same words, fonts and images, one cell per line."""
    pdf = FPDF(unit="mm", format="A4")
    for style, name in (("", "DejaVuSans"), ("B", "DejaVuSans-Bold"), ("I", "DejaVuSans-Oblique")):
        pdf.add_font(FONT, style, _FONTS / f"{name}.ttf")
    for k, page in enumerate(pages):
        pdf.add_page()
        for n, line in enumerate(page):
            pdf.set_font(FONT, "BI"[n % 2] if n % 7 == 0 else "", 7.5)  # every face used
            pdf.cell(0, 3.5, line, new_x="LMARGIN", new_y="NEXT")
        if k < len(images):
            pdf.image(io.BytesIO(images[k]), w=90)
    return bytes(pdf.output())


def stage_line(name: str, result: Timed, floor: str) -> None:
    print(f"  {name:<7} ours {result.ours:6.3f} s, floor {result.floor:6.3f} s (medians)")
    goal_line(f"report {name}", result.ratio, floor, f"<= {GOAL:g}x", result.ratio <= GOAL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=MIN_REPEAT)
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory(prefix="ew-bench-report-") as tmp, one_blas_thread():
        work = Path(tmp)
        demo = run_demo(bundled_path("indicators"), work, "BLR", bundled_path("models"))
        profile = load_profile(bundled_path("models"), "default", demo.catalog)
        rules = load_rules(bundled_path("models") / "alerts.yaml", demo.catalog)
        with Store(work / "demo.db") as store:
            data = gather(store, demo.catalog, profile, "BLR", AS_OF, rules, ())
            names = ("trend", "families", "reliability")
            drawers = [getattr(report_charts, name) for name in names]
            images = {name: chart(data) for name, chart in zip(names, drawers, strict=True)}
            content, _ = lay_out(data, images)
            pages = [p.extract_text().splitlines() for p in PdfReader(io.BytesIO(content)).pages]
            print(f"weekly report, BLR week {data.week}: {len(pages)} pages")
            imports = timed(
                repeat, lambda: fresh_import(IMPORT_OURS), lambda: fresh_import(IMPORT_FLOOR)
            )
            stage_line("import", imports, "fresh import of fpdf2 + matplotlib Figure/Agg")
            drawn = timed(
                repeat, lambda: [chart(data) for chart in drawers], lambda: bare_charts(data)
            )
            stage_line("charts", drawn, "the same figures, data lines only")
            pngs = [png for png in images.values() if png]
            laid = timed(repeat, lambda: lay_out(data, images), lambda: bare_layout(pages, pngs))
            stage_line("layout", laid, "the same words, fonts and images, one cell a line")
            start = time.perf_counter()
            report = build_report(store, demo.catalog, profile, "BLR", AS_OF, rules=rules,
                                  out_dir=work)  # fmt: skip
            total = time.perf_counter() - start
    print(f"one build_report: {report.pages} pages, {total:.2f} s")
    parts = report.timings
    for name in ("data", "charts", "layout"):
        print(f"  {name:<7}{parts[name]:7.2f} s  ({parts[name] / total:5.1%})")
    print(f"  {'write':<7}{total - sum(parts.values()):7.2f} s  (file, hash, record)")


if __name__ == "__main__":
    main()
