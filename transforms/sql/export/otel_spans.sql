-- otel_spans(since, include_content): the warehouse as OpenTelemetry spans, one row per
-- span, in export order (docs/opentelemetry.md, "OpenTelemetry export"). `steplens export otlp` turns
-- each row into an OTLP span; the mapping to the GenAI semantic conventions is here, once:
-- every column whose name holds a dot is a span attribute of that name (NULLs left out).
--   run        `invoke_agent {assistant_id}` (kind client): a run, or a Responses response
--   step       `chat {model}` (kind client), child of its run: one model output
--   tool_call  `execute_tool {function name or tool type}` (kind internal), child of its step
-- Trace: one per thread / conversation (otel_trace_id); span ids from otel_span_id.
-- Start: `created_at` (a run's span includes its queue); end: `ended_at`, or the start
-- for a row not finished in the data (`steplens.status` says which); a run's span also
-- reaches the end of its last step (second-resolution times can put a step's end after
-- its run's, and an unfinished run then still spans what it did). Rows without a
-- `created_at` (steps known only from stream deltas) cannot be placed in time and are
-- left out. `since` (TIMESTAMP or NULL): runs created at or after it, with their steps
-- and tool calls (a step without its run: its own `created_at`). Tool arguments and
-- results only when `include_content`. `steplens.api` is the table's `api` column where
-- the warehouse has one (Responses API data), else 'assistants'; a tool call's span is an
-- error when its step failed or expired, or when the table says the call itself failed
-- (`call_failed`, Responses API data).
create or replace macro otel_spans(since, include_content) as table
with run_rows as (
    select * from (select null::varchar as api where false union all by name from runs)
    where created_at is not null
),

step_rows as (
    select * from (select null::varchar as api where false union all by name from steps)
    where created_at is not null
),

exported_runs as (
    select run_id, created_at from run_rows
),

call_rows as (
    select * from (
        select null::boolean as call_failed where false union all by name from tool_calls
    )
),

step_ends as (
    select run_id, max(coalesce(ended_at, created_at)) as ended_at
    from step_rows
    where run_id is not null
    group by run_id
),

run_spans as (
    select
        'run' as kind,
        otel_trace_id(r.thread_id, r.run_id) as trace_id,
        otel_span_id('run', r.run_id) as span_id,
        null::varchar as parent_span_id,
        'invoke_agent' || coalesce(' ' || r.assistant_id, '') as name,
        'client' as span_kind,
        epoch_ns(r.created_at) as start_ns,
        epoch_ns(greatest(coalesce(r.ended_at, r.created_at), r.created_at,
                          step_ends.ended_at)) as end_ns,
        is_failure(r.status) as is_error,
        r.last_error_message as status_message,
        'invoke_agent' as "gen_ai.operation.name",
        'openai' as "gen_ai.provider.name",
        r.assistant_id as "gen_ai.agent.id",
        r.thread_id as "gen_ai.conversation.id",
        r.model as "gen_ai.request.model",
        r.model as "gen_ai.response.model",
        r.run_id as "gen_ai.response.id",
        case when is_run_terminal(r.status)
             then [coalesce(r.incomplete_reason, r.status)] end
            as "gen_ai.response.finish_reasons",
        r.prompt_tokens as "gen_ai.usage.input_tokens",
        r.completion_tokens as "gen_ai.usage.output_tokens",
        r.cached_tokens as "gen_ai.usage.cache_read.input_tokens",
        r.reasoning_tokens as "gen_ai.usage.reasoning.output_tokens",
        case when is_failure(r.status)
             then coalesce(r.last_error_code, r.status) end as "error.type",
        coalesce(r.api, 'assistants') as "steplens.api",
        r.status as "steplens.status",
        r.queue_s as "steplens.queue_s",
        r.cost_usd as "steplens.cost_usd",
        r.created_at as _run_start,
        r.run_id as _run_key,
        null::timestamp as _step_start,
        null::varchar as _step_key,
        null::bigint as _call_index
    from run_rows as r
    left join step_ends on r.run_id = step_ends.run_id
    where since is null or r.created_at >= since
),

step_spans as (
    select
        'step' as kind,
        otel_trace_id(s.thread_id, s.run_id) as trace_id,
        otel_span_id('step', s.step_id) as span_id,
        case when r.run_id is not null then otel_span_id('run', s.run_id) end
            as parent_span_id,
        'chat' || coalesce(' ' || s.model, '') as name,
        'client' as span_kind,
        epoch_ns(s.created_at) as start_ns,
        epoch_ns(greatest(coalesce(s.ended_at, s.created_at), s.created_at)) as end_ns,
        is_failure(s.status) as is_error,
        s.last_error_message as status_message,
        'chat' as "gen_ai.operation.name",
        'openai' as "gen_ai.provider.name",
        s.assistant_id as "gen_ai.agent.id",
        s.thread_id as "gen_ai.conversation.id",
        s.model as "gen_ai.request.model",
        s.model as "gen_ai.response.model",
        s.step_id as "gen_ai.response.id",
        s.prompt_tokens as "gen_ai.usage.input_tokens",
        s.completion_tokens as "gen_ai.usage.output_tokens",
        s.cached_tokens as "gen_ai.usage.cache_read.input_tokens",
        s.reasoning_tokens as "gen_ai.usage.reasoning.output_tokens",
        case when is_failure(s.status)
             then coalesce(s.last_error_code, s.status) end as "error.type",
        coalesce(s.api, 'assistants') as "steplens.api",
        s.status as "steplens.status",
        s.type as "steplens.step.type",
        s.run_id as "steplens.run.id",
        s.cost_usd as "steplens.cost_usd",
        coalesce(r.created_at, s.created_at) as _run_start,
        s.run_id as _run_key,
        s.created_at as _step_start,
        s.step_id as _step_key,
        null::bigint as _call_index
    from step_rows as s
    left join exported_runs as r on s.run_id = r.run_id
    where since is null or coalesce(r.created_at, s.created_at) >= since
),

tool_spans as (
    select
        'tool_call' as kind,
        otel_trace_id(s.thread_id, s.run_id) as trace_id,
        otel_span_id('tool_call', t.step_id || ':' || coalesce(t.call_index::varchar, t.tool_call_id))
            as span_id,
        otel_span_id('step', t.step_id) as parent_span_id,
        'execute_tool ' || coalesce(t.function_name, t.type, 'unknown') as name,
        'internal' as span_kind,
        epoch_ns(s.created_at) as start_ns,
        epoch_ns(greatest(coalesce(s.ended_at, s.created_at), s.created_at)) as end_ns,
        (coalesce(t.call_failed, false) or is_failure(s.status)) as is_error,
        s.last_error_message as status_message,
        'execute_tool' as "gen_ai.operation.name",
        'openai' as "gen_ai.provider.name",
        s.assistant_id as "gen_ai.agent.id",
        s.thread_id as "gen_ai.conversation.id",
        coalesce(t.function_name, t.type) as "gen_ai.tool.name",
        t.tool_call_id as "gen_ai.tool.call.id",
        case when t.type = 'function' then 'function'
             when t.type in ('file_search', 'retrieval') then 'datastore'
             when t.type is not null then 'extension' end as "gen_ai.tool.type",
        case when include_content
             then coalesce(t.function_arguments, t.code_input) end
            as "gen_ai.tool.call.arguments",
        case when include_content then t.function_output end as "gen_ai.tool.call.result",
        case when (coalesce(t.call_failed, false) or is_failure(s.status))
             then coalesce(s.last_error_code, s.status, 'failed') end as "error.type",
        coalesce(s.api, 'assistants') as "steplens.api",
        s.status as "steplens.status",
        t.type as "steplens.tool.type",
        t.arguments_valid_json as "steplens.tool.arguments_valid_json",
        t.file_search_result_count as "steplens.file_search.result_count",
        s.run_id as "steplens.run.id",
        t.step_id as "steplens.step.id",
        coalesce(r.created_at, s.created_at) as _run_start,
        s.run_id as _run_key,
        s.created_at as _step_start,
        s.step_id as _step_key,
        t.call_index as _call_index
    from call_rows as t
    inner join step_rows as s on t.step_id = s.step_id
    left join exported_runs as r on s.run_id = r.run_id
    where since is null or coalesce(r.created_at, s.created_at) >= since
),

final as (
    from run_spans
    union all by name
    from step_spans
    union all by name
    from tool_spans
)

select * exclude (_run_start, _run_key, _step_start, _step_key, _call_index)
from final
order by _run_start, _run_key nulls first, _step_start nulls first, _step_key nulls first,
    _call_index nulls first, span_id;
