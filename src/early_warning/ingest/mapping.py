"""Mapping files: how a published data set's series become catalog indicators.

Each importer of a third-party layout (World Bank, IMF, SIPRI, GDELT) reads one YAML
file from the catalog's `mappings/` folder. A mapping names the observation `source`
(a key of `sources.yaml`), the Admiralty grades the rows get, the subjects to keep and,
for each series of the data set, the catalog indicator it feeds and the factor that
converts the published unit into the catalog unit:

    source: worldbank_wdi
    reliability: A
    credibility: 2
    subjects: [BLR, RUS, UKR, POL, LTU, LVA, EST]      # or "*" for every country
    series:
      NY.GDP.MKTP.CD:
        indicator: gdp_usd_bn
        scale: 1.0e-9                                  # US$ -> US$ bn
        citation: World Bank WDI, NY.GDP.MKTP.CD (GDP, current US$)

A mistake in a mapping is a `CatalogError` naming the file and the field.
`countries.csv` beside the mappings turns the country names SIPRI and the IMF print
into ISO 3166 alpha-3 codes.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import CatalogError
from ..files import parse_yaml, read_bytes

__all__ = ["Countries", "Mapping", "Series", "load_countries", "load_mapping"]

_ISO3 = re.compile(r"[A-Z]{3}")
_MAPPING_KEYS = {
    "source", "reliability", "credibility", "projection_credibility", "subjects",
    "series", "long_layout_series", "published_lag_months", "description", "gdelt",
    "projection_years",
}  # fmt: skip
_SERIES_KEYS = {"indicator", "scale", "citation", "note"}


@dataclass(frozen=True)
class Series:
    """One published series and the indicator it feeds."""

    code: str
    indicator: str
    scale: float
    citation: str
    note: str = ""


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file."""

    path: Path
    source: str
    reliability: str
    credibility: str
    subjects: frozenset[str] | None  # None: every country
    series: dict[str, Series]
    digest: str
    projection_credibility: str = ""
    long_layout_series: str = ""
    published_lag_months: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def keeps(self, subject: str) -> bool:
        return self.subjects is None or subject in self.subjects


def mappings_folder(catalog: Catalog) -> Path:
    return Path(catalog.folder) / "mappings"


def load_mapping(catalog: Catalog, name: str) -> Mapping:
    """Read and check `mappings/<name>.yaml` against the catalog."""
    path = mappings_folder(catalog) / f"{name}.yaml"
    raw_bytes = read_bytes(path, CatalogError, "mapping file")
    data = parse_yaml(raw_bytes, path, CatalogError)
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping with 'source' and 'series'")

    def fail(where: str, problem: str) -> CatalogError:
        return CatalogError(f"{path}: field {where!r}: {problem}")

    unknown = set(data) - _MAPPING_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], "unknown field")
    source = data.get("source")
    if source not in catalog.sources:
        raise fail("source", f"{source!r} is not a key of sources.yaml")
    reliability = str(data.get("reliability", "")).upper()
    if reliability not in tuple("ABCDEF"):
        raise fail("reliability", "expected an Admiralty grade A-F")
    grades = {}
    for key in ("credibility", "projection_credibility"):
        text = str(data.get(key, data.get("credibility", "")))
        if text not in tuple("123456"):
            raise fail(key, "expected an Admiralty grade 1-6")
        grades[key] = text
    subjects = _parse_subjects(data.get("subjects", "*"), fail)
    series = _parse_series(data.get("series") or {}, catalog, fail)
    long_series = str(data.get("long_layout_series", ""))
    if long_series and long_series not in series:
        raise fail("long_layout_series", f"{long_series!r} is not one of the series")
    lag = data.get("published_lag_months", 0)
    if not isinstance(lag, int) or isinstance(lag, bool) or not 0 <= lag <= 60:
        raise fail("published_lag_months", "expected a whole number of months, 0-60")
    return Mapping(
        path=path,
        source=str(source),
        reliability=reliability,
        credibility=grades["credibility"],
        projection_credibility=grades["projection_credibility"],
        subjects=subjects,
        series=series,
        digest=hashlib.sha256(raw_bytes).hexdigest()[:16],
        long_layout_series=long_series,
        published_lag_months=lag,
        extra={k: data[k] for k in ("gdelt", "projection_years") if k in data},
    )


def _parse_subjects(raw: Any, fail: Any) -> frozenset[str] | None:
    if raw == "*":
        return None
    if not isinstance(raw, list) or not raw:
        raise fail("subjects", 'expected a list of ISO alpha-3 codes, or "*"')
    for code in raw:
        if not isinstance(code, str) or not _ISO3.fullmatch(code):
            raise fail("subjects", f"{code!r} is not an ISO alpha-3 code")
    return frozenset(raw)


def _parse_series(raw: Any, catalog: Catalog, fail: Any) -> dict[str, Series]:
    if not isinstance(raw, dict):
        raise fail("series", "expected a mapping of series code -> indicator")
    series = {}
    for code, spec in raw.items():
        where = f"series.{code}"
        if not isinstance(spec, dict):
            raise fail(where, "expected a mapping with 'indicator'")
        unknown = set(spec) - _SERIES_KEYS
        if unknown:
            raise fail(f"{where}.{sorted(unknown)[0]}", "unknown field")
        indicator = spec.get("indicator")
        if indicator not in catalog.indicators:
            raise fail(f"{where}.indicator", f"{indicator!r} is not in the catalog")
        scale = spec.get("scale", 1)
        if not isinstance(scale, int | float) or isinstance(scale, bool) or scale == 0:
            raise fail(f"{where}.scale", "expected a non-zero number")
        series[str(code)] = Series(
            code=str(code),
            indicator=str(indicator),
            scale=float(scale),
            citation=str(spec.get("citation") or "").strip(),
            note=str(spec.get("note") or "").strip(),
        )
    return series


# -- country names -------------------------------------------------------------------


def _fold(name: str) -> str:
    """Compare names without case, accents, punctuation or a leading 'the'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    return text[4:] if text.startswith("the ") else text


@dataclass(frozen=True)
class Countries:
    """ISO 3166 alpha-3 codes by every name and alpha-2 code in `countries.csv`."""

    by_name: dict[str, str]
    alpha2: dict[str, str]

    def code(self, name: str) -> str | None:
        return self.by_name.get(_fold(name))


def load_countries(catalog: Catalog) -> Countries:
    path = mappings_folder(catalog) / "countries.csv"
    by_name: dict[str, str] = {}
    alpha2: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                iso3 = row["iso3"]
                alpha2[row["iso2"]] = iso3
                for name in [row["name"], *filter(None, row["aliases"].split("|"))]:
                    by_name.setdefault(_fold(name), iso3)
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found (country names -> ISO codes)") from None
    except (KeyError, csv.Error, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: unreadable country table ({exc})") from None
    return Countries(by_name, alpha2)
