"""Results kept across processes, by the fingerprint of everything they read.

A report needs the week's forecast (with its models' track record) and its sensitivity
analysis; the pipeline, the warning level and the workbench ask for the same ones. Each
is deterministic in its inputs, so a result is kept beside the database (the store's
`<database>.kept.sqlite`, never the database itself) under a key that hashes those
inputs and the code that computed them, and any later process that asks with the same
inputs reads it back instead of computing it again:

    forecast = kept(store, "forecast", key_parts, compute, encode, decode)

The key hashes `parts` (the caller's inputs: the data vintage, the catalog's version,
the profile, the as-of date, the settings) with `code_fingerprint()`: the source of this
package and the versions of the numerical libraries, so a new release or an edited
model never reads a result an older one made.

A result goes through its JSON form on the first call too, so the first and every later
call return equal values (a tuple becomes a list in both). Reading still leaves the
database as it was: the kept file holds nothing that cannot be computed again.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..store import Store

__all__ = ["code_fingerprint", "fingerprint", "kept"]

T = TypeVar("T")

# The libraries whose versions can move a kept number or a kept chart's pixels.
_LIBRARIES = ("numpy", "scipy", "statsmodels", "scikit-learn", "SALib", "matplotlib", "fpdf2")


def fingerprint(*parts: Any) -> str:
    """A SHA-256 of JSON-encodable parts (dates and other objects by `str`)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """A hash of this package's Python source and the numerical libraries' versions:
    what computed a kept result, besides its inputs (about 5 ms, once per process)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for name in _LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=-\0".encode())
    return digest.hexdigest()


def kept(
    store: Store,
    kind: str,
    parts: tuple[Any, ...],
    compute: Callable[[], T],
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
) -> T:
    """The result of `compute()` for these inputs: read back when kept, else computed,
    kept and returned through its JSON form (`encode` to JSON-able, `decode` back)."""
    key = fingerprint(code_fingerprint(), kind, *parts)
    text = store.kept_result(kind, key)
    if text is not None:
        try:
            return decode(json.loads(text))
        except (ValueError, KeyError, TypeError):  # a row no longer in the form it had
            pass  # computed again below, and its row replaced
    text = json.dumps(encode(compute()), sort_keys=True, default=_plain)
    store.keep_result(kind, key, text)
    return decode(json.loads(text))


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as the Python values they hold."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot keep a {type(value).__name__}")
