"""Fuzzing `early-warning ingest` (hypothesis): random bytes and random CSV, JSON, NDJSON
and XLSX structures, through the command line as a user calls it.

Whatever arrives: no traceback, exit status 0, 1 or 2 only, `PRAGMA integrity_check`
ok, and every record accounted for (loaded, already present or rejected; a refused file
writes nothing but its refused run). For CSV written without quotes or line breaks in
its cells, the records read are exactly the file's non-blank lines.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from early_warning.cli import cli

COLUMNS = [
    "indicator", "date", "value", "subject", "source", "citation", "published",
    "reliability", "credibility", "unit", "note",
]  # fmt: skip
EVENT_COLUMNS = ["date", "subject", "kind", "severity", "title", "citation"]

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

cells = st.one_of(
    st.sampled_from(
        ["ru_support_share_gdp", "ru_troops_in_belarus", "ru_base_status", "nosuch", ""]
    ),
    st.sampled_from(["2019", "2019-03", "2019-W05", "2019-Q2", "2019-02-30", "1e-400", "9" * 5000]),
    st.sampled_from(["BLR", "BLR-RUS", "blr", "A", "B", "3", "true", "yes", "=cmd|' /C calc'!A0"]),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=30),
)
_SPECIAL = ',"\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029'
plain_cells = cells.filter(lambda c: not any(ch in c for ch in _SPECIAL))


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "fuzz.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "init"])
    assert result.exit_code == 0, result.output
    yield tmp_path


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("observations", "events", "rejects")
        }


def _ingest(workdir: Path, path: Path, *extra: str) -> list[dict[str, Any]]:
    """Run the command and check what must hold whatever the input was."""
    db = workdir / "fuzz.db"
    before = _counts(db)
    result = CliRunner().invoke(cli, ["--db", str(db), "ingest", "--json", *extra, str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{type(result.exception).__name__} escaped: {result.exception}")
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reports = json.loads(result.stdout)
    after = _counts(db)
    loaded = sum(r.get("rows_loaded", 0) for r in reports if r["status"] != "duplicate")
    rejected = sum(r.get("rows_rejected", 0) for r in reports if r["status"] != "duplicate")
    for report in reports:
        if report["status"] in ("ok", "partial"):
            assert (
                report["rows_loaded"] + report["rows_unchanged"] + report["rows_rejected"]
                == report["rows_read"]
            ), report
    added = after["observations"] - before["observations"] + after["events"] - before["events"]
    assert added >= loaded  # derived values may come on top
    assert after["rejects"] - before["rejects"] >= rejected
    if all(r["status"] == "refused" for r in reports):
        assert after == before, "a refused file wrote rows"
    # A duplicate answers as its earlier run did: 1 if rows were rejected then.
    expected_code = max(2 if r["status"] == "refused" else int(r["rows_rejected"] > 0)
                        for r in reports)  # fmt: skip
    assert result.exit_code == expected_code
    return reports


@SETTINGS
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".json", ".ndjson",
                                                             ".xlsx", ".zip", ".bin"]))  # fmt: skip
def test_random_bytes(workdir: Path, data: bytes, suffix: str) -> None:
    path = workdir / f"random{suffix}"
    path.write_bytes(data)
    _ingest(workdir, path)


@st.composite
def csv_files(draw: Any) -> tuple[str, int | None]:
    """A CSV text and, when no cell holds a quote or a line break, its record count."""
    plain = draw(st.booleans())
    columns = draw(
        st.one_of(
            st.just(COLUMNS),
            st.permutations(COLUMNS),
            st.just(["indicator", "date", "value"]),
            st.just(EVENT_COLUMNS),
            st.lists(st.sampled_from([*COLUMNS, "colour", ""]), min_size=1, max_size=6),
        )
    )
    source = plain_cells if plain else cells
    rows = draw(st.lists(st.lists(source, min_size=0, max_size=len(columns) + 2), max_size=25))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO()
    out.write(",".join(columns) + ending)
    records = 0
    for row in rows:
        if plain:
            line = ",".join(row)
        else:
            quoted = [f'"{c}"' if draw(st.booleans()) else c for c in row]
            line = ",".join(quoted)
        if line.strip():
            records += 1
        out.write(line + ending)
    return out.getvalue(), (records if plain else None)


@SETTINGS
@given(made=csv_files())
def test_random_csv(workdir: Path, made: tuple[str, int | None]) -> None:
    text, records = made
    path = workdir / "fuzz.csv"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    reports = _ingest(workdir, path)
    report = reports[0]
    if records is not None and report["status"] in ("ok", "partial"):
        assert report["rows_read"] == records, (report, text[:500])


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), cells,
        st.just("INT5000"),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
records = st.dictionaries(
    st.sampled_from([*COLUMNS, "Value", "VALUE ", "severity", "title", "kind", "junk"]),
    json_values,
    max_size=8,
)


def _json_text(value: Any) -> str:
    # A 5,000-digit integer, written as JSON can hold it (Python's json refuses to).
    return json.dumps(value, allow_nan=True).replace('"INT5000"', "1" + "0" * 5000)


@SETTINGS
@given(items=st.one_of(st.lists(records, max_size=12), json_values))
def test_random_json(workdir: Path, items: Any) -> None:
    path = workdir / "fuzz.json"
    path.write_text(_json_text(items), encoding="utf-8", errors="surrogatepass")
    _ingest(workdir, path)


@SETTINGS
@given(
    lines=st.lists(st.one_of(records.map(_json_text), st.text(max_size=40)), max_size=12),
    separator=st.sampled_from(["\n", "\r\n", "\u2028", "\n\n"]),
)
def test_random_ndjson(workdir: Path, lines: list[str], separator: str) -> None:
    path = workdir / "fuzz.ndjson"
    path.write_text(separator.join(lines), encoding="utf-8", errors="surrogatepass")
    _ingest(workdir, path)


xlsx_cells = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False), cells.filter(lambda c: c.isprintable()),
)  # fmt: skip


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    header=st.one_of(st.just(COLUMNS), st.lists(st.sampled_from([*COLUMNS, "x"]), max_size=5)),
    rows=st.lists(st.lists(xlsx_cells, max_size=13), max_size=10),
)
def test_random_xlsx(workdir: Path, header: list[str], rows: list[list[Any]]) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = workdir / "fuzz.xlsx"
    book.save(path)
    _ingest(workdir, path)
