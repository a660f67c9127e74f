"""`early-warning demo --replay START END`: the daemon's weekly cycle over past weeks of
the embedded data on a fixed clock, each row arriving when it was published.

Six weeks of late 2019 (the embedded releases of 31 December 2019 not yet public, so
the composite is honestly "insufficient data" and the forecasts are quick); the weekly
PDF is left out (`--no-reports`) but in one short run, for the suite's CPU time.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from pathlib import Path

import pytest

from .conftest import HEADER, SHARED, Completed, run_cli

WINDOW = ("2019-11-04", "2019-12-15")  # 2019-W45 .. 2019-W50
WEEKS = [f"2019-W{n}" for n in range(45, 51)]
EDGES = SHARED / "real_data" / "gdelt" / "gdelt2_daily_dyad_edges_BLR_2018-2024.csv"


def replay(tmp: Path, name: str, *extra: str, window: tuple[str, str] = WINDOW) -> Completed:
    """The replay in `tmp/name`, fed the embedded data and `extra` (`--data`) only: an
    empty `--data` folder keeps ../shared/real_data out of it."""
    nothing = tmp / "no-real-data"
    nothing.mkdir(exist_ok=True)
    data = [arg for path in (extra or (str(nothing),)) for arg in ("--data", path)]
    return run_cli(
        "demo", "--replay", *window, "--workdir", str(tmp / name), *data, "--no-reports",
        cwd=tmp,
    )  # fmt: skip


def weeks(stdout: str) -> dict[str, list[str]]:
    """Each week's block of lines: its line and the indented lines under it."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        if re.match(r"\d{4}-W\d\d ", line):
            current = line.split()[0]
            blocks[current] = [line]
        elif current and line.startswith("  ") and not line.startswith("  BLR warning"):
            blocks[current].append(line)
        else:
            current = None
    return blocks


def outbox(folder: Path) -> list[tuple[str, str]]:
    found = []
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append((str(message["To"]), " ".join(str(message["Subject"]).split())))
    return sorted(found)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Completed]:
    tmp = tmp_path_factory.mktemp("replay")
    done = replay(tmp, "base")
    assert done.returncode == 0, done.stderr
    return tmp, done


def test_one_block_per_week_with_the_score_level_and_what_arrived(
    base: tuple[Path, Completed],
) -> None:
    _, done = base
    blocks = weeks(done.stdout)
    assert list(blocks) == WEEKS
    for line, *_ in blocks.values():
        assert "BLR insufficient data, warning NONE" in line, line  # nothing scores yet
        assert ("| no new data" in line) != ("| new: " in line), line
    # The first week brings everything published before it, SIPRI's April 2019 release
    # included; the 31 December 2019 releases are not there (published later).
    first = blocks["2019-W45"][0]
    assert "sipri_military_expenditure" in first and "integration_political 12," in first
    assert "| no new data" in blocks["2019-W46"][0]
    assert "alert raised: watch key_indicators_stale" in "\n".join(blocks["2019-W45"])
    assert "replayed 6 week(s), 2019-W45 .. 2019-W50" in done.stdout


def test_the_emails_printed_are_the_files_in_the_outbox(base: tuple[Path, Completed]) -> None:
    tmp, done = base
    printed = sorted(
        tuple(re.match(r"  e-mail to (\S+): (.*)", line).groups())  # type: ignore[union-attr]
        for line in done.stdout.splitlines()
        if line.startswith("  e-mail to ")
    )
    assert printed and printed == outbox(tmp / "base" / "outbox")
    assert f"e-mails: {len(printed)} written as .eml files to {tmp / 'base' / 'outbox'}" in (
        done.stdout
    )


def test_the_same_replay_twice_prints_and_writes_the_same(base: tuple[Path, Completed]) -> None:
    tmp, first = base

    def digests() -> list[str]:
        mail = sorted((tmp / "base" / "outbox").glob("*.eml"))
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in mail]

    before = digests()
    again = replay(tmp, "base")  # the same folder: started afresh
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == first.stdout.splitlines()
    assert digests() == before  # the mail is dated by the replayed clock, not today's


def test_later_data_do_not_change_an_earlier_week(base: tuple[Path, Completed]) -> None:
    """A file with a permanent base in October 2019 published on 3 December (week 5), and
    another value for November published in February 2020: the four weeks before
    3 December read exactly as without the file, the fifth shows the red line."""
    tmp, without = base
    extra = tmp / "later.csv"
    cite = "sivitsky2019,test row,{},B,2,level,a row of this test"
    extra.write_text(
        f"{HEADER}\n"
        f"ru_base_status,2019-10,3,BLR,{cite.format('2019-12-03')}\n"
        f"ru_base_status,2019-11,3,BLR,{cite.format('2020-02-15')}\n",
        encoding="utf-8",
    )
    done = replay(tmp, "later", str(extra), window=(WINDOW[0], "2019-12-08"))
    assert done.returncode == 0, done.stderr
    before, after = weeks(without.stdout), weeks(done.stdout)
    for week in WEEKS[:4]:
        assert after[week] == before[week]
    fifth = "\n".join(after["2019-W49"])
    assert "| new: 1 rows (later 1)" in fifth
    assert "warning RED" in fifth and "alert raised: red red_line_permanent_base" in fifth
    assert "e-mail to crisis-desk@example.org: [RED] red_line_permanent_base" in fifth
    assert list(after) == WEEKS[:5] and "later 2" not in done.stdout  # February's never came


@pytest.mark.parametrize(
    ("window", "says"),
    [
        (("2019-11-31", "2019-12-15"), "--replay: START '2019-11-31' is not a date (YYYY-MM-DD)"),
        (("2019-12-15", "2019-11-04"), "--replay: END 2019-11-04 is before START 2019-12-15"),
        (("2030-01-01", "2030-03-01"), "is beyond the data: the last figure became known"),
    ],
)
def test_a_bad_window_is_one_line(tmp_path: Path, window: tuple[str, str], says: str) -> None:
    done = replay(tmp_path, "bad", window=window)
    assert done.returncode == 2
    assert says in done.stderr and len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_replayed_week_writes_its_report_and_mails_it(tmp_path: Path) -> None:
    done = run_cli(
        "demo", "--replay", "2019-11-18", "2019-11-24", "--workdir", str(tmp_path / "w"),
        "--data", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pdf = tmp_path / "w" / "reports" / "early-warning-BLR-2019-W47.pdf"
    assert f"  report: {pdf.name} (" in done.stdout and pdf.is_file()
    assert "e-mail to weekly-subscribers@example.org: [report] BLR, week 2019-W47" in done.stdout


@pytest.mark.skipif(not EDGES.is_file(), reason="../shared/real_data is not here")
def test_the_gdelt_weeks_arrive_at_the_end_of_each_week(tmp_path: Path) -> None:
    done = replay(tmp_path, "gdelt", str(EDGES.parent), window=("2019-11-04", "2019-11-17"))
    assert done.returncode == 0, done.stderr
    blocks = weeks(done.stdout)
    # The backlog in the first week, then each week its own rows, known on Sunday: two
    # series (the net score and the conflict magnitude) for the five dyads and for BLR.
    assert re.search(r"gdelt2_daily_dyad_edges_BLR_2018-2024 \d{3,}", blocks["2019-W45"][0])
    assert f"gdelt2_daily_dyad_edges_BLR_2018-2024 {2 * (5 + 1)})" in blocks["2019-W46"][0]
