"""The layering the design asks for: one `steplens` namespace whose imports form a tree,
pure transforms, SQL models one per file in layers, and facts declared once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb

from steplens.flows.store import views
from steplens.transforms import schemas, statuses

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"steplens.flows": ROOT / "flows", "steplens.transforms": ROOT / "transforms",
            "steplens.data": ROOT / "data", "steplens.capture": ROOT / "capture"}
IO_MODULES = {"prefect", "duckdb", "os", "pathlib", "shutil", "gzip", "io", "open"}


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def imports_of(path: Path, name: str) -> set[str]:
    """Modules `path` imports anywhere in it (also inside functions), absolute names."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m in imports_of(path, name) if m in mods and m != name}
            for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_form_a_tree_without_cycles():
    graph = import_graph()
    assert len(graph) > 30  # the walk found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_settings_and_errors_are_leaves():
    graph = import_graph()
    assert graph["steplens.flows.settings"] == set()
    assert graph["steplens.flows.errors"] == set()


def test_nothing_imports_the_old_top_level_names():
    for name, path in modules().items():
        for imported in imports_of(path, name):
            assert imported.split(".")[0] not in ("flows", "transforms"), (name, imported)


def test_transforms_import_no_prefect_duckdb_or_io():
    for path in (ROOT / "transforms").rglob("*.py"):
        tops = {m.split(".")[0] for m in imports_of(path, "steplens.transforms.x")}
        assert not tops & IO_MODULES, path.name
        assert "open(" not in path.read_text(), path.name
        assert not any(m.startswith("steplens.flows") for m in
                       imports_of(path, "steplens.transforms.x")), path.name


CREATES = re.compile(r"create\s+or\s+replace\s+(view|macro|table)\s+(\w+)", re.IGNORECASE)


def test_every_sql_file_creates_one_object_named_after_it():
    models = views.sql_models()
    assert {m.layer for m in models} == set(views.LAYERS)
    for m in models:
        created = CREATES.findall(m.text)
        assert [name for _, name in created] == [m.name], (m.layer, m.name, created)
    names = [m.name for m in models]
    assert len(names) == len(set(names)), "a name is defined twice"


def test_sql_layers_only_read_lower_or_same_layers():
    models = views.sql_models()
    layer_of = {m.name: views.LAYERS.index(m.layer) for m in models}
    for m in models:
        code = "\n".join(line.split("--", 1)[0] for line in m.text.splitlines())
        code = re.sub(r"'[^']*'", "''", code)  # struct keys and strings name no view
        for other, level in layer_of.items():
            if other != m.name and re.search(rf"(?<![\w.]){other}(?!\w)", code):
                assert level <= layer_of[m.name], (m.name, "reads", other)


def test_every_public_table_has_its_base_view():
    base = {m.name for m in views.sql_models() if m.layer == "base"}
    for name in schemas.PUBLIC_TABLES:
        assert name in base or f"base_{name}" in base, name
    assert all(n.removeprefix("base_") in schemas.PUBLIC_TABLES for n in base)


def empty_warehouse(root: Path) -> Path:
    """A warehouse whose every table is empty (what the views bind to)."""
    for name, spec in schemas.TABLES.items():
        folder = root / "current" / name / "_empty"
        folder.mkdir(parents=True)
        schemas.empty(spec.schema).write_parquet(folder / "part-0.parquet")
    return root


def test_terminal_statuses_agree_between_python_and_sql(tmp_path):
    con = duckdb.connect()
    views.define(con, empty_warehouse(tmp_path), views.prices.PriceTable(rows=()), "test",
                 tmp_path / "current")
    every = sorted({*statuses.STEP_TERMINAL, *statuses.RUN_TERMINAL, *statuses.RUN_STATE_RANK,
                    "in_progress", "requires_action", "unknown"})
    for status in every:
        step, run = con.execute("select is_terminal($s), is_run_terminal($s)",
                                {"s": status}).fetchone()
        assert step == (status in statuses.STEP_TERMINAL), status
        assert run == (status in statuses.RUN_TERMINAL), status
