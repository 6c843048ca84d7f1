-- model_price_match: every model the runs name, the price-table model it is priced as
-- (NULL when none matches) and that model's first and latest price dates.
create or replace view model_price_match as
with models as (
    select model, count(*) as runs, min(day) as first_day, max(day) as last_day
    from runs
    where model is not null
    group by model
),

matched as (
    select *, price_model(model) as price_model
    from models
),

final as (
    select
        matched.model,
        matched.price_model,
        matched.runs,
        matched.first_day,
        matched.last_day,
        min(p.effective_from) as priced_from,
        max(p.effective_from) as latest_price_from
    from matched
    left join model_prices as p on matched.price_model = p.model
    group by all
)

select * from final order by model;
