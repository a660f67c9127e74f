"""What a zip archive may cost before anything inflates it (XLSX workbooks, GDELT zips).

A zip is a promise about sizes that its central directory makes. Python's `zipfile`
stops reading a member at its declared `file_size` and checks the CRC at the end, so
the declared sizes bound what inflating can produce; checking them first refuses a
zip bomb (a 1.5 MB workbook that inflates to gigabytes of sheet XML) in milliseconds,
before openpyxl or pandas sees a byte. Refused as well, each with one line: an
encrypted member, a damaged directory, too many members.

Limits (from `[ingest]`): `max_unzipped_bytes` for all members together and
`max_zip_ratio` for any member of more than 1 MiB (real workbooks and GDELT exports
inflate 4-20 times; bombs hundreds or thousands of times).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..errors import IngestError
from ..numbers import format_number

__all__ = ["ZipKind", "check_zip", "zip_kind"]

_SMALL_MEMBER = 1 << 20  # below this a high ratio costs nothing (a styles.xml of zeros)
_MAX_MEMBERS = 10_000

ZipKind = str  # "xlsx" | "single" (one data file) | "other"


def check_zip(path: Path, *, max_unzipped_bytes: int, max_ratio: float) -> list[zipfile.ZipInfo]:
    """The archive's members, or IngestError if inflating them could cost too much."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise IngestError(f"{path}: damaged zip archive ({_reason(exc)})") from None
    if len(members) > _MAX_MEMBERS:
        raise IngestError(f"{path}: {len(members):,} members in the zip archive; too many")
    total = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise IngestError(f"{path}: {info.filename[:60]!r} in the zip is encrypted")
        total += info.file_size
        if total > max_unzipped_bytes:
            raise IngestError(
                f"{path}: the zip inflates to more than {max_unzipped_bytes:,} bytes "
                "(ingest.max_unzipped_bytes)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _SMALL_MEMBER and ratio > max_ratio:
            raise IngestError(
                f"{path}: {info.filename[:60]!r} inflates {ratio:,.0f} times "
                f"(over ingest.max_zip_ratio = {format_number(max_ratio, digits=6)}); "
                "refused as a zip bomb"
            )
    return members


def zip_kind(path: Path) -> ZipKind:
    """What a zip holds, by its member names only (nothing is inflated)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return "other"
    if "[Content_Types].xml" in names:
        return "xlsx"
    if len(names) == 1:
        return "single"
    return "other"


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return text or type(exc).__name__
