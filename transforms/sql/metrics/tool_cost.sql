-- tool_cost: USD of the steps that made tool calls, per api and tool type (function_name
-- NULL) and per (api, tool type, function name). A step's cost is split evenly over its
-- calls, so the rows of one grouping add up to the cost of tool-calling steps. A
-- Responses API response reports usage for the whole response, not per item: its cost is
-- split evenly over its tool calls, and `steps` counts responses.
--   steps            distinct steps (responses) with such calls
--   unpriced_steps   of those, steps (responses) with usage but no cost (unpriced_models)
-- and, on the (api, tool type) rows of the built-in tools billed apart from tokens
-- (tool_charges; NULL on other rows):
--   unit, billed_units      calls or sessions billed (a web search response's reported
--                           requests; a code-interpreter session, ...)
--   charge_usd              what those cost at the tool's list price (priced ones)
--   unpriced_charges        charges without a price (unpriced_tools)
--   total_cost_usd          cost_usd + charge_usd (NULL when both are)
-- A tool billed with no call in tool_calls (requests a response reports without its
-- items) has a row with 0 calls.
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

charged as (
    select
        api,
        tool_type,
        any_value(unit) as unit,
        try_cast(sum(units) as bigint) as billed_units,
        sum(cost_usd) as charge_usd,
        count(*) filter (where cost_usd is null) as unpriced_charges
    from tool_charges
    group by api, tool_type
),

final as (
    select
        coalesce(grouped.api, charged.api) as api,
        coalesce(grouped.tool_type, charged.tool_type) as tool_type,
        grouped.function_name,
        coalesce(grouped.calls, 0) as calls,
        coalesce(grouped.steps, 0) as steps,
        coalesce(grouped.unpriced_steps, 0) as unpriced_steps,
        grouped.cost_usd,
        grouped.cost_usd / nullif(grouped.calls, 0) as cost_per_call_usd,
        charged.unit,
        charged.billed_units,
        charged.charge_usd,
        charged.unpriced_charges,
        case
            when grouped.cost_usd is not null or charged.charge_usd is not null
                then coalesce(grouped.cost_usd, 0) + coalesce(charged.charge_usd, 0)
        end as total_cost_usd
    from grouped
    full outer join charged
        on grouped.api = charged.api and grouped.tool_type = charged.tool_type
        and grouped.function_name is null
)

select * from final order by api, tool_type, function_name nulls first;
