-- failing_step_tools: what the steps that did not complete (failed, cancelled, expired;
-- Responses API items: failed, incomplete) had called: one row per (api, step status,
-- last_error_code, tool type, function name). A Responses item that is a tool call is
-- its own one call.
-- `steps` counts distinct steps (a step calling two functions counts in both rows),
-- `calls` the tool calls. Steps that called no tool have tool_type NULL, calls 0.
create or replace view failing_step_tools as
with failing as (
    select step_id, api, status, last_error_code
    from steps
    where is_terminal(status) and status <> 'completed'
),

calls as (
    select step_id, type as tool_type, function_name
    from tool_calls
),

joined as (
    select
        failing.step_id, failing.api, failing.status, failing.last_error_code,
        calls.step_id is not null as has_call,
        calls.tool_type, calls.function_name
    from failing
    left join calls on failing.step_id = calls.step_id
),

final as (
    select
        api,
        status as step_status,
        last_error_code,
        tool_type,
        function_name,
        count(distinct step_id) as steps,
        count(*) filter (where has_call) as calls
    from joined
    group by all
)

select * from final
order by api, step_status, steps desc, last_error_code, tool_type, function_name;
