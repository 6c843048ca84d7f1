-- base_usage: the `usage` table of the current snapshot as stored (Parquet), before pricing;
-- the public `usage` view (priced/usage.sql) adds `cost_usd`.
create or replace view base_usage as from warehouse_table('usage');
