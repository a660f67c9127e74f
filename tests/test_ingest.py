import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from early_warning import IngestError, Limits, Store, ingest, observe
from early_warning.catalog import Catalog
from early_warning.clock import FixedClock
from early_warning.panel import MISSING
from early_warning.services import load_panel

from .conftest import HEADER, table_counts, write_csv

D = dt.date

GOOD_AND_BAD = (
    "support_share,2015,10,BLR,testpub2019,Economy section,2019-12-31,B,2,% of GDP,",
    "support_share,2016,5.5,,testpub2019,,,,,,",
    "ultimatum,2018-12,explicit ultimatum,,,,,,,,",
    "withdrawn,2017-09-30,no,,,,,,,,",
    "unknown_thing,2019,1,,,,,,,,",
    "support_share,2017,lots,,,,,,,,",
    "support_share,2018,150,,,,,,,,",
    "support_share,2019-13,1,,,,,,,,",
    "ultimatum,2019,4,,,,,,,,",
    "support_share,2019,1,,,,,,G,,",
    "support_share,2019,1,,,,,,,percent,",
    "support_share,2016,5.5,,testpub2019,,,,,,",
    "troops,2020-08,1000,Belarus,,,,,,,",
    "troops,2020-09,1000,,,,2030-01-01,,,,",
)


def test_good_rows_land_bad_rows_are_kept_with_line_and_reason(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "mixed.csv", *GOOD_AND_BAD)
    result = ingest(store, catalog, path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (14, 4, 10)
    assert result.exit_code == 1
    reasons = {r["line"]: (r["field"], r["reason"]) for r in store.rejects(run_id=result.run_id)}
    assert reasons[6] == ("indicator", "unknown indicator 'unknown_thing'")
    assert reasons[7][0] == "value" and "not a number" in reasons[7][1]
    assert reasons[8][0] == "value" and "outside the valid range" in reasons[8][1]
    assert reasons[9][0] == "date"
    assert reasons[10][0] == "value" and "not a level" in reasons[10][1]
    assert reasons[11][0] == "credibility"
    assert reasons[12][0] == "unit"
    assert reasons[13] == ("row", "duplicate of line 3 (same indicator, subject, date and source)")
    assert reasons[14][0] == "subject"
    assert reasons[15] == ("published", "'2030-01-01' is in the future")
    raw = {r["line"]: r["raw"] for r in store.rejects(run_id=result.run_id)}
    assert raw[7] == "support_share,2017,lots,,,,,,,,"


def test_ingesting_the_same_file_again_adds_nothing(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "mixed.csv", *GOOD_AND_BAD)
    ingest(store, catalog, path)
    before = table_counts(store)
    again = ingest(store, catalog, path)
    # Nothing is added, and the earlier rejects are still unresolved: exit status 1.
    assert again.status == "duplicate" and again.exit_code == 1
    assert "10 rows were rejected then" in again.message
    assert table_counts(store) == before
    clean = write_csv(tmp_path / "clean.csv", GOOD_AND_BAD[0])
    ingest(store, catalog, clean)
    assert ingest(store, catalog, clean).exit_code == 0


def test_the_same_file_for_another_subject_is_read_again(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "plain.csv", "support_share,2015,10,,,,,,,,")
    ingest(store, catalog, path)
    again = ingest(store, catalog, path, default_subject="UKR")
    assert again.status == "ok" and again.rows_loaded == 1
    assert sorted(store.subjects()) == ["BLR", "UKR"]


def test_overlapping_content_in_another_file_is_not_duplicated(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    ingest(store, catalog, write_csv(tmp_path / "a.csv", "support_share,2015,10,,,,,,,,"))
    result = ingest(
        store,
        catalog,
        write_csv(tmp_path / "b.csv", "support_share,2015,10,,,,,,,,", "troops,2020,5,,,,,,,,"),
    )
    assert (result.rows_loaded, result.rows_unchanged) == (1, 1)
    assert store.count("observations") == 2


def test_ordinal_labels_and_booleans_are_stored_as_numbers_with_the_text_kept(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    ingest(store, catalog, write_csv(tmp_path / "o.csv", *GOOD_AND_BAD[:4]))
    rows = {r["indicator"]: r for r in store.observations()}
    assert rows["ultimatum"]["value"] == 2.0
    assert rows["ultimatum"]["value_text"] == "explicit ultimatum"
    assert rows["withdrawn"]["value"] == 0.0
    first = store.observations(indicator="support_share")[0]
    assert (first["source"], first["reliability"], first["credibility"]) == (
        "testpub2019",
        "B",
        "2",
    )
    assert first["known_from"] == "2019-12-31"


def test_columns_may_come_in_any_order_and_optional_ones_may_be_missing(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "short.csv", "2019,7,support_share", header="date,value,indicator")
    result = ingest(store, catalog, path)
    assert result.rows_loaded == 1
    assert store.observations()[0]["subject"] == "BLR"


def test_a_bom_is_accepted(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\nsupport_share,2019,7,,,,,,,,\n".encode())
    assert ingest(store, catalog, path).rows_loaded == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("indicator,date", "missing required column(s) value"),
        ("indicator,date,value,colour", "unknown column 'colour'"),
        ("indicator,date,value,value", "column 'value' appears twice"),
        ("", "expected a header row"),
    ],
)
def test_a_file_with_wrong_columns_is_refused_whole(
    store: Store, catalog: Catalog, tmp_path: Path, header: str, message: str
) -> None:
    path = write_csv(tmp_path / "cols.csv", "support_share,2019,7,blue", header=header)
    with pytest.raises(IngestError) as info:
        ingest(store, catalog, path)
    assert message in str(info.value) and "cols.csv" in str(info.value)
    assert table_counts(store) == {"observations": 0, "rejects": 0, "events": 0}
    assert store.runs()[0]["status"] == "refused"


def test_missing_and_oversized_files_are_refused(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    with pytest.raises(IngestError, match="file not found"):
        ingest(store, catalog, tmp_path / "nope.csv")
    path = write_csv(tmp_path / "big.csv", *["support_share,2019,7,,,,,,,,"] * 50)
    with pytest.raises(IngestError, match=r"over the limit of 1,000 \(ingest.max_file_bytes\)"):
        ingest(store, catalog, path, limits=Limits(max_file_bytes=1000))
    assert store.count("observations") == 0


def test_an_undecodable_file_half_way_writes_nothing(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    good = "".join(
        f"support_share,{1950 + n % 70}-{1 + n % 12:02d},{n % 90},,s{n},,,,,,\n"
        for n in range(3000)
    )
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (HEADER + "\n" + good).encode() + "troops,2020,5,,Gr\u00fcn,,,,,,\n".encode("latin-1")
    )
    with pytest.raises(IngestError, match=r"latin1\.csv: line 3002: not UTF-8 text"):
        ingest(store, catalog, path)
    assert table_counts(store) == {"observations": 0, "rejects": 0, "events": 0}
    assert [r["status"] for r in store.runs()] == ["refused"]


def test_formula_like_text_is_kept_verbatim_and_flagged(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "f.csv",
        'support_share,2019,7,,@SUM(A1),"=HYPERLINK(""http://x"")",,,,,+cmd',
        "support_share,2018,-0,,,,,,,,-3.5",
    )
    result = ingest(store, catalog, path)
    assert result.flagged == 1
    rows = {r["period"]: r for r in store.observations()}
    assert rows["2019"]["citation"] == '=HYPERLINK("http://x")'
    assert rows["2019"]["flags"] == "formula-like:source,citation,note"
    assert rows["2018"]["flags"] is None  # numbers that start with '-' are not formulas


def test_over_long_fields_and_control_characters_are_rejected(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "long.csv",
        "support_share,2019,7,,," + "x" * 5000 + ",,,,,",
        "support_share,2018,7,,,,,,,,bad\x00byte",
    )
    result = ingest(store, catalog, path)
    reasons = [(r.field, r.reason) for r in result.rejects]
    assert reasons == [
        ("citation", "5,000 characters, over the limit of 4,000"),
        ("note", "contains a control character (NUL or similar)"),
    ]


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_xlsx_with_the_same_columns(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    import datetime as dt

    path = _xlsx(
        tmp_path / "obs.xlsx",
        [
            HEADER.split(","),
            [
                "support_share",
                2015,
                10.5,
                "BLR",
                "testpub2019",
                "Economy",
                dt.date(2019, 12, 31),
                "B",
                2,
            ],
            ["ultimatum", "2018-12", 2],
            ["withdrawn", dt.datetime(2017, 9, 30), True],
            ["support_share", 2016, "lots"],
        ],
    )
    result = ingest(store, catalog, path)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("xlsx", 3, 1)
    assert result.rejects[0].line == 5
    rows = {r["indicator"]: r for r in store.observations()}
    assert rows["support_share"]["period"] == "2015"
    assert rows["support_share"]["known_from"] == "2019-12-31"
    assert rows["withdrawn"]["period"] == "2017-09-30" and rows["withdrawn"]["value"] == 1.0


def test_json_array_and_ndjson(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    records = [
        {"indicator": "support_share", "date": "2015", "value": 10, "source": "imf"},
        {"indicator": "withdrawn", "date": "2017-09", "value": False},
        {"indicator": "support_share", "date": "2016"},
        {"indicator": "support_share", "date": "2017", "value": [1, 2]},
    ]
    (tmp_path / "o.json").write_text(json.dumps(records))
    result = ingest(store, catalog, tmp_path / "o.json")
    assert (result.rows_loaded, result.rows_rejected) == (2, 2)
    # For a JSON array the "line" is the record's position in the array.
    assert [(r.line, r.field) for r in result.rejects] == [(3, "value"), (4, "value")]

    records[2] = {**records[2], "value": 5, "colour": "red"}
    (tmp_path / "extra.json").write_text(json.dumps(records))
    with pytest.raises(IngestError, match="unknown field 'colour'"):
        ingest(store, catalog, tmp_path / "extra.json")

    lines = [
        json.dumps({"indicator": "troops", "date": f"2020-0{m}", "value": m * 100}) for m in (1, 2)
    ]
    (tmp_path / "o.ndjson").write_text("\n".join([*lines, "{not json", ""]))
    result = ingest(store, catalog, tmp_path / "o.ndjson")
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    assert result.rejects[0].line == 3 and "invalid JSON" in result.rejects[0].reason


def test_json_that_is_not_an_array_of_objects_is_refused(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    (tmp_path / "o.json").write_text('{"indicator": "x"}')
    with pytest.raises(IngestError, match="expected a JSON array of objects"):
        ingest(store, catalog, tmp_path / "o.json")
    (tmp_path / "t.json").write_text('[{"indicator": ')
    with pytest.raises(IngestError, match="invalid JSON at line 1"):
        ingest(store, catalog, tmp_path / "t.json")


def test_event_files_are_recognised_by_their_columns(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        "2015-09-19,BLR,base_announcement,2,Airbase announced,Report section",
        "2018-12-13,BLR,ultimatum,3,Integration ultimatum,Report",
        "2018-12,BLR,ultimatum,3,Month only,Report",
        "2018-W50,BLR,ultimatum,3,A week,Report",
        "2019-01-01,BLR,ultimatum,5,Too severe,Report",
        "2019-01-02,BLR,Bad Kind,1,Kind,Report",
        header="date,subject,kind,severity,title,citation",
    )
    result = ingest(store, catalog, path)
    assert (result.kind, result.rows_loaded, result.rows_rejected) == ("events", 3, 3)
    assert [r.field for r in result.rejects] == ["date", "severity", "kind"]
    events = store.events("BLR")
    assert [e["kind"] for e in events] == ["base_announcement", "ultimatum", "ultimatum"]
    month = next(e for e in events if e["title"] == "Month only")
    assert (month["date"], month["date_end"], month["date_precision"]) == (
        "2018-12-01",
        "2018-12-31",
        "month",
    )


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "served"
    folder.mkdir()

    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(folder), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_ingest_from_a_url(store: Store, catalog: Catalog, http_folder: tuple[str, Path]) -> None:
    base, folder = http_folder
    write_csv(folder / "obs.csv", *GOOD_AND_BAD)
    (folder / "obs.json").write_text(
        json.dumps([{"indicator": "troops", "date": "2021", "value": 3}])
    )
    result = ingest(store, catalog, f"{base}/obs.csv")
    assert (result.rows_loaded, result.rows_rejected) == (4, 10)
    assert store.rejects(run_id=result.run_id)[0]["uri"] == f"{base}/obs.csv"
    assert ingest(store, catalog, f"{base}/obs.json").rows_loaded == 1
    assert ingest(store, catalog, f"{base}/obs.csv").status == "duplicate"
    with pytest.raises(IngestError, match="HTTP 404"):
        ingest(store, catalog, f"{base}/missing.csv")
    with pytest.raises(IngestError, match="over the limit"):
        ingest(store, catalog, f"{base}/obs.csv", limits=Limits(max_file_bytes=100))


def test_observe_validates_like_the_importer(store: Store, catalog: Catalog) -> None:
    ok = observe(store, catalog, "troops", "1200", date="2020-08", source="MoD", reliability="b")
    assert ok.rows_loaded == 1 and ok.exit_code == 0
    assert store.observations()[0]["reliability"] == "B"
    again = observe(store, catalog, "troops", "1200", date="2020-08", source="MoD", reliability="b")
    assert again.rows_loaded == 0 and again.rows_unchanged == 1
    bad = observe(store, catalog, "troops", "-5", date="2020-08")
    assert bad.exit_code == 1 and bad.rejects[0].field == "value"
    assert store.rejects()[0]["uri"] == "manual:observe"


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ("support_share,2099-01,5,,,,,,,,", "date", "has not begun yet"),
        ("support_share,2019,1_5,,,,,,,,", "value", "not a number"),
        ("support_share,2019,１２,,,,,,,,", "value", "not a number"),
        ("support_share,2019,inf,,,,,,,,", "value", "not a finite number"),
        ("troops,2021-06,5,,,,,,,,,2021-07-31", "end", "only a value that lives over"),
        ("exercise,2021-06-10,5,,,,,,,,,2021-06-01", "end", "before the period begins"),
        ("exercise,2021-06-10,5,,,,,,,,,2021-13-01", "end", "2021-13-01"),
        ("exercise,2021-06-10,5,,,,,,,,,2031-06-16", "end", "over a year (check the date)"),
    ],
)
def test_numbers_and_dates_are_read_strictly(
    store: Store, catalog: Catalog, tmp_path: Path, row: str, field: str, reason: str
) -> None:
    path = write_csv(
        tmp_path / "strict.csv", row + "," * (row.count(",") < 11), header=HEADER + ",end"
    )
    result = ingest(store, catalog, path)
    assert result.rows_loaded == 0
    assert result.rejects[0].field == field and reason in result.rejects[0].reason


def test_a_value_published_before_its_period_is_kept_as_announced_then_superseded(
    tmp_path: Path, catalog: Catalog
) -> None:
    clock = FixedClock("2021-08-25T09:00:00")
    store = Store(tmp_path / "announced.db", clock=clock)
    store.sync_catalog(catalog)
    # The Vienna Document asks for notice weeks ahead: a declared exercise size is
    # published before the exercise begins, even before the day of ingest.
    announced = write_csv(
        tmp_path / "announced.csv",
        "exercise,2021-09-10,12800,,MoD BY,notification,2021-08-20,B,2,,,2021-09-16",
        header=HEADER + ",end",
    )
    first = ingest(store, catalog, announced)
    assert (first.rows_loaded, first.rows_rejected, first.announced) == (1, 0, 1)
    assert "1 announced ahead of their period" in first.summary()
    assert store.observations()[0]["flags"] == "announced"
    # Known from its publication: a point-in-time panel sees it from then on ...
    before = load_panel(store, catalog, "BLR", D(2021, 8, 15), point_in_time=True,
                        start=D(2021, 8, 1))  # fmt: skip
    assert before.status[-1, before.column("exercise")] == MISSING
    during = load_panel(store, catalog, "BLR", D(2021, 9, 12), point_in_time=True)
    assert during.values[-1, during.column("exercise")] == 12800
    # ... until the observed figure for the same exercise arrives and supersedes it.
    observed = write_csv(
        tmp_path / "observed.csv",
        "exercise,2021-09-10,30000,,observers,report,2021-09-20,B,2,,,2021-09-16",
        header=HEADER + ",end",
    )
    clock.advance(days=26)
    assert ingest(store, catalog, observed).announced == 0
    after = load_panel(store, catalog, "BLR", D(2021, 9, 19))  # as known now
    assert after.values[-1, after.column("exercise")] == 30000
    assert during.values[-1, during.column("exercise")] == 12800  # as known then
    store.close()


def test_a_period_not_begun_is_refused_unless_announced(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "future.csv", "exercise,2024-09-10,12800,,MoD BY,,,,,,,",
                     header=HEADER + ",end")  # fmt: skip
    result = ingest(store, catalog, path)  # the store's clock says 2024-06-01
    assert result.rows_rejected == 1 and result.rejects[0].field == "date"
    assert "announced ahead gives its announcement date" in result.rejects[0].reason
