-- Model prices and cost. `model_prices` is a real table that `build_duckdb` loads from
-- data/prices.csv merged with the user's price file (flows/prices.py) before this file
-- runs: model, effective_from, prompt/cached_prompt/completion_usd_per_1m, source.
--
-- Matching a model to a price: the price-table model that equals it, else the longest
-- one that is a prefix of it followed by '-' (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`,
-- but `gpt-4.5-preview` never -> `gpt-4`, and `gpt-4o` never -> `gpt-4`); then that
-- model's row with the latest effective_from on or before the row's `day`. No match:
-- cost_usd is NULL and the model is listed in `unpriced_models`, never priced at zero.

create or replace macro price_model(model_name) as (
    select max_by(p.model, length(p.model))
    from model_prices as p
    where model_name = p.model or starts_with(model_name, p.model || '-')
);

-- USD for one usage record. Cached prompt tokens are billed at the cached price where
-- one exists, else at the prompt price; reasoning tokens are inside completion_tokens.
-- NULL without usage or without a price.
create or replace macro token_cost_usd(prompt_tokens, cached_tokens, completion_tokens,
                                       prompt_price, cached_price, completion_price) as
    case
        when prompt_tokens is null and completion_tokens is null then null
        when prompt_price is null or completion_price is null then null
        else (
            (coalesce(prompt_tokens, 0)
                - least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))) * prompt_price
            + least(coalesce(cached_tokens, 0), coalesce(prompt_tokens, 0))
                * coalesce(cached_price, prompt_price)
            + coalesce(completion_tokens, 0) * completion_price
        ) / 1e6
    end;

-- Any relation with model, day, prompt_tokens, cached_tokens and completion_tokens,
-- plus a `cost_usd` column: `from with_cost_usd('usage')`. Prices are looked up once
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
            p.completion_usd_per_1m
        from model_days
        asof left join model_prices as p
            on model_days.price_model = p.model and model_days.day >= p.effective_from
    ),

    price_map as (
        select map_from_entries(list((
            {'model': model, 'day': day},
            {'prompt': prompt_usd_per_1m, 'cached': cached_prompt_usd_per_1m,
             'completion': completion_usd_per_1m}
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
            token_cost_usd(prompt_tokens, cached_tokens, completion_tokens,
                           _price.prompt, _price.cached, _price.completion) as cost_usd
        from looked_up
    )

    select * from final;
