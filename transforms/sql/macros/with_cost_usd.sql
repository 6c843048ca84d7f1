-- Any relation with model, day, prompt_tokens, cached_tokens, cache_write_tokens and
-- completion_tokens, plus a `cost_usd` column: `from with_cost_usd('usage')`. Prices are looked up once
-- per (model, day) (a scan of those two columns only) into a one-row MAP that each row
-- reads. No join with the relation: it keeps its row order, and filters on it still
-- reach its Parquet scan.
create or replace macro with_cost_usd(relation) as table
    with model_days as (
        select distinct model, day, price_model(model) as price_model
        from query_table(relation)
        where model is not null and day is not null
    ),

    day_prices as (
        select
            model_days.model,
            model_days.day,
            p.prompt_usd_per_1m,
            p.cached_prompt_usd_per_1m,
            p.completion_usd_per_1m,
            p.cache_write_usd_per_1m
        from model_days
        asof left join model_prices as p
            on model_days.price_model = p.model and model_days.day >= p.effective_from
    ),

    price_map as (
        select map_from_entries(list((
            {'model': model, 'day': day},
            {'prompt': prompt_usd_per_1m, 'cached': cached_prompt_usd_per_1m,
             'completion': completion_usd_per_1m, 'cache_write': cache_write_usd_per_1m}
        ))) as prices
        from day_prices
        where prompt_usd_per_1m is not null
    ),

    looked_up as (
        select base.*, price_map.prices[{'model': base.model, 'day': base.day}] as _price
        from query_table(relation) as base
        cross join price_map
    ),

    final as (
        select
            * exclude (_price),
            token_cost_usd(prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens,
                           _price.prompt, _price.cached, _price.cache_write,
                           _price.completion) as cost_usd
        from looked_up
    )

    select * from final;
