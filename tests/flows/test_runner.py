"""The warm ingest runner's protocol (flows/orchestration/runner.py, runner_client.py),
against a runner served by the test on 127.0.0.1 with the ingest itself replaced; the real thing,
end to end, is in test_server.py."""

from __future__ import annotations

import os
import threading
from http.server import HTTPServer

import pytest

from steplens.flows.errors import EnvironmentFault, RunnerBug, SteplensError
from steplens.flows.orchestration import runner, runner_client

TOKEN = "t0ken"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, files: int, nbytes: int) -> None:
        self.calls.append(("start", files, nbytes))

    def advance(self, files: int, nbytes: int) -> None:
        self.calls.append(("advance", files, nbytes))


@pytest.fixture
def served(monkeypatch):
    """A runner whose ingest answers as the request's `script` says."""
    seen: list[dict] = []

    def fake(request: dict, lines, api_url: str) -> None:
        seen.append({**request, "api": api_url, "env_now": dict(os.environ)})
        lines.start(2, 300)
        lines.advance(1, 100)
        kind = request["paths"][0]
        if kind == "ok":
            lines.send({"summary": {"files": 2, "balanced": True}})
        elif kind == "error":
            lines.send({"error": "no input files under x: give the folder"})
        elif kind == "bug":
            lines.send({"bug": "Traceback ...\nKeyError: 'x'"})
        elif kind == "fault":
            lines.send({"fault": "no space left on device: /w/x; free space"})

    monkeypatch.setattr(runner, "run_request", fake)
    httpd = HTTPServer(("127.0.0.1", 0), runner.request_handler("http://127.0.0.1:9/api", TOKEN))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_summary_and_progress_come_back(served, monkeypatch):
    url, seen = served
    monkeypatch.setenv("STEPLENS_REDACT_KEY", "k1")
    monkeypatch.setenv("STEPLENS_FAULT", "kill@after_parse")
    reporter = Recorder()
    summary = runner_client.submit(url, TOKEN, {"paths": ["ok"], "warehouse": "/w"}, reporter)
    assert summary == {"files": 2, "balanced": True}
    assert reporter.calls == [("start", 2, 300), ("advance", 1, 100)]
    (request,) = seen
    assert request["api"] == "http://127.0.0.1:9/api" and request["warehouse"] == "/w"
    # the command's settings travel; its crash-test hook does not (it would kill the runner)
    assert request["env"] == {"STEPLENS_REDACT_KEY": "k1"}


def test_a_user_error_is_one_line_and_a_bug_keeps_its_traceback(served):
    url, _ = served
    with pytest.raises(SteplensError, match="^no input files under x"):
        runner_client.submit(url, TOKEN, {"paths": ["error"], "warehouse": "/w"})
    with pytest.raises(RunnerBug, match="KeyError"):
        runner_client.submit(url, TOKEN, {"paths": ["bug"], "warehouse": "/w"})
    with pytest.raises(EnvironmentFault, match="^no space left on device: /w/x"):
        runner_client.submit(url, TOKEN, {"paths": ["fault"], "warehouse": "/w"})
    with pytest.raises(RunnerBug, match="without an answer"):
        runner_client.submit(url, TOKEN, {"paths": ["silent"], "warehouse": "/w"})


def test_an_ingest_without_the_token_is_refused_in_one_line(served):
    url, seen = served
    for token in ("wrong", ""):
        with pytest.raises(SteplensError, match="refused the request \\(403\\)"):
            runner_client.submit(url, token, {"paths": ["ok"], "warehouse": "/w"})
    assert seen == []  # nothing ran


def test_only_a_runner_of_this_version_is_used(served, monkeypatch):
    url, _ = served
    assert runner_client.health(url)["version"] == runner_client.steplens_version()
    assert runner_client.usable(url)
    monkeypatch.setattr(runner_client, "steplens_version", lambda: "0.0.0-other")
    assert not runner_client.usable(url)
    assert not runner_client.usable("http://127.0.0.1:9")  # nothing answers there
    assert not runner_client.usable(None)


def test_the_request_environment_is_applied_for_one_ingest_only(monkeypatch):
    monkeypatch.setenv("STEPLENS_WAREHOUSE", "/runner/own")
    monkeypatch.setenv("OTHER", "kept")
    with runner.request_environment({"STEPLENS_PRICES": "/p.csv", "PATH": "/evil"}):
        assert os.environ.get("STEPLENS_PRICES") == "/p.csv"
        assert "STEPLENS_WAREHOUSE" not in os.environ  # the runner's own: hidden
        assert os.environ["PATH"] != "/evil"  # only STEPLENS_* are taken
        assert os.environ["OTHER"] == "kept"
    assert os.environ["STEPLENS_WAREHOUSE"] == "/runner/own"
    assert "STEPLENS_PRICES" not in os.environ


class Sent:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    def send(self, message: dict) -> None:
        self.messages.append(message)

    def start(self, files: int, nbytes: int) -> None:
        pass

    def advance(self, files: int, nbytes: int) -> None:
        pass


def test_a_fault_the_runner_meets_is_its_one_line_and_a_bug_its_traceback(tmp_path,
                                                                           monkeypatch):
    """The real `run_request`, its ingest replaced by one that fails as a full disk does
    inside Polars (the machine's error in the cause chain), then as a bug."""
    import errno

    wh = tmp_path / "wh"

    def full_disk(*args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(wh / "x.parquet"))
        except OSError as e:
            raise RuntimeError("parquet: File out of specification: underlying IO error") from e

    monkeypatch.setattr(runner.launch, "run_ingest", full_disk)
    sent = Sent()
    runner.run_request({"paths": ["/in"], "warehouse": str(wh)}, sent, "http://127.0.0.1:9/api")
    (message,) = sent.messages
    assert set(message) == {"fault"}
    assert message["fault"].startswith(f"no space left on device: {wh / 'x.parquet'}")

    def bug(*args, **kwargs):
        raise KeyError("x")

    monkeypatch.setattr(runner.launch, "run_ingest", bug)
    sent = Sent()
    runner.run_request({"paths": ["/in"], "warehouse": str(wh)}, sent, "http://127.0.0.1:9/api")
    (message,) = sent.messages
    assert set(message) == {"bug"} and "KeyError" in message["bug"]


def test_the_summary_comes_back_once_published_before_the_artifacts(monkeypatch):
    """The real `run_request`, its ingest replaced: the flow answers (`progress.answered`)
    once the warehouse is published, then keeps working (the report artifacts). The
    command gets its summary while the runner is still busy, and only one summary."""
    from steplens.flows import progress
    from steplens.flows.orchestration import launch

    artifacts_may_finish = threading.Event()
    runner_done = threading.Event()

    def flow_run(paths, settings, **_kw):
        progress.answered({"files": 1, "balanced": True, "orchestration": "prefect"})
        assert artifacts_may_finish.wait(30)  # the artifacts, after the answer
        return {"files": 1, "balanced": True, "orchestration": "prefect"}

    monkeypatch.setattr(launch, "run_ingest", flow_run)
    sent: list[bytes] = []

    class Out:
        def write(self, data: bytes) -> None:
            sent.append(data)

        def flush(self) -> None:
            pass

    def serve() -> None:
        runner.run_request({"paths": ["x"], "warehouse": "/w"}, runner.Lines(Out()),
                           "http://127.0.0.1:9/api")
        runner_done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    for _ in range(300):  # the answer arrives while the flow run is still going
        if sent:
            break
        threading.Event().wait(0.1)
    assert sent and not runner_done.is_set()
    assert b'"summary"' in sent[0]
    artifacts_may_finish.set()
    thread.join(30)
    assert runner_done.is_set()
    assert sum(b'"summary"' in line for line in sent) == 1
