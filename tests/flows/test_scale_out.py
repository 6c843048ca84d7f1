"""Scale out: inputs and warehouse on S3-compatible storage, parsing on a Dask cluster.

A local S3 server (moto, from PyPI) on 127.0.0.1 and a local Dask cluster of worker
processes stand in for the real thing; the tables must equal those of a plain local run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.support.paths import DATA

pytestmark = pytest.mark.flow

KEYS = {"runs": ["run_id"], "steps": ["step_id"], "tool_calls": ["step_id", "call_index"],
        "usage": ["step_id"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1, with the AWS variables steplens reads pointing at it."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            assert time.time() < deadline, "moto server did not start"
            time.sleep(0.1)
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "STEPLENS_CACHE": str(tmp_path_factory.mktemp("cache"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import fsspec
    import s3fs

    fsspec.config.conf.pop("s3", None)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    fs.mkdir("steplens-test")
    try:
        yield fs
    finally:
        server.terminate()
        server.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        s3fs.S3FileSystem.clear_instance_cache()


def local_tables(root) -> dict[str, pl.DataFrame]:
    from steplens.flows.store import snapshots

    snap = snapshots.current_snapshot(root)
    out = {t: pl.read_parquet(snap / t / "**" / "*.parquet").sort(k) for t, k in KEYS.items()}
    # provenance: the same files and lines, read from s3:// or from a local directory
    out = {t: f.with_columns(pl.col("source_file").str.replace(r"^.*/", ""))
           if "source_file" in f.columns else f for t, f in out.items()}
    rejects = pl.read_parquet(snap / "rejects" / "**" / "*.parquet")
    out["rejects"] = rejects.with_columns(
        pl.col("source_file").str.replace(r"^.*/", "")).sort("source_file", "line_no")
    return out


def test_ingest_from_and_to_s3_on_dask_equals_a_local_run(prefect_server, s3, tmp_path):
    from prefect_dask import DaskTaskRunner

    from steplens.flows.ingest import ingest
    from steplens.flows.orchestration.dask import shared_api
    from steplens.flows.store import remote
    from tests.support.generate import generate_export

    export = tmp_path / "export"
    generate_export(export, runs=40, seed=21)
    s3.put(str(export) + "/", "steplens-test/exports/", recursive=True)
    local = ingest(paths=[str(export)], warehouse_dir=str(tmp_path / "local"))

    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1,
                                            "processes": True, "dashboard_address": None})
    url = "s3://steplens-test/warehouse"
    with shared_api():
        summary = ingest.with_options(task_runner=runner)(
            paths=["s3://steplens-test/exports"], warehouse_dir=url, distributed=True,
            chunk_mb=1)
    for key in ("records_read", "kept", "superseded", "rejected", "skipped", "lines_read"):
        assert summary[key] == local[key], key
    assert s3.cat("steplens-test/warehouse/CURRENT").decode()  # published, pointer last

    fresh = tmp_path / "fresh-mirror"  # what another machine would see
    remote.pull(url, fresh)
    expected = local_tables(tmp_path / "local")
    got = local_tables(fresh)
    for name, frame in expected.items():
        assert_frame_equal(got[name], frame, check_row_order=False)
    assert set(pl.read_parquet(
        remote.snapshots.current_snapshot(fresh) / "rejects" / "**" / "*.parquet"
    )["source_file"].str.head(5)) <= {"s3://"}

    again = ingest(paths=["s3://steplens-test/exports"], warehouse_dir=url)
    assert again["no_op"]


def test_sql_on_an_s3_warehouse(prefect_server, s3, tmp_path):
    from typer.testing import CliRunner

    from steplens.flows.cli import app
    from steplens.flows.ingest import ingest

    export = tmp_path / "e"
    export.mkdir()
    (export / "a.jsonl").write_bytes(
        (DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl")
        .read_bytes())
    url = "s3://steplens-test/wh-sql"
    summary = ingest(paths=[str(export)], warehouse_dir=url)
    os.environ["STEPLENS_CACHE"] = str(tmp_path / "other-machine")
    result = CliRunner().invoke(app, ["sql", "select count(*) as n from steps", "-w", url,
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == str(summary["tables"]["steps"])


def test_an_s3_object_is_downloaded_once_per_ingest_and_not_again(s3, tmp_path, monkeypatch):
    """Objects are identified by (size, LastModified): read once by the parse, never
    downloaded again to be hashed, and an unchanged export is a no-op the next time."""
    from steplens.flows import fidelity, pipeline
    from steplens.flows.settings import Settings
    from steplens.flows.store import manifest, snapshots

    export = tmp_path / "export"
    export.mkdir()
    (export / "a.jsonl").write_bytes(
        (DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl").read_bytes())
    s3.put(str(export) + "/", "steplens-test/once/", recursive=True)
    real = manifest.content_hashes
    hashed: list[str] = []

    def only_local(path, cut, length):
        hashed.append(str(path))
        assert "://" not in str(path), f"downloaded again to be hashed: {path}"
        return real(path, cut, length)

    monkeypatch.setattr(manifest, "content_hashes", only_local)
    settings = Settings(warehouse=tmp_path / "wh", workers=1)
    url = "s3://steplens-test/once/a.jsonl"
    first = pipeline.run_direct(["s3://steplens-test/once"], settings)
    assert first["records_read"] > 0 and not first["no_op"] and hashed == []
    entry = manifest.Manifest.from_json(snapshots.read_json(
        snapshots.current_snapshot(tmp_path / "wh"), snapshots.MANIFEST)).files[url]
    assert entry.mtime_ns != -1 and entry.content_hash is None
    assert fidelity.file_state(url, manifest.Manifest({url: entry}, {})) is None
    assert pipeline.run_direct(["s3://steplens-test/once"], settings)["no_op"]
