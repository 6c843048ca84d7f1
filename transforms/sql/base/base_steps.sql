-- base_steps: the `steps` table of the current snapshot as stored (Parquet), before pricing;
-- the public `steps` view (priced/steps.sql) adds `cost_usd`.
create or replace view base_steps as from warehouse_table('steps');
