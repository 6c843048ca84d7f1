-- report_slowest_tools: per api and tool (its function name; the tool type for other
-- tools), the latency of the completed steps that called it (tool_analytics' step_p50_s
-- and step_p95_s), slowest p95 first; tools whose steps carry no time (Responses API
-- items) are left out. Tools with at least 5 calls come first.
create or replace view report_slowest_tools as
with tools as (
    select
        api,
        coalesce(function_name, tool_type) as tool,
        tool_type,
        calls,
        failed_calls,
        failure_rate,
        step_p50_s,
        step_p95_s
    from tool_analytics
    where step_p95_s is not null
        and (function_name is not null or tool_type <> 'function')
),

final as (
    select * from tools
)

select * from final order by calls >= 5 desc, step_p95_s desc, api, tool;
