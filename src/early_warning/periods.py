"""Periods: the time span an observation refers to.

The canonical file (DESIGN.md 3.1) gives the period as one of

    YYYY-MM-DD   a day
    YYYY-Www     an ISO week (Monday to Sunday)
    YYYY-MM      a month
    YYYY-Qn      a quarter
    YYYY         a year

`parse_period` turns that text into the first and last day of the span. Parsing is
cached because a file of a million rows repeats a few thousand distinct periods.

This module is also the one home of the calendar every floor shares: the ISO-week
label of a day (`iso_week`), the Sunday that ends its week (`week_end`; scores,
alerts and reports are all dated by that Sunday), and the rule for subject codes
(`SUBJECT_PATTERN`: an ISO 3166-1 alpha-3 code, or a dyad AAA-BBB).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from functools import lru_cache
from typing import NamedTuple

from .errors import PeriodError

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "SUBJECT_PATTERN",
    "SUNDAY",
    "Period",
    "PeriodError",
    "iso_week",
    "parse_date",
    "parse_period",
    "parse_week",
    "subject_problem",
    "week_end",
]

MIN_YEAR = 1900
MAX_YEAR = 2100

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"(\d{4})")

# A subject: an ISO 3166-1 alpha-3 country code, or a dyad of two ("BLR-RUS").
SUBJECT_PATTERN = re.compile(r"[A-Z]{3}(-[A-Z]{3})?")
SUNDAY = 6  # `date.weekday()` of the day that ends an ISO week


def subject_problem(text: str) -> str:
    """Why `text` is not a subject code, in words ("'blr-ukr' is not ... : codes are
    written in capitals, 'BLR-UKR'"): the same words from every face."""
    shown = repr(text[:20])
    if SUBJECT_PATTERN.fullmatch(text.upper()):
        return f"{shown} is not a subject code: codes are written in capitals ({text.upper()!r})"
    return f"{shown} is not an ISO alpha-3 code or AAA-BBB dyad"


class Period(NamedTuple):
    """A span of days; `start` and `end` are inclusive ISO dates."""

    text: str
    start: str
    end: str
    granularity: str  # day | week | month | quarter | year


def _check_year(year: int, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(f"year {year} in {text!r} is outside {MIN_YEAR}-{MAX_YEAR}")


@lru_cache(maxsize=65536)
def parse_period(text: str) -> Period:
    """Parse a period in one of the five canonical forms.

    >>> parse_period("2019-Q4")
    Period(text='2019-Q4', start='2019-10-01', end='2019-12-31', granularity='quarter')
    """
    text = text.strip()
    try:
        if m := _DAY.fullmatch(text):
            year = int(m[1])
            _check_year(year, text)
            day = dt.date(year, int(m[2]), int(m[3])).isoformat()
            return Period(text, day, day, "day")
        if m := _WEEK.fullmatch(text):
            year, week = int(m[1]), int(m[2])
            _check_year(year, text)
            monday = dt.date.fromisocalendar(year, week, 1)
            sunday = monday + dt.timedelta(days=6)
            return Period(text, monday.isoformat(), sunday.isoformat(), "week")
        if m := _MONTH.fullmatch(text):
            year, month = int(m[1]), int(m[2])
            _check_year(year, text)
            last = calendar.monthrange(year, month)[1]
            return Period(
                text, f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{last}", "month"
            )
        if m := _QUARTER.fullmatch(text):
            year, quarter = int(m[1]), int(m[2])
            _check_year(year, text)
            first_month = 3 * (quarter - 1) + 1
            last_month = first_month + 2
            last = calendar.monthrange(year, last_month)[1]
            return Period(
                text,
                f"{year:04d}-{first_month:02d}-01",
                f"{year:04d}-{last_month:02d}-{last}",
                "quarter",
            )
        if m := _YEAR.fullmatch(text):
            year = int(m[1])
            _check_year(year, text)
            return Period(text, f"{year:04d}-01-01", f"{year:04d}-12-31", "year")
    except ValueError as exc:  # month 13, day 31 in April, week 54, ...
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(f"{text!r} is not a real date ({exc})") from None
    raise PeriodError(
        f"{text[:40]!r} is not a period (use YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn or YYYY)"
    )


def parse_date(text: str) -> dt.date:
    """Parse an as-of or publication date; a coarser period means its last day.

    Taking the last day is the conservative reading: a figure "published 2019-12" is
    treated as known on 2019-12-31, never earlier.
    """
    return dt.date.fromisoformat(parse_period(text).end)


@lru_cache(maxsize=8192)
def iso_week(day: dt.date) -> str:
    """The ISO-week label of a day: `YYYY-Www` (the ISO year, which may differ at New Year)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_end(day: dt.date) -> dt.date:
    """The Sunday that ends the ISO week of `day`."""
    return day + dt.timedelta(days=SUNDAY - day.weekday())


def parse_week(text: str) -> dt.date:
    """`YYYY-Www` -> the Sunday that ends that ISO week."""
    try:
        year, week = text.upper().split("-W")
        return dt.date.fromisocalendar(int(year), int(week), 7)
    except ValueError:
        raise PeriodError(f"{text!r} is not an ISO week like 2021-W08") from None
