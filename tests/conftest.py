"""Shared fixtures: a small fixed catalog, a fixed clock, a fresh store, a CLI runner."""

from __future__ import annotations

import os

# One BLAS thread, set before numpy is first imported (here and in every subprocess the
# tests start, which inherit the environment). The models fit small matrices, where a
# second OpenBLAS thread mostly spins: on a busy 2-core machine it tripled the CPU time
# of the backtests.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from early_warning import FixedClock, Store, bundled_path, load_catalog  # noqa: E402
from early_warning.catalog import Catalog  # noqa: E402

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
