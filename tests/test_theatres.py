"""Theatres: each subject scored with its theatre's slice of the catalog, profile and
rules, in one store.

A second theatre (the small Moldova catalog in tests/fixtures/moldova, added as a user
would: family files, sources and a theatre copied into the catalog folder, a profile
and a rule file into the models folder) must leave every Belarus number as it was;
the Belarus dyads are scored from their event signals with the `dyads` profile; the
pipeline scores each subject with its own theatre's profile.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml

from early_warning import FixedClock, Store, bundled_path, load_catalog
from early_warning.catalog import Catalog
from early_warning.demo import DemoResult
from early_warning.errors import CatalogError, NotFoundError, RuleError
from early_warning.ingest import Limits, ingest
from early_warning.ingest.gdelt import GdeltSpec, aggregate_events
from early_warning.scoring import Profile, load_profile
from early_warning.services import score
from early_warning.services.theatres import subject_scope
from early_warning.theatres import parse_theatres

from .conftest import FIXTURES, SHARED, run_cli

MOLDOVA = FIXTURES / "moldova"
DYAD_FILE = FIXTURES / "dyad_edges_2022.csv"
REAL_DYADS = SHARED / "real_data" / "gdelt" / "gdelt2_daily_dyad_edges_BLR_2018-2024.csv"
AS_OF = "2022-03-06"
BELARUS = ("BLR", "BLR-RUS", "BLR-UKR", "BLR-POL")  # the subjects with data below


def _merge(shipped: Path, extra: Path, key: str, target: Path) -> None:
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data[key].update(yaml.safe_load(extra.read_text(encoding="utf-8"))[key])
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")


def _with_moldova(root: Path) -> tuple[Path, Path]:
    """The shipped catalog and models with the Moldova theatre added, as a user would."""
    catalog, models = root / "indicators", root / "models"
    shipped = bundled_path("indicators")
    catalog.mkdir()
    for path in shipped.glob("*.yaml"):
        shutil.copy(path, catalog)
    shutil.copytree(shipped / "mappings", catalog / "mappings")
    for name in ("moldova_security.yaml", "moldova_energy.yaml"):
        shutil.copy(MOLDOVA / name, catalog)
    _merge(shipped / "sources.yaml", MOLDOVA / "sources.yaml", "sources", catalog / "sources.yaml")
    _merge(
        shipped / "theatres.yaml", MOLDOVA / "theatres.yaml", "theatres", catalog / "theatres.yaml"
    )
    shutil.copytree(bundled_path("models"), models)
    shutil.copy(MOLDOVA / "weights" / "moldova.yaml", models / "weights")
    shutil.copy(MOLDOVA / "alerts_moldova.yaml", models)
    return catalog, models


def _numbers(store: Store, catalog: Catalog, models: Path, subject: str) -> dict[str, object]:
    """Everything a subject's weekly scores say, to compare exactly."""
    scope = subject_scope(catalog, models, subject)
    results = score(store, scope.catalog, scope.profile, subject, _day(AS_OF))
    return {
        "score": results.score,
        "band": [results.band(r) for r in range(results.panel.n_weeks)],
        "coverage": results.agg.coverage,
        "families": results.agg.family_score,
        "risk": results.risk,
        "indicators": results.index.indicators,
        "profile": (scope.profile.name, scope.profile.weights_hash),
        "catalog_version": scope.catalog.version,
    }


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _assert_same(before: dict[str, object], after: dict[str, object]) -> None:
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, after[key], err_msg=key)  # NaN == NaN here
        else:
            assert value == after[key], key


def test_a_second_theatre_leaves_every_belarus_number_as_it_was(
    demo_copy: DemoResult, tmp_path: Path
) -> None:
    shipped, models = load_catalog(bundled_path("indicators")), bundled_path("models")
    with Store(demo_copy.db_path) as store:
        ingest(store, shipped, DYAD_FILE, limits=Limits())
        before = {s: _numbers(store, shipped, models, s) for s in BELARUS}
        assert not np.isnan(before["BLR"]["score"]).all()
        assert not np.isnan(before["BLR-UKR"]["score"]).all()

        catalog_dir, moldova_models = _with_moldova(tmp_path)
        both = load_catalog(catalog_dir)
        store.sync_catalog(both)
        loaded = ingest(store, both, MOLDOVA / "mda.csv", limits=Limits())
        assert loaded.rows_loaded == 4 and not loaded.rows_rejected
        after = {s: _numbers(store, both, moldova_models, s) for s in BELARUS}
        moldova = _numbers(store, both, moldova_models, "MDA")

        # Without theatres' slices (every family in every denominator, as before), the
        # Moldova families dilute Belarus's coverage: the comparison below can fail.
        belarus = subject_scope(both, moldova_models, "BLR")
        mixed = score(store, both, _whole(both, models), "BLR", _day(AS_OF))
    for subject in BELARUS:
        _assert_same(before[subject], after[subject])
    assert belarus.catalog.version == before["BLR"]["catalog_version"]
    latest = int(np.flatnonzero(~np.isnan(before["BLR"]["coverage"]))[-1])
    assert mixed.agg.coverage[latest] < before["BLR"]["coverage"][latest]
    assert moldova["profile"][0] == "moldova"
    assert np.nanmax(moldova["coverage"]) == pytest.approx(1.0)  # no Belarus family in it


def _whole(catalog: Catalog, models: Path) -> Profile:
    return load_profile(models, "default", catalog)


def test_a_dyad_scores_from_the_event_family_through_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "dyads.db"
    assert run_cli("--db", str(db), "init", cwd=tmp_path).returncode == 0
    assert run_cli("--db", str(db), "ingest", str(DYAD_FILE), cwd=tmp_path).returncode == 0
    done = run_cli(
        "--db", str(db), "score", "--subject", "BLR-UKR", "--as-of", AS_OF, "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    week = json.loads(done.stdout)
    assert (week["theatre"], week["profile"]) == ("belarus", "dyads")
    assert week["coverage"] > 0 and week["families"]["event_data"]["status"] == "scored"
    assert list(week["families"]) == ["event_data"]  # the dyads' slice: no Belarus family
    # The file's weighted indicator is the whole score: the week's negative days as a
    # magnitude, judged against the weeks before it (the catalog's baseline), worked
    # out here from the file itself. The net score is there with weight 0.
    assert week["score"] == pytest.approx(_expected_score(DYAD_FILE), abs=1e-3)
    assert [c["indicator"] for c in week["contributions"] if c["contribution"]] == [
        "gdelt_edge_conflict"
    ]
    # Thirteen weeks into the file the baseline has too little past to judge by, and
    # the text says so in words, not only `--json`'s `insufficient_history`.
    early = run_cli("--db", str(db), "score", "--subject", "BLR-UKR", "--as-of", "2021-10-31",
                    cwd=tmp_path)  # fmt: skip
    assert early.returncode == 1 and "insufficient data" in early.stdout
    assert (
        "insufficient history (baseline needs 26 earlier weeks): gdelt_edge_conflict\n"
        in early.stdout
    )


def _expected_score(path: Path) -> float:
    """BLR-UKR's score as of AS_OF worked out from the file: the week's mid-rank
    percentile among the weeks before it, its upper tail from `baseline_from` stretched
    to 0-100 (docs/catalog.md, "Baselines")."""
    spec = load_catalog(bundled_path("indicators")).get("gdelt_edge_conflict").normalisation
    weeks = _negative_weeks(path, "BLR_UKR", AS_OF)
    now, before = weeks[-1], weeks[:-1][-spec["baseline_weeks"] :]
    assert len(before) >= spec["min_history"]
    rank = (sum(b < now for b in before) + 0.5 * sum(b == now for b in before)) / len(before)
    start = spec.get("baseline_from", 0.0)
    return 100 * max(0.0, (rank - start) / (1 - start))


def _negative_weeks(path: Path, column: str, sunday: str) -> list[float]:
    """Each whole week's sum of the negative daily values, as a magnitude, up to the
    week that ends on `sunday` (the file starts on a Monday)."""
    end = _day(sunday)
    with path.open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if _day(r["date"]) <= end]
    assert len(rows) % 7 == 0
    days = [min(0.0, float(r[column])) for r in rows]
    return [-sum(days[i : i + 7]) for i in range(0, len(days), 7)]


@pytest.mark.skipif(not REAL_DYADS.is_file(), reason="needs ../shared/real_data")
def test_the_real_gdelt_dyad_file_scores_belarus_ukraine(tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    assert run_cli("--db", str(db), "init", cwd=tmp_path).returncode == 0
    assert run_cli("--db", str(db), "ingest", str(REAL_DYADS), cwd=tmp_path).returncode == 0
    done = run_cli(
        "--db",
        str(db),
        "score",
        "--subject",
        "BLR-UKR",
        "--as-of",
        "2022-02-27",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    week = json.loads(done.stdout)
    assert week["profile"] == "dyads" and week["coverage"] > 0
    assert week["families"]["event_data"]["status"] == "scored"
    shown = {c["indicator"]: c["contribution"] for c in week["contributions"]}
    assert shown.keys() == {"gdelt_edge_conflict", "gdelt_edge_score"}
    assert shown["gdelt_edge_conflict"] > 0 and shown["gdelt_edge_score"] == 0  # weight 0
    # The invasion week is above every week of the dyad's past year: the top band.
    assert week["band"] == "severe"


def test_the_pipeline_scores_each_subject_with_its_theatres_profile(
    demo_copy: DemoResult, tmp_path: Path
) -> None:
    db = str(demo_copy.db_path)
    assert run_cli("--db", db, "ingest", str(DYAD_FILE), cwd=tmp_path).returncode == 0
    done = run_cli("--db", db, "pipeline", "--as-of", AS_OF, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    ran = {s["subject"]: (s["theatre"], s["profile"]) for s in out["subjects"]}
    assert ran == {
        "BLR": ("belarus", "default"),
        "BLR-POL": ("belarus", "dyads"),
        "BLR-RUS": ("belarus", "dyads"),
        "BLR-UKR": ("belarus", "dyads"),
    }
    assert {"RUS", "UKR", "EST"} <= set(out["not_scored"])  # neighbours' GDP: kept, no theatre
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT subject, profile FROM scores WHERE as_of = ?", [AS_OF]))
    assert stored == {s: p for s, (_, p) in ran.items()}
    # `status` names the dyads whose level is NONE rather than leave them out.
    glance = run_cli("--db", db, "status", cwd=tmp_path).stdout.splitlines()
    quiet = [line for line in glance if line.startswith("warning    NONE for ")]
    assert quiet, glance
    named = quiet[0].split(": ", 1)[1].split(", ")
    assert set(named) <= set(ran) - {"BLR"} and named == sorted(named), glance


def test_a_subject_of_no_theatre_and_an_unknown_profile_are_one_line_errors(
    demo: DemoResult, tmp_path: Path
) -> None:
    db = str(demo.db_path)
    cases = {
        ("--subject", "RUS"): "subject RUS belongs to no theatre",
        ("--subject", "BLR", "--profile", "nosuch"): "no such weight profile",
    }
    for args, words in cases.items():
        done = run_cli("--db", db, "score", "--as-of", AS_OF, *args, cwd=tmp_path)
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_rule_reading_another_slice_is_refused_by_name(tmp_path: Path) -> None:
    catalog_dir, models = _with_moldova(tmp_path)
    rules = models / "alerts_moldova.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("    subjects: [MDA]", "    subjects: [MDA, BLR]"), "utf-8")
    catalog = load_catalog(catalog_dir)
    with pytest.raises(RuleError, match="rule 'md_troops_high': family 'moldova_security' is not"):
        subject_scope(catalog, models, "BLR", rules=rules)
    subject_scope(catalog, models, "MDA")  # in its own theatre it reads its own slice


@pytest.mark.parametrize(
    ("theatres", "words"),
    [
        ({"a": {"country": "BLR", "families": ["nope"]}}, "'nope' is not a family"),
        ({"a": {"country": "blr", "families": ["x"]}}, "field 'country'"),
        (
            {"a": {"country": "BLR", "families": ["x"]},
             "b": {"country": "MDA", "families": ["x"], "dyads": {"counterparts": ["BLR"]}},
             "c": {"country": "LTU", "families": ["x"], "dyads": {"counterparts": ["LTU"]}}},
            "field 'dyads.counterparts'",
        ),
        ({"a": {"country": "BLR", "families": ["x"], "profiles": "p"}}, "field 'profiles'"),
    ],
)  # fmt: skip
def test_a_mistake_in_theatres_is_one_line_naming_the_field(theatres: dict, words: str) -> None:
    with pytest.raises(CatalogError, match=words) as caught:
        parse_theatres({"theatres": theatres}, ["x"], Path("theatres.yaml"))
    assert "\n" not in str(caught.value)


def test_a_subject_in_two_theatres_is_refused() -> None:
    twice = {
        "a": {"country": "BLR", "families": ["x"], "dyads": {"counterparts": ["RUS"]}},
        "b": {"country": "BLR", "families": ["x"]},
    }
    with pytest.raises(CatalogError, match="BLR is already a subject of theatre 'a'"):
        parse_theatres({"theatres": twice}, ["x"], Path("theatres.yaml"))


def test_a_catalog_without_theatres_scores_every_subject_as_before(catalog: Catalog) -> None:
    theatre, role = catalog.role("XYZ")
    assert theatre is None and (role.profile, role.rules) == ("default", "alerts.yaml")
    assert catalog.slice(role.families) is catalog  # same object, same version
    assert catalog.in_theatre("ANY-ONE")


def test_a_catalog_with_theatres_refuses_an_undeclared_subject() -> None:
    catalog = load_catalog(bundled_path("indicators"))
    with pytest.raises(NotFoundError, match="belongs to no theatre"):
        catalog.role("MDA")
    dyads = catalog.slice(catalog.role("BLR-LVA")[1].families)
    assert list(dyads.families) == ["event_data"]
    assert set(dyads.indicators) == set(catalog.families["event_data"].indicators)


# Two GDELT 2.0 exports (61 columns) of one week: events between MDA-ROU, MDA-RUS,
# BLR-RUS, BLR-UKR and unrelated pairs; the second file repeats two events of the first
# (same GLOBALEVENTID) and adds one MDA-ROU and one BLR-RUS event.
GDELT_EXPORTS = sorted(MOLDOVA.glob("theatres_*.export.CSV"))
_VOLATILE = {"id", "run_id", "recorded_at", "source_id", "revision_rank"}


def _event_rows(catalog: Catalog, db: Path, files: list[Path]) -> tuple[list[dict], dict, list]:
    """The stored observations (every revision) after ingesting the files, the weekly
    event count each subject has now, and the ingest results."""
    with Store(db, clock=FixedClock("2024-06-01T12:00:00")) as store:
        store.sync_catalog(catalog)
        results = [ingest(store, catalog, path) for path in files]
        rows = [
            {k: v for k, v in row.items() if k not in _VOLATILE}
            for row in store.observations(all_revisions=True)
        ]
        events = {r["subject"]: r["value"] for r in store.observations(indicator="gdelt_events")}
    return sorted(rows, key=lambda r: sorted((k, str(v)) for k, v in r.items())), events, results


def _dyad_day_file(path: Path) -> Path:
    days = [f"2021-11-{d:02d}" for d in range(8, 15)]  # 2021-W45, Monday to Sunday
    lines = ["date,BLR_RUS,MDA_ROU,MDA_UKR"] + [f"{d},-2.5,-1.0,3.0" for d in days]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_gdelt_counts_each_theatres_dyads_and_leaves_belarus_as_it_was(tmp_path: Path) -> None:
    shipped = load_catalog(bundled_path("indicators"))
    both = load_catalog(_with_moldova(tmp_path)[0])
    files = [*GDELT_EXPORTS, _dyad_day_file(tmp_path / "dyads.csv")]
    alone, _, _ = _event_rows(shipped, tmp_path / "alone.db", files)
    together, events, results = _event_rows(both, tmp_path / "both.db", files)

    def of(rows: list[dict], prefix: str) -> list[dict]:
        return [r for r in rows if r["subject"].split("-")[0] == prefix]

    assert of(alone, "BLR") and of(alone, "BLR") == of(together, "BLR")
    assert not of(alone, "MDA")
    # MDA-ROU: six events, the repeat not again, one more; MDA: its two dyads.
    assert (events["MDA-ROU"], events["MDA-RUS"], events["MDA"]) == (7, 3, 10)
    assert (events["BLR-RUS"], events["BLR-UKR"], events["BLR"]) == (7, 1, 8)
    assert results[1].skipped["events already counted (same GLOBALEVENTID)"] == 2
    edges = {(r["subject"], r["indicator"]) for r in of(together, "MDA")}
    assert ("MDA-ROU", "gdelt_edge_conflict") in edges  # the daily file's theatre dyad
    assert not any(s == "MDA-UKR" for s, _ in edges)  # not a dyad of any theatre
    assert results[2].skipped["dyad columns not among the theatres' dyads"] == 1


def test_an_event_two_theatres_pair_counts_for_each_theatres_subjects(tmp_path: Path) -> None:
    catalog_dir, _ = _with_moldova(tmp_path)
    theatres = yaml.safe_load((catalog_dir / "theatres.yaml").read_text(encoding="utf-8"))
    theatres["theatres"]["russia"] = {
        "country": "RUS", "families": ["event_data"], "dyads": {"counterparts": ["BLR", "MDA"]}
    }  # fmt: skip
    (catalog_dir / "theatres.yaml").write_text(yaml.safe_dump(theatres), encoding="utf-8")
    spec = GdeltSpec.from_catalog(load_catalog(catalog_dir))
    found = aggregate_events(GDELT_EXPORTS[0], spec, today=dt.date(2024, 6, 1))
    week = "2021-W45"
    counts = {s: found.sums[(s, week)][0] for s in spec.subjects if (s, week) in found.sums}
    assert counts["BLR-RUS"] == counts["RUS-BLR"] == 6
    assert counts["MDA-RUS"] == counts["RUS-MDA"] == 3
    assert (counts["RUS"], counts["BLR"], counts["MDA"]) == (9, 7, 9)
    assert found.rows_kept == 16 and len(found.event_ids) == 16  # each event once


def test_an_explicit_gdelt_subject_still_counts_only_its_dyads(tmp_path: Path) -> None:
    catalog_dir, _ = _with_moldova(tmp_path)
    mapping = catalog_dir / "mappings" / "gdelt.yaml"
    data = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    data["gdelt"].update(subject="MDA", counterparts=["ROU"])
    mapping.write_text(yaml.safe_dump(data), encoding="utf-8")
    spec = GdeltSpec.from_catalog(load_catalog(catalog_dir))
    found = aggregate_events(GDELT_EXPORTS[0], spec, today=dt.date(2024, 6, 1))
    assert {s for s, _ in found.sums} == {"MDA", "MDA-ROU"}
    assert found.sums[("MDA-ROU", "2021-W45")][0] == 6
