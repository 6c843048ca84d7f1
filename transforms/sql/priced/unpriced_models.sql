-- unpriced_models: usage that has no cost because its model could not be priced, by
-- model and reason. `steps` and the token sums count step usage (the `usage` table),
-- `runs` counts runs whose own usage is unpriced.
create or replace view unpriced_models as
with unpriced as (
    select 'step' as kind, model, day, prompt_tokens, completion_tokens
    from usage
    where cost_usd is null and (prompt_tokens is not null or completion_tokens is not null)
    union all
    select 'run' as kind, model, day, null, null
    from runs
    where cost_usd is null and (prompt_tokens is not null or completion_tokens is not null)
),

explained as (
    select
        *,
        price_model(model) as price_model,
        case
            when model is null then 'model unknown (run not in the data)'
            when price_model(model) is null then 'model not in the price table'
            when day is null then 'no day'
            else 'no price on or before its day'
        end as reason
    from unpriced
),

final as (
    select
        model,
        reason,
        count(*) filter (where kind = 'run') as runs,
        count(*) filter (where kind = 'step') as steps,
        sum(prompt_tokens)::bigint as prompt_tokens,
        sum(completion_tokens)::bigint as completion_tokens,
        min(day) as first_day,
        max(day) as last_day
    from explained
    group by model, reason
)

select * from final order by model nulls first, reason;
