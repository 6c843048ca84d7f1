-- usage_cost: tokens and USD from steps that report usage, overall and by assistant,
-- model, day and step type. cost_usd sums the priced steps only: `unpriced_steps` (and
-- `unpriced_models`) say how much usage it leaves out, so a partial sum is never
-- mistaken for the whole.
create or replace view usage_cost as
with reported as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type,
           prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
           total_tokens, cost_usd
    from usage
),

grouped as (
    select
        grouping(assistant_id, model, day, type) as grouping_id,
        assistant_id, model, day, type,
        count(*) as steps,
        count(cost_usd) as priced_steps,
        count(*) filter (where cost_usd is null
                         and (prompt_tokens is not null or completion_tokens is not null))
            as unpriced_steps,
        sum(prompt_tokens)::bigint as prompt_tokens,
        sum(cached_tokens)::bigint as cached_tokens,
        sum(completion_tokens)::bigint as completion_tokens,
        sum(reasoning_tokens)::bigint as reasoning_tokens,
        sum(total_tokens)::bigint as total_tokens,
        sum(cost_usd) as cost_usd
    from reported
    group by grouping sets ((), (assistant_id), (model), (day), (type))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type) as value,
        steps,
        priced_steps,
        unpriced_steps,
        prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, total_tokens,
        cost_usd,
        cost_usd / nullif(priced_steps, 0) as cost_per_step_usd
    from grouped
)

select * from final order by dimension, value;
