-- tool_cost: USD of the steps that made tool calls, per tool type (function_name NULL)
-- and per (tool type, function name). A step's cost is split evenly over its calls, so
-- the rows of one grouping add up to the cost of tool-calling steps.
--   steps            distinct steps with such calls
--   unpriced_steps   of those, steps with usage but no cost (see unpriced_models)
create or replace view tool_cost as
with calls as (
    select
        tool_calls.type as tool_type,
        tool_calls.function_name,
        tool_calls.step_id,
        steps.cost_usd / steps.tool_call_count as cost_usd,
        steps.cost_usd is null
            and (steps.prompt_tokens is not null or steps.completion_tokens is not null)
            as unpriced
    from tool_calls
    left join steps on tool_calls.step_id = steps.step_id
),

grouped as (
    select
        tool_type,
        function_name,
        count(*) as calls,
        count(distinct step_id) as steps,
        count(distinct step_id) filter (where unpriced) as unpriced_steps,
        sum(cost_usd) as cost_usd
    from calls
    group by grouping sets ((tool_type), (tool_type, function_name))
    having grouping(function_name) = 1 or function_name is not null
),

final as (
    select
        tool_type, function_name, calls, steps, unpriced_steps, cost_usd,
        cost_usd / calls as cost_per_call_usd
    from grouped
)

select * from final order by tool_type, function_name nulls first;
