import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from early_warning import FixedClock, Store, StoreError, ingest, open_store
from early_warning.catalog import Catalog

from .conftest import write_csv


def test_new_file_is_migrated_with_foreign_keys_and_wal(tmp_path: Path, catalog: Catalog) -> None:
    with Store(tmp_path / "a.db") as store:
        assert store.applied_migrations()[:3] == ["001_initial", "002_views", "003_scoring"]
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.sync_catalog(catalog)
    with Store(tmp_path / "a.db") as again:  # reopening applies nothing twice
        assert again.migrate() == []
        assert again.count("indicators") == len(catalog)


def test_tables_and_views_exist(store: Store) -> None:
    names = set(store.db.table_names()) | set(store.db.view_names())
    assert {"indicators", "sources", "observations", "events", "ingest_runs", "rejects"} <= names
    assert {"latest_values", "observations_current"} <= names


def test_foreign_keys_refuse_an_observation_of_an_unknown_indicator(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(
            "INSERT INTO observations (indicator, subject, period, period_start, period_end, "
            "value, value_text, known_from, recorded_at, content_hash) "
            "VALUES ('nope', 'BLR', '2019', '2019-01-01', '2019-12-31', 1, '1', "
            "'2020-01-01', 'x', 'h')"
        )


def test_open_store_without_create_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database here"):
        open_store(tmp_path / "missing.db", create=False)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match=r"bogus\.db"):
        Store(bogus)


def test_a_revision_is_a_new_row_and_as_of_queries_see_what_was_known(
    tmp_path: Path, catalog: Catalog
) -> None:
    clock = FixedClock("2020-01-10T09:00:00")
    with Store(tmp_path / "rev.db", clock=clock) as store:
        store.sync_catalog(catalog)
        first = write_csv(tmp_path / "v1.csv", "support_share,2018,10,,imf,,2019-04-15,,,,")
        ingest(store, catalog, first)
        clock.advance(days=30)
        second = write_csv(tmp_path / "v2.csv", "support_share,2018,12,,imf,,2019-10-15,,,,")
        ingest(store, catalog, second)

        assert store.count("observations") == 2  # nothing overwritten
        now = store.observations(indicator="support_share")
        assert [r["value"] for r in now] == [12.0]
        mid = store.observations(indicator="support_share", as_of=dt.date(2019, 6, 1))
        assert [r["value"] for r in mid] == [10.0]
        before = store.observations(indicator="support_share", as_of=dt.date(2019, 1, 1))
        assert before == []
        both = store.observations(indicator="support_share", all_revisions=True)
        assert sorted(r["value"] for r in both) == [10.0, 12.0]
        # The same question asked twice gives the same answer (point in time is stable).
        again = store.observations(indicator="support_share", as_of=dt.date(2019, 6, 1))
        assert again == mid


def test_latest_values_view_picks_latest_period(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "obs.csv",
        "support_share,2016,5,,imf,,2017-01-01,,,,",
        "support_share,2017,4,,imf,,2018-01-01,,,,",
        "troops,2020-08,1500,,,,,,,,",
    )
    ingest(store, catalog, path)
    rows = {r["indicator"]: r for r in store.db.query("SELECT * FROM latest_values")}
    assert rows["support_share"]["period"] == "2017"
    assert rows["support_share"]["value"] == 4.0
    assert rows["troops"]["unit"] == "persons"
    as_of = store.latest_values(as_of=dt.date(2017, 6, 1))
    assert as_of["support_share"]["period"] == "2016"
    assert "troops" not in as_of  # recorded in 2024 with no publication date


def test_removed_indicator_is_kept_but_marked(
    store: Store, catalog: Catalog, catalog_dir: Path
) -> None:
    from early_warning import load_catalog

    path = catalog_dir / "economic_dependence.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("  - id: ultimatum")])
    smaller = load_catalog(catalog_dir)
    store.sync_catalog(smaller)
    row = store.db["indicators"].get("ultimatum")
    assert row["in_catalog"] == 0
    assert store.catalog_version() == smaller.version


def test_status_reports_counts_and_last_run(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    ingest(store, catalog, write_csv(tmp_path / "o.csv", "troops,2020,10,,,,,,,,"))
    status = store.status()
    assert status["tables"]["observations"] == 1
    assert status["last_run"]["status"] == "ok"
    assert status["subjects"] == ["BLR"]
    assert status["bytes"] > 0


def test_the_old_audit_words_become_the_one_vocabulary(tmp_path: Path, catalog: Catalog) -> None:
    # `weights set` wrote "set", the workbench "saved"/"updated" (migration 013).
    from early_warning.store._schema import MIGRATIONS, _m013_one_audit_vocabulary

    assert dict(MIGRATIONS)["013_one_audit_vocabulary"] is _m013_one_audit_vocabulary
    with Store(tmp_path / "old.db") as store:
        for name, action in [("a", "set"), ("a", "used"), ("a", "set"), ("b", "saved"),
                             ("b", "updated"), ("c", "set")]:  # fmt: skip
            store.record_profile(name, f"h-{action}", "text", action, "x", "why")
        _m013_one_audit_vocabulary(store.db)
        actions = [(h["name"], h["action"]) for h in store.profile_history()]
    assert actions == [("a", "created"), ("a", "used"), ("a", "changed"), ("b", "created"),
                       ("b", "changed"), ("c", "created")]  # fmt: skip


def test_a_lapsed_red_line_keeps_why_it_ended_and_warnings_are_kept_once(
    tmp_path: Path, catalog: Catalog
) -> None:
    # Migration 014: the `warnings` table and `alerts.resolution`.
    with Store(tmp_path / "w.db") as store:
        row = {"subject": "BLR", "week": "2024-W02", "as_of": "2024-01-14",
               "profile_hash": "h", "level": "red", "record": '{"reasons": ["x"]}'}  # fmt: skip
        store.record_warning(row)
        store.record_warning(row)  # the same computation again: kept once
        store.record_warning(row | {"as_of": "2024-01-21", "week": "2024-W03", "level": "none"})
        assert store.count("warnings") == 2
        latest = store.latest_warnings()
        assert [(w["subject"], w["week"], w["level"]) for w in latest] == [
            ("BLR", "2024-W03", "none")
        ]
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(alerts)")}
        assert "resolution" in columns
