-- base_runs: the `runs` table of the current snapshot as stored (Parquet), before pricing;
-- the public `runs` view (priced/runs.sql) adds `cost_usd`.
create or replace view base_runs as from warehouse_table('runs');
