-- priceable_steps: base_steps with the `cache_write_tokens` column the shared pricing
-- (with_cost_usd) reads on every priced table, always NULL here: Assistants steps report no
-- cache writes, and a Responses API response's usage is on its run and `usage` row, not on
-- its items. The public `steps` view leaves the column out again.
create or replace view priceable_steps as
select *, null::bigint as cache_write_tokens
from base_steps;
