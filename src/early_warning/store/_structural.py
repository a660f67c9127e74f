"""The structural model's tables: country-year values for every country, and the
structural forecasts recorded from them (migration 016).

`country_years` holds published annual values (GDP, military spending) for every
country, apart from `observations` so that loading the world does not make 200
subjects of the weekly pipeline. Like observations, a row is never changed: a revised
value is a new row, known from its file. The conflicts themselves are events
(`events`, kind `armed_conflict`, dated to the year)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ._connection import Connected

COUNTRY_YEAR_COLUMNS = (
    "subject", "year", "indicator", "value", "source", "citation", "note", "known_from",
    "recorded_at", "run_id",
)  # fmt: skip
_FORECAST_COLUMNS = (
    "subject", "as_of", "year", "outcome", "probability", "rank", "ranked", "status",
    "data_year", "drivers", "spec_hash", "data_vintage", "computed_at",
)  # fmt: skip


class StructuralRepository(Connected):
    """Country-year values and structural forecasts."""

    def insert_country_years(self, rows: Sequence[Sequence[Any]]) -> int:
        """Insert value tuples (COUNTRY_YEAR_COLUMNS order); return how many were new
        (the same value of the same source for the same country-year is kept once)."""
        before = self.conn.total_changes
        self.conn.executemany(
            f"INSERT INTO country_years ({', '.join(COUNTRY_YEAR_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COUNTRY_YEAR_COLUMNS))}) "
            "ON CONFLICT(indicator, subject, year, source, value) DO NOTHING",
            rows,
        )
        return self.conn.total_changes - before

    def country_year_known(
        self, source: str, indicators: Sequence[str]
    ) -> dict[tuple[str, str, str], set[float]]:
        """Values stored from `source`, by (indicator, subject, year as text): a new value
        that differs is a revision."""
        marks = ", ".join("?" * len(indicators))
        known: dict[tuple[str, str, str], set[float]] = {}
        for indicator, subject, year, value in self.conn.execute(
            "SELECT indicator, subject, year, value FROM country_years "
            f"WHERE source = ? AND indicator IN ({marks})",
            [source, *indicators],
        ):
            known.setdefault((indicator, subject, str(year)), set()).add(value)
        return known

    def country_year_values(self, indicators: Sequence[str]) -> list[dict[str, Any]]:
        """Every stored value of the indicators, each revision with its `known_from`."""
        marks = ", ".join("?" * len(indicators))
        return list(
            self.db.query(
                "SELECT subject, indicator, year, value, known_from, source FROM country_years "
                f"WHERE indicator IN ({marks}) ORDER BY id",
                list(indicators),
            )
        )

    def year_events(self, kind: str) -> list[dict[str, Any]]:
        """Events of one kind dated to a year (the conflict record), every subject."""
        return list(
            self.db.query(
                "SELECT e.subject, e.date, e.severity, e.known_from, s.name AS source "
                "FROM events e LEFT JOIN sources s ON s.id = e.source_id "
                "WHERE e.kind = ? AND e.date_precision = 'year' ORDER BY e.id",
                [kind],
            )
        )

    def structural_vintage(self) -> str:
        """What the structural inputs were: the newest row of each table."""
        cy = self.conn.execute("SELECT coalesce(max(id), 0) FROM country_years").fetchone()[0]
        ev = self.conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        return f"country_years:{cy};events:{ev}"

    def record_structural_forecasts(self, rows: Iterable[dict[str, Any]]) -> int:
        """Keep structural forecasts (the same computation is kept once); return how many
        were new."""
        now = self.now()
        before = self.conn.total_changes
        with self.db.atomic():
            self.conn.executemany(
                f"INSERT INTO structural_forecasts ({', '.join(_FORECAST_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_FORECAST_COLUMNS))}) ON CONFLICT(subject, year, "
                "outcome, as_of, spec_hash, data_vintage) DO NOTHING",
                [[dict(row, computed_at=now).get(c) for c in _FORECAST_COLUMNS] for row in rows],
            )
        return self.conn.total_changes - before

    def structural_forecast_for(
        self, subject: str, year: int, on: str, outcome: str = "incidence"
    ) -> dict[str, Any] | None:
        """The structural forecast for `subject` that stood on day `on` for the latest
        year up to `year`: made as of `on` or before, the latest such, the newest
        computation of it."""
        rows = list(
            self.db.query(
                "SELECT * FROM structural_forecasts WHERE subject = ? AND outcome = ? "
                "AND year <= ? AND as_of <= ? ORDER BY year DESC, as_of DESC, id DESC LIMIT 1",
                [subject, outcome, year, on],
            )
        )
        return rows[0] if rows else None

    def structural_forecasts(self, year: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM structural_forecasts"
        params: list[Any] = []
        if year is not None:
            sql += " WHERE year = ?"
            params.append(year)
        return list(self.db.query(sql + " ORDER BY year, outcome, rank, subject", params))
