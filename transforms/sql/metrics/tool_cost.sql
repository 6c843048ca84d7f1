-- tool_cost: USD of the steps that made tool calls, per api and tool type (function_name
-- NULL) and per (api, tool type, function name). A step's cost is split evenly over its
-- calls, so the rows of one grouping add up to the cost of tool-calling steps. A
-- Responses API response reports usage for the whole response, not per item: its cost is
-- split evenly over its tool calls, and `steps` counts responses.
--   steps            distinct steps (responses) with such calls
--   unpriced_steps   of those, steps (responses) with usage but no cost (unpriced_models)
create or replace view tool_cost as
with assistants_calls as (
    select
        tool_calls.api,
        tool_calls.type as tool_type,
        tool_calls.function_name,
        tool_calls.step_id as payer_id,
        steps.cost_usd / steps.tool_call_count as cost_usd,
        steps.cost_usd is null
            and (steps.prompt_tokens is not null or steps.completion_tokens is not null)
            as unpriced
    from tool_calls
    left join steps on tool_calls.step_id = steps.step_id
    where tool_calls.api = 'assistants'
),

response_calls as (
    select run_id, count(*) as calls
    from tool_calls
    where api = 'responses'
    group by run_id
),

responses_calls as (
    select
        tool_calls.api,
        tool_calls.type as tool_type,
        tool_calls.function_name,
        tool_calls.run_id as payer_id,
        runs.cost_usd / response_calls.calls as cost_usd,
        runs.cost_usd is null
            and (runs.prompt_tokens is not null or runs.completion_tokens is not null)
            as unpriced
    from tool_calls
    left join runs on tool_calls.run_id = runs.run_id
    left join response_calls on tool_calls.run_id = response_calls.run_id
    where tool_calls.api = 'responses'
),

calls as (
    from assistants_calls
    union all
    from responses_calls
),

grouped as (
    select
        api,
        tool_type,
        function_name,
        count(*) as calls,
        count(distinct payer_id) as steps,
        count(distinct payer_id) filter (where unpriced) as unpriced_steps,
        sum(cost_usd) as cost_usd
    from calls
    group by grouping sets ((api, tool_type), (api, tool_type, function_name))
    having grouping(function_name) = 1 or function_name is not null
),

final as (
    select
        api, tool_type, function_name, calls, steps, unpriced_steps, cost_usd,
        cost_usd / calls as cost_per_call_usd
    from grouped
)

select * from final order by api, tool_type, function_name nulls first;
