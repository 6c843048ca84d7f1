-- report_cost_by: the 15 costliest assistants and the 15 costliest models (usage_cost;
-- `dimension` assistant_id or model), for the cost charts.
create or replace view report_cost_by as
with ranked as (
    select
        dimension, value, prompt_tokens, completion_tokens, cost_usd, unpriced_steps,
        row_number() over (partition by dimension
                           order by cost_usd desc nulls last, value) as rank
    from usage_cost
    where dimension in ('assistant_id', 'model') and steps > 0  -- usage, not tool charges
),

final as (
    select dimension, value, prompt_tokens, completion_tokens, cost_usd, unpriced_steps, rank
    from ranked
    where rank <= 15
)

select * from final order by dimension, rank;
