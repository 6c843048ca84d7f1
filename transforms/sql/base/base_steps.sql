-- base_steps: the `steps` table of the current snapshot as stored (Parquet), before pricing;
-- the public `steps` view (priced/steps.sql) adds `cost_usd`. `cache_write_tokens` is
-- always NULL here (Assistants steps report no cache writes; a Responses API response's
-- usage is on its run and `usage` row, not on its items): it is the column the shared
-- pricing (with_cost_usd) reads on every priced table.
create or replace view base_steps as
select *, null::bigint as cache_write_tokens
from warehouse_table('steps');
