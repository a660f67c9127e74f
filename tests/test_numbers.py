"""Numbers people read: `format_number` (issue 16, "Numbers people read")."""

from __future__ import annotations

import doctest
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from early_warning import numbers
from early_warning.numbers import format_number


@pytest.mark.parametrize(
    ("value", "options", "text"),
    [
        (30000, {"unit": "persons"}, "30,000 persons"),
        (13000, {}, "13,000"),
        (1e6, {}, "1,000,000"),
        (1234567.89, {}, "1,234,568"),
        (31089.3, {"digits": 4}, "31,089"),
        (999.96, {}, "1,000"),
        (0.0523, {}, "0.052"),
        (0.09996, {}, "0.1"),
        (2.0661, {"digits": 4}, "2.066"),
        (4.5, {}, "4.5"),
        (10.0, {}, "10"),
        (-1234.5, {}, "-1,234"),  # half to even, as Python rounds
        (-0.25, {}, "-0.25"),
        (1e-7, {}, "< 0.001"),
        (-1e-7, {}, "> -0.001"),
        (1e-7, {"signed": True}, "< +0.001"),
        (1e-7, {"digits": 6}, "< 0.000001"),
        (0.0625, {"digits": 6}, "0.0625"),
        (1e16, {}, "10,000,000,000,000,000"),
        (0, {"signed": True}, "0"),
        (-0.0, {}, "0"),
        (4.6249, {"unit": "points", "signed": True}, "+4.62 points"),
        (-4.37, {"unit": "points", "signed": True}, "-4.37 points"),
        (12.5, {"unit": "%"}, "12.5%"),
        (3.14159, {"unit": "% of GDP"}, "3.14% of GDP"),
        (2, {"unit": "level"}, "2"),
        (1, {"unit": "boolean"}, "1"),
        (None, {}, "n/a"),
        (math.nan, {"missing": "-"}, "-"),
        (math.inf, {}, "infinity"),
        (-math.inf, {"unit": "persons"}, "-infinity persons"),
    ],
)
def test_format_number(value: float | None, options: dict[str, Any], text: str) -> None:
    assert format_number(value, **options) == text


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(numbers, raise_on_error=True).attempted >= 6


def test_digits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="digits"):
        format_number(1.0, digits=0)


UNITS = st.sampled_from([None, "", "persons", "%", "% of GDP", "level", "US$ bn", "points"])


@given(
    st.one_of(st.none(), st.floats(), st.integers(-(10**30), 10**30)),
    UNITS,
    st.integers(1, 8),
    st.booleans(),
)
def test_never_an_exponent_and_the_number_read_back_is_close(
    value: float | None, unit: str | None, digits: int, signed: bool
) -> None:
    text = format_number(value, unit, digits=digits, signed=signed)
    assert not re.search(r"[0-9][eE][+-]?[0-9]", text), text
    if value is None or math.isnan(value) or math.isinf(value):
        return
    number = text.removesuffix(numbers.with_unit("", unit).strip()).strip()
    if number.startswith(("<", ">")):  # not zero, below the last place shown
        bound = float(number.lstrip("<> ").replace(",", ""))
        assert 0 < abs(value) < abs(bound) <= 10.0**-1
        return
    shown = float(number.replace(",", ""))
    assert (shown < 0) == (value < 0 and shown != 0)
    assert abs(shown - value) <= max(abs(value) * 10.0 ** (1 - digits), 10.0**-digits)
