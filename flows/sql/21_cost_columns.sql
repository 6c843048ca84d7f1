-- runs, steps and usage gain `cost_usd` (USD, from their own usage; see 20_model_prices).
-- The views 01_tables.sql made are renamed `_runs_base`, `_steps_base`, `_usage_base`
-- (internal) and the public names become the same columns plus cost_usd; views that
-- read runs/steps/usage bind to the new ones at query time. The Parquet holds no cost.

drop view if exists _runs_base;
alter view runs rename to _runs_base;
create or replace view runs as from with_cost_usd('_runs_base');

drop view if exists _steps_base;
alter view steps rename to _steps_base;
create or replace view steps as from with_cost_usd('_steps_base');

drop view if exists _usage_base;
alter view usage rename to _usage_base;
create or replace view usage as from with_cost_usd('_usage_base');
