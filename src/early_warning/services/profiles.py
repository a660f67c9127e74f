"""Audited changes to weight profiles: the file and its audit row, together or neither.

`weights set` and the workbench's save both come here, so a profile made by one opens
in the other and their audit rows speak one vocabulary: `created` for a profile's first
file, `changed` for every later one (`used` is written when a version first scores).
The write lock is taken first, so a busy database refuses before the file changes; if
the commit fails the file is put back as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..files import write_text_atomically
from ..scoring.profiles import check_profile_name
from ..store import Store

__all__ = ["CHANGED", "CREATED", "ProfileChange", "save_audited"]

CREATED, CHANGED = "created", "changed"


@dataclass(frozen=True)
class ProfileChange:
    """What to write: the profile's weights hash, the file's text, what changed."""

    weights_hash: str
    text: str
    changes: str


def save_audited(
    store: Store,
    path: Path,
    change: Callable[[bool], ProfileChange],
    *,
    author: str,
    note: str,
) -> str:
    """Write the profile file at `path` and its audit row in one step; return the action.

    `change(exists)` builds what to write once the lock is held and it is known whether
    the file exists (it may refuse, raising, e.g. to create what exists already).
    """
    name = path.stem
    check_profile_name(name)
    store.begin_immediate()
    try:
        exists = path.exists()
        wanted = change(exists)
        action = CHANGED if exists else CREATED
        store.record_profile(
            name, wanted.weights_hash, wanted.text, action, author, note, changes=wanted.changes
        )
        old_text = path.read_text(encoding="utf-8") if exists else None
        write_text_atomically(path, wanted.text)
        try:
            store.commit()
        except BaseException:
            if old_text is None:
                path.unlink(missing_ok=True)
            else:
                write_text_atomically(path, old_text)
            raise
    except BaseException:
        store.rollback()
        raise
    return action
