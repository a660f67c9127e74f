"""Shared fixtures: a small fixed catalog, a fixed clock, a fresh store, a CLI runner,
the command run in this process (`run_cli`), and the demo database built once."""

from __future__ import annotations

import os

# One BLAS thread, set before numpy is first imported (here and in every subprocess the
# tests start, which inherit the environment). The models fit small matrices, where a
# second OpenBLAS thread mostly spins: on a busy 2-core machine it tripled the CPU time
# of the backtests.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from early_warning import FixedClock, Store, bundled_path, load_catalog  # noqa: E402
from early_warning.catalog import Catalog  # noqa: E402
from early_warning.demo import DemoResult, run_demo  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT = Path(__file__).resolve().parent.parent
SHARED = PROJECT.parent / "shared"

HEADER = "indicator,date,value,subject,source,citation,published,reliability,credibility,unit,note"


@pytest.fixture
def catalog() -> Catalog:
    """A small catalog that does not change when the real one grows."""
    return load_catalog(FIXTURES / "catalog")


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    return load_catalog(bundled_path("indicators"))


@pytest.fixture
def rstore(tmp_path: Path, real_catalog: Catalog) -> Iterator[Store]:
    """A store on the real catalog (which has the mappings), clock at 2024-06-01."""
    with Store(tmp_path / "real.db", clock=FixedClock("2024-06-01T12:00:00")) as s:
        s.sync_catalog(real_catalog)
        yield s


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock("2024-06-01T12:00:00")


@pytest.fixture
def store(tmp_path: Path, catalog: Catalog, clock: FixedClock) -> Iterator[Store]:
    with Store(tmp_path / "test.db", clock=clock) as s:
        s.sync_catalog(catalog)
        yield s


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A writable copy of the fixture catalog, for tests that break it on purpose."""
    target = tmp_path / "catalog"
    shutil.copytree(FIXTURES / "catalog", target)
    return target


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_csv(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def table_counts(store: Store) -> dict[str, int]:
    return {t: store.count(t) for t in ("observations", "rejects", "events")}


# -- the command, in this process ----------------------------------------------------


@dataclasses.dataclass
class Completed:
    """What `tests.test_cli.run` returns (a `subprocess.CompletedProcess`), in short."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def _text(raw: bytes) -> str:
    # As `subprocess.run(text=True)` decodes: universal newlines (\r\n and \r become \n).
    return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline=None).read()


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None
) -> Completed:
    """`early-warning ARGS` run by its entry point `main` in this process, as
    `tests.test_cli.run` runs the console script in a new one (a second or two less).

    What a fresh process would not inherit is cleared, and what `main` changes for the
    process is put back: the environment (EARLY_WARNING_* dropped, then `env` added),
    the working directory, sys.argv, the umask (`main` narrows it). An exception that
    escapes `main` is printed as the interpreter would (a traceback, exit status 1), so
    the tests that look for "Traceback" still can fail.
    """
    from early_warning.cli import main

    overrides: dict[str, str | None] = dict.fromkeys(
        (k for k in os.environ if k.startswith("EARLY_WARNING")), None
    )
    overrides |= env or {}
    umask = os.umask(0o022)
    os.umask(umask)
    argv = sys.argv
    code = 0
    with contextlib.chdir(cwd), CliRunner().isolation(input=input, env=overrides) as (out, err, _):
        sys.argv = ["early-warning", *args]
        try:
            main()
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message"): printed on stderr, status 1
                print(exc.code, file=sys.stderr)
                code = 1
        except Exception:
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = argv
            os.umask(umask)
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    return Completed(["early-warning", *args], code, _text(stdout), _text(stderr))


# -- the demo database, built once ---------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def demo_session(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The embedded dataset, scored, forecast, backtested, alerted and reported with the
    shipped default profile (`run_demo`, as `early-warning demo` runs it): built once
    for the whole session (it is the dearest state the tests share). Its reports go to
    a folder of their own (`reports_dir`); the daemon configuration is not written."""
    work = tmp_path_factory.mktemp("demo")
    result = run_demo(
        bundled_path("indicators"), work, "BLR", bundled_path("models"), reports_dir=work / "r"
    )
    assert not Path(f"{result.db_path}-wal").exists()  # closed: the file alone is the database
    return result


@pytest.fixture
def demo(demo_session: DemoResult) -> Iterator[DemoResult]:
    """The shared demo, to read only: a test that writes to its database (any command
    that records a score, a forecast, a run) takes `demo_copy`. Checked after the test."""
    before = _digest(demo_session.db_path)
    yield demo_session
    assert _digest(demo_session.db_path) == before, (
        "this test changed the shared demo database: use the demo_copy fixture"
    )


@pytest.fixture
def demo_copy(demo_session: DemoResult, tmp_path: Path) -> DemoResult:
    """The demo with a database of the test's own (a copy of the closed file), in
    `tmp_path / "demo"`; the Python objects (scores, forecast, report) are the shared ones."""
    work = tmp_path / "demo"
    work.mkdir()
    db = work / "demo.db"
    shutil.copy(demo_session.db_path, db)
    return dataclasses.replace(demo_session, db_path=db)
