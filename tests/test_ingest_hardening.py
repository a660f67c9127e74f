"""Issue 14, the files: each defect an attacker's trial found, reproduced and now refused.

Every test here failed on the code before the fix (the reason is in its docstring):
rows swallowed by one stray quote, files that crashed the reader with a traceback, zip
bombs that inflated to gigabytes, a slow server that held a download for ever, derived
values lost to a crash, two processes colliding on the same GDELT events.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import random
import resource
import socketserver
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from early_warning import FixedClock, IngestError, Limits, Store, ingest
from early_warning.catalog import Catalog
from early_warning.ingest import _ingest_path
from early_warning.store import open_store

from .conftest import HEADER, run_cli
from .test_cli import run
from .test_daemon import TROOPS, _drop, daemon  # noqa: F401 - the fixture
from .test_gdelt import BLR_POL, BLR_RUS, gdelt_line, write_export

GOOD = "support_share,{year},7,,,,,,,,"
EXE = Path(sys.executable).parent / "early-warning"


def _key(i: int) -> tuple[str, int]:
    """The i-th distinct (subject, year): AAA..ZZZ, then the next year."""
    return "".join(chr(65 + (i // 26**k) % 26) for k in range(3)), 1990 + i // 26**3


def _rows(n: int, start: int = 0) -> list[str]:
    """n valid observation rows, no two with the same key."""
    rows = []
    for i in range(start, start + n):
        subject, year = _key(i)
        rows.append(f"support_share,{year},7,{subject},,,,,,,")
    return rows


def _peak_memory(call):
    """What `call` returns, and the peak of Python's allocations while it ran [bytes]."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _accounted(result) -> None:
    assert result.rows_loaded + result.rows_unchanged + result.rows_rejected == result.rows_read


# -- a stray double quote -------------------------------------------------------------


def test_one_stray_quote_in_100000_rows_rejects_that_row_alone(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: '2 read, 1 loaded, 1 rejected' - the csv module read from the stray quote
    to the end of the file as one field, and 99,998 rows vanished."""
    rows = _rows(100_000)
    rows[1] = 'support_share,2019,7,,src,"Report, p. 3,,,,'  # line 3: the quote never closes
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    years_ok = Limits(max_file_bytes=50 << 20)
    result = ingest(store, catalog, path, limits=years_ok)
    _accounted(result)
    assert result.rows_read == 100_000
    assert (result.rows_loaded + result.rows_unchanged, result.rows_rejected) == (99_999, 1)
    reject = result.rejects[0]
    assert reject.line == 3 and "unbalanced double quote" in reject.reason
    assert "line 4 reads as a row of its own" in reject.reason


def test_a_stray_quote_in_a_small_file_never_lands_rows_inside_a_citation(
    tmp_path: Path,
) -> None:
    """Before: in a 10-row file the swallowed rows were loaded inside one citation field,
    with exit 0."""
    rows = [r.replace("support_share", "ru_support_share_gdp") for r in _rows(10)]
    rows[1] = 'ru_support_share_gdp,2019,7,,src,"Report, p. 3,,,,'
    (tmp_path / "ten.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    assert run_cli("init", cwd=tmp_path).returncode == 0
    done = run_cli("ingest", "ten.csv", "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # a row was rejected
    report = json.loads(done.stdout)[0]
    assert (report["rows_read"], report["rows_loaded"], report["rows_rejected"]) == (10, 9, 1)
    with sqlite3.connect(tmp_path / "early-warning.db") as db:
        citations = [r[0] for r in db.execute("SELECT citation FROM observations")]
    assert not any(c and "\n" in c for c in citations)


def test_a_quoted_field_over_several_lines_is_still_one_record(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """A multi-line note as spreadsheets write it (RFC 4180) is kept, line breaks and all."""
    path = tmp_path / "multi.csv"
    path.write_text(
        HEADER + "\n"
        'support_share,2019,7,,src,cit,,,,,"first line\nsecond, with ""quotes""\nthird"\n'
        + GOOD.format(year=2018)
        + "\n"
    )
    result = ingest(store, catalog, path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 2, 0)
    note = store.db.execute("SELECT note FROM observations WHERE period = '2019'").fetchone()[0]
    assert note == 'first line\nsecond, with "quotes"\nthird'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('support_share,2019,7,,src,"ab"cd,,,,,', "malformed CSV"),  # text after a closing quote
        ('support_share,2019,7,,src,"never closed', "before the end of the file"),
    ],
)
def test_malformed_quoting_rejects_the_row_and_keeps_the_rest(
    store: Store, catalog: Catalog, tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "q.csv"
    path.write_text(HEADER + "\n" + GOOD.format(year=2010) + "\n" + line + "\n")
    result = ingest(store, catalog, path)
    _accounted(result)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert reason in result.rejects[0].reason and result.rejects[0].line == 3
    assert store.rejects(run_id=result.run_id)[0]["raw"] == line


def test_an_overlong_line_is_a_reject_read_in_bounded_memory(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: a 500 MB single-line CSV used 5.1 GB (the whole line became one field)."""
    path = tmp_path / "long.csv"
    with path.open("w") as out:
        out.write(HEADER + "\n" + GOOD.format(year=2010) + "\n")
        out.write("support_share,2011,7,,,")
        for _ in range(40):
            out.write("x" * (1 << 20))  # 40 MiB without a line break
        out.write("\n" + GOOD.format(year=2012) + "\n")
    limits = Limits(max_file_bytes=100 << 20, max_line_chars=1 << 20)
    result, peak = _peak_memory(lambda: ingest(store, catalog, path, limits=limits))
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert "over the limit of 1,048,576 (ingest.max_line_chars)" in result.rejects[0].reason
    assert result.rejects[0].line == 3
    assert peak < 30 << 20, f"peak {peak / 2**20:.0f} MiB for a 40 MiB line"


def test_a_file_of_bad_rows_streams_its_rejects(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: 40 MB of bad rows hit MemoryError at 4 GB: every reject was held in memory
    until the end. Now they go to the store batch by batch."""
    path = tmp_path / "bad.csv"
    bad = "nosuch_indicator,2019,7,,,,,,,," + "n" * 200 + "\n"
    path.write_text(HEADER + "\n" + bad * 60_000)
    limits = Limits(batch_rows=2_000)
    result, peak = _peak_memory(lambda: ingest(store, catalog, path, limits=limits))
    assert (result.rows_read, result.rows_rejected) == (60_000, 60_000)
    assert store.count("rejects") == 60_000
    # Held whole, these rejects took 29 MiB; streamed, about 2.
    assert peak < 10 << 20, f"peak {peak / 2**20:.0f} MiB for 13 MB of bad rows"


def test_duplicate_keys_beyond_the_memory_bound_are_still_found(tmp_path: Path) -> None:
    """The in-file duplicate check spills to a temporary database past its memory bound
    and still names the first line."""
    from early_warning.ingest.validate import _SeenKeys

    seen = _SeenKeys(in_memory=10)
    lines = [seen.first_line(("k", str(i)), i) for i in range(100)]
    assert lines == list(range(100))
    assert seen.first_line(("k", "3"), 500) == 3  # in memory
    assert seen.first_line(("k", "77"), 501) == 77  # spilled


def test_duplicate_keys_are_found_across_the_sorted_merges() -> None:
    """Keys move from the dict into sorted arrays as it fills: every repeat, wherever
    its first sighting now lives (dict, arrays, disk), names the first line."""
    import random

    from early_warning.ingest.validate import _SeenKeys

    seen, first = _SeenKeys(in_memory=300, recent=7), {}
    rng = random.Random(5)
    for line in range(2000):
        key = str(rng.randrange(500))
        assert seen.first_line(("k", key), line) == first.setdefault(key, line)
    assert len(seen._keys) + len(seen._recent) == 300 < len(first)  # the rest on disk


# -- JSON and NDJSON ----------------------------------------------------------------------


def test_json_numbers_keep_their_text_and_never_crash(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: a JSON integer over 4,300 digits was a traceback (Python's int limit), and
    1e-400 was stored as 0 with its text lost."""
    path = tmp_path / "n.json"
    records = [
        '{"indicator": "support_share", "date": "2019", "value": 1' + "0" * 5000 + "}",
        '{"indicator": "support_share", "date": "2018", "value": 1e-400}',
        '{"indicator": "support_share", "date": "2017", "value": 7.0}',
    ]
    path.write_text("[" + ",\n".join(records) + "]")
    result = ingest(store, catalog, path, limits=Limits(max_field_chars=10_000))
    _accounted(result)
    assert (result.rows_loaded, result.rows_rejected) == (1, 2)
    reasons = {r.line: r.reason for r in result.rejects}
    assert "not a finite number" in reasons[1]
    assert "too small to store" in reasons[2]
    assert store.db.execute("SELECT value_text FROM observations").fetchone()[0] == "7"


def test_json_records_with_a_repeated_key_are_rejects(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: the last of two keys won silently ("value": 7, "Value": 70 stored 70)."""
    path = tmp_path / "dup.json"
    path.write_text(
        '[{"indicator": "support_share", "date": "2019", "value": 7, "Value": 70},'
        ' {"indicator": "support_share", "date": "2018", "value": 7, "value": 8},'
        ' {"indicator": "support_share", "date": "2017", "value": 7}]'
    )
    result = ingest(store, catalog, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 2)
    assert all("appears twice" in r.reason for r in result.rejects)


def test_ndjson_lines_end_at_line_feeds_only(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: str.splitlines() broke records at U+2028 and U+0085 inside strings (two
    rejects instead of a row, and every later line number off by one)."""
    path = tmp_path / "u.ndjson"
    lines = [
        '{"indicator": "support_share", "date": "2019", "value": 7, "note": "a\u2028b\u0085c"}',
        '{"indicator": "support_share", "date": "2018", "value": "x"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(store, catalog, path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 1, 1)
    assert result.rejects[0].line == 2
    note = store.db.execute("SELECT note FROM observations").fetchone()[0]
    assert note == "a\u2028b\u0085c"


def test_a_large_json_array_is_read_item_by_item(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """The array is parsed from a sliding window, not loaded whole."""
    path = tmp_path / "many.json"
    item = (
        '{{"indicator": "support_share", "date": "{year}", "subject": "{subject}", '
        '"value": 7, "note": "{pad}"}}'
    )
    with path.open("w") as out:
        out.write("[")
        for i in range(40_000):
            subject, year = _key(i)
            out.write(("," if i else "") + item.format(year=year, subject=subject, pad="p" * 300))
        out.write("]")
    result, peak = _peak_memory(
        lambda: ingest(store, catalog, path, limits=Limits(batch_rows=1_000))
    )
    assert result.rows_read == 40_000
    _accounted(result)
    assert peak < path.stat().st_size, f"peak {peak / 2**20:.0f} MiB for a 15 MB file"


# -- zips ---------------------------------------------------------------------------------


def _bomb(path: Path, member: str, chunk: bytes, megabytes: int, prefix: bytes = b"") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        if member.startswith("xl/"):
            archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w", force_zip64=True) as handle:
            handle.write(prefix)
            block = chunk * ((1 << 20) // len(chunk))
            for _ in range(megabytes):
                handle.write(block)
    return path


def _refused_quickly_and_lightly(store: Store, catalog: Catalog, path: Path) -> str:
    def refused() -> str:
        with pytest.raises(IngestError) as info:
            ingest(store, catalog, path)
        return str(info.value)

    # The readers and what they use (pandas for GDELT) load on first use: refused once
    # before the measurement, so that the peak is the refusal's and not the imports',
    # whatever ran before this test.
    refused()
    message, peak = _peak_memory(refused)
    assert peak < 20 << 20, f"peak {peak / 2**20:.0f} MiB while refusing a zip bomb"
    runs = store.runs(limit=1)
    assert runs[0]["status"] == "refused" and runs[0]["uri"] == str(path)
    return message


def test_an_xlsx_zip_bomb_is_refused_before_it_inflates(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: a 1.5 MB workbook reached 3.3 GB of memory inside openpyxl."""
    row = b"<row><c t='inlineStr'><is><t>support_share</t></is></c></row>"
    path = _bomb(tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", row, 300)
    assert path.stat().st_size < 2 << 20
    message = _refused_quickly_and_lightly(store, catalog, path)
    assert "zip bomb" in message and "bomb.xlsx" in message and "\n" not in message


def test_a_gdelt_zip_bomb_is_refused_before_it_inflates(
    real_catalog: Catalog, tmp_path: Path
) -> None:
    """Before: an 82 KB GDELT zip was still running after 9 minutes at 3.4 GB."""
    line = (gdelt_line(BLR_RUS[0]) + "\n").encode()
    path = _bomb(tmp_path / "20211110000000.export.CSV.zip", "20211110000000.export.CSV",
                 line, 400)  # fmt: skip
    with Store(tmp_path / "g.db", clock=FixedClock("2024-06-01T12:00:00")) as store:
        store.sync_catalog(real_catalog)
        message = _refused_quickly_and_lightly(store, real_catalog, path)
    assert "zip bomb" in message or "ingest.max_unzipped_bytes" in message


def _set_encrypted_flag(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        flags = struct.unpack_from("<H", data, at + offset)[0]
        struct.pack_into("<H", data, at + offset, flags | 0x1)
    path.write_bytes(bytes(data))


def _bad_crc(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(path.name.removesuffix(".zip"), gdelt_line(BLR_RUS[0]) + "\n")
    data = bytearray(path.read_bytes())
    at = data.find(b"BLRGOV")
    data[at] = ord("X")  # the content changes, the stored CRC does not
    path.write_bytes(bytes(data))


def _poison_files(folder: Path) -> list[Path]:
    """Files that printed a traceback (exit 1, as if rows were rejected) before."""
    made = []
    encrypted = write_export(folder / "20211110000000.export.CSV.zip", BLR_RUS, zipped=True)
    _set_encrypted_flag(encrypted)
    made.append(encrypted)
    crc = folder / "20211110001500.export.CSV.zip"
    _bad_crc(crc)
    made.append(crc)
    two = folder / "20211110003000.export.CSV.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.export.CSV", gdelt_line(BLR_RUS[0]) + "\n")
        archive.writestr("b.export.CSV", gdelt_line(BLR_RUS[1]) + "\n")
    made.append(two)
    cut = write_export(folder / "20211110004500.export.CSV.zip", BLR_RUS * 50, zipped=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    made.append(cut)
    superscript = folder / "20211110010000.export.CSV"
    superscript.write_text(gdelt_line(BLR_RUS[0]).replace("\t15\t4", "\t1\u00b2\t4") + "\n")
    made.append(superscript)
    renamed = write_export(folder / "dump.zip", BLR_RUS, zipped=True)  # no GDELT name
    made.append(renamed)
    return made


def test_damaged_archives_and_odd_digits_are_one_line_never_a_traceback(tmp_path: Path) -> None:
    """Before: encrypted, bad-CRC, two-member and truncated zips and superscript digits in
    GDELT fields each printed a traceback with exit 1; a GDELT zip with another name was
    refused as 'not a readable XLSX workbook'."""
    assert run_cli("init", cwd=tmp_path).returncode == 0
    files = _poison_files(tmp_path)
    outcomes = {}
    for path in files:
        done = run_cli("ingest", path.name, cwd=tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        outcomes[path.name] = (done.returncode, done.stderr.strip() or done.stdout.strip())
    for name in list(outcomes)[:4]:
        code, text = outcomes[name]
        assert code == 2 and text.count("\n") == 0 and name in text, (name, text)
    assert "encrypted" in outcomes["20211110000000.export.CSV.zip"][1]
    assert "BadZipFile" in outcomes["20211110001500.export.CSV.zip"][1]
    assert "expected one export file" in outcomes["20211110003000.export.CSV.zip"][1]
    code, text = outcomes["20211110010000.export.CSV"]
    assert code == 1 and "1 rejected" in text  # the row is a reject naming the root code
    code, text = outcomes["dump.zip"]
    assert code == 0 and "gdelt2.0" in text, text
    with sqlite3.connect(tmp_path / "early-warning.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        refused = db.execute("SELECT count(*) FROM ingest_runs WHERE status = 'refused'")
        assert refused.fetchone()[0] == 4  # every refused file leaves a run with its reason


def test_an_oversized_file_leaves_a_refused_run(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Before: over-size (and crashed) files left no ingest_runs row."""
    path = tmp_path / "big.csv"
    path.write_text(HEADER + "\n" + "\n".join(_rows(50)) + "\n")
    with pytest.raises(IngestError, match="over the limit"):
        ingest(store, catalog, path, limits=Limits(max_file_bytes=100))
    assert store.runs(limit=1)[0]["status"] == "refused"
    assert "over the limit" in store.runs(limit=1)[0]["message"]


# -- GDELT from two processes at once ---------------------------------------------------


def test_two_processes_ingesting_overlapping_gdelt_files_count_each_event_once(
    tmp_path: Path,
) -> None:
    """Before: the second to commit failed on the event_ids UNIQUE constraint."""
    assert run_cli("init", cwd=tmp_path).returncode == 0
    events = (BLR_RUS + BLR_POL) * 3000
    first = write_export(tmp_path / "20211110000000.export.CSV", events)
    lines = first.read_text().splitlines()
    second = tmp_path / "20211110001500.export.CSV"
    extra = gdelt_line(BLR_RUS[0], number=10**9)
    second.write_text("\n".join([*lines[len(lines) // 3 :], extra]) + "\n")
    for _ in range(3):
        db = tmp_path / "early-warning.db"
        db.unlink()
        assert run_cli("init", cwd=tmp_path).returncode == 0
        procs = [
            subprocess.Popen([str(EXE), "ingest", p.name], cwd=tmp_path, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for p in (first, second)
        ]  # fmt: skip
        outputs = [p.communicate(timeout=300) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        with sqlite3.connect(db) as conn:
            counted = conn.execute("SELECT count(*) FROM event_ids").fetchone()[0]
            total = conn.execute(
                "SELECT sum(events) FROM event_counts WHERE subject = 'BLR'"
            ).fetchone()[0]
        assert counted == len(events) + 1 == total


# -- derived values after a crash ---------------------------------------------------------


def test_a_crash_before_the_derived_step_is_finished_by_the_next_ingest(
    tmp_path: Path, real_catalog: Catalog
) -> None:
    """Before: a crash between the ingest commit and the derived step lost the derived
    values for good; ingesting the file again said 'already ingested'."""
    project = Path(__file__).resolve().parent.parent
    gdp = project / "indicators" / "data" / "worldbank_gdp_current_usd.csv"
    subsidies = tmp_path / "subsidies.csv"
    subsidies.write_text(
        HEADER + "\ngas_subsidy_usd_bn,2015,2.2,BLR,Sivitsky 2019,table 1,2019-06-01,B,2,,\n"
    )
    with Store(tmp_path / "d.db", clock=FixedClock("2024-06-01T12:00:00")) as store:
        store.sync_catalog(real_catalog)
        ingest(store, real_catalog, gdp)
        # The run commits, then the process dies before deriving (what _ingest_path
        # alone does: ingest() derives after it).
        _ingest_path(store, real_catalog, subsidies, str(subsidies), "BLR", Limits(), None)
        derived = "SELECT count(*) FROM observations WHERE indicator = 'gas_subsidy_share_gdp'"
        assert store.db.execute(derived).fetchone()[0] == 0
        assert store.pending_derivations()
    with Store(tmp_path / "d.db", clock=FixedClock("2024-06-02T12:00:00")) as store:
        again = ingest(store, real_catalog, subsidies)
        assert again.status == "duplicate"
        assert store.db.execute(derived).fetchone()[0] == 1
        assert store.pending_derivations() == []


# -- URLs that never finish ----------------------------------------------------------------


class _Drip(http.server.BaseHTTPRequestHandler):
    """Answers with a valid header, then one byte every 0.2 s, for ever."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        try:
            for byte in (HEADER + "\n" + "x" * 10_000).encode():
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            return

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def drip_url() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.csv"
    server.shutdown()
    server.server_close()


def test_a_slow_drip_server_is_cut_off_at_the_overall_limit(
    store: Store, catalog: Catalog, drip_url: str
) -> None:
    """Before: each byte arrived within the read timeout, so the download (and the
    daemon's only worker) never ended."""
    limits = Limits(http_timeout_seconds=5.0, http_total_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(IngestError, match=r"not complete within 1 s \(ingest.http_total_seconds\)"):
        ingest(store, catalog, drip_url, limits=limits)
    # Generous: the limit is 1 s; without it this would run for 30 minutes.
    assert time.monotonic() - started < 30
    assert store.runs(limit=1)[0]["status"] == "refused"


# -- the command line and the files it creates ---------------------------------------------


def test_files_created_are_not_readable_by_others(tmp_path: Path) -> None:
    """Before: the database (with the outbox and its PDFs) was world-readable."""
    (tmp_path / "obs.csv").write_text(HEADER + "\n" + GOOD.format(year=2019) + "\n")
    env = {"PATH": os.environ["PATH"]}
    old = os.umask(0o022)
    try:
        assert run("init", cwd=tmp_path, env=env).returncode == 0
    finally:
        os.umask(old)
    mode = (tmp_path / "early-warning.db").stat().st_mode
    assert mode & 0o007 == 0, oct(mode)


def test_a_full_disk_while_writing_a_report_is_one_line_and_leaves_no_tmp(
    tmp_path: Path,
) -> None:
    """Before: a traceback, and a `.tmp` file left beside the report."""
    assert run_cli("init", cwd=tmp_path).returncode == 0
    project = Path(__file__).resolve().parent.parent
    data = sorted(str(p) for p in (project / "indicators" / "data").glob("*.csv"))
    assert run_cli("ingest", *data, cwd=tmp_path).returncode in (0, 1)
    # The report (about 200 KB) cannot be written past 100 KB; the database's own writes
    # go to its WAL, which stays below that for one report.
    limit = 100 << 10

    def small_files() -> None:  # writes past `limit` bytes fail with EFBIG, like a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING")}
    done = subprocess.run(
        [str(EXE), "report", "--as-of", "2021-02-28", "--out", "big-report.pdf"],
        cwd=tmp_path, env=env, capture_output=True, text=True, preexec_fn=small_files,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "big-report.pdf" in done.stderr
    assert not list(tmp_path.glob("*.tmp")) and not (tmp_path / "big-report.pdf").exists()
    with sqlite3.connect(tmp_path / "early-warning.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- the watched folder ------------------------------------------------------------------


def test_a_poison_file_does_not_block_a_red_line_behind_it(daemon, tmp_path: Path) -> None:  # noqa: F811
    """Before: a file that raised anything but the project's own error was never moved to
    failed/, so the files after it were never read: a red-line troop figure dropped in
    after it never produced an alert."""
    incoming = tmp_path / "incoming"
    poison = _poison_files(incoming)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PASSWORD,hunter2\n")
    (incoming / "0-link.csv").symlink_to(secret)
    week = dt.date.today().isocalendar()
    _drop(incoming, "zz-troops.csv", TROOPS.format(week=f"{week[0]}-W{week[1]:02d}"))
    for path in incoming.iterdir():
        os.utime(path, (time.time() - 10, time.time() - 10), follow_symlinks=False)
    assert daemon.run_job("ingest:incoming") == "partial"  # the poison files failed: said
    assert (incoming / "processed" / "zz-troops.csv").exists()
    with open_store(tmp_path / "ew.db") as store:
        fired = {row["rule"] for row in store.db.query("SELECT rule FROM alerts")}
    assert "red_line_forces_move_in" in fired
    failed = {p.name for p in (incoming / "failed").iterdir()}
    refused = [p.name for p in poison[:4]] + ["0-link.csv"]
    assert all(name in failed and f"{name}.reason.txt" in failed for name in refused), failed
    reason = (incoming / "failed" / "0-link.csv.reason.txt").read_text()
    assert "symbolic link" in reason and "SECRET" not in reason
    assert not list(incoming.glob("*.zip"))  # nothing left to block the next run


def test_a_multi_line_note_with_a_row_like_line_is_one_record(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Found by a fresh-eyes trial: a note listing sources with commas has a line with
    as many fields as the header; it closes cleanly into the header's width, so it is
    one record, not three rejects."""
    header = "indicator,date,value,subject,source,citation,published,note"
    path = tmp_path / "excel.csv"
    path.write_text(
        header + "\r\n"
        'support_share,2019,7,BLR,MoD,bulletin,2019-06-01,"Reported widely.\r\n'
        "Sources: MoD, TASS, BelTA, RFE/RL, Reuters, AP, AFP, Interfax\r\n"
        'Checked by desk."\r\n'
        "support_share,2018,6,BLR,MoD,bulletin,2019-06-01,\r\n"
    )
    result = ingest(store, catalog, path)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 2, 0)
    note = store.db.execute("SELECT note FROM observations WHERE period = '2019'").fetchone()[0]
    assert note.splitlines()[1].startswith("Sources: MoD, TASS")


def test_a_rejected_csv_row_keeps_its_line_as_written(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Found by a fresh-eyes trial: the raw text of a reject was rebuilt in the canonical
    column order, so it could not be found in the file."""
    path = tmp_path / "order.csv"
    path.write_text("date,value,indicator,source,note\n2019-04,112,suport_share,gazprom,typo\n")
    result = ingest(store, catalog, path)
    assert result.rows_rejected == 1
    assert store.rejects(run_id=result.run_id)[0]["raw"] == "2019-04,112,suport_share,gazprom,typo"


def test_a_stray_quote_before_a_row_that_ends_in_a_quote_swallows_nothing(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Found by an attacker's trial: the quote at the end of the next row (12") closed the
    stray one cleanly, and that row, a red-line troop figure, was loaded inside a note."""
    path = tmp_path / "swallow.csv"
    path.write_text(
        "indicator,date,value,source,note\n"
        'support_share,2019,1,a,"talks resumed\n'
        'support_share,2018,9,b,two 152mm and 12"\n'
        "support_share,2017,1,c,ok\n"
    )
    result = ingest(store, catalog, path)
    _accounted(result)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert result.rejects[0].line == 2 and "unbalanced double quote" in result.rejects[0].reason
    notes = [r[0] for r in store.db.execute("SELECT note FROM observations ORDER BY period")]
    assert notes == ["ok", 'two 152mm and 12"']


def test_shared_strings_cannot_blow_a_small_workbook_up_into_gigabytes_of_rejects(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Found by an attacker's trial: cells of an XLSX pointing at one 4,000-character
    shared string passed the zip checks (a ratio of 11), and each rejected row kept ~24 KB
    of raw text: a 1.2 MB file made a 1.5 GB database."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["indicator", "date", "value", "source", "citation", "note"])
    long = "x" * 4001  # one shared string, over max_field_chars in every row
    noise = random.Random(14)
    for i in range(6_000):  # a varied cell per row keeps the zip ratio low, as real data
        tag = f"{noise.getrandbits(128):032x}"
        sheet.append(["support_share", str(1000 + i), tag, long, long, long])
    path = tmp_path / "shared.xlsx"
    book.save(path)
    assert path.stat().st_size < 1 << 20
    result, peak = _peak_memory(lambda: ingest(store, catalog, path))
    assert (result.rows_read, result.rows_rejected) == (6_000, 6_000)
    stored = store.db.execute("SELECT sum(length(raw)) FROM rejects").fetchone()[0]
    assert stored < (16 << 20) + 6_000 * 400, f"{stored:,} characters of raw text kept"
    assert peak < 100 << 20, f"peak {peak / 2**20:.0f} MiB"
    last = store.db.execute("SELECT raw FROM rejects ORDER BY line DESC LIMIT 1").fetchone()[0]
    assert "raw text budget" in last


def test_links_planted_in_failed_are_never_followed(daemon, tmp_path: Path) -> None:  # noqa: F811
    """Found by an attacker's trial: a symbolic link planted as failed/x.reason.txt had
    its target overwritten with the reason; a failed/ that was a link took the files
    elsewhere."""
    incoming = tmp_path / "incoming"
    victim = tmp_path / "victim.txt"
    victim.write_text("IMPORTANT\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (incoming / "failed").symlink_to(elsewhere)
    (incoming / "bad.csv").write_text("no,header,here\n1,2,3\n")
    os.utime(incoming / "bad.csv", (time.time() - 10, time.time() - 10))
    assert daemon.run_job("ingest:incoming") == "partial"  # bad.csv failed
    assert not list(elsewhere.iterdir())  # nothing went through the link
    assert (incoming / "failed").is_dir() and not (incoming / "failed").is_symlink()
    assert (incoming / "failed" / "bad.csv.reason.txt").exists()
    # A reason file planted as a link to a victim for the next file of that name.
    (incoming / "failed" / "bad.csv").unlink()
    (incoming / "failed" / "bad.csv.reason.txt").unlink()
    (incoming / "failed" / "bad.csv.reason.txt").symlink_to(victim)
    (incoming / "bad.csv").write_text("no,header,here\n1,2,3\n")
    os.utime(incoming / "bad.csv", (time.time() - 10, time.time() - 10))
    assert daemon.run_job("ingest:incoming") == "partial"
    assert victim.read_text() == "IMPORTANT\n"
    reasons = [p for p in (incoming / "failed").glob("bad.*.csv.reason.txt")]
    assert len(reasons) == 1 and "column" in reasons[0].read_text()


def test_an_escaped_lone_surrogate_is_a_reject_not_a_refused_file(
    store: Store, catalog: Catalog, tmp_path: Path
) -> None:
    """Found by an attacker's trial: one "\\udc80" (valid JSON, but no character) refused
    the whole file, good rows and all."""
    path = tmp_path / "sur.ndjson"
    path.write_text(
        '{"indicator": "support_share", "date": "2019", "value": 7}\n'
        '{"indicator": "support_share", "date": "2018", "value": 7, "note": "a\\udc80b"}\n'
        '{"indicator": "support_share", "date": "2017", "value": 7}\n'
    )
    result = ingest(store, catalog, path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 1)
    assert result.rejects[0].field == "note" and "lone surrogate" in result.rejects[0].reason
