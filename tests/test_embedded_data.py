"""The embedded dataset and events: complete, clean, cited, and ending with the reports."""

import csv
from pathlib import Path

import pytest

from early_warning import Store, ingest
from early_warning.catalog import Catalog
from early_warning.config import bundled_path
from early_warning.demo import embedded_files, run_demo

CATALOG_DIR = bundled_path("indicators")
LAST_REPORT_DAY = "2021-02-28"


# Data sets shipped in their publisher's layout (read through indicators/mappings/).
PUBLISHED_LAYOUT = {"worldbank_gdp_current_usd.csv"}
DATA_SET_SOURCES = {"worldbank_wdi", "sipri_milex"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _wide_values(path: Path) -> int:
    """Non-empty year cells of a World Bank bulk CSV (4 lines of preamble)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[4:]
    years = [i for i, name in enumerate(rows[0]) if name.isdigit()]
    return sum(1 for row in rows[1:] for i in years if row[i].strip())


def test_demo_loads_every_embedded_row_without_a_reject(tmp_path: Path) -> None:
    result = run_demo(CATALOG_DIR, tmp_path)
    assert result.rejected == 0, [r.rejects for r in result.results if r.rejects]
    expected = sum(
        _wide_values(p) if p.name in PUBLISHED_LAYOUT else len(_rows(p))
        for p in embedded_files(CATALOG_DIR)
    )
    assert sum(r.rows_loaded for r in result.results) == expected
    # The World Bank file is read in its published layout, through the mapping.
    formats = {Path(r.uri).name: r.format for r in result.results}
    assert formats["worldbank_gdp_current_usd.csv"] == "worldbank"
    # Derived values: the gas subsidy as a share of GDP, the neighbours' mean.
    assert sum(r.derived for r in result.results) >= 2 + 20
    assert result.status["tables"]["events"] >= 20
    assert result.status["tables"]["observations"] >= 100


@pytest.mark.parametrize(
    "path",
    [p for p in sorted((CATALOG_DIR / "data").glob("*.csv")) if p.name not in PUBLISHED_LAYOUT],
    ids=lambda p: p.name,
)
def test_every_data_row_is_cited_graded_and_published_by_the_reports_end(
    real_catalog: Catalog, path: Path
) -> None:
    for row in _rows(path):
        where = f"{path.name}: {row['indicator']} {row['date']}"
        assert row["source"] in real_catalog.sources, where
        assert row["citation"].strip(), where
        assert row["reliability"] and row["credibility"], where
        assert row["published"] <= LAST_REPORT_DAY, where
        if row["source"] in DATA_SET_SOURCES:
            # A data set's figure is known some months after its year (the mapping's
            # declared lag), never before the year is over.
            assert row["published"] > f"{row['date'][:4]}-12-31", where
        else:
            assert row["published"] == real_catalog.sources[row["source"]].published, where
        assert row["date"][:4] <= "2021", where
        assert "seeds" not in row["citation"] and ".txt" not in row["citation"], where


def test_every_event_is_cited_and_within_the_reports(real_catalog: Catalog) -> None:
    rows = _rows(CATALOG_DIR / "events.csv")
    assert len(rows) >= 20
    for row in rows:
        assert row["severity"] in {"1", "2", "3"}
        assert row["citation"].strip() and row["source"] in real_catalog.sources
        assert row["date"] <= LAST_REPORT_DAY


def test_required_series_have_their_report_figures(tmp_path: Path, real_catalog: Catalog) -> None:
    with Store(tmp_path / "d.db") as store:
        store.sync_catalog(real_catalog)
        for path in embedded_files(CATALOG_DIR):
            ingest(store, real_catalog, path)
        values = {
            (r["indicator"], r["period"]): r["value"] for r in store.observations(subject="BLR")
        }
    # Figures as the reports print them (Sivitsky, FPRI, December 2019).
    assert values[("ru_support_share_gdp", "2015")] == 10
    assert values[("energy_subsidy_share_gdp", "2010")] == 4.4
    assert values[("energy_subsidy_share_gdp", "2016")] == 2.1
    assert values[("energy_subsidy_share_gdp", "2017")] == 4.5
    assert values[("gas_price_usd_tcm", "2019-12")] == 127
    assert values[("ru_base_status", "2015-09")] == 2  # announced unilaterally
    # Data sets (World Bank WDI via datasets/gdp; SIPRI milex 1949-2023 workbook).
    assert values[("gdp_usd_bn", "2015")] == pytest.approx(56.4549, abs=1e-4)
    assert values[("military_expenditure_share_gdp", "2019")] == pytest.approx(1.396, abs=1e-3)
    # Derived: Sivitsky's US$ 2.2 bn over the World Bank's GDP; SIPRI's neighbours' mean.
    assert values[("gas_subsidy_share_gdp", "2015")] == pytest.approx(3.897, abs=1e-3)
    assert values[("neighbour_military_expenditure", "2015")] == pytest.approx(2.607, abs=1e-3)


def test_data_files_are_clean_utf8_without_formula_text() -> None:
    for path in embedded_files(CATALOG_DIR):
        text = path.read_bytes().decode("utf-8")
        assert not text.startswith("\ufeff")
        for row in csv.reader(text.splitlines()):
            for cell in row:
                assert not cell.startswith(("=", "+", "@")), f"{path.name}: {cell[:30]}"
