"""Everything that starts, finds or talks to a Prefect server or runner.

The ingest itself is `flows/pipeline.py` (plain steps) and `flows/ingest.py` (the same
steps as a Prefect flow, the default orchestration: docs/operations.md, "Prefect or direct"). This
package is what runs it from a command: the early answer before Prefect starts
(`preflight`), the choice between a flow run and a direct run (`launch`), the Prefect
API found or started (`server`), the warm runner beside a standing server (`runner`,
`runner_client`), Dask (`dask`), and child processes that die with the command
(`lifeline`).
"""
