"""Micro-tests of the assistant-versions oracle (tests/support/versions_oracle.py): one rule
each, on inline records, plus its reading of the real recordings."""

from __future__ import annotations

import datetime as dt
import hashlib

import orjson
import pytest

from tests.support import versions_oracle as vo
from tests.support.builders import response, run
from tests.support.paths import REAL, REAL_RESPONSES


def write(path, *records) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def row(run_id: str, created: int | None, assistant="asst_A", **config) -> dict:
    """A run row with the default configuration, `config` overriding fields."""
    cfg = {"model": "gpt-4o", "instructions_hash": None, "tools": [], "temperature": 1.0,
           "top_p": 1.0, "response_format": "auto", "reasoning_effort": None}
    cfg.update(config)
    return {"api": "assistants", "run_id": run_id, "assistant_id": assistant,
            "created_at": None if created is None else dt.datetime(2025, 1, 1)
            + dt.timedelta(seconds=created), **cfg}


# --------------------------------------------------------------------------- V2 instructions


def test_v2_hash_is_16_hex_digits_of_sha256_of_utf8():
    # FIPS 180-2 test vector: SHA-256("abc") = ba7816bf 8f01cfea ...
    assert vo.instructions_hash("abc") == "ba7816bf8f01cfea"
    assert vo.instructions_hash("Zürich") == hashlib.sha256("Zürich".encode()).hexdigest()[:16]


def test_v2_empty_string_hashes_null_does_not():
    assert vo.instructions_hash("") == "e3b0c44298fc1c14"  # SHA-256 of no bytes
    assert vo.instructions_hash(None) is None
    assert vo.instructions_hash(7) is None


def test_v2_list_instructions_hash_their_canonical_json():
    a = [{"role": "developer", "content": "Be brief.", "type": "message"}]
    b = [{"type": "message", "content": "Be brief.", "role": "developer"}]
    expected = hashlib.sha256(
        b'[{"content":"Be brief.","role":"developer","type":"message"}]').hexdigest()[:16]
    assert vo.instructions_hash(a) == vo.instructions_hash(b) == expected


# --------------------------------------------------------------------------- V3 tools


@pytest.mark.parametrize(("tools", "expected"), [
    pytest.param([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
                 ["function:get_weather"], id="assistants-function"),
    pytest.param([{"type": "function", "name": "get_weather", "parameters": {}}],
                 ["function:get_weather"], id="responses-function"),
    pytest.param([{"type": "custom", "name": "grammar"}], ["custom:grammar"], id="custom"),
    pytest.param([{"type": "mcp", "server_label": "deepwiki", "server_url": "x"}],
                 ["mcp:deepwiki"], id="mcp"),
    pytest.param([{"type": "file_search", "file_search": {"max_num_results": 5}},
                  {"type": "code_interpreter"}], ["code_interpreter", "file_search"],
                 id="bare-types-sorted"),
    pytest.param([{"type": "function", "function": {"name": "b"}},
                  {"type": "function", "function": {"name": "a"}},
                  {"type": "function", "function": {"name": "a", "description": "other"}}],
                 ["function:a", "function:b"], id="deduplicated"),
    pytest.param([{"type": "function", "function": {}}], ["function"], id="nameless-function"),
    pytest.param([7, {"function": {"name": "x"}}, {"type": 3}], [], id="ignored-items"),
    pytest.param([], [], id="empty-list"),
    pytest.param(None, None, id="null"),
    pytest.param({"type": "code_interpreter"}, None, id="not-a-list"),
])
def test_v3_tool_set(tools, expected):
    assert vo.tool_set(tools) == expected


# --------------------------------------------------------------------------- V4, V5, effort


@pytest.mark.parametrize(("value", "expected"), [
    (None, 1.0), (0, 0.0), (0.3, 0.3), (2, 2.0), (True, None), ("0.5", None),
])
def test_v4_sampling_default_and_types(value, expected):
    assert vo.sampling(value) == expected


def test_v4_legacy_run_without_sampling_fields_has_the_defaults():
    cfg = vo.assistants_config(run())  # the builder's run has no sampling fields
    assert (cfg["temperature"], cfg["top_p"], cfg["response_format"]) == (1.0, 1.0, "auto")


@pytest.mark.parametrize(("fmt", "expected"), [
    ("auto", "auto"),
    ({"type": "text"}, "text"),
    ({"type": "json_object"}, "json_object"),
    ({"type": "json_schema", "json_schema": {"name": "answer", "schema": {}}},
     "json_schema:answer"),
    ({"type": "json_schema", "json_schema": {"schema": {}}}, "json_schema"),
    (None, "auto"),
    (5, None),
])
def test_v5_assistants_response_format(fmt, expected):
    assert vo.assistants_config(run(response_format=fmt))["response_format"] == expected


@pytest.mark.parametrize(("text", "expected"), [
    ({"format": {"type": "text"}}, "text"),
    ({"format": {"type": "json_schema", "name": "data_list", "schema": {}}},
     "json_schema:data_list"),
    ({"format": None}, "text"),
    (None, "text"),
    ("text", None),
])
def test_v5_responses_text_format(text, expected):
    assert vo.responses_config(response(text=text))["response_format"] == expected


def test_v1_reasoning_effort_from_each_api():
    assert vo.assistants_config(run(reasoning_effort="high"))["reasoning_effort"] == "high"
    resp = response(reasoning={"effort": "low", "summary": None})
    assert vo.responses_config(resp)["reasoning_effort"] == "low"
    assert vo.responses_config(response())["reasoning_effort"] is None


# --------------------------------------------------------------------------- V6-V8


def test_v6_one_equals_one_point_zero():
    versions, _ = vo.assistant_versions([row("run_1", 1, temperature=1),
                                         row("run_2", 2, temperature=1.0)])
    assert [v["runs"] for v in versions] == [2]


def test_v7_a_version_is_a_distinct_configuration():
    runs = [row("run_1", 1), row("run_2", 2, model="gpt-4.1"), row("run_3", 3),
            row("run_4", 4, model="gpt-4.1")]
    versions, of_run = vo.assistant_versions(runs)
    assert [(v["version"], v["model"], v["runs"]) for v in versions] == [
        (1, "gpt-4o", 2), (2, "gpt-4.1", 2)]
    assert of_run["run_3"] == ("asst_A", 1)


def test_v7_numbered_by_first_run_in_time_not_input_order():
    versions, _ = vo.assistant_versions([row("run_2", 20, model="gpt-4.1"), row("run_1", 10)])
    assert [(v["version"], v["model"]) for v in versions] == [(1, "gpt-4o"), (2, "gpt-4.1")]


def test_v7_ties_on_created_at_go_by_run_id_and_null_created_at_last():
    runs = [row("run_b", 5, model="b"), row("run_a", 5, model="a"), row("run_0", None,
                                                                        model="z")]
    versions, _ = vo.assistant_versions(runs)
    assert [(v["version"], v["model"]) for v in versions] == [(1, "a"), (2, "b"), (3, "z")]
    assert versions[2]["first_seen"] is None and versions[2]["previous_version"] == 2


def test_v7_runs_without_assistant_have_no_version():
    versions, of_run = vo.assistant_versions([row("run_1", 1, assistant=None)])
    assert versions == [] and of_run == {}


def test_v7_versions_are_per_assistant():
    versions, _ = vo.assistant_versions([row("run_1", 1, assistant="asst_A"),
                                         row("run_2", 2, assistant="asst_B")])
    assert [(v["assistant_id"], v["version"]) for v in versions] == [("asst_A", 1),
                                                                     ("asst_B", 1)]


def test_v8_previous_version_is_the_configuration_it_replaced():
    runs = [row("run_1", 1), row("run_2", 2, temperature=0.2), row("run_3", 3),
            row("run_4", 4, tools=["code_interpreter"])]
    versions, _ = vo.assistant_versions(runs)
    third = versions[2]
    assert (third["version"], third["previous_version"]) == (3, 1)
    assert third["changed"] == ["tools"]  # against version 1, not version 2


def test_v8_changed_lists_fields_in_declared_order():
    versions, _ = vo.assistant_versions([
        row("run_1", 1),
        row("run_2", 2, response_format="json_object", model="gpt-4.1", instructions_hash="x")])
    assert versions[0]["changed"] is None and versions[0]["previous_version"] is None
    assert versions[1]["changed"] == ["model", "instructions_hash", "response_format"]


def test_v8_first_last_seen_and_runs():
    versions, _ = vo.assistant_versions([row("run_1", 1), row("run_2", 50, model="m"),
                                         row("run_3", 90)])
    v1 = versions[0]
    assert (v1["first_seen"], v1["last_seen"], v1["runs"], v1["first_run_id"]) == (
        dt.datetime(2025, 1, 1, 0, 0, 1), dt.datetime(2025, 1, 1, 0, 1, 30), 2, "run_1")


# --------------------------------------------------------------------------- V9 (files)


def test_v9_state_rank_decides_before_configuration(tmp_path):
    done = run("completed", tools=[])
    pending = run("in_progress", completed_at=None,
                  tools=[{"type": "code_interpreter"}, {"type": "file_search"}])
    for order in ([done, pending], [pending, done]):
        result = vo.compute([write(tmp_path / "in.jsonl", *order)])
        assert result.versions[0]["tools"] == []


def test_v9_identical_rows_tie_broken_by_configuration_bytes(tmp_path):
    a = run(tools=[{"type": "code_interpreter"}])
    b = run(tools=[{"type": "code_interpreter"}, {"type": "function",
                                                  "function": {"name": "lookup"}}])
    got = {tuple(vo.compute([write(tmp_path / "in.jsonl", *order)]).versions[0]["tools"])
           for order in ([a, b], [b, a])}
    assert got == {("code_interpreter", "function:lookup")}  # the larger canonical bytes


def test_v1_responses_assistant_is_the_stored_prompt(tmp_path):
    with_prompt = response(id="resp_1", prompt={"id": "pmpt_X", "version": "2"})
    without = response(id="resp_2")
    result = vo.compute([write(tmp_path / "r.jsonl", with_prompt, without)])
    assert [(v["api"], v["assistant_id"], v["runs"]) for v in result.versions] == [
        ("responses", "pmpt_X", 1)]


# --------------------------------------------------------------------------- V10, V11


def metric_row(run_id, status="completed", duration=None, tokens=None, cost=None) -> dict:
    return {"run_id": run_id, "status": status, "duration_s": duration,
            "total_tokens": tokens, "cost_usd": cost}


def call(run_id, step_status="completed", call_failed=None) -> dict:
    return {"run_id": run_id, "step_status": step_status, "call_failed": call_failed}


def test_v11_duration_percentiles_are_continuous_over_runs_with_a_duration():
    m = vo.metrics([metric_row("a", duration=1.0), metric_row("b", duration=3.0),
                    metric_row("c", duration=10.0), metric_row("d")], [])
    assert m["p50_duration_s"] == 3.0
    assert m["p95_duration_s"] == pytest.approx(3.0 + 0.9 * 7.0)


def test_v11_failure_rate_counts_failed_over_terminal_runs_and_its_sibling_expired_too():
    runs = [metric_row("a", "failed"), metric_row("b", "expired"), metric_row("c", "cancelled"),
            metric_row("d", "completed"), metric_row("e", "requires_action")]
    assert vo.metrics(runs, [])["failure_rate"] == 1 / 4
    assert vo.metrics(runs, [])["failed_or_expired_rate"] == 2 / 4


def test_v11_means_skip_missing_values_and_are_null_over_none():
    m = vo.metrics([metric_row("a", tokens=100, cost=0.5), metric_row("b", tokens=300),
                    metric_row("c")], [])
    assert (m["tokens_per_run"], m["cost_per_run_usd"]) == (200.0, 0.5)
    empty = vo.metrics([], [])
    assert empty["runs"] == 0 and empty["failure_rate"] is None and empty["p50_duration_s"] is None


def test_v11_tool_failure_rate():
    calls = [call("a", "failed"), call("a", "completed"), call("a", "in_progress"),
             call("a", None, call_failed=True), call("a", "completed", call_failed=False),
             call("a", None, call_failed=False)]
    # failed: the failed step and call_failed=True; decided: those two and 2 completed
    assert vo.metrics([metric_row("a")], calls)["tool_failure_rate"] == 2 / 4


def test_v10_before_is_the_previous_version_and_metrics_cover_all_its_runs():
    runs = [row("run_1", 1), row("run_2", 2, model="gpt-4.1"), row("run_3", 3)]
    versions, of_run = vo.assistant_versions(runs)
    metric_rows = [metric_row("run_1", "failed"), metric_row("run_2"),
                   metric_row("run_3", "completed")]
    [cmp] = vo.version_comparison(versions, of_run, metric_rows, [call("run_2", "failed")])
    assert (cmp["version"], cmp["previous_version"], cmp["changed"]) == (2, 1, ["model"])
    assert (cmp["runs_before"], cmp["failure_rate_before"]) == (2, 0.5)  # run_3 included
    assert (cmp["runs_after"], cmp["failure_rate_after"], cmp["tool_failure_rate_after"]) == (
        1, 0.0, 1.0)
    assert cmp["changed_at"] == versions[1]["first_seen"]


def test_v10_compute_prices_runs_with_the_given_cost_function(tmp_path):
    result = vo.compute([write(tmp_path / "in.jsonl", run(usage={
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}))],
        cost=lambda r: r["prompt_tokens"] / 40)
    assert result.version_of_run == {"run_A": ("asst_A", 1)}
    m = vo.metrics(result.runs, [])
    assert (m["tokens_per_run"], m["cost_per_run_usd"]) == (15.0, 0.25)


# --------------------------------------------------------------------------- real recordings


def test_real_assistants_runs_legacy_and_current_share_the_sampling_defaults():
    result = vo.compute([REAL])
    assert len(result.runs) > 50
    assert {(r["temperature"], r["top_p"]) for r in result.runs} == {(1.0, 1.0)}
    assert {r["response_format"] for r in result.runs} == {"auto", "json_object"}
    tools = {t for r in result.runs for t in r["tools"]}
    assert {"code_interpreter", "file_search", "function:get_current_weather"} <= tools


def test_real_responses_configuration_values():
    result = vo.compute([REAL_RESPONSES])
    responses = [r for r in result.runs if r["api"] == "responses"]
    assert len(responses) > 30
    formats = {r["response_format"] for r in responses}
    assert "text" in formats and "json_schema:data_list" in formats
    tools = {t for r in responses for t in r["tools"]}
    assert {"mcp:deepwiki", "function:get_weather", "web_search"} <= tools
    efforts = {r["reasoning_effort"] for r in responses}
    assert {None, "low", "medium", "high"} <= efforts
