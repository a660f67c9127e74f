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


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_demo_loads_every_embedded_row_without_a_reject(tmp_path: Path) -> None:
    result = run_demo(CATALOG_DIR, tmp_path)
    assert result.rejected == 0, [r.rejects for r in result.results if r.rejects]
    expected = sum(len(_rows(p)) for p in embedded_files(CATALOG_DIR))
    assert sum(r.rows_loaded for r in result.results) == expected
    assert result.status["tables"]["events"] >= 20
    assert result.status["tables"]["observations"] >= 100


@pytest.mark.parametrize("path", sorted((CATALOG_DIR / "data").glob("*.csv")), ids=lambda p: p.name)
def test_every_data_row_is_cited_graded_and_published_by_the_reports_end(
    real_catalog: Catalog, path: Path
) -> None:
    for row in _rows(path):
        where = f"{path.name}: {row['indicator']} {row['date']}"
        assert row["source"] in real_catalog.sources, where
        assert row["citation"].strip(), where
        assert row["reliability"] and row["credibility"], where
        assert row["published"] <= LAST_REPORT_DAY, where
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


def test_data_files_are_clean_utf8_without_formula_text() -> None:
    for path in embedded_files(CATALOG_DIR):
        text = path.read_bytes().decode("utf-8")
        assert not text.startswith("\ufeff")
        for row in csv.reader(text.splitlines()):
            for cell in row:
                assert not cell.startswith(("=", "+", "@")), f"{path.name}: {cell[:30]}"
