"""One pipeline: what the database holds after it runs does not depend on the face.

The same embedded data (ingested as the demo does, the rules armed in the first week
the data can score, as the demo arms them) are run through the pipeline by the CLI
(`early-warning pipeline`), by the daemon's `pipeline` job and by the demo, and the rows
each writes to scores, forecasts, alerts and the outbox are compared. Before the one
pipeline, the daemon stored no forecast notes and no analyst-pooled rows, and the demo
stored no forecasts at all.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from early_warning import load_config
from early_warning.clock import FixedClock
from early_warning.config import bundled_path
from early_warning.daemon import Daemon
from early_warning.demo import BACKTEST_START, DemoResult, embedded_files

from .conftest import run_cli

AS_OF = "2021-02-28"  # the end of the embedded data: the demo's as-of date
# Columns that say when or from which copy a row was written, not what it says.
WHEN = {"id", "computed_at", "fired_at", "updated_at", "data_vintage", "outbox_id", "alert_id"}


def _rows(db: Path, table: str, subject: str | None = None) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in WHEN]
        where = " WHERE subject = ?" if subject else ""
        query = f"SELECT {', '.join(columns)} FROM {table}{where}"
        return sorted(conn.execute(query, [subject] if subject else []).fetchall(), key=repr)


def _outbox(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT key, subject FROM outbox").fetchall())


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory, demo_session: DemoResult) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pipeline")
    catalog_dir = bundled_path("indicators")

    def config(name: str) -> Path:  # the demo's recipients, mail written to a folder
        path = base / f"{name}.toml"
        path.write_text(
            f'[database]\npath = "{base / name}.db"\n[mail]\noutbox_dir = "{base / name}-mail"\n'
            'sender = "early-warning@demo.invalid"\nto_watch = ["duty-officer@example.org"]\n'
            'to_red = ["crisis-desk@example.org"]\n'
        )
        return path

    prepared = config("base")
    assert run_cli("--config", str(prepared), "init", cwd=base).returncode == 0
    files = [str(p) for p in embedded_files(catalog_dir)]
    assert run_cli("--config", str(prepared), "ingest", *files, cwd=base).returncode in (0, 1)
    # As the demo does: the structural model on the shipped extract, the forecast for the
    # as-of year recorded, so each face's weekly forecast finds the same prior.
    extract = [str(p) for p in sorted((catalog_dir / "structural").glob("*.csv"))]
    loaded = run_cli("--config", str(prepared), "structural", "ingest", *extract, cwd=base)
    assert loaded.returncode == 0, loaded.stderr
    year = str(dt.date.fromisoformat(AS_OF).year - 1)
    kept = run_cli("--config", str(prepared), "structural", "--as-of", year, "--record", cwd=base)
    assert kept.returncode == 0, kept.stderr
    armed = run_cli("--config", str(prepared), "alerts", "check", "--as-of", str(BACKTEST_START),
                    cwd=base)  # fmt: skip
    assert armed.returncode in (0, 1), armed.stderr

    shutil.copy(base / "base.db", base / "cli.db")
    done = run_cli("--config", str(config("cli")), "pipeline", "--as-of", AS_OF, cwd=base)
    assert done.returncode == 0, done.stderr

    shutil.copy(base / "base.db", base / "daemon.db")
    noon = FixedClock(dt.datetime.fromisoformat(f"{AS_OF}T12:00:00+00:00"))
    daemon = Daemon(load_config(config("daemon")), clock=noon)
    assert daemon.run_job("pipeline") == "ok"

    # The demo face: the session's demo (conftest.py), built by `run_demo` with the shipped
    # default profile; its database is only read here.
    result = demo_session
    assert result.as_of == dt.date.fromisoformat(AS_OF)
    return {"cli": base / "cli.db", "daemon": base / "daemon.db", "demo": result.db_path}


@pytest.mark.parametrize("table", ["scores", "forecasts", "warnings", "alerts", "alert_state"])
def test_each_face_writes_the_same_rows(faces: dict[str, Path], table: str) -> None:
    cli, daemon, demo = (_rows(faces[f], table) for f in ("cli", "daemon", "demo"))
    assert cli, f"the pipeline wrote no {table}"
    assert cli == daemon  # every subject with observations, as the daemon runs them
    blr = [r for r in cli if "BLR" in r]
    assert blr and blr == [r for r in demo if "BLR" in r]  # the demo runs its own subject


def test_the_forecast_rows_carry_their_notes_and_every_model(faces: dict[str, Path]) -> None:
    with sqlite3.connect(faces["daemon"]) as conn:
        models = {m for (m,) in conn.execute("SELECT DISTINCT model FROM forecasts")}
        notes = conn.execute("SELECT count(*) FROM forecasts WHERE note IS NOT NULL").fetchone()
    assert {"base_rate", "logistic", "markov", "trend", "ensemble"} <= models
    assert notes[0] > 0  # the daemon used to drop every note


def test_the_same_mail_is_queued(faces: dict[str, Path]) -> None:
    cli = _outbox(faces["cli"])
    assert cli and cli == _outbox(faces["daemon"])
    assert [m for m in cli if ":BLR:" in m[0]] == _outbox(faces["demo"])
