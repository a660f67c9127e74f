"""GDELT event exports aggregated into weekly dyad indicators that `score` uses.

The exports are synthetic, written in the published layouts (no header, tab-separated,
57/58 columns for 1.0, 61 for 2.0; ../shared/real_data/gdelt/schema_*.csv), with
counts small enough to check by hand.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from early_warning import FixedClock, Store
from early_warning.catalog import Catalog
from early_warning.errors import IngestError
from early_warning.ingest import ingest

from .conftest import PROJECT, SHARED, run_cli
from .test_importers import values

# (actor1, actor2, root code, quad class, Goldstein, tone[, NumMentions, else 4]);
# day 2021-11-10 (2021-W45).
BLR_RUS: list[tuple[Any, ...]] = [
    ("BLR", "RUS", "15", 4, -7.2, -3.0),
    ("RUS", "BLR", "15", 4, -7.2, -5.0),
    ("BLR", "RUS", "19", 4, -10.0, -9.0, 20),  # fighting, much in the news
    ("RUS", "BLR", "18", 4, -9.0, -8.0),
    ("BLR", "RUS", "13", 3, -4.4, -4.0),
    ("RUS", "BLR", "13", 3, -4.4, -2.0),
    ("BLR", "RUS", "12", 3, -4.0, -1.0),
    ("BLR", "RUS", "04", 1, 1.0, 2.0),
    ("RUS", "BLR", "04", 1, 1.0, 3.0),
    ("BLR", "RUS", "07", 2, 7.0, 4.0, 1),  # aid, mentioned once
]
BLR_POL = [("POL", "BLR", "17", 4, -5.0, -6.0)] * 3 + [("BLR", "POL", "11", 3, -2.0, -2.0)] * 3
BLR_LTU = [("LTU", "BLR", "11", 3, -2.0, -1.0)] * 3  # under min_events: counts only
NOISE = [
    ("USA", "CHN", "19", 4, -10.0, -9.0),
    ("BLR", "BLR", "14", 3, -6.5, -5.0),  # domestic
    ("BLR", "DEU", "15", 4, -7.2, -5.0),  # not a counterpart
    ("", "BLR", "15", 4, -7.2, -5.0),  # no actor country
]


def gdelt_line(
    event: tuple[Any, ...],
    *,
    day: str = "20211110",
    width: int = 61,
    number: int = 1,
) -> str:
    """One export row; an event may carry a 7th field, its NumMentions (else 4)."""
    a1, a2, root, quad, goldstein, tone, *more = event
    mentions = more[0] if more else 4
    cells = [""] * width
    cells[0], cells[1], cells[2], cells[3], cells[4] = str(number), day, day[:6], day[:4], "2021.8"
    cells[5], cells[6], cells[7] = f"{a1}GOV", f"{a1} government", a1
    cells[15], cells[16], cells[17] = f"{a2}MIL", f"{a2} military", a2
    cells[25], cells[26], cells[27], cells[28] = "1", f"{root}0", f"{root}0", root
    cells[29], cells[30] = str(quad), str(goldstein)
    cells[31], cells[32], cells[33], cells[34] = str(mentions), "2", "4", str(tone)
    if width == 61:
        cells[59], cells[60] = day + "150000", 'https://example.org/news?id=1&x="q"'
    else:
        cells[56] = day
        if width == 58:
            cells[57] = "https://example.org/news"
    return "\t".join(cells)


_IDS = itertools.count(1)  # every generated event gets its own GLOBALEVENTID


def write_export(
    path: Path, events: list[tuple[Any, ...]], *, width: int = 61,
    day: str = "20211110", zipped: bool = False,
) -> Path:  # fmt: skip
    text = "\n".join(gdelt_line(e, day=day, width=width, number=next(_IDS)) for e in events)
    if zipped:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(path.name.removesuffix(".zip"), text + "\n")
    else:
        path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gstore(tmp_path: Path, real_catalog: Catalog) -> Iterator[Store]:
    with Store(tmp_path / "g.db", clock=FixedClock("2024-06-01T12:00:00")) as s:
        s.sync_catalog(real_catalog)
        yield s


def test_weekly_dyad_indicators_match_a_count_by_hand(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = write_export(tmp_path / "20211110150000.export.CSV", BLR_RUS + BLR_POL + BLR_LTU + NOISE)
    result = ingest(gstore, real_catalog, path)
    assert (result.format, result.status) == ("gdelt2.0", "ok")
    assert result.rows_read == 23 and result.rows_rejected == 0
    assert result.skipped["events not between BLR and RUS, POL, LTU, LVA, UKR"] == 4
    week = "2021-W45"
    rus = {k: v[week] for k, v in _all(gstore, "BLR-RUS").items()}
    assert rus["gdelt_events"] == 10
    assert [rus[f"gdelt_quad{q}_events"] for q in (1, 2, 3, 4)] == [2, 1, 3, 4]
    assert rus["gdelt_material_conflict_share"] == pytest.approx(40.0)
    assert rus["gdelt_goldstein_mean"] == pytest.approx(-37.2 / 10)
    # Conflict (quads 3, 4) and cooperation (1, 2) apart; Goldstein by NumMentions.
    assert (rus["gdelt_conflict_share"], rus["gdelt_cooperation_share"]) == (70.0, 30.0)
    by_mentions = sum(e[4] * (e[6] if len(e) > 6 else 4) for e in BLR_RUS)
    assert rus["gdelt_goldstein_weighted"] == pytest.approx(by_mentions / (8 * 4 + 20 + 1))
    assert rus["gdelt_goldstein_weighted"] < rus["gdelt_goldstein_mean"]
    assert rus["gdelt_tone_mean"] == pytest.approx(-23.0 / 10)
    assert rus["gdelt_force_posture_share"] == pytest.approx(20.0)  # two 15s
    assert rus["gdelt_violence_share"] == pytest.approx(20.0)  # 18 and 19
    assert rus["gdelt_threaten_share"] == pytest.approx(20.0)  # two 13s
    assert rus["gdelt_coerce_share"] == 0.0
    pol = {k: v[week] for k, v in _all(gstore, "BLR-POL").items()}
    assert pol["gdelt_coerce_share"] == pytest.approx(50.0)
    # Three events with Lithuania: counts, but no shares or means from so few.
    ltu = _all(gstore, "BLR-LTU")
    assert ltu["gdelt_events"] == {week: 3}
    assert "gdelt_tone_mean" not in ltu
    # Latvia and Ukraine: no events in a week the file covers is zero, not missing.
    assert _all(gstore, "BLR-LVA") == {f"gdelt_quad{q}_events": {week: 0} for q in (1, 2, 3, 4)} | {
        "gdelt_events": {week: 0}
    }
    # Lithuania (3 events), Latvia and Ukraine (none): 10 shares and means each left out.
    assert result.skipped["shares and means of weeks with fewer than 5 events"] == 30
    # Belarus as a whole: the events of all its dyads.
    blr = {k: v[week] for k, v in _all(gstore, "BLR").items()}
    assert blr["gdelt_events"] == 19
    assert blr["gdelt_quad4_events"] == 7
    row = next(
        gstore.db.query(
            "SELECT * FROM observations WHERE subject = 'BLR-RUS' AND indicator = 'gdelt_events'"
        )
    )
    assert row["known_from"] == "2021-11-10"  # the DATEADDED day
    assert "GDELT 2.0" in row["citation"] and "from 1 file(s)" in row["note"]


def _all(store: Store, subject: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in store.db.query(
        "SELECT indicator, period, value FROM observations WHERE subject = ? "
        "ORDER BY recorded_at, id",
        [subject],
    ):
        out.setdefault(row["indicator"], {})[row["period"]] = row["value"]
    return out


def test_files_add_up_in_any_order_and_a_week_is_revised_not_overwritten(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    first = write_export(tmp_path / "20211110150000.export.CSV.zip", BLR_RUS[:6], zipped=True)
    second = write_export(tmp_path / "20211110151500.export.CSV", BLR_RUS[6:])
    ingest(gstore, real_catalog, second)
    assert values(gstore, "gdelt_events", "BLR-RUS") == {"2021-W45": 4}
    ingest(gstore, real_catalog, first)
    assert values(gstore, "gdelt_events", "BLR-RUS") == {"2021-W45": 10}
    shares = gstore.db.execute(
        "SELECT value FROM observations WHERE subject = 'BLR-RUS' "
        "AND indicator = 'gdelt_material_conflict_share' ORDER BY id"
    ).fetchall()
    assert [r[0] for r in shares] == [pytest.approx(40.0)]  # 4 events alone: too few
    revisions = gstore.db.execute(
        "SELECT count(*) FROM observations WHERE subject = 'BLR-RUS' AND indicator = 'gdelt_events'"
    ).fetchone()[0]
    assert revisions == 2  # the first value stays, as known then
    again = ingest(gstore, real_catalog, first)
    assert again.status == "duplicate"
    assert values(gstore, "gdelt_events", "BLR-RUS") == {"2021-W45": 10}


@pytest.mark.parametrize("width", [57, 58, 61])
def test_gdelt_1_and_2_layouts_give_the_same_indicators(
    gstore: Store, real_catalog: Catalog, tmp_path: Path, width: int
) -> None:
    path = write_export(tmp_path / "events.tsv", BLR_RUS, width=width)
    result = ingest(gstore, real_catalog, path, fmt="gdelt")
    assert result.format == ("gdelt2.0" if width == 61 else "gdelt1.0")
    assert _all(gstore, "BLR-RUS")["gdelt_goldstein_mean"] == {"2021-W45": pytest.approx(-3.72)}


def test_bad_rows_are_rejects_with_line_and_column_and_the_rest_lands(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    lines = [gdelt_line(e, number=next(_IDS)) for e in BLR_RUS]
    lines[2] = lines[2].replace("20211110", "2021111x", 1)
    lines[4] = "\t".join(c if i != 29 else "7" for i, c in enumerate(lines[4].split("\t")))
    lines[6] = "\t".join(c if i != 30 else "strong" for i, c in enumerate(lines[6].split("\t")))
    lines[7] = "\t".join(c if i != 31 else "-2" for i, c in enumerate(lines[7].split("\t")))
    lines.insert(8, "BLR\tRUS\tcut short")
    path = tmp_path / "20211110150000.export.CSV"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(gstore, real_catalog, path)
    assert [(r.line, r.field) for r in result.rejects] == [
        (3, "SQLDATE"), (5, "QuadClass"), (7, "GoldsteinScale"), (8, "NumMentions"), (9, "row"),
    ]  # fmt: skip
    assert result.exit_code == 1
    assert values(gstore, "gdelt_events", "BLR-RUS") == {"2021-W45": 6}
    stored = gstore.rejects()
    assert {r["line"] for r in stored} == {3, 5, 7, 8, 9}
    assert next(r for r in stored if r["line"] == 9)["raw"].startswith("GLOBALEVENTID=BLR")
    # Ingested again: nothing added, and the rejects of the first run are pointed at.
    again = ingest(gstore, real_catalog, path)
    assert again.status == "duplicate" and again.exit_code == 1
    assert "rejects list --run" in again.summary()


def test_a_file_that_is_not_an_export_is_refused_whole(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "20211110150000.export.CSV"
    path.write_text("a\tb\tc\n1\t2\t3\n", encoding="utf-8")
    with pytest.raises(IngestError, match="line 1 has 3 tab-separated fields"):
        ingest(gstore, real_catalog, path)
    assert gstore.count("observations") == 0
    assert gstore.db.execute("SELECT count(*) FROM event_counts").fetchone()[0] == 0


def _profile_with_event_weight(tmp_path: Path) -> Path:
    data = yaml.safe_load((PROJECT / "models" / "weights" / "default.yaml").read_text())
    data["name"] = "events"
    for family in data["families"].values():  # a dyad has event data only
        family["weight"] = 0.0
    data["families"]["event_data"]["weight"] = 1.0
    path = tmp_path / "events.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_folder_backfill_resumes_and_score_uses_the_weekly_dyad_indicators(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "gdelt"
    folder.mkdir()
    write_export(folder / "20211110000000.export.CSV.zip", BLR_RUS[:5], zipped=True)
    (folder / "20211110001500.export.CSV").write_text("not\tan\texport\n", encoding="utf-8")
    write_export(folder / "20211117000000.export.CSV", BLR_RUS + BLR_POL, day="20211117")
    assert run_cli("init", cwd=tmp_path).returncode == 0
    first = run_cli("ingest", str(folder), "--progress", cwd=tmp_path)
    assert first.returncode == 2  # one file refused; the others landed
    assert "line 1 has 3 tab-separated fields" in first.stderr
    assert "%|" in first.stderr  # the progress bar was shown
    # Resume: the two landed files are skipped; the repaired one is read.
    write_export(folder / "20211110001500.export.CSV", BLR_RUS[5:])
    second = run_cli("ingest", str(folder), "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    statuses = [r["status"] for r in json.loads(second.stdout)]
    assert statuses == ["duplicate", "ok", "duplicate"]
    # `score` for a dyad: the family is scored on its own (context, weight 0) ...
    scored = run_cli(
        "score", "--subject", "BLR-RUS", "--as-of", "2021-11-21", "--json", cwd=tmp_path
    )
    week = json.loads(scored.stdout)
    family = week["families"]["event_data"]
    assert family["coverage"] > 0.7 and family["score"] is not None
    # Those judged against the dyad's own past have two weeks of it: no risk, said so.
    assert {"gdelt_conflict_share", "gdelt_goldstein_weighted"} <= set(week["insufficient_history"])
    # ... and enters the total once a profile gives the family a weight.
    weighted = run_cli(
        "score", "--subject", "BLR-RUS", "--as-of", "2021-11-21", "--json",
        "--profile", str(_profile_with_event_weight(tmp_path)), cwd=tmp_path,
    )  # fmt: skip
    assert weighted.returncode == 0, weighted.stderr
    out = json.loads(weighted.stdout)
    assert out["score"] == pytest.approx(out["families"]["event_data"]["score"], abs=0.01)
    drivers = {c["indicator"] for c in out["contributions"] if c["contribution"]}
    assert "gdelt_material_conflict_share" in drivers


@pytest.mark.skipif(not (SHARED / "real_data" / "gdelt").is_dir(), reason="no ../shared")
def test_the_published_column_layouts_match_the_positions_read() -> None:
    from early_warning.ingest import gdelt

    for name, width in (("schema_gdelt1_events_columns.csv", 58),
                        ("schema_gdelt2_events_columns.csv", 61)):  # fmt: skip
        import csv

        with (SHARED / "real_data" / "gdelt" / name).open(encoding="utf-8") as handle:
            columns = [row["name"] for row in csv.DictReader(handle)]
        assert len(columns) == width
        for position, label in gdelt._NAMES.items():
            assert columns[position] == label
        assert columns[gdelt.DATEADDED[width]] == "DATEADDED"


EDGES = SHARED / "real_data" / "gdelt" / "gdelt2_daily_dyad_edges_BLR_2018-2024.csv"


def test_daily_dyad_scores_become_weekly_sums_and_a_short_week_gets_none(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "edges.csv"
    days = [f"2021-11-{d:02d}" for d in range(8, 15)] + ["2021-11-15", "2021-11-16"]
    lines = ["date,BLR_RUS,BLR_POL,BLR_USA,BLR_sum_all,n_countries"]
    lines += [f"{d},1.5,-100,9,0,249" for d in days]
    lines.append("2021-11-17,oops,-1,0,0,249")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(gstore, real_catalog, path)
    assert result.format == "gdelt-edges"
    assert values(gstore, "gdelt_edge_score", "BLR-POL") == {"2021-W45": -700.0}
    assert values(gstore, "gdelt_edge_score", "BLR-RUS") == {"2021-W45": 10.5}
    assert [(r.line, r.field) for r in result.rejects] == [(11, "BLR_RUS")]
    assert result.skipped == {
        "columns that are not dyads": 2,
        "dyad columns not among the theatres' dyads": 1,  # BLR_USA
        "dyad-weeks with fewer than 5 days in the file": 2,  # 2021-W46 has three days
    }


@pytest.mark.skipif(not EDGES.is_file(), reason="../shared/real_data is not here")
def test_the_real_daily_belarus_dyad_series_shows_the_2021_border_crisis(
    gstore: Store, real_catalog: Catalog
) -> None:
    import csv

    result = ingest(gstore, real_catalog, EDGES)
    assert result.rows_rejected == 0 and result.rows_loaded > 1000
    with EDGES.open(encoding="utf-8") as handle:
        week = [r for r in csv.DictReader(handle) if "2021-11-08" <= r["date"] <= "2021-11-14"]
    expected = sum(float(r["BLR_POL"]) for r in week)
    pol = values(gstore, "gdelt_edge_score", "BLR-POL")
    assert pol["2021-W45"] == pytest.approx(expected, abs=1e-3)
    assert pol["2021-W45"] == min(pol.values())  # the migrant crisis on the Polish border
    # The 96 days missing from the file leave weeks without a value, not zeros.
    assert "dyad-weeks with fewer than 5 days in the file" in result.skipped


def test_an_event_met_again_in_another_file_is_counted_once(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    plain = write_export(tmp_path / "20211110150000.export.CSV", BLR_RUS)
    with zipfile.ZipFile(tmp_path / "20211110150000.export.CSV.zip", "w") as archive:
        archive.write(plain, plain.name)  # the same export, zipped
    ingest(gstore, real_catalog, plain)
    again = ingest(gstore, real_catalog, tmp_path / "20211110150000.export.CSV.zip")
    assert again.skipped["events already counted (same GLOBALEVENTID)"] == 10
    assert values(gstore, "gdelt_events", "BLR-RUS") == {"2021-W45": 10}


def test_an_event_dated_in_the_future_or_before_gdelt_is_a_reject(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    lines = [gdelt_line(e, number=next(_IDS)) for e in BLR_RUS[:6]]
    lines[1] = lines[1].replace("\t20211110\t", "\t20990307\t", 1)
    lines[2] = lines[2].replace("\t20211110\t", "\t19000101\t", 1)
    path = tmp_path / "20211110150000.export.CSV"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(gstore, real_catalog, path)  # the store's clock: 2024-06-01
    assert [(r.line, r.field) for r in result.rejects] == [(2, "SQLDATE"), (3, "SQLDATE")]
    assert values(gstore, "gdelt_events", "BLR-RUS") == {"2021-W45": 4}
    assert "SQLDATE=20990307" in gstore.rejects()[-1]["raw"]


def test_a_bad_tone_is_named_with_its_value(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    event = ("BLR", "RUS", "15", 4, -7.2, float("nan"))
    path = write_export(tmp_path / "20211110150000.export.CSV", [event])
    result = ingest(gstore, real_catalog, path)
    assert [(r.field, r.reason) for r in result.rejects] == [
        ("AvgTone", "'nan' is not a finite number")
    ]


def test_a_weeks_values_go_stale_the_week_after_kept_and_marked(
    gstore: Store, real_catalog: Catalog, tmp_path: Path
) -> None:
    from early_warning.scoring import load_profile
    from early_warning.services import score

    ingest(gstore, real_catalog, write_export(tmp_path / "20211110150000.export.CSV", BLR_RUS))
    profile = load_profile(PROJECT / "models", "default", real_catalog)
    during = score(gstore, real_catalog, profile, "BLR-RUS", dt.date(2021, 11, 14)).week(-1)
    assert during["families"]["event_data"]["coverage"] > 0.7  # no baseline risks yet
    # A week later, with no file for that week, the values are stale: still the values
    # used (they do not drop out and move their weight in one step), and marked stale.
    later = score(gstore, real_catalog, profile, "BLR-RUS", dt.date(2021, 11, 21)).week(-1)
    weekly = {i.id for i in real_catalog.in_family("event_data")}
    shown = {c["indicator"] for c in during["contributions"]} & weekly
    assert shown and shown <= set(later["stale"])
    assert (
        later["families"]["event_data"]["coverage"] == during["families"]["event_data"]["coverage"]
    )
