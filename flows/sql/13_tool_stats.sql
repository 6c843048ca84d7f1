-- tool_stats: calls and failures per tool type, then per (tool type, function name).
-- A call fails when its step failed; the rate is over calls in terminal steps.
create or replace view tool_stats as
with calls as (
    select type as tool_type, function_name, step_status,
           is_terminal(step_status) as in_terminal_step
    from tool_calls
),

by_type as (
    select tool_type, null::varchar as function_name,
           count(*) as calls,
           count_if(step_status = 'failed')::bigint as failed_calls,
           count_if(in_terminal_step)::bigint as terminal_calls
    from calls
    group by tool_type
),

by_function as (
    select tool_type, function_name,
           count(*) as calls,
           count_if(step_status = 'failed')::bigint as failed_calls,
           count_if(in_terminal_step)::bigint as terminal_calls
    from calls
    where function_name is not null
    group by tool_type, function_name
),

final as (
    select tool_type, function_name, calls, failed_calls,
           failed_calls::double / nullif(terminal_calls, 0) as failure_rate
    from (select * from by_type union all select * from by_function)
)

select * from final order by tool_type, function_name nulls first;
