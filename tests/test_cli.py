"""End-to-end tests of the command line, run from an empty directory.

`run` starts the installed console script, as a user runs it; `run_cli` runs the same
entry point in this process, for the tests where the process boundary adds nothing.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from early_warning.cli import cli

from .conftest import PROJECT, run_cli, write_csv

GOOD_AND_BAD = (
    "ru_support_share_gdp,2015,10,BLR,imf,IMF Article IV,2016-03,B,2,,",
    "ru_base_status,2015-09,announced unilaterally,,sivitsky2019,,2019-12-31,B,2,,",
    "gas_price_usd_tcm,2019-12,127,,,,,,,,",
    "not_an_indicator,2019,1,,,,,,,,",
    "ru_base_status,2016,9,,,,,,,,",
    "gas_price_usd_tcm,2019-12,lots,,,,,,,,",
)


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (a new process: an exit status
    seen by the caller, signals, two at once; `conftest.run_cli` runs it in this one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARLY_WARNING")} | (env or {})
    exe = Path(sys.executable).parent / "early-warning"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_end_to_end_from_an_empty_directory(tmp_path: Path) -> None:
    init = run("init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "early-warning.db").exists()

    data = write_csv(tmp_path / "mixed.csv", *GOOD_AND_BAD)
    first = run("ingest", "mixed.csv", cwd=tmp_path)
    assert first.returncode == 1
    assert "6 read, 3 loaded, 0 already present, 3 rejected" in first.stdout
    assert "rejected line 5: indicator: unknown indicator 'not_an_indicator'" in first.stdout

    again = run("ingest", str(data), cwd=tmp_path)
    assert again.returncode == 1 and "nothing added" in again.stdout
    assert "3 rows were rejected then" in again.stdout

    listed = json.loads(run("observations", "list", "--json", cwd=tmp_path).stdout)
    assert len(listed) == 3
    assert {r["indicator"] for r in listed} == {
        "ru_support_share_gdp",
        "ru_base_status",
        "gas_price_usd_tcm",
    }
    as_of = json.loads(
        run("observations", "list", "--as-of", "2017-01-01", "--json", cwd=tmp_path).stdout
    )
    assert [r["indicator"] for r in as_of] == ["ru_support_share_gdp"]

    rejects = json.loads(run("rejects", "list", "--json", cwd=tmp_path).stdout)
    assert sorted(r["line"] for r in rejects) == [5, 6, 7]
    assert all(r["raw"] and r["reason"] for r in rejects)

    status = json.loads(run("db", "status", "--json", cwd=tmp_path).stdout)
    assert status["tables"]["observations"] == 3 and status["tables"]["rejects"] == 3

    observed = run(
        "observe", "ru_troops_in_belarus", "1500", "--date", "2020-08", "--source", "MoD",
        "--reliability", "B", "--credibility", "2", cwd=tmp_path,
    )  # fmt: skip
    assert observed.returncode == 0, observed.stderr
    bad = run("observe", "ru_troops_in_belarus", "-5", "--date", "2020-08", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("early-warning: rejected: value:")


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "early_warning", "indicators", "show", "ru_base_status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert "level 4      deployed" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "missing.csv"], "missing.csv: file not found"),
        (["indicators", "show", "nope"], "unknown indicator 'nope'"),
        (["observations", "list"], "no database here"),
        (["--config", "nope.toml", "config", "show"], "nope.toml: configuration file not found"),
        (["observations", "list", "--as-of", "yesterday"], "--as-of"),
        (["score", "--subject", "blr-ukr"], "codes are written in capitals ('BLR-UKR')"),
        (["report", "--subject", "blr"], "codes are written in capitals ('BLR')"),
        (["score", "--subject", "BELARUS"], "'BELARUS' is not an ISO alpha-3 code or AAA-BBB dyad"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    if args[0] in ("ingest", "score", "report") or "--as-of" in args:
        run_cli("init", cwd=tmp_path)
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_into_a_mistyped_database_path_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "good.csv", GOOD_AND_BAD[0])
    result = run("--db", "typo.db", "ingest", "good.csv", cwd=tmp_path)
    assert result.returncode == 2 and "no database here" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_a_refused_file_among_good_ones_exits_2_and_loads_the_good(tmp_path: Path) -> None:
    run_cli("init", cwd=tmp_path)
    write_csv(tmp_path / "good.csv", GOOD_AND_BAD[0])
    write_csv(tmp_path / "bad.csv", "x", header="colour")
    result = run_cli("ingest", "bad.csv", "good.csv", "--json", cwd=tmp_path)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert [r["status"] for r in report] == ["refused", "ok"]
    assert report[1]["rows_loaded"] == 1


def test_db_and_config_options_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "ew.toml"
    config.write_text('[database]\npath = "data/ew.db"\n')
    (tmp_path / "data").mkdir()
    assert run_cli("--config", str(config), "init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "data" / "ew.db").exists()
    secret = {"EARLY_WARNING_MAIL_PASSWORD": "hunter2"}
    shown = run_cli("--config", str(config), "config", "show", cwd=tmp_path, env=secret).stdout
    assert "hunter2" not in shown and '"***"' in shown
    assert run_cli("--db", "other.db", "init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "other.db").exists()


def test_score_json_shapes_for_lists(tmp_path: Path) -> None:
    listed = json.loads(run_cli("indicators", "list", "--json", cwd=tmp_path).stdout)
    assert {"id", "family", "kind", "unit", "direction", "weight", "citations"} <= set(listed[0])
    one = json.loads(
        run_cli("indicators", "show", "exercise_transparency", "--json", cwd=tmp_path).stdout
    )
    assert one["levels"]["3"].startswith("observers invited beyond")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    # Through list_commands/get_command: the root group loads its commands only when
    # asked (its `.commands` is empty, and this test once ran for no command at all).
    ctx = click.Context(group)
    found = []
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix} {name}".strip()
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, path))
    return found


ALL_COMMANDS = _commands(cli)
assert len(ALL_COMMANDS) > 20, "no command found to check"


@pytest.mark.parametrize(("path", "command"), ALL_COMMANDS, ids=[p for p, _ in ALL_COMMANDS])
def test_every_command_has_help_and_is_documented_in_the_readme(
    path: str, command: click.Command
) -> None:
    assert command.help and command.help.strip(), f"{path} has no help text"
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0
    readme = (PROJECT / "README.md").read_text()
    assert re.search(rf"`early-warning {re.escape(path)}\b", readme), (
        f"README does not document {path}"
    )


def test_demo_loads_the_embedded_dataset(tmp_path: Path) -> None:
    result = run_cli("demo", "--workdir", str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 rejected" in result.stdout and " rejected (run" in result.stdout
    assert re.search(r"loaded \d{2,} observations and \d{2,} events", result.stdout)
    assert (tmp_path / "demo" / "demo.db").exists()


def test_each_registered_command_is_summarised_as_its_own_help_says() -> None:
    # `--help` reads the summaries from the registry so that it imports no command
    # module; they must not drift from the commands' own first lines.
    import importlib

    from early_warning.cli import COMMANDS

    for name, (module, attribute, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(f"early_warning.cli.{module}"), attribute)
        assert command.name == name
        assert command.get_short_help_str(limit=300) == summary, name


def test_help_lists_every_command_and_loads_no_library(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom early_warning.cli import main\nsys.argv = ['early-warning', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'numpy' in sys.modules or 'early_warning.store' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    from early_warning.cli import COMMANDS

    assert all(f"  {name} " in out.stdout for name in COMMANDS)
    assert out.stdout.rstrip().endswith("LOADED False")


def test_in_process_runs_answer_as_the_console_script_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run_cli` stands in for `run` in most tests: the same status, stdout and stderr,
    and the process left as it was (umask, working directory, environment)."""
    umask = os.umask(0o022)
    os.umask(umask)
    cwd = Path.cwd()
    monkeypatch.setenv("EARLY_WARNING_DATABASE_PATH", "stray.db")  # cleared by both
    env = {"EARLY_WARNING_DATABASE_PATH": "env.db"}
    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        folder.mkdir()
        write_csv(folder / "mixed.csv", *GOOD_AND_BAD)
    for args in (["init"], ["ingest", "mixed.csv"], ["nosuch"]):  # exit status 0, 1, 2
        mine, theirs = run_cli(*args, cwd=here, env=env), run(*args, cwd=there, env=env)
        assert (mine.returncode, mine.stdout, mine.stderr) == (
            theirs.returncode,
            theirs.stdout.replace(str(there), str(here)),
            theirs.stderr.replace(str(there), str(here)),
        ), args
    assert (here / "env.db").exists() and not (here / "stray.db").exists()
    assert os.environ["EARLY_WARNING_DATABASE_PATH"] == "stray.db"
    assert Path.cwd() == cwd and os.umask(umask) == umask
