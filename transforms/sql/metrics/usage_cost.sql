-- usage_cost: tokens and USD from the `usage` table (Assistants steps that report usage,
-- Responses API responses: type `response`), overall and by assistant, model, day, step
-- type and api (token_stats, shared with token_usage_by), and the built-in tools billed
-- apart from tokens (tool_charges) in the same groups, so the row says where the dollars
-- go. cost_usd sums the priced usage only: `unpriced_steps` (and `unpriced_models`) say
-- how much usage it leaves out, so a partial sum is never mistaken for the whole.
--   tool_cost_usd          built-in tool charges of the group (priced ones; NULL: none)
--   unpriced_tool_charges  tool charges of the group without a price (unpriced_tools)
--   total_cost_usd         cost_usd + tool_cost_usd (NULL when both are)
-- A group that only tool charges reach (a model or day with no usage row) has NULL token
-- columns and 0 steps.
create or replace view usage_cost as
with reported as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type, api,
           prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
           total_tokens, cost_usd
    from usage
),

grouped as (
    select
        grouping(assistant_id, model, day, type, api) as grouping_id,
        assistant_id, model, day, type, api,
        token_stats(prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
                    total_tokens, cost_usd) as stats
    from reported
    group by grouping sets ((), (assistant_id), (model), (day), (type), (api))
),

charged as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type, api, cost_usd
    from tool_charges
),

tools_grouped as (
    select
        grouping(assistant_id, model, day, type, api) as grouping_id,
        assistant_id, model, day, type, api,
        sum(cost_usd) as tool_cost_usd,
        count(*) filter (where cost_usd is null) as unpriced_tool_charges
    from charged
    group by grouping sets ((), (assistant_id), (model), (day), (type), (api))
),

tokens as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type, api) as value,
        stats
    from grouped
),

tools as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type, api) as value,
        tool_cost_usd,
        unpriced_tool_charges
    from tools_grouped
),

final as (
    select
        coalesce(tokens.dimension, tools.dimension) as dimension,
        coalesce(tokens.value, tools.value) as value,
        coalesce(tokens.stats.steps, 0) as steps,
        coalesce(tokens.stats.priced_steps, 0) as priced_steps,
        coalesce(tokens.stats.unpriced_steps, 0) as unpriced_steps,
        tokens.stats.prompt_tokens,
        tokens.stats.cached_tokens,
        tokens.stats.completion_tokens,
        tokens.stats.reasoning_tokens,
        tokens.stats.total_tokens,
        tokens.stats.cost_usd,
        tokens.stats.cost_usd / nullif(tokens.stats.priced_steps, 0) as cost_per_step_usd,
        tools.tool_cost_usd,
        coalesce(tools.unpriced_tool_charges, 0) as unpriced_tool_charges,
        case
            when tokens.stats.cost_usd is not null or tools.tool_cost_usd is not null
                then coalesce(tokens.stats.cost_usd, 0) + coalesce(tools.tool_cost_usd, 0)
        end as total_cost_usd
    from tokens
    full outer join tools
        on tokens.dimension = tools.dimension
        and tokens.value is not distinct from tools.value
)

select * from final order by dimension, value;
