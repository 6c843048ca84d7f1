"""The layering the design asks for: transforms are pure, SQL lives in .sql files."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
IO_MODULES = {"prefect", "duckdb", "os", "pathlib", "shutil", "gzip", "io", "open"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_transforms_import_no_prefect_duckdb_or_io():
    for path in (ROOT / "transforms").glob("*.py"):
        assert not imported_modules(path) & IO_MODULES, path.name
        assert "open(" not in path.read_text(), path.name


def test_metric_views_are_sql_files():
    names = {p.stem for p in (ROOT / "flows" / "sql").glob("*.sql")}
    for view in ("step_latency", "failure_rate", "token_usage", "tool_stats"):
        assert any(n.endswith(view) for n in names)
