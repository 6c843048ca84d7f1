"""The analysis notebook runs top to bottom against the sample warehouse (both APIs: data/sample
and data/sample-responses), so it never rots."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.files import listing, read_only_copy
from tests.support.paths import NOTEBOOK


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.flow
def test_notebook_runs_against_a_read_only_warehouse_and_changes_nothing(mixed_warehouse,
                                                                         tmp_path, monkeypatch):
    wh = read_only_copy(mixed_warehouse, tmp_path / "wh")
    before = listing(wh)
    monkeypatch.setenv("STEPLENS_WAREHOUSE", str(wh))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 9  # every chart drew
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) >= 15  # and the frames printed
    html = "".join(o["data"]["text/html"] for o in tables)
    assert "prompt_growth_per_turn" in html and "cost_p95_usd" in html  # threads (section 6)
    assert "responses_cost_per_run_usd" in html and "responses" in html  # migration (7)
    assert "failure_rate_after" in html and "tokens_per_run_after" in html  # versions (8)
    assert "missing_in_export" in html and "billed_cost_usd" in html  # the bill (9)
    assert listing(wh) == before
