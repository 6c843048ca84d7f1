-- otel_spans(since, include_content, include_unfinished): the warehouse as OpenTelemetry
-- spans, one row per span, in export order (docs/traces-in-backends.md). `steplens export
-- otlp` turns each row into an OTLP span; the mapping is here, once: every column whose
-- name holds a dot is a span attribute of that name (NULLs left out). Three vocabularies
-- side by side, so that each backend reads its own: the OpenTelemetry GenAI semantic
-- conventions (gen_ai.*), OpenInference (openinference.span.kind, llm.*, session.id,
-- agent.name, tool.name, input.value / output.value: Arize Phoenix) and Langfuse's
-- (langfuse.*).
--   run       `invoke_agent {assistant or prompt id}` (AGENT): an Assistants run or a
--             Responses response, the root of its trace. No usage: the model calls below
--             carry it, so a backend that adds up every span's usage counts each token once.
--   response  `chat {model}` (LLM), child of a Responses run: the response's model call,
--             with the response's usage.
--   step      Assistants: `chat {model}` (LLM), child of its run: one model call, with the
--             step's usage. Responses: `{item type}` (CHAIN), child of the response's model
--             call: one output item (message, reasoning, function_call, ...), no usage.
--   tool_call `execute_tool {function name or tool type}` (TOOL), child of its step.
-- Trace: one per run (otel_trace_id); the thread or conversation is the session
-- (session.id, langfuse.session.id, gen_ai.conversation.id). Span ids: otel_span_id.
-- Start: `created_at` (a run's span includes its queue); end: `ended_at`, or the start for
-- a row not finished in the data (`steplens.status` says which); a run's span also reaches
-- the end of its last step (second-resolution times can put a step's end after its run's).
-- A step without a `created_at` (known only from stream deltas) is placed at its run's
-- start, inside the run's span, and flagged `steplens.time_estimated`; one without a run
-- either cannot be placed and is left out (the CLI counts it).
-- Runs: only those that ended (is_run_terminal), unless `include_unfinished` (a tracing
-- backend keeps the first copy of a span: a run sent while in progress would stay so);
-- `since` (TIMESTAMP or NULL): runs created at or after it. Steps and tool calls follow
-- their run; a step whose run is not in the warehouse goes by its own `created_at` and
-- status. Tool arguments and results (and input.value / output.value) only when
-- `include_content`. `steplens.api` is the table's `api` column where the warehouse has
-- one, else 'assistants'; a tool call's span is an error when its step failed or expired,
-- or when the table says the call itself failed (`call_failed`, Responses API data).
create or replace macro otel_spans(since, include_content, include_unfinished) as table
with run_rows as (
    select * from (select null::varchar as api where false union all by name from runs)
    where created_at is not null
),

selected_runs as (
    select * from run_rows
    where (since is null or created_at >= since)
        and (include_unfinished or is_run_terminal(status))
),

step_rows as (
    select * from (select null::varchar as api where false union all by name from steps)
),

call_rows as (
    select * from (
        select null::boolean as call_failed where false union all by name from tool_calls
    )
),

-- the steps exported, each with its place in time: its own `created_at`, or its run's
-- start when it has none (flagged); its end, never before its start; its trace and span
placed_steps as (
    select
        *,
        greatest(coalesce(ended_at, start_at), start_at) as end_at,
        otel_trace_id(coalesce(run_id, step_id)) as trace_id,
        otel_span_id('step', step_id) as span_id
    from (
        select
            s.*,
            coalesce(s.api, 'assistants') as api_name,
            r.run_id is not null as has_run,
            coalesce(s.created_at, r.created_at) as start_at,
            s.created_at is null as time_estimated,
            coalesce(r.created_at, s.created_at) as run_start
        from step_rows as s
        left join selected_runs as r on s.run_id = r.run_id
        left join run_rows as known on s.run_id = known.run_id
        where r.run_id is not null
            or (known.run_id is null
                and s.created_at is not null
                and (since is null or s.created_at >= since)
                and (include_unfinished or is_terminal(s.status)))
    )
),

step_ends as (
    select run_id, max(end_at) as ended_at
    from placed_steps
    where has_run
    group by run_id
),

runs_placed as (
    select
        r.*,
        coalesce(r.api, 'assistants') as api_name,
        greatest(coalesce(r.ended_at, r.created_at), r.created_at, step_ends.ended_at)
            as end_at
    from selected_runs as r
    left join step_ends on r.run_id = step_ends.run_id
),

run_spans as (
    select
        'run' as kind,
        otel_trace_id(r.run_id) as trace_id,
        otel_span_id('run', r.run_id) as span_id,
        null::varchar as parent_span_id,
        'invoke_agent' || coalesce(' ' || r.assistant_id, '') as name,
        unnest(otel_span_head('client', r.created_at, r.end_at, is_failure(r.status),
                              r.last_error_message)),
        unnest(otel_genai_call('invoke_agent', r.assistant_id, r.thread_id, r.model, r.run_id,
                               case when is_run_terminal(r.status)
                                    then [coalesce(r.incomplete_reason, r.status)] end)),
        'AGENT' as "openinference.span.kind",
        r.assistant_id as "agent.name",
        unnest(otel_span_session(r.thread_id, 'agent', is_failure(r.status), r.last_error_code,
                                 r.status, r.api_name)),
        r.queue_s as "steplens.queue_s",
        r.cost_usd as "steplens.cost_usd",
        unnest(otel_span_order(r.created_at, r.run_id, 0, null, null, null))
    from runs_placed as r
),

-- the model calls, which alone carry usage: an Assistants step, or a Responses response
model_calls as (
    select
        'step' as kind,
        s.trace_id,
        s.span_id,
        case when s.has_run then otel_span_id('run', s.run_id) end as parent_span_id,
        s.start_at,
        s.end_at,
        s.status,
        s.last_error_code,
        s.last_error_message,
        null::varchar[] as finish_reasons,
        s.step_id as response_id,
        s.model, s.assistant_id, s.thread_id, s.run_id, s.step_id, s.type as step_type,
        s.api_name, s.prompt_tokens, s.completion_tokens, s.total_tokens, s.cached_tokens,
        s.reasoning_tokens, s.cost_usd,
        nullif(s.time_estimated, false) as time_estimated,
        unnest(otel_span_order(s.run_start, s.run_id, 2, s.start_at, s.step_id, null))
    from placed_steps as s
    where s.api_name <> 'responses'
    union all by name
    select
        'response' as kind,
        otel_trace_id(r.run_id) as trace_id,
        otel_span_id('response', r.run_id) as span_id,
        otel_span_id('run', r.run_id) as parent_span_id,
        r.created_at as start_at,
        r.end_at,
        r.status,
        r.last_error_code,
        r.last_error_message,
        case when is_run_terminal(r.status)
             then [coalesce(r.incomplete_reason, r.status)] end as finish_reasons,
        r.run_id as response_id,
        r.model, r.assistant_id, r.thread_id, r.run_id, null as step_id, null as step_type,
        r.api_name, r.prompt_tokens, r.completion_tokens, r.total_tokens, r.cached_tokens,
        r.reasoning_tokens, r.cost_usd,
        null::boolean as time_estimated,
        unnest(otel_span_order(r.created_at, r.run_id, 1, null, null, null))
    from runs_placed as r
    where r.api_name = 'responses'
),

chat_spans as (
    select
        m.kind,
        m.trace_id,
        m.span_id,
        m.parent_span_id,
        'chat' || coalesce(' ' || m.model, '') as name,
        unnest(otel_span_head('client', m.start_at, m.end_at, is_failure(m.status),
                              m.last_error_message)),
        unnest(otel_genai_call('chat', m.assistant_id, m.thread_id, m.model, m.response_id,
                               m.finish_reasons)),
        m.prompt_tokens as "gen_ai.usage.input_tokens",
        m.completion_tokens as "gen_ai.usage.output_tokens",
        m.cached_tokens as "gen_ai.usage.cache_read.input_tokens",
        m.reasoning_tokens as "gen_ai.usage.reasoning.output_tokens",
        'LLM' as "openinference.span.kind",
        'openai' as "llm.system",
        'openai' as "llm.provider",
        m.model as "llm.model_name",
        m.prompt_tokens as "llm.token_count.prompt",
        m.completion_tokens as "llm.token_count.completion",
        m.total_tokens as "llm.token_count.total",
        m.cached_tokens as "llm.token_count.prompt_details.cache_read",
        m.reasoning_tokens as "llm.token_count.completion_details.reasoning",
        m.assistant_id as "agent.name",
        unnest(otel_span_session(m.thread_id, 'generation', is_failure(m.status),
                                 m.last_error_code, m.status, m.api_name)),
        -- Langfuse takes this JSON instead of the gen_ai.usage.* / llm.token_count.* keys
        -- (which it would otherwise read both of): disjoint usage types and their total
        case when m.prompt_tokens is not null and m.completion_tokens is not null
             then json_object(
                 'input', m.prompt_tokens - coalesce(m.cached_tokens, 0),
                 'input_cached_tokens', coalesce(m.cached_tokens, 0),
                 'output', m.completion_tokens - coalesce(m.reasoning_tokens, 0),
                 'output_reasoning_tokens', coalesce(m.reasoning_tokens, 0),
                 'total', coalesce(m.total_tokens, m.prompt_tokens + m.completion_tokens)
             )::varchar end as "langfuse.observation.usage_details",
        case when m.cost_usd is not null
             then json_object('total', m.cost_usd)::varchar end
            as "langfuse.observation.cost_details",
        m.step_type as "steplens.step.type",
        m.step_id as "steplens.step.id",
        m.run_id as "steplens.run.id",
        m.cost_usd as "steplens.cost_usd",
        m.time_estimated as "steplens.time_estimated",
        m._run_start,
        m._run_key,
        m._rank,
        m._step_start,
        m._step_key,
        m._call_index
    from model_calls as m
),

item_spans as (
    select
        'step' as kind,
        s.trace_id,
        s.span_id,
        case when s.has_run then otel_span_id('response', s.run_id) end as parent_span_id,
        coalesce(s.type, 'output_item') as name,
        unnest(otel_span_head('internal', s.start_at, s.end_at, is_failure(s.status),
                              s.last_error_message)),
        'CHAIN' as "openinference.span.kind",
        unnest(otel_span_session(s.thread_id, 'span', is_failure(s.status), s.last_error_code,
                                 s.status, s.api_name)),
        s.type as "steplens.step.type",
        s.step_id as "steplens.step.id",
        s.run_id as "steplens.run.id",
        nullif(s.time_estimated, false) as "steplens.time_estimated",
        unnest(otel_span_order(s.run_start, s.run_id, 2, s.start_at, s.step_id, null))
    from placed_steps as s
    where s.api_name = 'responses'
),

tool_spans as (
    select
        'tool_call' as kind,
        s.trace_id,
        otel_span_id('tool_call', t.step_id || ':' || coalesce(t.call_index::varchar, t.tool_call_id))
            as span_id,
        s.span_id as parent_span_id,
        'execute_tool ' || coalesce(t.function_name, t.type, 'unknown') as name,
        unnest(otel_span_head('internal', s.start_at, s.end_at,
                              coalesce(t.call_failed, false) or is_failure(s.status),
                              s.last_error_message)),
        unnest(otel_genai_call('execute_tool', s.assistant_id, s.thread_id, null, null, null)),
        coalesce(t.function_name, t.type) as "gen_ai.tool.name",
        t.tool_call_id as "gen_ai.tool.call.id",
        case when t.type = 'function' then 'function'
             when t.type in ('file_search', 'retrieval') then 'datastore'
             when t.type is not null then 'extension' end as "gen_ai.tool.type",
        case when include_content
             then coalesce(t.function_arguments, t.code_input) end
            as "gen_ai.tool.call.arguments",
        case when include_content then t.function_output end as "gen_ai.tool.call.result",
        'TOOL' as "openinference.span.kind",
        coalesce(t.function_name, t.type) as "tool.name",
        case when include_content
             then coalesce(t.function_arguments, t.code_input) end as "input.value",
        case when include_content and coalesce(t.function_arguments, t.code_input) is not null
             then (case when t.arguments_valid_json then 'application/json'
                        else 'text/plain' end) end as "input.mime_type",
        case when include_content then t.function_output end as "output.value",
        case when include_content and t.function_output is not null
             then (case when json_valid(t.function_output) then 'application/json'
                        else 'text/plain' end) end as "output.mime_type",
        unnest(otel_span_session(s.thread_id, 'tool',
                                 coalesce(t.call_failed, false) or is_failure(s.status),
                                 s.last_error_code, s.status, s.api_name)),
        t.type as "steplens.tool.type",
        t.arguments_valid_json as "steplens.tool.arguments_valid_json",
        t.file_search_result_count as "steplens.file_search.result_count",
        s.run_id as "steplens.run.id",
        t.step_id as "steplens.step.id",
        nullif(s.time_estimated, false) as "steplens.time_estimated",
        unnest(otel_span_order(s.run_start, s.run_id, 2, s.start_at, s.step_id,
                               t.call_index))
    from call_rows as t
    inner join placed_steps as s on t.step_id = s.step_id
),
final as (
    from run_spans
    union all by name
    from chat_spans
    union all by name
    from item_spans
    union all by name
    from tool_spans
)

select * exclude (_run_start, _run_key, _rank, _step_start, _step_key, _call_index)
from final
order by _run_start, _run_key nulls first, _rank, _step_start nulls first,
    _step_key nulls first, _call_index nulls first, span_id;
