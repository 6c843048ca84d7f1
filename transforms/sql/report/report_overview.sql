-- report_overview: the headline figures of `steplens report`, one row: period, volume,
-- health, speed and money over the whole warehouse (both APIs).
--   first_day, last_day            days of the first and last step (run when no step)
--   runs, assistants_runs, responses_runs, steps, tool_calls
--   ended_tool_calls, failed_tool_calls, tool_call_failure_rate   as tool_stats: calls
--                                  that failed / calls that ended (failed, or in a
--                                  terminal step)
--   terminal_runs, failed_runs     runs in a terminal state; of those, `failed`
--   run_failure_rate               failed_runs / terminal_runs (failure_rate's meaning:
--                                  failed over terminal; expired is not counted)
--   run_failed_or_expired_rate     (failed + expired) / terminal_runs (is_failure)
--   terminal_steps, failed_steps, step_failure_rate   the same for steps
--   step_p50_s .. step_p99_s       latency_s of completed steps (step_latency's `all`)
--   run_p50_s .. run_p99_s         wall time of the runs that ended: ended_at - created_at
--                                  (queue and waits included; as migration)
--   prompt_tokens .. total_tokens, cost_usd, unpriced_steps   usage_cost's `all` row
--   unpriced_models                models with usage but no price (unpriced_models)
--   tool_cost_usd, unpriced_tool_charges   built-in tool charges (tool_charges): the priced
--                                  ones' sum, the count without a price
--   total_cost_usd                 cost_usd + tool_cost_usd (NULL when both are)
create or replace view report_overview as
with run_totals as (
    select
        count(*) as runs,
        count(*) filter (where api = 'assistants') as assistants_runs,
        count(*) filter (where api = 'responses') as responses_runs,
        count(*) filter (where is_run_terminal(status)) as terminal_runs,
        count(*) filter (where status = 'failed') as failed_runs,
        count(*) filter (where is_run_terminal(status) and is_failure(status))
            as failed_or_expired_runs,
        p50(date_diff('microsecond', created_at, ended_at) / 1e6) as run_p50_s,
        p95(date_diff('microsecond', created_at, ended_at) / 1e6) as run_p95_s,
        p99(date_diff('microsecond', created_at, ended_at) / 1e6) as run_p99_s,
        min(day) as first_run_day,
        max(day) as last_run_day
    from runs
),

step_totals as (
    select
        count(*) as steps,
        count(*) filter (where is_terminal(status)) as terminal_steps,
        count(*) filter (where status = 'failed') as failed_steps,
        min(day) as first_day,
        max(day) as last_day
    from steps
),

step_speed as (  -- step_latency's `all` row, without its other groupings
    select
        p50(latency_s) as step_p50_s,
        p95(latency_s) as step_p95_s,
        p99(latency_s) as step_p99_s
    from steps
    where status = 'completed' and latency_s is not null
),

call_totals as (  -- as tool_stats: a call ended when it failed or its step is terminal
    select
        count(*) as tool_calls,
        count(*) filter (where call_failed or is_terminal(step_status)) as ended_tool_calls,
        count(*) filter (where call_failed) as failed_tool_calls
    from tool_calls
),

money as (  -- usage_cost's `all` row (the same token_stats), without its other groupings
    select
        token_stats(prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
                    total_tokens, cost_usd) as stats
    from usage
),

unpriced as (
    select count(distinct coalesce(model, '(unknown)')) as unpriced_models
    from unpriced_models
),

tools as (  -- usage_cost's `all` row's tool columns
    select
        sum(cost_usd) as tool_cost_usd,
        count(*) filter (where cost_usd is null) as unpriced_tool_charges
    from tool_charges
),

final as (
    select
        coalesce(s.first_day, r.first_run_day) as first_day,
        coalesce(s.last_day, r.last_run_day) as last_day,
        r.runs, r.assistants_runs, r.responses_runs,
        s.steps,
        c.tool_calls, c.ended_tool_calls, c.failed_tool_calls,
        c.failed_tool_calls / nullif(c.ended_tool_calls, 0) as tool_call_failure_rate,
        r.terminal_runs, r.failed_runs,
        r.failed_runs / nullif(r.terminal_runs, 0) as run_failure_rate,
        r.failed_or_expired_runs / nullif(r.terminal_runs, 0) as run_failed_or_expired_rate,
        s.terminal_steps, s.failed_steps,
        s.failed_steps / nullif(s.terminal_steps, 0) as step_failure_rate,
        l.step_p50_s, l.step_p95_s, l.step_p99_s,
        r.run_p50_s, r.run_p95_s, r.run_p99_s,
        m.stats.prompt_tokens, m.stats.cached_tokens, m.stats.completion_tokens,
        m.stats.reasoning_tokens, m.stats.total_tokens, m.stats.cost_usd,
        m.stats.unpriced_steps,
        u.unpriced_models,
        t.tool_cost_usd,
        t.unpriced_tool_charges,
        case
            when m.stats.cost_usd is not null or t.tool_cost_usd is not null
                then coalesce(m.stats.cost_usd, 0) + coalesce(t.tool_cost_usd, 0)
        end as total_cost_usd
    from run_totals as r
    cross join step_totals as s
    cross join call_totals as c
    cross join unpriced as u
    cross join step_speed as l
    cross join money as m
    cross join tools as t
)

select * from final;
