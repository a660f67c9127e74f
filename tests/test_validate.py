"""Property tests of row validation: any row is either a clean tuple or a named problem."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from early_warning import load_catalog
from early_warning.ingest.validate import (
    OBSERVATION_COLUMNS,
    EventRules,
    ObservationRules,
    Problem,
    formula_like,
)
from early_warning.store import OBSERVATION_COLUMNS as STORED

from .conftest import FIXTURES

_catalog = load_catalog(FIXTURES / "catalog")
IDS = sorted(_catalog.indicators)


def _rules(max_chars: int = 200) -> ObservationRules:
    return ObservationRules(_catalog, "BLR", lambda name: 1, dt.date(2024, 6, 1), max_chars)


texts = st.text(max_size=40)
rows = st.tuples(
    st.one_of(st.sampled_from(IDS), texts),
    st.one_of(st.sampled_from(["2019", "2019-12", "2019-W05", "2020-Q1", "2019-12-06"]), texts),
    st.one_of(st.floats(allow_nan=True).map(str), st.integers().map(str), texts),
    st.one_of(st.sampled_from(["", "BLR", "RUS-BLR"]), texts),
    texts, texts,
    st.one_of(st.sampled_from(["", "2019-12-31", "2030-01-01"]), texts),
    st.one_of(st.sampled_from("ABCDEF"), texts),
    st.one_of(st.sampled_from("123456"), texts),
    texts, texts,
)  # fmt: skip


@settings(max_examples=400)
@given(rows)
def test_any_row_is_accepted_cleanly_or_rejected_with_a_named_field(row: tuple[str, ...]) -> None:
    outcome = _rules().check(list(row), 2)
    if isinstance(outcome, Problem):
        assert outcome.field in (*OBSERVATION_COLUMNS, "row")
        assert outcome.reason and "\n" not in outcome.reason
        return
    record = dict(zip(STORED, outcome, strict=True))
    indicator = _catalog.get(record["indicator"])
    low, high = indicator.value_range
    assert low <= record["value"] <= high
    assert record["period_start"] <= record["period_end"]
    assert record["known_from"] <= "2024-06-01"
    assert record["reliability"] in (None, *"ABCDEF")
    assert record["credibility"] in (None, *"123456")


@given(st.sampled_from(IDS), st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_is_accepted_exactly_when_it_is_valid_for_the_indicator(
    ind: str, x: float
) -> None:
    indicator = _catalog.get(ind)
    outcome = _rules().check([ind, "2019", repr(x), "", "", "", "", "", "", "", ""], 2)
    low, high = indicator.value_range
    valid = low <= x <= high and (
        indicator.kind in ("continuous", "event") or float(x).is_integer()
    )
    assert isinstance(outcome, Problem) != valid


@given(st.text(max_size=20))
def test_formula_detection_never_flags_a_number(text: str) -> None:
    if formula_like(text):
        assert text[0] in "=+-@\t\r"
        try:
            float(text)
        except ValueError:
            return
        raise AssertionError(f"{text!r} is a number")


def test_a_second_identical_row_in_a_file_is_a_duplicate() -> None:
    rules = _rules()
    row = ["support_share", "2019", "5", "", "imf", "", "", "", "", "", ""]
    assert not isinstance(rules.check(row, 2), Problem)
    again = rules.check(row, 9)
    assert again == Problem("row", "duplicate of line 2 (same indicator, subject, date and source)")


def test_same_period_from_another_source_is_not_a_duplicate() -> None:
    rules = _rules()
    assert not isinstance(
        rules.check(["support_share", "2019", "5", "", "imf", *[""] * 6], 2), Problem
    )
    assert not isinstance(
        rules.check(["support_share", "2019", "6", "", "ipm", *[""] * 6], 3), Problem
    )


@given(st.lists(st.text(max_size=15), min_size=9, max_size=9))
def test_any_event_row_is_accepted_cleanly_or_rejected(row: list[str]) -> None:
    rules = EventRules("BLR", lambda name: 1, dt.date(2024, 6, 1), 200)
    outcome = rules.check(row, 2)
    if isinstance(outcome, Problem):
        assert outcome.reason
    else:
        assert outcome[5] in (1, 2, 3)
