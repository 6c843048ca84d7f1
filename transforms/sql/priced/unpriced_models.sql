-- unpriced_models: usage that has no cost because its model could not be priced, by api,
-- model and reason. `runs` counts runs (responses) whose own usage is unpriced, `steps`
-- the Assistants steps with unpriced usage (the `usage` table). The token sums count
-- each usage once: an Assistants step's, a Responses API response's (its usage is the
-- response's own; its `usage` row is the same usage).
create or replace view unpriced_models as
with unpriced as (
    select 'step' as kind, api, model, day, prompt_tokens, completion_tokens
    from usage
    where api = 'assistants' and cost_usd is null
        and (prompt_tokens is not null or completion_tokens is not null)
    union all
    select
        'run' as kind, api, model, day,
        case when api = 'responses' then prompt_tokens end,
        case when api = 'responses' then completion_tokens end
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
        api,
        model,
        reason,
        count(*) filter (where kind = 'run') as runs,
        count(*) filter (where kind = 'step') as steps,
        try_cast(sum(prompt_tokens) as bigint) as prompt_tokens,
        try_cast(sum(completion_tokens) as bigint) as completion_tokens,
        min(day) as first_day,
        max(day) as last_day
    from explained
    group by api, model, reason
)

select * from final order by api, model nulls first, reason;
