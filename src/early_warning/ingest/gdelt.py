"""GDELT event exports into weekly dyad indicators.

GDELT publishes one row per event: the 1.0 daily export (57 tab-separated columns
before April 2013, 58 after, when SOURCEURL was added) and the 2.0 15-minute export
(61 columns: three ADM2 codes more). Neither has a header; both come zipped. The first
35 columns (ids, date, actors, CAMEO codes, Goldstein scale, tone) are the same in all
three layouts; only the position of DATEADDED differs. Layouts: ../shared/real_data/gdelt/
schema_gdelt*_columns.csv, after the GDELT codebooks.

`aggregate_events` streams a file in chunks of rows (pandas' C parser, only the
columns used), so memory does not grow with the file. It keeps the events between a
country and one of its counterparts (either actor, by the actors' CAMEO country
codes): the mapping's `subject` and `counterparts`, or, when it names none, each
theatre's country and its dyads (`GdeltSpec`). It sums them per dyad and ISO week (an
`Aggregate`). `weekly_fields` turns the
sums of a week over all files ingested so far (`week_total`) into its indicators:

  * `gdelt_events`: events in the week [events per week];
  * `gdelt_quad{1..4}_events`: events per CAMEO quad class (verbal cooperation,
    material cooperation, verbal conflict, material conflict) [events per week];
  * `gdelt_material_conflict_share`: quad class 4 as a share of all events [%];
  * `gdelt_conflict_share`, `gdelt_cooperation_share`: quad classes 3 and 4, and 1
    and 2, as shares of all events [%] (conflict and cooperation kept apart);
  * `gdelt_goldstein_mean`: mean Goldstein scale [-10..10];
  * `gdelt_goldstein_weighted`: mean Goldstein scale, each event weighted by its
    NumMentions [-10..10] (a week summed from files recorded before the mentions
    were kept, migration 021, gets none);
  * `gdelt_tone_mean`: mean AvgTone of the documents [-100..100];
  * one share per group of CAMEO root codes in the mapping (13 threaten, 15 exhibit
    force posture, 17 coerce, 18-20 assault, fight, mass violence) [% of events].

Each is written for every dyad (`BLR-RUS`, ...) and for its country as a whole (the
events of all its dyads). An event between two countries that two theatres both pair
(Belarus's BLR-RUS, a Russia theatre's RUS-BLR) counts for each theatre's own dyad and
country; an event id is counted once, by the first file that has it, for all of them.
Shares and means need `min_events` in the week; with fewer the week gets counts only
and the skipped values are counted in the result.

This module reads and computes; it touches no database. Recording (the sums into the
`event_counts` table, the indicators through validation, one transaction per file) is
`gdelt_record.ingest_gdelt`. Daily dyad scores already computed elsewhere are another
layout: `gdelt_dyads.py`.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import math
import re
import sys
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..catalog import Catalog
from ..errors import CatalogError, IngestError
from ..numbers import format_number
from ..periods import iso_week
from .archive import check_zip
from .mapping import load_mapping
from .validate import OBSERVATION_COLUMNS, Problem

__all__ = [
    "Aggregate",
    "GdeltSpec",
    "aggregate_events",
    "looks_like_gdelt",
    "looks_like_gdelt_zip",
    "new_sums",
    "week_total",
    "weekly_fields",
]

# Column positions shared by all layouts, and DATEADDED's position by column count.
EVENT_ID, SQLDATE, ACTOR1_COUNTRY, ACTOR2_COUNTRY, ROOT_CODE, QUAD_CLASS, GOLDSTEIN = (
    0, 1, 7, 17, 28, 29, 30,
)  # fmt: skip
MENTIONS, TONE = 31, 34
FIRST_DAY = dt.date(1979, 1, 1)  # GDELT's events begin in 1979
DATEADDED = {57: 56, 58: 56, 61: 59}
VERSION = {57: "1.0", 58: "1.0", 61: "2.0"}
_NAMES = {
    EVENT_ID: "GLOBALEVENTID", SQLDATE: "SQLDATE", ACTOR1_COUNTRY: "Actor1CountryCode",
    ACTOR2_COUNTRY: "Actor2CountryCode", ROOT_CODE: "EventRootCode", QUAD_CLASS: "QuadClass",
    GOLDSTEIN: "GoldsteinScale", MENTIONS: "NumMentions", TONE: "AvgTone",
}  # fmt: skip
_DEFAULT_ZIP_LIMITS: dict[str, Any] = {"max_unzipped_bytes": 1 << 30, "max_ratio": 200.0}
_FILE_NAME = re.compile(r"\d{8}(\d{6})?\.export\.csv(\.zip)?$", re.IGNORECASE)
_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class GdeltSpec:
    """What the `gdelt:` section of mappings/gdelt.yaml asks for, with the dyads it
    counts: the mapping's own `subject` and `counterparts` (a catalog from before
    theatres), or else each theatre's country and its `dyads.counterparts`."""

    groups: tuple[tuple[str, tuple[str, ...]], ...]  # (country, its counterparts)
    root_shares: dict[str, tuple[str, ...]]  # indicator -> CAMEO root codes
    min_events: int
    source: str
    reliability: str
    credibility: str
    digest: str  # of the mapping, and of the theatres' dyads when they are read
    # (actor, actor) -> the subjects an event between them counts for, either way round
    pairs: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> GdeltSpec:
        mapping = load_mapping(catalog, "gdelt")
        raw = mapping.extra.get("gdelt")
        where = f"{mapping.path}: field 'gdelt"
        if not isinstance(raw, dict):
            raise CatalogError(f"{where}': expected min_events and root_shares")
        groups, digest = _groups(raw, catalog, where, mapping.digest)
        shares = raw.get("root_shares") or {}
        if not isinstance(shares, dict):
            raise CatalogError(f"{where}.root_shares': expected indicator -> [root codes]")
        parsed: dict[str, tuple[str, ...]] = {}
        for indicator, roots in shares.items():
            if indicator not in catalog.indicators:
                raise CatalogError(f"{where}.root_shares': {indicator!r} is not in the catalog")
            codes = tuple(f"{int(r):02d}" for r in roots if 1 <= int(r) <= 20)
            if not codes or len(codes) != len(roots):
                raise CatalogError(f"{where}.root_shares.{indicator}': CAMEO roots are 01-20")
            parsed[indicator] = codes
        for indicator in (*_COUNT_INDICATORS, *_MEAN_INDICATORS, _WEIGHTED):
            if indicator not in catalog.indicators:
                raise CatalogError(f"{mapping.path}: indicator {indicator!r} is not in the catalog")
        min_events = raw.get("min_events", 5)
        if not isinstance(min_events, int) or min_events < 1:
            raise CatalogError(f"{where}.min_events': expected a whole number >= 1")
        return cls(
            groups, parsed, min_events, mapping.source, mapping.reliability,
            mapping.credibility, digest, _pairs(groups),
        )  # fmt: skip

    @property
    def subject(self) -> str:
        """The first country: the default subject of the rows written."""
        return self.groups[0][0]

    @property
    def subjects(self) -> tuple[str, ...]:
        """Every subject written: each country and its dyads."""
        return tuple(s for c, cps in self.groups for s in (c, *(f"{c}-{p}" for p in cps)))

    def counterparts_of(self, country: str) -> tuple[str, ...]:
        return next(cps for c, cps in self.groups if c == country)

    def describe(self) -> str:
        """`BLR and RUS, POL, ...`, one such clause per country (messages, notes)."""
        return "; ".join(f"{c} and {', '.join(cps)}" for c, cps in self.groups)


def _groups(
    raw: dict[str, Any], catalog: Catalog, where: str, digest: str
) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], str]:
    """The countries and counterparts counted, and the digest that names the choice."""
    subject, counterparts = raw.get("subject"), raw.get("counterparts")
    if subject is None and counterparts is None:
        groups = tuple((t.country, t.counterparts) for t in catalog.theatres if t.counterparts)
        if not groups:
            raise CatalogError(
                f"{where}.subject': expected an ISO alpha-3 code and 'counterparts', or "
                "theatres with dyads in theatres.yaml"
            )
        # The dyads are part of what a file was aggregated with: a theatre added or a
        # counterpart changed makes an ingested file count again (its counts replaced).
        named = json.dumps(groups).encode()
        return groups, hashlib.sha256(digest.encode() + named).hexdigest()[:16]
    if not isinstance(subject, str) or not re.fullmatch(r"[A-Z]{3}", subject):
        raise CatalogError(f"{where}.subject': expected an ISO alpha-3 code")
    if not isinstance(counterparts, list) or not all(
        isinstance(c, str) and re.fullmatch(r"[A-Z]{3}", c) for c in counterparts
    ):
        raise CatalogError(f"{where}.counterparts': expected a list of ISO alpha-3 codes")
    return ((subject, tuple(counterparts)),), digest


def _pairs(
    groups: tuple[tuple[str, tuple[str, ...]], ...],
) -> dict[tuple[str, str], tuple[str, ...]]:
    """For each actor pair, the subjects its events count for: the dyad and its
    country, in every theatre that lists the pair (a Russia theatre's RUS-BLR and
    Belarus's BLR-RUS both count an event between the two)."""
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for country, counterparts in groups:
        for other in counterparts:
            if other == country:
                continue
            for key in ((country, other), (other, country)):
                for subject in (f"{country}-{other}", country):
                    if subject not in pairs[key]:
                        pairs[key].append(subject)
    return {key: tuple(subjects) for key, subjects in pairs.items()}


_COUNT_INDICATORS = (
    "gdelt_events",
    "gdelt_quad1_events",
    "gdelt_quad2_events",
    "gdelt_quad3_events",
    "gdelt_quad4_events",
)
_MEAN_INDICATORS = (
    "gdelt_material_conflict_share",
    "gdelt_conflict_share",
    "gdelt_cooperation_share",
    "gdelt_goldstein_mean",
    "gdelt_tone_mean",
)
_WEIGHTED = "gdelt_goldstein_weighted"  # needs the mentions, which older sums lack


def looks_like_gdelt_zip(path: Path, zip_limits: dict[str, Any]) -> bool:
    """A zip of one member whose first line has the fields of a GDELT export."""
    members = check_zip(path, **zip_limits)
    if len(members) != 1:
        return False
    try:
        with zipfile.ZipFile(path) as archive, archive.open(members[0]) as handle:
            first = handle.readline(1 << 16)
    except Exception:  # damaged: then it is not a GDELT export either
        return False
    return first.count(b"\t") + 1 in DATEADDED


def looks_like_gdelt(path: Path, head: bytes) -> bool:
    """A GDELT export by its name, or by a first line of 57, 58 or 61 tab-separated fields."""
    if _FILE_NAME.search(path.name):
        return True
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
        return len(names) == 1 and bool(_FILE_NAME.search(names[0]))
    first = head.split(b"\n", 1)[0]
    return first.count(b"\t") + 1 in DATEADDED


# -- reading -------------------------------------------------------------------------


_MAX_LINE_BYTES = 1 << 20  # a GDELT event row is a few hundred bytes


class _Counting(io.RawIOBase):
    """A file wrapper that reports the bytes read to a progress bar, and refuses a line
    longer than any event row (the parser would hold it whole in memory)."""

    def __init__(self, raw: IO[bytes], progress: Any, path: Path) -> None:
        self.raw, self.progress, self.path = raw, progress, path
        self.since_newline = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        last = data.rfind(b"\n")
        self.since_newline = len(data) - last - 1 if last >= 0 else self.since_newline + len(data)
        if self.since_newline > _MAX_LINE_BYTES:
            raise IngestError(
                f"{self.path}: a line of more than {_MAX_LINE_BYTES:,} bytes; "
                "not a GDELT event export"
            )
        if self.progress is not None:
            self.progress.update(len(data))
        return len(data)


@contextmanager
def _opened(path: Path, zip_limits: dict[str, Any]) -> Iterator[tuple[IO[bytes], int]]:
    """The export's bytes (unzipped if need be, within the limits) and their size."""
    if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
        raise IngestError(f"{path}: not a readable zip file")
    if zipfile.is_zipfile(path):
        members = check_zip(path, **zip_limits)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise IngestError(f"{path}: damaged zip file ({exc})") from None
        with archive:
            if len(members) != 1:
                raise IngestError(
                    f"{path}: expected one export file in the zip, found {len(members)}"
                )
            with archive.open(members[0]) as handle:
                yield handle, members[0].file_size
    else:
        with path.open("rb") as handle:
            yield handle, path.stat().st_size


def _column_count(path: Path, zip_limits: dict[str, Any]) -> int:
    with _opened(path, zip_limits) as (handle, _):
        first = handle.readline(_MAX_LINE_BYTES)
    if len(first) >= _MAX_LINE_BYTES and not first.endswith(b"\n"):
        raise IngestError(
            f"{path}: line 1 is longer than {_MAX_LINE_BYTES:,} bytes; not a GDELT event export"
        )
    if not first.strip():
        raise IngestError(f"{path}: the first line is empty; expected a GDELT event row")
    count = first.count(b"\t") + 1
    if count not in DATEADDED:
        raise IngestError(
            f"{path}: line 1 has {count} tab-separated fields; a GDELT 1.0 export has 57 or "
            "58 and a 2.0 export 61"
        )
    return count


@dataclass
class Aggregate:
    """What one pass over an export found."""

    sums: dict[tuple[str, str], list[Any]]  # (subject, week) -> sums, see new_sums
    rows_read: int
    rows_kept: int
    event_ids: list[int]  # of the events counted
    repeated: int  # events already counted from another file, or twice in this one
    rejects: list[tuple[int, str, str, str]]  # line, field, reason, raw
    version: str


# Positions in a sums list past the first nine (events, quad1..4, goldstein sum, tone
# sum, root counts, last DATEADDED day), and those `week_total` appends.
MENTIONS_SUM, GOLDSTEIN_BY_MENTIONS, FILES, WITHOUT_MENTIONS = 9, 10, 11, 12


def new_sums() -> list[Any]:
    # events, quad1..4, goldstein sum, tone sum, root counts, last DATEADDED day,
    # mentions, sum of goldstein x mentions
    return [0, 0, 0, 0, 0, 0.0, 0.0, Counter(), "", 0, 0.0]


def aggregate_events(
    path: Path,
    spec: GdeltSpec,
    *,
    today: dt.date | None = None,
    already_counted: Callable[[list[int]], set[int]] | None = None,
    chunk_rows: int = _CHUNK_ROWS,
    progress: bool = False,
    zip_limits: dict[str, Any] | None = None,
) -> Aggregate:
    """Stream an export and sum the events of the spec's dyads per (dyad, ISO week).

    `already_counted(ids)` says which of the event ids were counted from other files;
    those, and ids met twice in this file, are left out.
    """
    import pandas as pd

    zip_limits = zip_limits or _DEFAULT_ZIP_LIMITS
    width = _column_count(path, zip_limits)
    added_at = DATEADDED[width]
    used = [EVENT_ID, SQLDATE, ACTOR1_COUNTRY, ACTOR2_COUNTRY, ROOT_CODE, QUAD_CLASS]
    used += [GOLDSTEIN, MENTIONS, TONE, added_at]
    state = _State(today or dt.date.today(), already_counted or (lambda ids: set()))
    sums: dict[tuple[str, str], list[Any]] = defaultdict(new_sums)
    rejects: list[tuple[int, str, str, str]] = []
    skipped_lines: list[int] = []
    read = kept = 0
    with _opened(path, zip_limits) as (handle, size), _progress_bar(path, size, progress) as bar:
        stream = io.BufferedReader(_Counting(handle, bar, path), buffer_size=1 << 20)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            reader = pd.read_csv(
                stream, sep="\t", header=None, usecols=used, dtype=str, quoting=csv.QUOTE_NONE,
                na_filter=False, chunksize=chunk_rows, engine="c", on_bad_lines="warn",
                encoding="utf-8", encoding_errors="replace", names=range(width),
            )  # fmt: skip
            for chunk in reader:
                skipped_lines += _bad_lines(caught)
                first = read
                read += len(chunk)
                _refuse_if_mostly_bad(path, read + len(skipped_lines), rejects, skipped_lines)
                state.cover(chunk[added_at])
                short = chunk[added_at].isna() | (chunk[added_at] == "")
                if short.any():  # pandas pads a row with too few fields; it is a reject
                    for i in short.to_numpy().nonzero()[0]:
                        line = _line_of(first + int(i), skipped_lines)
                        cells = chunk.iloc[int(i)]
                        raw = "\t".join(
                            f"{_NAMES.get(c, 'DATEADDED')}={v}"
                            for c, v in zip(used, cells.tolist(), strict=True)
                            if isinstance(v, str) and v
                        )
                        rejects.append((line, "row", f"fewer than {width} fields", raw))
                a1, a2 = chunk[ACTOR1_COUNTRY], chunk[ACTOR2_COUNTRY]
                mask = _in_dyads(a1, a2, spec) & ~short
                if not mask.any():
                    continue
                hits = chunk[mask]
                kept += len(hits)
                positions = [first + int(i) for i in (mask.to_numpy().nonzero()[0])]
                _add_rows(hits, positions, spec, added_at, sums, rejects, skipped_lines, state)
            skipped_lines += _bad_lines(caught)
    for line in skipped_lines:
        rejects.append((line, "row", f"more than {width} tab-separated fields", ""))
    rejects.sort()
    for week, last_day in state.covered.items():
        for subject in spec.subjects:
            entry = sums[(subject, week)]  # zero events in a week the file covers
            entry[8] = max(entry[8], last_day)
    counted = len(state.ids)
    return Aggregate(
        dict(sums), read + len(skipped_lines), counted, sorted(state.ids),
        kept - counted - sum(1 for r in rejects if r[1] != "row"), rejects, VERSION[width],
    )  # fmt: skip


@dataclass
class _State:
    """What the row checks need across chunks."""

    today: dt.date
    already_counted: Callable[[list[int]], set[int]]
    ids: set[int] = field(default_factory=set)
    # The ISO weeks the file was published in (its DATEADDED days), with the last day:
    # every dyad gets a value for them, zero events included, rather than none.
    covered: dict[str, str] = field(default_factory=dict)

    def cover(self, added: Any) -> None:
        days = {str(text)[:8] for text in added.unique()}  # few: one file, a few days
        for text in days:
            day = _day(text)
            if day is not None and FIRST_DAY <= day <= self.today:
                key = iso_week(day)
                self.covered[key] = max(self.covered.get(key, ""), day.isoformat())


def _bad_lines(caught: list[warnings.WarningMessage]) -> list[int]:
    lines = []
    for item in caught:
        for match in re.finditer(r"Skipping line (\d+)", str(item.message)):
            lines.append(int(match[1]))
    caught.clear()
    return lines


@contextmanager
def _progress_bar(path: Path, size: int, show: bool) -> Iterator[Any]:
    if not show:
        yield None
        return
    from tqdm import tqdm

    with tqdm(
        total=size, unit="B", unit_scale=True, desc=path.name[:40], file=sys.stderr, leave=False
    ) as bar:
        yield bar


def _line_of(position: int, skipped: list[int]) -> int:
    """The file line of the parsed row at `position` (0-based), past skipped bad lines
    (`skipped` is in file order, so sorted; bisected, not scanned, for every reject)."""
    line = position + 1
    while True:
        moved = position + 1 + bisect.bisect_right(skipped, line)
        if moved == line:
            return line
        line = moved


_FLOOD_ROWS = 100_000


def _refuse_if_mostly_bad(path: Path, read: int, rejects: list[Any], skipped: list[int]) -> None:
    """A file whose rows are mostly not event rows is not an export: refuse it rather
    than keep a reject for each of millions of lines."""
    bad = len(rejects) + len(skipped)
    if bad > _FLOOD_ROWS and bad * 2 > read:
        raise IngestError(
            f"{path}: {bad:,} of the first {read:,} lines are not GDELT event rows; "
            "refused as not an event export"
        )


def _in_dyads(a1: Any, a2: Any, spec: GdeltSpec) -> Any:
    """The rows whose two actors are a country and one of its counterparts."""
    mask = None
    for country, counterparts in spec.groups:
        own = ((a1 == country) & a2.isin(counterparts)) | ((a2 == country) & a1.isin(counterparts))
        mask = own if mask is None else mask | own
    return mask & (a1 != a2)


def _add_rows(
    hits: Any,
    positions: list[int],
    spec: GdeltSpec,
    added_at: int,
    sums: dict[tuple[str, str], list[Any]],
    rejects: list[tuple[int, str, str, str]],
    skipped: list[int],
    state: _State,
) -> None:
    columns = [EVENT_ID, SQLDATE, ACTOR1_COUNTRY, ACTOR2_COUNTRY, ROOT_CODE, QUAD_CLASS]
    columns += [GOLDSTEIN, MENTIONS, TONE, added_at]
    rows = [
        tuple(c if isinstance(c, str) else "" for c in cells)  # short rows: NaN
        for cells in zip(*(hits[c].tolist() for c in columns), strict=True)
    ]
    ids = [int(r[0]) if r[0].isascii() and r[0].isdigit() else -1 for r in rows]
    counted_before = state.already_counted([i for i in ids if i >= 0])
    for position, row, event_id in zip(positions, rows, ids, strict=True):
        parsed = _parse_event(row[1:], state.today)
        if event_id < 0:
            parsed = Problem("GLOBALEVENTID", f"{row[0][:20]!r} is not a whole number")
        if isinstance(parsed, Problem):
            named = zip(columns, row, strict=True)
            raw = "\t".join(f"{_NAMES.get(c, 'DATEADDED')}={v}" for c, v in named)
            rejects.append((_line_of(position, skipped), parsed.field, parsed.reason, raw))
            continue
        if event_id in counted_before or event_id in state.ids:
            continue  # counted from another file, or earlier in this one
        state.ids.add(event_id)
        week, root, quad, goldstein, mentions, tone, added = parsed
        for subject in spec.pairs[(row[2], row[3])]:
            entry = sums[(subject, week)]
            entry[0] += 1
            entry[quad] += 1
            entry[5] += goldstein
            entry[6] += tone
            entry[7][root] += 1
            entry[8] = max(entry[8], added)
            entry[MENTIONS_SUM] += mentions
            entry[GOLDSTEIN_BY_MENTIONS] += goldstein * mentions


def _parse_event(
    row: tuple[str, ...], today: dt.date
) -> tuple[str, str, int, float, int, float, str] | Problem:
    day_text, _, _, root, quad_text, goldstein_text, mentions_text, tone_text, added_text = row
    if not added_text:
        return Problem("row", "fewer fields than line 1 (no DATEADDED)")
    day = _day(day_text)
    if day is None:
        return Problem(_NAMES[SQLDATE], f"{day_text[:20]!r} is not a YYYYMMDD date")
    if not FIRST_DAY <= day <= today:
        return Problem(_NAMES[SQLDATE], f"{day_text} is before 1979 or in the future")
    if not (len(root) == 2 and root.isascii() and root.isdigit() and 1 <= int(root) <= 20):
        return Problem(_NAMES[ROOT_CODE], f"{root[:10]!r} is not a CAMEO root code 01-20")
    if quad_text not in ("1", "2", "3", "4"):
        return Problem(_NAMES[QUAD_CLASS], f"{quad_text[:10]!r} is not a quad class 1-4")
    try:
        goldstein, tone = float(goldstein_text), float(tone_text)
    except ValueError:
        name, text = (
            (_NAMES[GOLDSTEIN], goldstein_text)
            if not _is_float(goldstein_text)
            else (_NAMES[TONE], tone_text)
        )
        return Problem(name, f"{text[:20]!r} is not a number")
    if not math.isfinite(goldstein):
        return Problem(_NAMES[GOLDSTEIN], f"{goldstein_text[:20]!r} is not a finite number")
    if not math.isfinite(tone):
        return Problem(_NAMES[TONE], f"{tone_text[:20]!r} is not a finite number")
    if not -10 <= goldstein <= 10:
        shown = format_number(goldstein, digits=10)
        return Problem(_NAMES[GOLDSTEIN], f"{shown} is outside -10..10")
    if not -100 <= tone <= 100:
        return Problem(_NAMES[TONE], f"{format_number(tone, digits=10)} is outside -100..100")
    if not (mentions_text.isascii() and mentions_text.isdigit()):
        return Problem(_NAMES[MENTIONS], f"{mentions_text[:20]!r} is not a whole number >= 0")
    added_day = _day(added_text[:8])
    if added_day is None:
        return Problem("DATEADDED", f"{added_text[:20]!r} is not a date")
    week = iso_week(day)
    return week, root, int(quad_text), goldstein, int(mentions_text), tone, added_day.isoformat()


@functools.lru_cache(maxsize=8192)
def _day(text: str) -> dt.date | None:
    """A YYYYMMDD day (cached: a file has a few hundred distinct days at most)."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- weekly indicators from the sums -------------------------------------------------


def week_total(stored: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The sums of one (subject, week) over the `event_counts` rows of every file so
    far (as `new_sums`, with the number of files appended at FILES, and at
    WITHOUT_MENTIONS whether any file's row was recorded before mentions were kept)."""
    total, files, without_mentions = new_sums(), 0, False
    for row in stored:
        files += 1
        for i, name in enumerate(("events", "quad1", "quad2", "quad3", "quad4")):
            total[i] += row[name]
        total[5] += row["goldstein_sum"]
        total[6] += row["tone_sum"]
        total[7].update(json.loads(row["roots"]))
        total[8] = max(total[8], row["last_added"] or "")
        if row["mentions"] is None:
            without_mentions = True  # a row from before migration 021
        else:
            total[MENTIONS_SUM] += row["mentions"]
            total[GOLDSTEIN_BY_MENTIONS] += row["goldstein_mentions_sum"]
    total += [files, without_mentions]
    return total


def weekly_fields(
    catalog: Catalog,
    spec: GdeltSpec,
    version: str,
    subject: str,
    week: str,
    total: list[Any],
    skipped: Counter[str],
) -> Iterator[list[str]]:
    """The week's indicators from its total (`week_total`), as canonical fields; the
    shares and means a thin week cannot carry are counted in `skipped`."""
    for indicator, value in _indicator_values(total, spec, skipped):
        unit = catalog.indicators[indicator].unit
        yield _observation_fields(indicator, unit, value, subject, week, total, spec, version)


def _indicator_values(
    total: list[Any], spec: GdeltSpec, skipped: Counter[str]
) -> Iterator[tuple[str, float]]:
    events = total[0]
    yield "gdelt_events", events
    for quad in (1, 2, 3, 4):
        yield f"gdelt_quad{quad}_events", total[quad]
    if events < spec.min_events:
        skipped[f"shares and means of weeks with fewer than {spec.min_events} events"] += (
            len(_MEAN_INDICATORS) + 1 + len(spec.root_shares)
        )
        return
    yield "gdelt_material_conflict_share", 100.0 * total[4] / events
    yield "gdelt_conflict_share", 100.0 * (total[3] + total[4]) / events
    yield "gdelt_cooperation_share", 100.0 * (total[1] + total[2]) / events
    yield "gdelt_goldstein_mean", total[5] / events
    yield "gdelt_tone_mean", total[6] / events
    if total[WITHOUT_MENTIONS]:
        skipped["mention-weighted means of weeks summed before mentions were kept"] += 1
    elif total[MENTIONS_SUM] == 0:
        skipped["mention-weighted means of weeks whose events have no mentions"] += 1
    else:
        yield _WEIGHTED, total[GOLDSTEIN_BY_MENTIONS] / total[MENTIONS_SUM]
    for indicator, roots in spec.root_shares.items():
        yield indicator, 100.0 * sum(total[7].get(r, 0) for r in roots) / events


def _observation_fields(
    indicator: str,
    unit: str,
    value: float,
    subject: str,
    week: str,
    total: list[Any],
    spec: GdeltSpec,
    version: str,
) -> list[str]:
    if "-" in subject:
        who = subject
    else:
        who = f"{subject} with {', '.join(spec.counterparts_of(subject))}"
    citation = f"GDELT {version} event export, events between {who}, {week}"
    note = f"{total[0]:,} event(s) from {total[FILES]} file(s) ingested so far"
    week_start = dt.date.fromisoformat(f"{week}-1")
    published = max(dt.date.fromisoformat(total[8]), week_start) if total[8] else week_start
    fields = dict.fromkeys(OBSERVATION_COLUMNS, "")
    fields.update(
        indicator=indicator, date=week, value=f"{value:.10g}", subject=subject,
        source=spec.source, citation=citation, published=published.isoformat(),
        reliability=spec.reliability, credibility=spec.credibility, note=note, unit=unit,
    )  # fmt: skip
    return list(fields.values())
