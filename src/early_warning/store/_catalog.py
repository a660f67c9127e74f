"""The catalog's tables (families, indicators, sources) and the meta table's catalog
version: what the observations point at."""

from __future__ import annotations

import json
from typing import Any

from ..catalog import Catalog
from ._connection import Connected


class CatalogRepository(Connected):
    """Families, indicators and sources, kept in step with the catalog files."""

    def sync_catalog(self, catalog: Catalog) -> None:
        """Make the families, indicators and sources tables match the catalog.

        Definitions that left the catalog stay (observations may point at them) but are
        marked `in_catalog = 0`.
        """
        with self.db.atomic():
            self.db.execute("UPDATE families SET in_catalog = 0")
            self.db.execute("UPDATE indicators SET in_catalog = 0")
            self.db["families"].upsert_all(
                (
                    {
                        "id": f.id,
                        "name": f.name,
                        "description": f.description,
                        "weight": f.weight,
                        "in_catalog": 1,
                    }
                    for f in catalog.families.values()
                ),
                pk="id",
            )
            self.db["indicators"].upsert_all(
                (_indicator_row(ind, catalog.version) for ind in catalog), pk="id"
            )
            for source in catalog.sources.values():
                self._upsert_source(source.key, vars(source))
            self.db["meta"].upsert({"key": "catalog_version", "value": catalog.version}, pk="key")

    def catalog_version(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
        return row[0] if row else None

    # -- sources ---------------------------------------------------------------------

    def _upsert_source(self, name: str, fields: dict[str, Any]) -> int:
        columns = ("author", "title", "publisher", "date", "published", "url", "note")
        values = [fields.get(c) for c in columns]
        self.db.execute(
            f"INSERT INTO sources (name, {', '.join(columns)}) VALUES (?{', ?' * len(columns)}) "
            f"ON CONFLICT(name) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in columns),
            [name, *values],
        )
        return self.source_id(name)

    def source_id(self, name: str) -> int:
        """The id of a source by its short name, creating a bare entry when new."""
        row = self.db.execute("SELECT id FROM sources WHERE name = ?", [name]).fetchone()
        if row:
            return int(row[0])
        cursor = self.db.execute("INSERT INTO sources (name) VALUES (?)", [name])
        return int(cursor.lastrowid or 0)


def _indicator_row(ind: Any, version: str) -> dict[str, Any]:
    low, high = ind.value_range
    return {
        "id": ind.id,
        "family": ind.family,
        "name": ind.name,
        "description": ind.description,
        "unit": ind.unit,
        "kind": ind.kind,
        "range_min": low,
        "range_max": high,
        "levels": json.dumps(ind.levels) if ind.levels else None,
        "higher_is_riskier": int(ind.higher_is_riskier),
        "direction_reasoning": ind.direction_reasoning,
        "contested": int(ind.contested),
        "frequency": ind.frequency,
        "max_age_days": ind.max_age_days,
        "half_life_days": ind.half_life_days,
        "weight": ind.weight,
        "normalisation": json.dumps(dict(ind.normalisation)),
        "citations": json.dumps(ind.to_dict()["citations"]),
        "in_catalog": 1,
        "catalog_version": version,
    }
