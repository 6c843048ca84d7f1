"""The wheel: one `steplens` namespace with its data inside, and it works installed.

The wheel is built from the working tree, installed without `-e` into a target
directory, and run from there with the repository and the editable install out of
sight: it must ingest a small export and price it from the shipped table.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from tests.support.paths import REAL

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    (built,) = out.glob("steplens-*.whl")
    return built


def test_wheel_holds_one_namespace_with_prices_and_every_sql_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if not n.startswith("steplens-")]  # not the .dist-info
    assert code and all(n.startswith("steplens/") for n in code), code
    assert "steplens/data/prices.csv" in names
    shipped_sql = {str(p.relative_to(ROOT / "transforms")) for p in
                   (ROOT / "transforms" / "sql").rglob("*.sql")}
    assert len(shipped_sql) > 30
    for rel in shipped_sql:
        assert f"steplens/transforms/{rel}" in names, rel
    assert not any(n.startswith("steplens/data/sample") for n in names)


# Runs the installed package with no site processing, so neither the repository nor the
# editable install's finder is visible: only the target directory and the dependencies.
BOOTSTRAP = """
import sys
sys.path[:] = [p for p in sys.path if p and not p.startswith({repo!r})]
sys.path[:0] = [{target!r}]
sys.path += {site!r}
"""


def run_installed(target: Path, code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    prelude = BOOTSTRAP.format(repo=str(ROOT), target=str(target),
                               site=site.getsitepackages())
    return subprocess.run([sys.executable, "-S", "-c", prelude + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.flow
def test_installed_wheel_prices_an_export_and_has_no_top_level_flows(wheel, tmp_path,
                                                                      prefect_server):
    from prefect.settings import PREFECT_API_URL

    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    export = tmp_path / "export"
    export.mkdir()
    (export / "a.jsonl").write_bytes((REAL / "openai-dotnet" / "steps_and_runs.jsonl")
                                     .read_bytes())
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    probe = run_installed(target, """
import importlib.util, steplens.flows
print(steplens.flows.__file__)
print(importlib.util.find_spec("flows"), importlib.util.find_spec("transforms"))
""", tmp_path, env)
    assert probe.returncode == 0, probe.stderr
    where, missing = probe.stdout.splitlines()[-2:]
    assert where.startswith(str(target)), where
    assert missing == "None None"
    wh = tmp_path / "wh"
    ran = run_installed(target, f"""
import sys
from steplens.flows.cli import main
sys.argv = ["steplens", "ingest", {str(export)!r}, "--warehouse", {str(wh)!r}]
main()
""", tmp_path, env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        priced, usage = con.sql("select count(cost_usd), count(prompt_tokens) from usage"
                                ).fetchall()[0]
        unpriced = con.sql("from unpriced_models").fetchall()
    assert usage > 0 and priced == usage, (priced, usage)
    assert unpriced == []
    summary = json.loads((wh / "current" / "summary.json").read_text())
    assert summary["balanced"] == 1
