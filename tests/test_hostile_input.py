"""Hostile input: whatever arrives, no crash, one clear line, no partial write."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from early_warning import IngestError, Limits, Store, ingest
from early_warning.catalog import Catalog

from .conftest import HEADER, table_counts

GOOD = "support_share,2019,7,,,,,,,,\n"


def _outcome(store: Store, catalog: Catalog, path: Path, limits: Limits | None = None) -> str:
    """Ingest and check the invariants; return 'refused' or 'ingested'."""
    before = table_counts(store)
    try:
        result = ingest(store, catalog, path, limits=limits or Limits())
    except IngestError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message
        assert table_counts(store) == before, "a refused file must write nothing"
        return "refused"
    if result.status == "duplicate":
        assert table_counts(store) == before
        return "ingested"
    after = table_counts(store)
    added = after["observations"] - before["observations"] + after["events"] - before["events"]
    assert added == result.rows_loaded
    assert after["rejects"] - before["rejects"] == result.rows_rejected
    assert result.rows_loaded + result.rows_unchanged + result.rows_rejected == result.rows_read
    return "ingested"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2000))
def test_random_bytes(store: Store, catalog: Catalog, tmp_path: Path, data: bytes) -> None:
    for suffix in (".csv", ".json", ".ndjson", ".xlsx", ".bin"):
        path = tmp_path / f"random{suffix}"
        path.write_bytes(data)
        _outcome(store, catalog, path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_random_bytes_after_a_valid_header(
    store: Store, catalog: Catalog, tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "tail.csv"
    path.write_bytes((HEADER + "\n" + GOOD).encode() + data)
    _outcome(store, catalog, path)


@pytest.mark.parametrize("cut", [1, 10, 60, 95, 120, 150, 170])
def test_truncated_files(store: Store, catalog: Catalog, tmp_path: Path, cut: int) -> None:
    full = (
        HEADER + "\n" + 'support_share,2019,7,,,"a ""quoted"" citation, with comma",,,,,\n' + GOOD
    )
    path = tmp_path / "cut.csv"
    path.write_bytes(full.encode()[:cut])
    _outcome(store, catalog, path)
    (tmp_path / "cut.json").write_text(
        '[{"indicator": "support_share", "date": "2019", "value": 7}]'[:cut]
    )
    _outcome(store, catalog, tmp_path / "cut.json")


def test_truncated_xlsx(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    book.active.append(["support_share", "2019", 7])
    whole = tmp_path / "whole.xlsx"
    book.save(whole)
    data = whole.read_bytes()
    for cut in (len(data) // 4, len(data) // 2, len(data) - 10):
        path = tmp_path / f"cut{cut}.xlsx"
        path.write_bytes(data[:cut])
        assert _outcome(store, catalog, path) == "refused"


def test_mixed_encodings_are_refused_whole(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        (HEADER + "\n" + GOOD).encode("utf-8")
        + "support_share,2018,7,,Zürich,,,,,,\n".encode()
        + "support_share,2017,7,,Zürich,,,,,,\n".encode("cp1252")
        + "support_share,2016,7,,Мінск,,,,,,\n".encode("utf-16")
    )
    assert _outcome(store, catalog, path) == "refused"
    assert store.count("observations") == 0


def test_utf16_file_is_refused_with_a_clear_line(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes((HEADER + "\n" + GOOD).encode("utf-16"))
    with pytest.raises(IngestError, match=r"utf16\.csv: line 1: not UTF-8 text \(byte 0xff\)"):
        ingest(store, catalog, path)


SCRIPTS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1,2)",
    "@SUM(A1:A2)",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "<script>alert('x')</script>",
    "'; DROP TABLE observations; --",
    "Robert'); DROP TABLE rejects;--",
    "\u202eevil\u202c",
    "\U0001f4a3 bomb",
]


@pytest.mark.parametrize("text", SCRIPTS)
def test_formula_and_script_text_is_stored_verbatim_never_executed(
    store: Store, catalog: Catalog, tmp_path: Path, text: str
) -> None:
    import csv

    path = tmp_path / "script.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER.split(","))
        writer.writerow(["support_share", "2019", "7", "", text, text, "", "", "", "", text])
    result = ingest(store, catalog, path)
    assert result.rows_loaded == 1
    row = store.observations()[0]
    assert row["citation"] == text.strip() and row["note"] == text.strip()
    assert {"observations", "rejects"} <= set(store.db.table_names())
    formula = text.strip()[:1] in ("=", "+", "-", "@")
    assert (row["flags"] is not None) == formula


def test_a_million_character_cell(store: Store, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text(
        HEADER
        + "\n"
        + "support_share,2019,7,,,,"
        + "A" * 1_000_000
        + ",,,,\n"
        + GOOD.replace("2019", "2018")
    )
    result = ingest(store, catalog, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert result.rejects[0].field == "published"
    assert "1,000,000 characters" in result.rejects[0].reason
    kept = store.rejects(run_id=result.run_id)[0]["raw"]
    # The stored raw row is cut (the database does not grow by megabytes for one bad
    # row) and says so; the run's SHA-256 and the line still find the original.
    assert kept.startswith("support_share,2019,7,,,,AAAA")
    assert kept.endswith("[... cut: the row has 1,000,028 characters]")
    assert len(kept) < 70_000


def test_a_million_character_line_without_a_header_is_refused(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("x" * 1_000_000)
    with pytest.raises(IngestError, match="unknown column"):
        ingest(store, catalog, path)


def test_deeply_nested_json_is_refused_or_rejected(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" + '{"value": ' * 50 + "1" + "}" * 50 + "]")
    _outcome(store, catalog, path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    _outcome(store, catalog, path)
