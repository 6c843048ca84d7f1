-- steps: base_steps plus `cost_usd` (USD at list prices, from the row's own usage, model and
-- day; NULL without usage or without a price: see with_cost_usd). The Parquet holds no cost.
create or replace view steps as
select * exclude (cache_write_tokens)
from with_cost_usd('priceable_steps');
