-- price_model(model_name): the price-table model a model is priced as. `model_prices` is
-- a real table that the view builder loads from the shipped data/prices.csv merged with
-- the user's price file (flows/store/prices.py): model, effective_from,
-- prompt/cached_prompt/completion_usd_per_1m, source.
--
-- Matching: the price-table model that equals it, else the longest
-- one that is a prefix of it followed by '-' (`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`,
-- but `gpt-4.5-preview` never -> `gpt-4`, and `gpt-4o` never -> `gpt-4`); then that
-- model's row with the latest effective_from on or before the row's `day`. No match:
-- cost_usd is NULL and the model is listed in `unpriced_models`, never priced at zero.
create or replace macro price_model(model_name) as (
    select max_by(p.model, length(p.model))
    from model_prices as p
    where model_name = p.model or starts_with(model_name, p.model || '-')
);
