-- report_top_models: tokens and USD per model (as reported, both APIs), costliest first.
--   share_of_cost     cost_usd / the cost of all priced usage
--   unpriced_steps    usage rows of that model with no price (see unpriced_models)
create or replace view report_top_models as
with by_model as (
    select value as model, steps, unpriced_steps, prompt_tokens, cached_tokens,
           completion_tokens, total_tokens, cost_usd
    from usage_cost
    where dimension = 'model' and steps > 0  -- not the groups only tool charges reach
),

final as (
    select
        *,
        cost_usd / nullif((select sum(cost_usd) from by_model), 0) as share_of_cost
    from by_model
)

select * from final order by cost_usd desc nulls last, total_tokens desc nulls last, model;
