-- report_api_overview: per api, runs, steps, tool calls, failed calls, tokens and cost.
create or replace view report_api_overview as
with runs_by as (
    select api, count(*) as runs, try_cast(sum(total_tokens) as bigint) as total_tokens,
           sum(cost_usd) as cost_usd, min(day) as first_day, max(day) as last_day
    from runs
    group by api
),

steps_by as (
    select api, count(*) as steps from steps group by api
),

calls_by as (
    select api, count(*) as tool_calls, count(*) filter (where call_failed) as failed_calls
    from tool_calls
    group by api
),

final as (
    select
        runs_by.api,
        runs,
        coalesce(steps, 0) as steps,
        coalesce(tool_calls, 0) as tool_calls,
        coalesce(failed_calls, 0) as failed_calls,
        total_tokens,
        cost_usd,
        first_day,
        last_day
    from runs_by
    left join steps_by using (api)
    left join calls_by using (api)
)

select * from final order by api;
