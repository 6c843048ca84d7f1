-- usage_cost: tokens and USD from the `usage` table (Assistants steps that report usage,
-- Responses API responses: type `response`), overall and by assistant, model, day, step
-- type and api (token_stats, shared with token_usage_by). cost_usd sums the
-- priced steps only: `unpriced_steps` (and `unpriced_models`) say how much usage it
-- leaves out, so a partial sum is never mistaken for the whole.
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

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type, api) as value,
        stats.*,
        stats.cost_usd / nullif(stats.priced_steps, 0) as cost_per_step_usd
    from grouped
)

select * from final order by dimension, value;
