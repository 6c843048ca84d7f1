-- run_lifecycle: one row per run (a Responses API response likewise): where its time went
-- and how many steps and tool round-trips it took.
--   queue_s, duration_s     from `runs` (started_at - created_at, ended_at - started_at;
--                           a response: no queue_s, duration_s = ended_at - created_at)
--   steps, tool_call_steps, message_creation_steps   its rows in `steps` (a response:
--                           its output items; tool-call items, `message` items)
--   tool_calls              its rows in `tool_calls`
--   tool_round_trips        steps that called a `function` (each sent the run to
--                           requires_action until the caller submitted tool outputs); a
--                           response: 1 when it called a tool the caller runs (function,
--                           custom, computer, local_shell, shell, apply_patch), whose
--                           outputs come back in the next request, else 0
--   steps_s, tool_calls_s, message_creation_s   sums of latency_s of its steps, all /
--                           by step type (NULL for responses: items carry no times)
--   gap_s, max_gap_s        sum / max of its step_gaps (NULL with fewer than two steps)
--   tool_wait_s             sum of the gaps after function-calling steps: time waiting on
--                           the caller's tool outputs (NULL when it made no round-trip)
create or replace view run_lifecycle as
with step_totals as (
    select
        run_id,
        count(*) as steps,
        count(*) filter (where type = 'tool_calls'
                         or (api = 'responses' and tool_call_count > 0)) as tool_call_steps,
        count(*) filter (where type in ('message_creation', 'message'))
            as message_creation_steps,
        sum(latency_s) as steps_s,
        sum(latency_s) filter (where type = 'tool_calls') as tool_calls_s,
        sum(latency_s) filter (where type = 'message_creation') as message_creation_s
    from steps
    where run_id is not null
    group by run_id
),

call_totals as (
    select
        run_id,
        count(*) as tool_calls,
        case when bool_or(api = 'responses')
             then (count(*) filter (where type in ('function', 'custom', 'computer',
                                                  'local_shell', 'shell', 'apply_patch'))
                   > 0)::bigint
             else count(distinct step_id) filter (where type = 'function')
        end as tool_round_trips
    from tool_calls
    where run_id is not null
    group by run_id
),

gap_totals as (
    select
        run_id,
        sum(gap_s) as gap_s,
        max(gap_s) as max_gap_s,
        sum(gap_s) filter (where awaited_tool_outputs) as tool_wait_s
    from step_gaps
    group by run_id
),

final as (
    select
        runs.run_id,
        runs.api,
        runs.assistant_id,
        runs.model,
        runs.status,
        runs.day,
        runs.created_at,
        runs.queue_s,
        runs.duration_s,
        coalesce(step_totals.steps, 0)::bigint as steps,
        coalesce(step_totals.tool_call_steps, 0)::bigint as tool_call_steps,
        coalesce(step_totals.message_creation_steps, 0)::bigint as message_creation_steps,
        coalesce(call_totals.tool_calls, 0)::bigint as tool_calls,
        coalesce(call_totals.tool_round_trips, 0)::bigint as tool_round_trips,
        step_totals.steps_s,
        step_totals.tool_calls_s,
        step_totals.message_creation_s,
        gap_totals.gap_s,
        gap_totals.max_gap_s,
        case when coalesce(call_totals.tool_round_trips, 0) > 0
             then gap_totals.tool_wait_s end as tool_wait_s,
        runs.prompt_tokens,
        runs.completion_tokens,
        runs.total_tokens,
        runs.cost_usd
    from runs
    left join step_totals on runs.run_id = step_totals.run_id
    left join call_totals on runs.run_id = call_totals.run_id
    left join gap_totals on runs.run_id = gap_totals.run_id
)

select * from final order by created_at, run_id;
