"""Results kept across processes: the report's forecast, sensitivity analysis and
charts are computed once for their inputs and read back by any later process
(services.kept)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from early_warning import Store, bundled_path
from early_warning.ingest import Limits, ingest
from early_warning.report import build_report
from early_warning.scoring import load_profile
from early_warning.services import forecast_at, forecasting, sensitivity
from early_warning.store import kept_results_path

from .conftest import write_csv
from .test_report import AS_OF, _rules

LATER = dt.date(2021, 3, 7)


def _forget_this_process() -> None:
    """As a new process starts: nothing kept in memory, only in the file."""
    forecasting._FORECASTS.clear()


def _kept(db: Path) -> list[tuple[str, str, str]]:
    if not kept_results_path(db).exists():
        return []
    with sqlite3.connect(kept_results_path(db)) as conn:
        return conn.execute(
            "SELECT kind, key, value FROM kept_results ORDER BY kind, key"
        ).fetchall()


def test_a_later_process_reads_the_kept_forecast_band_and_charts(demo_copy, tmp_path: Path) -> None:
    catalog, db = demo_copy.catalog, demo_copy.db_path
    profile = load_profile(bundled_path("models"), "default", catalog)
    _forget_this_process()
    assert _kept(db) == []
    with Store(db) as store:
        first = build_report(store, catalog, profile, "BLR", LATER, rules=_rules(catalog),
                             out=tmp_path / "first.pdf")  # fmt: skip
    kept = _kept(db)
    assert sorted(kind for kind, _, _ in kept) == ["chart"] * 3 + ["forecast", "sensitivity"]
    _forget_this_process()
    with Store(db) as store:
        again = build_report(store, catalog, profile, "BLR", LATER, rules=_rules(catalog),
                             out=tmp_path / "again.pdf")  # fmt: skip
        read_back = forecast_at(store, catalog, profile, "BLR", LATER)
    assert _kept(db) == kept  # read back, nothing computed or kept anew
    assert again.path.read_bytes() == first.path.read_bytes()
    assert read_back.to_dict() == first.data.forecast.to_dict()
    # What the reader sees comes from the file: a kept value is what the report shows.
    forecast_key = next(key for kind, key, _ in kept if kind == "forecast")
    value = json.loads(next(v for kind, _, v in kept if kind == "forecast"))
    value["horizons"][0]["probability"] = 0.123456
    _rewrite(db, forecast_key, json.dumps(value))
    _forget_this_process()
    with Store(db) as store:
        assert forecast_at(store, catalog, profile, "BLR", LATER).horizons[0]["probability"] == (
            0.123456
        )


def _rewrite(db: Path, key: str, value: str, *, digest: bool = True) -> None:
    """Change a kept row as a person with sqlite3 could (with its digest, or not)."""
    sha = hashlib.sha256(value.encode()).hexdigest() if digest else "0" * 64
    with sqlite3.connect(kept_results_path(db)) as conn:
        conn.execute("UPDATE kept_results SET value = ?, sha256 = ? WHERE key = ?",
                     [value, sha, key])  # fmt: skip


def test_a_damaged_row_or_file_is_computed_again_and_replaced(demo_copy, tmp_path: Path) -> None:
    catalog, db = demo_copy.catalog, demo_copy.db_path
    profile = load_profile(bundled_path("models"), "default", catalog)

    def made(name: str) -> bytes:
        _forget_this_process()
        with Store(db) as store:
            report = build_report(store, catalog, profile, "BLR", AS_OF, rules=_rules(catalog),
                                  out=tmp_path / name)  # fmt: skip
        return report.path.read_bytes()

    first, kept = made("first.pdf"), _kept(db)
    keys = {kind: key for kind, key, _ in kept}
    _rewrite(db, keys["chart"], '"Zm9v"')  # base64 of "foo": a PNG no more
    _rewrite(db, keys["forecast"], "{}")  # the right digest, not a forecast
    _rewrite(db, keys["sensitivity"], "[1, 2", digest=False)  # cut short
    assert made("rows.pdf") == first
    assert _kept(db) == kept  # each damaged row computed again and kept as it was
    kept_results_path(db).write_bytes(b"not a database" * 100)
    assert made("file.pdf") == first
    assert _kept(db) == kept  # the file made again


def test_new_data_or_other_settings_are_computed_not_read(demo_copy, tmp_path: Path) -> None:
    catalog, db = demo_copy.catalog, demo_copy.db_path
    profile = load_profile(bundled_path("models"), "default", catalog)
    _forget_this_process()
    with Store(db) as store:
        before = sensitivity(store, catalog, profile, "BLR", AS_OF)
        assert sensitivity(store, catalog, profile, "BLR", AS_OF).to_dict() == before.to_dict()
        other_seed = sensitivity(store, catalog, profile, "BLR", AS_OF, seed=7)
        assert other_seed.seed == 7 and other_seed.to_dict() != before.to_dict()
        forecast_before = forecast_at(store, catalog, profile, "BLR", AS_OF)
        count = len(_kept(db))
        # A revised value, known now: the series and its vintage change.
        path = write_csv(tmp_path / "new.csv", "ru_support_share_gdp,2020,30.0,BLR,IMF,WEO,,A,2,,")
        ingest(store, catalog, path, limits=Limits())
        after = sensitivity(store, catalog, profile, "BLR", AS_OF)
        forecast_after = forecast_at(store, catalog, profile, "BLR", AS_OF)
    assert len(_kept(db)) == count + 2
    assert after.band != before.band
    assert forecast_after.as_of == forecast_before.as_of


def test_a_file_that_cannot_be_kept_in_is_said_once_and_nothing_fails(
    demo_copy, caplog: pytest.LogCaptureFixture
) -> None:
    catalog, db = demo_copy.catalog, demo_copy.db_path
    profile = load_profile(bundled_path("models"), "default", catalog)
    kept_results_path(db).mkdir()  # a folder where the file would be
    with caplog.at_level(logging.WARNING, logger="early_warning"), Store(db) as store:
        first = sensitivity(store, catalog, profile, "BLR", AS_OF)
        again = sensitivity(store, catalog, profile, "BLR", AS_OF)
    assert again.to_dict() == first.to_dict()
    said = [r.getMessage() for r in caplog.records if "cannot be kept" in r.getMessage()]
    assert len(said) == 1 and str(kept_results_path(db)) in said[0]
