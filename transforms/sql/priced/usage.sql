-- usage: base_usage plus `cost_usd` (USD at list prices, from the row's own usage, model and
-- day; NULL without usage or without a price: see with_cost_usd). The Parquet holds no cost.
create or replace view usage as from with_cost_usd('base_usage');
