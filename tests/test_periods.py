import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from early_warning.periods import PeriodError, parse_date, parse_period


@pytest.mark.parametrize(
    ("text", "start", "end", "granularity"),
    [
        ("2019-12-06", "2019-12-06", "2019-12-06", "day"),
        ("2019-12", "2019-12-01", "2019-12-31", "month"),
        ("2020-02", "2020-02-01", "2020-02-29", "month"),
        ("2019", "2019-01-01", "2019-12-31", "year"),
        ("2019-Q4", "2019-10-01", "2019-12-31", "quarter"),
        ("2020-W53", "2020-12-28", "2021-01-03", "week"),
        ("2021-W01", "2021-01-04", "2021-01-10", "week"),
    ],
)
def test_parse_period_forms(text: str, start: str, end: str, granularity: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.granularity) == (start, end, granularity)


@pytest.mark.parametrize(
    "text",
    ["", "2019-13", "2019-02-30", "2019-W54", "2019-Q5", "19-12", "2019/12", "1850", "2019-1",
     "20190101", "2019-12-01T00:00", "next week", "2021-W53"],
)  # fmt: skip
def test_bad_periods_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(PeriodError) as info:
        parse_period(text)
    assert str(info.value)


def test_parse_date_takes_the_last_day_of_a_coarse_period() -> None:
    assert parse_date("2019-12") == dt.date(2019, 12, 31)
    assert parse_date("2019") == dt.date(2019, 12, 31)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_every_real_day_and_its_week_month_quarter_contain_it(day: dt.date) -> None:
    iso = day.isoformat()
    year, week, _ = day.isocalendar()
    forms = [iso, iso[:7], iso[:4], f"{day.year}-Q{(day.month - 1) // 3 + 1}"]
    if 1900 <= year <= 2100:
        forms.append(f"{year}-W{week:02d}")
    for text in forms:
        period = parse_period(text)
        assert period.start <= iso <= period.end, text


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_period_error(text: str) -> None:
    try:
        period = parse_period(text)
    except PeriodError:
        return
    assert period.start <= period.end
