"""All SQL lives in the store package (issue 15): no SQL text, and no reach into a
store's sqlite-utils handle or connection, anywhere else in `src/early_warning`; and the
store imports nothing above the base floor."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import early_warning

SRC = Path(early_warning.__file__).parent
STORE = SRC / "store"

# A statement's opening words, case-insensitive, shaped so that English ("Create the
# database", "update", "with `weights set`") does not match.
_SQL = re.compile(
    r"""(
        SELECT\s+(DISTINCT\s+)?(\d|\*|[\w.*(),'\s]+?\s+FROM\s)
      | INSERT\s+(OR\s+\w+\s+)?INTO\s
      | REPLACE\s+INTO\s
      | UPDATE\s+(OR\s+\w+\s+)?[\w\[\]"]+\s+SET\s
      | DELETE\s+FROM\s
      | CREATE\s+(TEMP(ORARY)?\s+|UNIQUE\s+|VIRTUAL\s+)?(TABLE|INDEX|VIEW|TRIGGER)\s
      | ALTER\s+TABLE\s
      | DROP\s+(TABLE|INDEX|VIEW|TRIGGER)\s
      | PRAGMA\s+\w+
      | BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?(\s+TRANSACTION)?\s*;?\s*$
      | (COMMIT|ROLLBACK)(\s+TRANSACTION)?\s*;?\s*$
      | ROLLBACK\s+TO\s
      | (SAVEPOINT|RELEASE)\s+\w+
      | WITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\s*\(
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# What the store may import from the package: the base floor (docs/architecture.md), and
# itself.
_FLOOR = {
    "errors", "clock", "periods", "config", "catalog", "files", "lazy", "numbers", "store",
}  # fmt: skip


def _modules(outside_store: bool = True) -> list[Path]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if (STORE in path.parents) == outside_store:
            continue
        found.append(path)
    return found


def _text(node: ast.AST) -> str | None:
    """The text of a string constant, or of an f-string with `?` for each field."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "?"
            for v in node.values
        )
    return None


def is_sql(text: str) -> bool:
    return bool(_SQL.match(text.strip()))


def sql_outside_store(paths: list[Path]) -> list[str]:
    """file:line and the opening words of each SQL string (an f-string and its first
    part are one finding)."""
    found: dict[tuple[str, int], str] = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            text = _text(node)
            if text is not None and is_sql(text):
                where = (str(path.relative_to(SRC.parent)), node.lineno)
                found.setdefault(where, text.strip()[:60])
    return [f"{file}:{line}: {text!r}" for (file, line), text in sorted(found.items())]


def handle_access_outside_store(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("db", "conn"):
                found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: .{node.attr}")
    return sorted(set(found))


def test_the_detector_knows_sql_from_english() -> None:
    for sql in (
        "SELECT 1 FROM alerts",
        "select id, name from sources where name = ?",
        "  SELECT count(*) FROM [observations]",
        "SELECT DISTINCT subject FROM observations",
        "INSERT INTO outbox (key) VALUES (?)",
        "INSERT OR IGNORE INTO t VALUES (1)",
        "UPDATE outbox_deliveries SET status = 'sent'",
        "\nUPDATE outbox SET\n  status = CASE",
        "DELETE FROM event_ids WHERE file_sha256 = ?",
        "CREATE TABLE seen (key INTEGER PRIMARY KEY)",
        "CREATE UNIQUE INDEX i ON t (a)",
        "ALTER TABLE t ADD COLUMN c",
        "PRAGMA busy_timeout = ?",
        "BEGIN IMMEDIATE",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "with recent as (select 1) select * from recent",
    ):
        assert is_sql(sql), sql
    for english in (
        "Create the database (or migrate it) and load the indicator catalog.",
        "Create a file that must not exist yet",
        "update",
        "end",
        "with",
        "with `weights set`; the audit trail",
        "Drop cached sessions (after new data or a saved profile).",
        "replace",
        "Select the profile to compare with",
        "Begin with the newest week",
        "Update the weights, then save.",
    ):
        assert not is_sql(english), english


def test_no_sql_outside_the_store_package() -> None:
    found = sql_outside_store(_modules())
    assert not found, "SQL outside early_warning/store/ (move it into a store method):\n" + (
        "\n".join(found)
    )


def test_no_module_outside_the_store_reaches_into_its_connection() -> None:
    found = handle_access_outside_store(_modules())
    assert not found, (
        "a store's .db or .conn used outside early_warning/store/ (add a store method):\n"
        + "\n".join(found)
    )


def _imported(node: ast.AST) -> list[str]:
    """The early_warning modules an import statement in store/ names, as `x` for
    early_warning.x (the store's own modules as `store`)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("early_warning.")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        module = node.module or ""
        return [module.split(".")[1]] if module.startswith("early_warning.") else []
    if node.level == 1:
        return ["store"]
    if node.module:  # from ..x import y
        return [node.module.split(".")[0]]
    return [a.name for a in node.names]  # from .. import x


def test_the_store_imports_only_the_base_floor() -> None:
    modules = _modules(outside_store=False)
    assert modules, f"no store package at {STORE}"
    found = []
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported(node):
                if name not in _FLOOR:
                    found.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: {name}")
    assert not found, "the store imports above the base floor:\n" + "\n".join(found)
