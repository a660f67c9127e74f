"""Reading the project's own text files (YAML, TOML) with one-line errors.

The catalog, weight profiles, alert rules, mappings and the configuration are all
files a person edits by hand, so every way of getting one wrong ends in the same
kind of message: the path, the line where known, and what is wrong, raised as the
error class the caller names (`CatalogError`, `ProfileError`, `RuleError`, ...).

YAML is read with the safe loader (libyaml's when installed, about ten times faster)
and a key given twice in one mapping is an error: PyYAML would silently keep the
last one, and a weight or threshold typed twice must not be half-applied.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import yaml

from .errors import EarlyWarningError

__all__ = ["parse_yaml", "read_bytes", "read_toml", "read_yaml", "write_text_atomically"]

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, mark: Any) -> None:
        super().__init__(f"{key!r} is given twice")
        self.problem, self.problem_mark = f"{key!r} is given twice", mark


class _UniqueKeyLoader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) or key is None:
                if key in seen:
                    raise _DuplicateKey(key, key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_bytes(path: Path, error: type[EarlyWarningError], what: str = "file") -> bytes:
    """The file's bytes, or `error` naming the path: missing, a folder, unreadable."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None


def _text(raw: bytes, path: Path | str, error: type[EarlyWarningError]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None


def parse_yaml(text: str | bytes, where: Path | str, error: type[EarlyWarningError]) -> Any:
    """YAML text (or UTF-8 bytes) as data; `where` names it in the message."""
    if isinstance(text, bytes):
        text = _text(text, where, error)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}: {line}invalid YAML ({problem})") from None
    except RecursionError:  # an alias nested thousands deep
        raise error(f"{where}: invalid YAML (nested too deeply)") from None


def read_yaml(path: Path, error: type[EarlyWarningError], what: str = "file") -> Any:
    """A YAML file as data, or `error` with the path, the line and the problem."""
    return parse_yaml(read_bytes(path, error, what), path, error)


def read_toml(path: Path, error: type[EarlyWarningError], what: str = "file") -> dict[str, Any]:
    """A TOML file as a dict, or `error` with the path and the problem."""
    text = _text(read_bytes(path, error, what), path, error)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: invalid TOML ({exc})") from None


def write_text_atomically(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old text or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
