"""World Bank, IMF and SIPRI files in their publishers' layouts, and derived indicators.

Small synthetic files in the published layouts always run; the real files in
../shared/real_data are read when that folder exists and skipped otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from early_warning import FixedClock, Store
from early_warning.catalog import Catalog
from early_warning.errors import IngestError
from early_warning.ingest import ingest, observe

from .conftest import SHARED, run_cli

REAL = SHARED / "real_data"
NEIGHBOURS = {"BLR", "RUS", "UKR", "POL", "LTU", "LVA", "EST"}


def values(store: Store, indicator: str, subject: str = "BLR") -> dict[str, float]:
    rows = store.db.query(
        "SELECT period, value FROM observations WHERE indicator = ? AND subject = ? "
        "ORDER BY known_from, id",
        [indicator, subject],
    )
    return {r["period"]: r["value"] for r in rows}


def only_row(store: Store, indicator: str, subject: str, period: str) -> dict[str, Any]:
    rows = list(
        store.db.query(
            "SELECT o.*, s.name AS source FROM observations o JOIN sources s "
            "ON s.id = o.source_id WHERE indicator = ? AND subject = ? AND period = ?",
            [indicator, subject, period],
        )
    )
    assert len(rows) == 1, rows
    return rows[0]


# -- World Bank ----------------------------------------------------------------------

WB_WIDE = (
    '"Data Source","World Development Indicators",\n'
    "\n"
    '"Last Updated Date","2023-12-18",\n'
    "\n"
    '"Country Name","Country Code","Indicator Name","Indicator Code","2014","2015","2016",\n'
    '"Belarus","BLR","GDP (current US$)","NY.GDP.MKTP.CD","78813839984.0187",'
    '"56454889147.6616","47723545321.2003",\n'
    '"Poland","POL","GDP (current US$)","NY.GDP.MKTP.CD","","477576000000","",\n'
    '"Aruba","ABW","GDP (current US$)","NY.GDP.MKTP.CD","1","2","3",\n'
    '"Europe & Central Asia","ECS","GDP (current US$)","NY.GDP.MKTP.CD","1","2","3",\n'
)


def test_world_bank_bulk_csv_lands_in_catalog_units_with_provenance(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "API_NY.GDP.MKTP.CD_DS2_en_csv_v2.csv"
    path.write_text(WB_WIDE, encoding="utf-8")
    result = ingest(rstore, real_catalog, path)
    assert result.format == "worldbank"
    assert result.rows_loaded == 4 and result.rows_rejected == 0
    # Aruba and the regional aggregate are outside the mapping's subjects; Poland's
    # empty cells are not zeros.
    assert result.skipped == {
        "rows of countries not among the mapping's subjects": 2,
        "cells without a value": 2,
    }
    assert values(rstore, "gdp_usd_bn")["2015"] == pytest.approx(56.4548891477)
    row = only_row(rstore, "gdp_usd_bn", "POL", "2015")
    assert row["source"] == "worldbank_wdi" and "NY.GDP.MKTP.CD" in row["citation"]
    assert (row["reliability"], row["credibility"]) == ("A", "2")
    # Known 7 months after the year (the mapping's declared lag), before the file date.
    assert row["known_from"] == "2016-07-31"
    assert only_row(rstore, "gdp_usd_bn", "BLR", "2016")["known_from"] == "2017-07-31"
    run_row = rstore.runs()[0]
    assert run_row["sha256"] and run_row["format"] == "worldbank"
    assert ingest(rstore, real_catalog, path).status == "duplicate"


def test_world_bank_long_layout_and_a_bad_value_is_a_reject_naming_the_line(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "gdp.csv"
    path.write_text(
        "Country Name,Country Code,Year,Value\n"
        "Belarus,BLR,2019,64409647193.0\n"
        "Belarus,BLR,2020,lots\n"
        "Belarus,BLR,20x1,1\n"
        "Germany,DEU,2019,1\n"
        'Poland,POL,2010,"57,2"\n'  # a decimal comma is not guessed at
        'Poland,POL,2011,"1,693,000"\n'
        "Poland,POL,2012,１２３\n"
        "Poland,POL,2013,1_000\n"
        "Poland,POL,2014,1e400\n"
        "Poland,POL,2015,-5e9\n",
        encoding="utf-8",
    )
    result = ingest(rstore, real_catalog, path)
    assert result.rows_loaded == 1
    assert [(r.line, r.field) for r in result.rejects] == [
        (3, "2020"), (4, "Year"), (6, "2010"), (7, "2011"), (8, "2012"), (9, "2013"),
        (10, "2014"), (11, "2015"),
    ]  # fmt: skip
    assert "'lots' is not a dot-decimal number" in result.rejects[0].reason
    assert "-5 US$ bn" in result.rejects[-1].reason and "outside" in result.rejects[-1].reason
    assert values(rstore, "gdp_usd_bn") == {"2019": pytest.approx(64.409647193)}


class _Recorded(BaseHTTPRequestHandler):
    """Serves recorded World Bank API answers by their `page` parameter."""

    pages: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        page = query.get("page", ["1"])[0]
        body = self.pages.get(page)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _wb_record(code: str, year: int, value: float | None) -> dict[str, Any]:
    return {
        "indicator": {"id": "NY.GDP.MKTP.CD", "value": "GDP (current US$)"},
        "country": {"id": code[:2], "value": code},
        "countryiso3code": code,
        "date": str(year),
        "value": value,
        "unit": "",
        "obs_status": "",
        "decimal": 0,
    }


@pytest.fixture
def wb_server() -> Iterator[str]:
    meta = {"per_page": 2, "total": 4, "sourceid": "2", "lastupdated": "2024-06-28"}
    _Recorded.pages = {
        "1": json.dumps(
            [
                {"page": 1, "pages": 2, **meta},
                [_wb_record("BLR", 2023, 71857382746.6), _wb_record("BLR", 2022, 72793457590.0)],
            ]
        ).encode(),
        "2": json.dumps(
            [
                {"page": 2, "pages": 2, **meta},
                [_wb_record("BLR", 2021, 68219027000.0), _wb_record("BLR", 2020, None)],
            ]
        ).encode(),
    }
    _Recorded.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_world_bank_api_json_follows_every_page(
    rstore: Store, real_catalog: Catalog, wb_server: str
) -> None:
    url = f"{wb_server}/v2/country/BLR/indicator/NY.GDP.MKTP.CD?format=json&per_page=2"
    result = ingest(rstore, real_catalog, url)
    assert result.format == "worldbank", result
    assert _Recorded.requests[1].endswith("?format=json&per_page=2&page=2")
    assert values(rstore, "gdp_usd_bn") == {
        "2021": pytest.approx(68.219027),
        "2022": pytest.approx(72.79345759),
        "2023": pytest.approx(71.8573827466),
    }
    assert result.skipped == {"cells without a value": 1}  # 2020 is null, not zero
    assert rstore.runs()[0]["uri"] == url


def test_world_bank_api_error_answer_is_refused_in_one_line(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "answer.json"
    path.write_text(
        '[{"message":[{"id":"120","key":"Invalid value","value":"The provided parameter '
        'value is not valid"}]}]',
        encoding="utf-8",
    )
    with pytest.raises(IngestError, match=r"answer\.json: the World Bank API answered"):
        ingest(rstore, real_catalog, path)
    assert rstore.count("observations") == 0


# -- IMF -----------------------------------------------------------------------------


def _weo_release(years: list[int]) -> str:
    head = [
        "WEO Country Code", "ISO", "WEO Subject Code", "Country", "Subject Descriptor",
        "Subject Notes", "Units", "Scale", "Country/Series-specific Notes",
        *map(str, years), "Estimates Start After",
    ]  # fmt: skip
    blr = ["913", "BLR", "NGDPD", "Belarus", "GDP, current prices", "", "U.S. dollars",
           "Billions", "", "56.329", "47.703", "n/a", "2021"]  # fmt: skip
    ukr = ["926", "UKR", "NGDPD", "Ukraine", "GDP, current prices", "", "U.S. dollars",
           "Billions", "", "91.031", "93.270", "95.5", "2021"]  # fmt: skip
    other = ["913", "BLR", "NGDP_R", "Belarus", "GDP, constant prices", "", "National currency",
             "Billions", "", "1", "2", "3", "2021"]  # fmt: skip
    lines = ["\t".join(r) for r in (head, blr, ukr, other)]
    return "\r\n".join(
        [*lines, "", "International Monetary Fund, World Economic Outlook Database, October 2022"]
    )


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_imf_weo_release_file_marks_projections(
    rstore: Store, real_catalog: Catalog, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "WEOOct2022all.xls"
    path.write_bytes(_weo_release([2015, 2016, 2025]).encode(encoding))
    result = ingest(rstore, real_catalog, path)
    assert result.format == "imf" and result.rows_rejected == 0
    assert values(rstore, "gdp_usd_bn") == {"2015": 56.329, "2016": 47.703}
    assert values(rstore, "gdp_usd_bn", "UKR") == {"2015": 91.031, "2016": 93.27}
    # The edition is October 2022: every value counts as known from the end of that month.
    past = only_row(rstore, "gdp_usd_bn", "BLR", "2015")
    assert past["known_from"] == "2022-10-31" and past["credibility"] == "2"
    assert "projection" not in past["note"]
    assert result.skipped == {
        "series not in mappings/imf_weo.yaml": 1,
        "cells without a value": 1,  # Belarus 2025: "n/a"
        "projections beyond the years kept (projection_years)": 1,  # Ukraine 2025
    }


def test_imf_projection_for_the_editions_year_is_flagged_and_later_ones_skipped(
    tmp_path: Path, real_catalog: Catalog
) -> None:
    with Store(tmp_path / "p.db", clock=FixedClock("2026-03-01T00:00:00")) as store:
        store.sync_catalog(real_catalog)
        path = tmp_path / "WEOOct2025all.xls"
        path.write_text(_weo_release([2023, 2025, 2026]).replace("\t2021", "\t2023"),
                        encoding="utf-8")  # fmt: skip
        result = ingest(store, real_catalog, path)
        row = only_row(store, "gdp_usd_bn", "UKR", "2025")
        assert row["note"].startswith("projection: IMF WEO Oct 2025")
        assert row["credibility"] == "3"
        assert row["known_from"] == "2025-10-31"  # the edition's month
        past = only_row(store, "gdp_usd_bn", "UKR", "2023")
        assert not past["note"].startswith("projection") and past["credibility"] == "2"
        # The 2025 edition's figure for 2026 is a forecast made a year ahead: not kept,
        # or it would be scored in 2026 as if it were that year's data.
        assert "2026" not in values(store, "gdp_usd_bn", "UKR")
        assert result.skipped["projections beyond the years kept (projection_years)"] == 1


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real_data is not here")
def test_real_imf_datamapper_export(rstore: Store, real_catalog: Catalog) -> None:
    result = ingest(rstore, real_catalog, REAL / "imf" / "imf-dm-export-20221017_NGDPD.xls")
    assert result.format == "imf" and result.rows_rejected == 0
    blr = values(rstore, "gdp_usd_bn")
    assert blr["2021"] == pytest.approx(68.208)
    assert only_row(rstore, "gdp_usd_bn", "BLR", "2022")["note"].startswith("projection")
    assert "2022" not in values(rstore, "gdp_usd_bn", "UKR")  # "no data" from 2022
    assert {r["subject"] for r in rstore.db.query("SELECT subject FROM observations")} == NEIGHBOURS


# -- SIPRI ---------------------------------------------------------------------------


def _sipri_workbook(path: Path, share_rows: list[list[Any]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Front page"
    for title in ("Current US$", "Share of GDP"):
        sheet = book.create_sheet(title)
        sheet.append([f"Military expenditure by country, {title}      © SIPRI 2023"])
        sheet.append(['". ." = data unavailable. "xxx" = country did not exist.'])
        sheet.append([])
        sheet.append(["Country", "Notes", 1991.0, 1992.0, 1993.0, 1994.0, 1995.0])
        sheet.append([None])
        sheet.append(["Eastern Europe"])
        for row in share_rows:
            sheet.append(row)
    book.save(path)
    return path


def test_sipri_workbook_markers_are_skipped_not_zero_and_text_is_a_reject(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = _sipri_workbook(
        tmp_path / "SIPRI-Milex-data-1949-2023.xlsx",
        [
            ["Belarus", "", "xxx", 0.0162, 0.0201, "...", 0.0177],
            ["Russia", "‖83", "xxx", 0.0456, "estimate", 0.0399, 0.0417],
            ["Germany", "", 0.02, 0.02, 0.02, 0.02, 0.02],
        ],
    )
    result = ingest(rstore, real_catalog, path)
    assert result.format == "sipri"
    assert values(rstore, "military_expenditure_share_gdp") == {
        "1992": pytest.approx(1.62), "1993": pytest.approx(2.01), "1995": pytest.approx(1.77),
    }  # fmt: skip
    assert [(r.line, r.field) for r in result.rejects] == [(8, "1993")]
    assert result.skipped == {
        "cells without a value": 3,
        "rows of countries not among the mapping's subjects": 1,
    }
    row = only_row(rstore, "military_expenditure_share_gdp", "BLR", "1995")
    assert row["known_from"] == "1996-04-30"  # SIPRI publishes in April of the next year
    assert row["unit"] == "% of GDP"


def test_a_workbook_without_the_mapped_sheets_is_not_sipri(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["nothing", "here"])
    path = tmp_path / "other.xlsx"
    book.save(path)
    with pytest.raises(IngestError, match="unknown column 'nothing'"):
        ingest(rstore, real_catalog, path)


# -- derived -------------------------------------------------------------------------


def test_usd_support_becomes_a_share_of_gdp_recording_both_inputs(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    observe(rstore, real_catalog, "gas_subsidy_usd_bn", "2.2", date="2015",
            source="sivitsky2019", published="2019-12-31", reliability="B",
            credibility="3")  # fmt: skip
    observe(rstore, real_catalog, "gas_subsidy_usd_bn", "0.35", date="2017")
    assert values(rstore, "gas_subsidy_share_gdp") == {}  # no GDP yet: no value, no guess
    path = tmp_path / "API_NY.GDP.MKTP.CD.csv"
    path.write_text(WB_WIDE, encoding="utf-8")
    result = ingest(rstore, real_catalog, path)
    assert result.derived == 1  # 2015 only: there is no GDP for 2017
    row = only_row(rstore, "gas_subsidy_share_gdp", "BLR", "2015")
    assert row["value"] == pytest.approx(2.2 / 56.4548891476616 * 100, rel=1e-5)
    assert row["source"] == "derived" and row["unit"] == "% of GDP"
    assert "gas_subsidy_usd_bn 2.2" in row["citation"] and "sivitsky2019" in row["citation"]
    assert "gdp_usd_bn 56.45" in row["citation"] and "worldbank_wdi" in row["citation"]
    # Known when both were: the later of the two; the weaker grades of the two.
    assert row["known_from"] == "2019-12-31"
    assert (row["reliability"], row["credibility"]) == ("B", "3")
    # GDP from another source (an IMF projection, say) is not used.
    observe(rstore, real_catalog, "gdp_usd_bn", "70", date="2015", source="imf_weo")
    assert values(rstore, "gas_subsidy_share_gdp")["2015"] == pytest.approx(3.897, abs=1e-3)
    # A revised World Bank GDP makes a new derived row; the old one stays.
    observe(rstore, real_catalog, "gdp_usd_bn", "55", date="2015", source="worldbank_wdi")
    assert (
        rstore.db.execute(
            "SELECT count(*) FROM observations WHERE indicator = 'gas_subsidy_share_gdp'"
        ).fetchone()[0]
        == 2
    )
    assert values(rstore, "gas_subsidy_share_gdp")["2015"] == pytest.approx(4.0)


def test_neighbour_mean_needs_all_five_neighbours(rstore: Store, real_catalog: Catalog) -> None:
    for code, share in (("LVA", "1"), ("LTU", "2"), ("POL", "2"), ("RUS", "4")):
        observe(rstore, real_catalog, "military_expenditure_share_gdp", share, date="2019",
                subject=code)  # fmt: skip
    assert values(rstore, "neighbour_military_expenditure") == {}
    observe(rstore, real_catalog, "military_expenditure_share_gdp", "6", date="2019",
            subject="UKR")  # fmt: skip
    assert values(rstore, "neighbour_military_expenditure") == {"2019": 3.0}
    row = only_row(rstore, "neighbour_military_expenditure", "BLR", "2019")
    assert "LVA 1, LTU 2, POL 2, RUS 4, UKR 6" in row["citation"]


# -- the real files, through the command line (the done-when) ----------------


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real_data is not here")
def test_real_sipri_and_world_bank_files_land_as_catalog_indicators(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0
    sipri = REAL / "sipri" / "SIPRI-Milex-data-1949-2023.xlsx"
    wb = REAL / "worldbank" / "wb_gdp_current_usd_all_countries.csv"
    done = run_cli("ingest", str(sipri), str(wb), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [r["format"] for r in reports] == ["sipri", "worldbank"]
    assert all(r["rows_rejected"] == 0 and r["rows_loaded"] > 100 for r in reports)
    listed = run_cli("observations", "list", "--indicator", "military_expenditure_share_gdp",
                 "--subject", "UKR", "--json", cwd=tmp_path)  # fmt: skip
    ukr = {r["period"]: r for r in json.loads(listed.stdout)}
    assert ukr["2023"]["value"] == pytest.approx(36.65, abs=0.01)
    assert ukr["2023"]["source"] == "sipri_milex"
    gdp = run_cli("observations", "list", "--indicator", "gdp_usd_bn", "--subject", "BLR", "--json",
              cwd=tmp_path)  # fmt: skip
    blr = {r["period"]: r["value"] for r in json.loads(gdp.stdout)}
    assert blr["2023"] == pytest.approx(71.857, abs=0.001)  # the README's check figure
    mean = run_cli("observations", "list", "--indicator", "neighbour_military_expenditure",
               "--subject", "BLR", "--json", cwd=tmp_path)  # fmt: skip
    assert {r["period"] for r in json.loads(mean.stdout)} >= {"1993", "2015", "2023"}
    with Store(tmp_path / "early-warning.db") as store:
        runs = store.runs()
    hashes = {r["format"]: r["sha256"] for r in runs if r["format"] in ("sipri", "worldbank")}
    assert hashes == {"sipri": _sha(sipri), "worldbank": _sha(wb)}


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_revised_value_counts_as_known_from_its_file_not_backdated(
    rstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    first = tmp_path / "gdp-2017.csv"
    first.write_text(
        "Country Name,Country Code,Year,Value\nBelarus,BLR,2015,56454889147.66\n", encoding="utf-8"
    )
    ingest(rstore, real_catalog, first)
    again = tmp_path / "gdp-2024.csv"
    again.write_text(
        "Country Name,Country Code,Year,Value\nBelarus,BLR,2015,60000000000\n"
        "Belarus,BLR,2016,47723545321.2\n",
        encoding="utf-8",
    )
    ingest(rstore, real_catalog, again)
    rows = {
        (r["period"], round(r["value"], 2)): r
        for r in rstore.db.query("SELECT * FROM observations WHERE indicator = 'gdp_usd_bn'")
    }
    assert rows[("2015", 56.45)]["known_from"] == "2016-07-31"  # first release
    revised = rows[("2015", 60.0)]
    assert revised["known_from"] == "2024-06-01"  # the day this file was read
    assert "revision of an earlier release" in revised["note"]
    assert rows[("2016", 47.72)]["known_from"] == "2017-07-31"  # new, not a revision
    # What was known in 2017 is what it was.
    listed = [
        r["value"]
        for r in rstore.observations(
            indicator="gdp_usd_bn", subject="BLR", as_of=dt.date(2017, 1, 1)
        )
    ]
    assert listed == [pytest.approx(56.45488914766)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("20211110150000.export.CSV.zip", b"not a zip at all", "not a readable zip file"),
        ("old.xls", b"just text in an .xls", "neither an IMF DataMapper export nor a WEO"),
        (
            "Metadata_Country_API_NY.GDP.MKTP.CD_DS2.csv",
            b'"Country Code","Region","IncomeGroup","SpecialNotes","TableName",\n',
            "a World Bank metadata file",
        ),
        (
            "API_NY.GDP.MKTP.CD.csv",
            WB_WIDE.replace('"2015"', '"20x5"').encode(),
            "header column 6 ('20x5') is not a year",
        ),
    ],
)
def test_files_that_are_not_what_they_seem_are_refused_in_one_line(
    rstore: Store, real_catalog: Catalog, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as refused:
        ingest(rstore, real_catalog, path)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert str(path) in str(refused.value)
    assert rstore.count("observations") == 0


def test_the_same_value_from_another_download_is_already_known_not_redated(
    rstore: Store, real_catalog: Catalog, tmp_path: Path, wb_server: str
) -> None:
    path = tmp_path / "gdp.csv"
    path.write_text(
        "Country Name,Country Code,Year,Value\nBelarus,BLR,2023,71857382746.6\n", encoding="utf-8"
    )
    ingest(rstore, real_catalog, path)
    url = f"{wb_server}/v2/country/BLR/indicator/NY.GDP.MKTP.CD?format=json&per_page=2"
    result = ingest(rstore, real_catalog, url)  # says "lastupdated": "2024-06-28"
    assert result.skipped["values already stored from this source"] == 1
    row = only_row(rstore, "gdp_usd_bn", "BLR", "2023")
    assert row["known_from"] == "2024-06-01"  # the first file's lag date, capped by the clock


def test_a_broken_later_page_refuses_the_whole_answer(
    rstore: Store, real_catalog: Catalog, wb_server: str
) -> None:
    _Recorded.pages["2"] = b"<html>rate limited</html>"
    url = f"{wb_server}/v2/country/BLR/indicator/NY.GDP.MKTP.CD?format=json&per_page=2"
    with pytest.raises(IngestError, match="page 2 is not a World Bank API answer"):
        ingest(rstore, real_catalog, url)
    assert rstore.count("observations") == 0


def test_a_derived_value_outside_the_catalog_range_is_a_reject_not_dropped(
    rstore: Store, real_catalog: Catalog
) -> None:
    observe(rstore, real_catalog, "gas_subsidy_usd_bn", "30", date="2015")
    result = observe(rstore, real_catalog, "gdp_usd_bn", "20", date="2015",
                     source="worldbank_wdi")  # fmt: skip
    assert result.derived_rejected == 1  # 150% of GDP: outside [0, 100]
    assert values(rstore, "gas_subsidy_share_gdp") == {}
    reject = rstore.rejects()[0]
    assert reject["uri"] == "derived:mappings/derived.yaml" and reject["field"] == "value"


@pytest.mark.parametrize(
    "module", ["cells", "worldbank", "imf", "sipri", "gdelt_dyads", "gdelt", "published"]
)
def test_the_readers_of_published_layouts_touch_no_database(module: str) -> None:
    # Reading returns rows; only the ingest driver and gdelt_record write them through
    # the store (issue 15). An import of the store here would undo that split.
    import ast
    import importlib

    path = Path(importlib.import_module(f"early_warning.ingest.{module}").__file__ or "")
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not [m for m in imported if "store" in m.split(".")], imported
